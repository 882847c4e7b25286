"""The provider contract every load balancer kind implements (DESIGN.md, "Provider contract"); providers
import the engine through this module only (the values they share with it are re-exported here).

A provider speaks to one load balancer. Every method is idempotent: calling it again with the same
arguments changes nothing and costs (almost) nothing. Errors from SDKs, sockets or subprocesses are
translated to :class:`sslterm.errors.ProviderError` (``retryable`` and ``retry_after`` set where a retry may
help) at the provider's boundary with ``raise ... from exc``. The engine retries (``engine/retry.py``, within
the provider's :class:`Timing`); a provider never loops on its own errors.

Keys reach a provider only through :class:`CertMaterial` on a slot (``slot.material``), unsealed when the
provider asks, for that call.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from sslterm.engine.model import (
    INSTANCE_PROTOCOLS,
    TLS_PROFILES,
    CertMaterial,
    CertSlot,
    ListenerSpec,
    ProbeTarget,
    Served,
)
from sslterm.engine.verify import handshakes
from sslterm.ports import LocalEndpoint

__all__ = ["INSTANCE_PROTOCOLS", "TLS_PROFILES", "Capabilities", "CertMaterial", "CertRef", "CertSlot",
           "ListenerSpec", "Observed", "ProbeTarget", "Provider", "Served", "Timing", "handshakes"]


@dataclass(frozen=True)
class Capabilities:
    """What a load balancer can do. The engine refuses anything else before any call
    (``engine/capabilities.py``), with one code per limit."""

    key_types: tuple[str, ...] = ("RSA", "EC")
    sni: bool = True  # more than one certificate per listener, chosen by SNI
    max_listeners: int | None = None  # TLS listeners per load balancer
    max_certificates_per_listener: int | None = None
    redirect_http: bool = True  # plain HTTP answered with a redirect to HTTPS
    hsts: bool = True
    https_to_instances: bool = True  # instance protocol HTTPS (re-encrypted to the instances)
    tls_profiles: tuple[str, ...] = TLS_PROFILES
    #: ``rotate`` replaces a certificate where it is served, with no listener change
    rotate_in_place: bool = False
    #: the listeners answer a TLS handshake from this machine (else ``verify`` reads them back)
    handshake: bool = True
    hot_add: bool = False  # an SNI certificate can be added without a reload (HAProxy 2.2+; for plans' words)
    #: the load balancer keeps sslterm's certificate names (a file, a tag); else observed certificates take
    #: the store's names by leaf and chain (engine/adopt.py)
    keeps_names: bool = True
    #: certificates are sent with their key at each bind (no upload): every certificate of a listener being
    #: changed carries its material, not only the ones that change
    inline: bool = False
    #: the listener's first certificate answers clients without SNI (not so when attached to an
    #: operator's configuration, whose own certificate comes first)
    first_is_default: bool = True


@dataclass(frozen=True)
class Timing:
    """How long this load balancer takes: retries of retryable errors (exponential back-off from
    ``first_delay``, or the ``retry_after`` the load balancer asked for, whichever is longer), at most
    ``attempts`` calls and ``max_wait`` seconds of waiting in all; and how long a change may take to show
    when verified (``settle_within``)."""

    attempts: int = 5
    first_delay: float = 0.5
    max_wait: float = 30.0
    settle_within: float = 15.0
    settle_interval: float = 0.1


@dataclass(frozen=True)
class CertRef:
    """Where a provider keeps an uploaded certificate (a file, an ARN, a certificate id), in ``scope``: the
    load balancers that can use the same object (``haproxy:LB``, ``aws:ACCOUNT:REGION:acm``, ...)."""

    fingerprint: str  # the slot's served_id (leaf and chain)
    location: str
    scope: str = ""


@dataclass(frozen=True)
class Observed:
    """What a load balancer has now, read from it: the TLS listeners sslterm owns (slots carry fingerprints
    and locations, no material), and the ports of listeners it does not own (never touched)."""

    listeners: tuple[ListenerSpec, ...] = ()
    foreign_ports: tuple[int, ...] = ()

    def by_port(self) -> dict[int, ListenerSpec]:
        return {x.lb_port: x for x in self.listeners}


class Provider(Protocol):
    kind: ClassVar[str]
    default_lb_port: int  # the lb port `sslterm enable` uses when none is given

    @property
    def capabilities(self) -> Capabilities:
        """What it can do (a cloud provider may read its load balancer to know)."""

    @property
    def timing(self) -> Timing: ...

    @property
    def scope(self) -> str:
        """Where this load balancer's uploads live (``CertRef.scope``)."""

    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        """Refuse, before any remote call, what this load balancer cannot do beyond its capabilities (ACM
        key sizes, Rackspace RSA only, name rules, a port its own plain HTTP uses). Raises UnsafePlan or
        InputError; touches nothing."""

    def observe(self) -> Observed:
        """What the load balancer has now, read from it (not from sslterm's notes)."""

    def upload(self, slot: CertSlot) -> CertRef:
        """Stage a certificate so a later ``bind`` can serve it; nothing served changes. Found and reused by
        its served id, never duplicated. A slot without material must already be staged (else ProviderError
        ``not-staged``). A provider with inline certificates returns a ref without a call."""

    def rotate(self, ref: CertRef, slot: CertSlot) -> CertRef:
        """With ``capabilities.rotate_in_place``: replace the certificate behind ``ref`` by ``slot``
        everywhere this load balancer serves it, with no listener change. Returns the ref now serving."""

    def bind(self, listener: ListenerSpec, refs: dict[str, CertRef]) -> None:
        """Make ``listener`` serve exactly its certificates (the first as default), creating or updating
        the listener. ``refs`` maps served ids to uploads (an inline provider reads ``slot.material``).
        Returns when the change is live, waiting out an asynchronous load balancer within ``timing``."""

    def unbind(self, lb_port: int) -> None:
        """Remove TLS termination on ``lb_port``; plain HTTP service stays as it was. No-op if absent."""

    def verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        """What clients get for the certificates of ``listener`` (``only`` those names, when given): a
        handshake per certificate (:func:`handshakes`) where ``capabilities.handshake``, else the provider's
        read-back of the listener and the certificate bodies (``Served.how == "read-back"``)."""

    def forget(self, ref: CertRef) -> None:
        """Delete an uploaded object. Called only when the store shows no listener in ``ref.scope`` uses it;
        no-op when already gone."""

    def cleanup(self) -> None:
        """After a command succeeded: drop what the provider kept only so that this command could still put
        the load balancer back (a managed HAProxy's staged copies, settled change marks). No-op for clouds."""

    def address(self, lb_port: int) -> tuple[str, int]:
        """Where a client reaches the listener on ``lb_port`` (host, port), for handshakes."""

    def local_endpoints(self, lb_ports: Iterable[int], *, http: bool = True) -> tuple[LocalEndpoint, ...]:
        """The TCP endpoints on this machine the load balancer listens on when it serves TLS on ``lb_ports``
        (and, with ``http``, its plain HTTP bind), so the service can refuse a bind that another load
        balancer or another program holds (``sslterm.ports``). Empty for one that does not run here."""

    def alive(self) -> bool:
        """Whether the load balancer is up and answering (a managed HAProxy: its process runs). A load
        balancer that is down is started again (``start``) before any change, and ``status`` says ``down``."""

    def start(self) -> None:
        """Make sure the load balancer exists and serves its plain (non-TLS) configuration; for a managed
        HAProxy this starts it. Raises ProviderError when it cannot be reached."""

    def stop(self, *, keep_files: bool = False) -> None:
        """Stop what sslterm started for this load balancer (`sslterm lb remove`) and remove what it keeps
        for it, unless ``keep_files``; no-op for clouds."""
