"""What a Rackspace load balancer holds, as read back from its API, and how sslterm names it.

Rackspace keeps certificates inline: the termination's ``certificate`` + ``intermediateCertificate`` is the
default one, and each certificate mapping (``hostName`` -> certificate) serves one SNI name. A certificate
with several DNS names is one mapping per name. Rackspace has no place for sslterm's names (no tags): the
default certificate is observed as :data:`DEFAULT_NAME`, an SNI one as ``rackspace-sni-HOST`` (its first
mapping's host), with its real SANs, so the engine can give them the store's names by what they serve.

TLS profiles (docs/rackspace.md): ``intermediate`` is the ``CLBCipherPolicy2019-05`` cipher profile (ECDHE
with AES-GCM only) with TLS 1.0 and 1.1 disabled; ``old`` is Rackspace's ``default`` profile with TLS 1.0
and 1.1 enabled. ``modern`` (TLS 1.3 only) cannot be had: only TLS 1.0 and 1.1 can be switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from cryptography import x509

from sslterm.certs.bundle import fingerprint, subject_alt_names
from sslterm.engine.contract import CertSlot, ListenerSpec

DEFAULT_NAME = "rackspace-default"
SNI_PREFIX = "rackspace-sni-"
INLINE = "inline"  # where an inline certificate "is uploaded": nowhere (CertRef.location)
#: profile -> (cipherProfile, TLS 1.0 and 1.1 enabled)
PROFILES: Final = MappingProxyType({"intermediate": ("CLBCipherPolicy2019-05", False), "old": ("default", True)})
CUSTOM = "custom"  # settings sslterm does not set (another cipher profile, termination disabled, ...)
WAITING = frozenset({"PENDING_UPDATE", "BUILD", "PENDING_CREATE"})  # statuses that pass by themselves


@dataclass(frozen=True)
class Body:
    """What a certificate field holds: the leaf's fingerprint, the chain's in the order sent, the leaf's SANs."""

    leaf: str
    chain: tuple[str, ...]
    sans: tuple[str, ...]

    @classmethod
    def of(cls, certificate: str, intermediates: str | None) -> Body:
        leaf = x509.load_pem_x509_certificate(certificate.encode())
        chain = x509.load_pem_x509_certificates(intermediates.encode()) if intermediates and intermediates.strip() \
            else []
        return cls(fingerprint(leaf), tuple(fingerprint(c) for c in chain), tuple(subject_alt_names(leaf)))

    def slot(self, name: str, location: str) -> CertSlot:
        return CertSlot(name, self.leaf, self.sans, "RSA", chain=self.chain, location=location)

    @property
    def served_id(self) -> str:
        return self.slot("", "").served_id


@dataclass(frozen=True)
class LbInfo:
    status: str
    protocol: str
    port: int
    https_redirect: bool
    address: str  # its first public IPv4 virtual IP ("" when it has none)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> LbInfo:
        vips = [v for v in doc.get("virtualIps") or [] if isinstance(v, dict)]
        public = [str(v.get("address", "")) for v in vips if v.get("type") == "PUBLIC" and v.get("ipVersion") == "IPV4"]
        return cls(str(doc.get("status", "")), str(doc.get("protocol", "")), int(doc.get("port") or 0),
                   _bool(doc.get("httpsRedirect")), (public or [""])[0])


@dataclass(frozen=True)
class Termination:
    body: Body
    secure_port: int
    enabled: bool
    secure_only: bool
    cipher_profile: str
    tls10: bool
    tls11: bool

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Termination:
        states = {p.get("securityProtocolName"): p.get("securityProtocolStatus") == "ENABLED"
                  for p in doc.get("securityProtocols") or [] if isinstance(p, dict)}
        return cls(Body.of(str(doc.get("certificate", "")), doc.get("intermediateCertificate")),
                   int(doc.get("securePort") or 0), _bool(doc.get("enabled", True)),
                   _bool(doc.get("secureTrafficOnly")), str(doc.get("cipherProfile") or "default"),
                   states.get("TLS_10", True), states.get("TLS_11", True))

    @property
    def old_protocols(self) -> bool | None:
        """TLS 1.0 and 1.1 both enabled (True), both disabled (False), or one of each (None)."""
        return self.tls10 if self.tls10 == self.tls11 else None

    def attributes(self) -> dict[str, Any]:
        """Its settings as a PUT sends them (to put back settings sslterm does not make: ``custom``)."""
        return {"enabled": self.enabled, "secureTrafficOnly": self.secure_only, "securePort": self.secure_port,
                "cipherProfile": self.cipher_profile,
                "securityProtocols": [{"securityProtocolName": name, "securityProtocolStatus":
                                       "ENABLED" if on else "DISABLED"}
                                      for name, on in (("TLS_10", self.tls10), ("TLS_11", self.tls11))]}

    @property
    def profile(self) -> str:
        return next((name for name, (cipher, old) in PROFILES.items()
                     if (cipher, old) == (self.cipher_profile, self.old_protocols)), CUSTOM)


@dataclass(frozen=True)
class Mapping:
    id: int
    host: str
    body: Body


@dataclass(frozen=True)
class State:
    """The load balancer, its termination (None: no TLS) and its certificate mappings (by id)."""

    info: LbInfo
    termination: Termination | None
    mappings: tuple[Mapping, ...] = ()

    def by_host(self) -> dict[str, Mapping]:
        return {m.host: m for m in self.mappings}

    def listener(self) -> ListenerSpec | None:
        """sslterm's view of the termination: HTTPS on ``securePort`` to the nodes' own ports, the default
        certificate first, then one slot per certificate the mappings serve (by their first mapping's id)."""
        t = self.termination
        if t is None:
            return None
        slots = [t.body.slot(DEFAULT_NAME, "ssltermination")]
        seen: dict[str, list[Mapping]] = {}
        for m in sorted(self.mappings, key=lambda m: m.id):
            seen.setdefault(m.body.served_id, []).append(m)
        for group in seen.values():
            ids = ",".join(str(m.id) for m in group)
            slots.append(group[0].body.slot(SNI_PREFIX + group[0].host, f"certificatemappings/{ids}"))
        redirect = self.info.https_redirect and t.secure_only
        odd = not t.enabled or (t.secure_only and not self.info.https_redirect)
        return ListenerSpec(t.secure_port, None, "HTTP", redirect, False, CUSTOM if odd else t.profile,
                            tuple(slots))


def _bool(value: object) -> bool:
    """JSON booleans, or the strings "true"/"false" (the API's own examples send strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")
