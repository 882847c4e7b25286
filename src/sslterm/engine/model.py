"""Values the engine and every provider share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sslterm.certs.bundle import Bundle

TLS_PROFILES = ("modern", "intermediate", "old")
INSTANCE_PROTOCOLS = ("HTTP", "HTTPS")


class CertMaterial:
    """A certificate's key material, still sealed: a provider that needs the key (to upload a certificate, or
    to bind one inline) calls :meth:`bundle` for that call and keeps nothing beyond what its load balancer
    needs. Never printed: its repr names the fingerprint only."""

    __slots__ = ("_unseal", "fingerprint")

    def __init__(self, fingerprint: str, unseal: Callable[[], Bundle]) -> None:
        self.fingerprint = fingerprint
        self._unseal = unseal

    def bundle(self) -> Bundle:
        """Certificate, chain and private key, unsealed now. Radioactive: use it and drop it."""
        return self._unseal()

    def __repr__(self) -> str:
        return f"CertMaterial({self.fingerprint[:16]}, sealed)"

    @classmethod
    def of(cls, bundle: Bundle) -> CertMaterial:
        """Material already unsealed (tests, a certificate just checked)."""
        return cls(bundle.fingerprint, lambda: bundle)


@dataclass(frozen=True)
class CertSlot:
    """One certificate as a listener should serve it. ``material`` unseals the key on demand: never shown.
    ``location`` is where the provider keeps it, where it needs one to rotate it (a cloud's ARN, filled in by
    ``observe``; or the store's record of an upload, to be reused); HAProxy rotates by name and leaves it empty."""

    name: str
    fingerprint: str
    sans: tuple[str, ...]
    key_type: str = field(default="", compare=False)
    material: CertMaterial | None = field(default=None, repr=False, compare=False)
    chain: tuple[str, ...] = ()  # SHA-256 fingerprints of the chain served after the leaf, issuer first
    location: str = field(default="", compare=False)

    @cached_property
    def served_id(self) -> str:
        """Identifies what clients are sent (leaf and chain; the key follows the leaf): the leaf's fingerprint
        alone when there is no chain, else a digest of both. A chain change is a change to deploy. Computed
        once per slot (plans compare every slot of a listener several times)."""
        if not self.chain:
            return self.fingerprint
        return hashlib.sha256(":".join((self.fingerprint, *self.chain)).encode()).hexdigest()


@dataclass(frozen=True)
class ListenerSpec:
    """A TLS listener: what `sslterm enable` asks for. ``certificates[0]`` is the default one."""

    lb_port: int
    instance_port: int | None = None  # None: each backend's own port (80 when it has none)
    instance_protocol: str = "HTTP"
    redirect_http: bool = False
    hsts: bool = False
    tls_profile: str = "intermediate"
    certificates: tuple[CertSlot, ...] = ()

    def same_settings(self, other: ListenerSpec) -> bool:
        return (self.instance_port, self.instance_protocol, self.redirect_http, self.hsts, self.tls_profile) == (
            other.instance_port, other.instance_protocol, other.redirect_http, other.hsts, other.tls_profile)

    def fingerprints(self) -> tuple[str, ...]:
        return tuple(c.fingerprint for c in self.certificates)

    def served_ids(self) -> tuple[str, ...]:
        return tuple(c.served_id for c in self.certificates)

    def as_record(self) -> dict[str, Any]:
        """Everything but key material, as JSON-ready data (journal intents, notes beside a load balancer)."""
        data: dict[str, Any] = self.describe(certificates=False)
        data["certificates"] = [{"name": c.name, "fingerprint": c.fingerprint, "sans": list(c.sans),
                                 "key_type": c.key_type, "chain": list(c.chain)} for c in self.certificates]
        return data

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> ListenerSpec:
        """The inverse of :meth:`as_record` (slots without bundles)."""
        return cls(lb_port=int(data["lb_port"]), instance_port=data.get("instance_port"),
                   instance_protocol=str(data["instance_protocol"]), redirect_http=bool(data["redirect_http"]),
                   hsts=bool(data["hsts"]), tls_profile=str(data["tls_profile"]),
                   certificates=tuple(CertSlot(str(c["name"]), str(c["fingerprint"]), tuple(c.get("sans", ())),
                                               str(c.get("key_type", "")), chain=tuple(c.get("chain", ())))
                                      for c in data.get("certificates", ())))

    def describe(self, *, certificates: bool = True) -> dict[str, object]:
        settings: dict[str, object] = {
            "lb_port": self.lb_port, "instance_port": self.instance_port,
            "instance_protocol": self.instance_protocol, "redirect_http": self.redirect_http,
            "hsts": self.hsts, "tls_profile": self.tls_profile,
        }
        if certificates:
            settings["certificates"] = [{"name": c.name, "fingerprint_sha256": c.fingerprint}
                                        for c in self.certificates]
        return settings


@dataclass(frozen=True)
class ProbeTarget:
    host: str
    port: int
    server_name: str | None  # SNI; None probes the default certificate
    expect: str  # fingerprint
    certificate: str  # the certificate name, for messages
    key_type: str | None = None  # "RSA"/"EC": ask for that kind of certificate (dual RSA + ECDSA names)
    expect_chain: tuple[str, ...] = ()  # fingerprints of the chain that must follow the leaf


@dataclass(frozen=True)
class Served:
    target: ProbeTarget
    fingerprint: str | None
    error: str | None = None
    chain: tuple[str, ...] = ()  # fingerprints of the certificates sent after the leaf
    how: str = "handshake"  # or "read-back": the provider read the listener and the certificate bodies

    @property
    def leaf_ok(self) -> bool:
        return self.fingerprint == self.target.expect

    @property
    def ok(self) -> bool:
        """The right leaf and, after it, exactly the stored chain (a missing intermediate fails clients)."""
        return self.leaf_ok and self.chain == self.target.expect_chain
