"""The provider contract every load balancer kind implements; providers import the engine through this
module only (the values they share with it are re-exported here).

A provider speaks to one load balancer. Every method is idempotent: calling it again with the same
arguments changes nothing and costs (almost) nothing. Errors from SDKs, sockets or subprocesses are
translated to :class:`sslterm.errors.ProviderError` (``retryable`` set where a retry may help) at the
provider's boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from sslterm.engine.model import INSTANCE_PROTOCOLS, TLS_PROFILES, CertSlot, ListenerSpec
from sslterm.ports import LocalEndpoint

__all__ = ["INSTANCE_PROTOCOLS", "TLS_PROFILES", "Capabilities", "CertRef", "CertSlot", "ListenerSpec", "Provider"]


@dataclass(frozen=True)
class Capabilities:
    sni: bool = True
    hot_swap: bool = False  # a certificate can be replaced without a reload or a listener change
    hot_add: bool = False  # an SNI certificate can be added without a reload
    key_types: tuple[str, ...] = ("RSA", "EC")
    max_certificates_per_listener: int | None = None
    #: the listener's first certificate answers clients without SNI (not so when attached to an
    #: operator's configuration, whose own certificate comes first)
    first_is_default: bool = True


@dataclass(frozen=True)
class CertRef:
    """Where a provider keeps an uploaded certificate (a file, an ARN, a certificate id)."""

    fingerprint: str
    location: str


class Provider(Protocol):
    kind: ClassVar[str]
    capabilities: Capabilities
    default_lb_port: int  # the lb port `sslterm enable` uses when none is given

    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        """Refuse, before any remote call, what this load balancer cannot do (key types, ports, quotas).
        Raises UnsafePlan or InputError; touches nothing."""

    def upload(self, slot: CertSlot) -> CertRef:
        """Stage a certificate so a later ``bind`` can serve it; nothing served changes. Idempotent by
        fingerprint. A slot without a bundle must already be known to the provider (rollback)."""

    def bind(self, listener: ListenerSpec, refs: Mapping[str, CertRef]) -> None:
        """Make ``listener`` serve exactly its certificates (the first as default), creating or updating
        the listener. ``refs`` maps fingerprints to uploads. Returns when the change is live."""

    def unbind(self, lb_port: int) -> None:
        """Remove TLS termination on ``lb_port``; plain HTTP service stays as it was. No-op if absent."""

    def observe(self) -> tuple[ListenerSpec, ...]:
        """The TLS listeners as configured now (slots carry fingerprints, no bundles)."""

    def address(self, lb_port: int) -> tuple[str, int]:
        """Where a client reaches the listener on ``lb_port`` (host, port), for probing."""

    def local_endpoints(self, lb_ports: Iterable[int], *, http: bool = True) -> tuple[LocalEndpoint, ...]:
        """The TCP endpoints on this machine the load balancer listens on when it serves TLS on ``lb_ports``
        (and, with ``http``, its plain HTTP bind), so the service can refuse a bind that another load
        balancer or another program holds (``sslterm.ports``). Empty for one that does not run here
        (an attached HAProxy binds what its operator wrote; a cloud load balancer)."""

    def cleanup(self) -> None:
        """Forget staged certificates that no listener serves any more."""

    def alive(self) -> bool:
        """Whether the load balancer is up and answering (a managed HAProxy: its process runs). A load
        balancer that is down is started again (``start``) before any change, and ``status`` says ``down``."""

    def start(self) -> None:
        """Make sure the load balancer exists and serves its plain (non-TLS) configuration; for a managed
        HAProxy this starts it. Raises ProviderError when it cannot be reached."""

    def stop(self, *, keep_files: bool = False) -> None:
        """Stop what sslterm started for this load balancer (`sslterm lb remove`) and remove what it keeps
        for it, unless ``keep_files`` (removed by a second call once the store has forgotten it); no-op for
        clouds."""
