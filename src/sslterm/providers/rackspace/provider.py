"""The Rackspace Cloud Load Balancers provider (kind ``rackspace``): SSL termination on one load balancer.

One TLS listener per load balancer (the termination, on its ``securePort``), forwarding plain HTTP to the
nodes' own ports; its certificate is the default one, and certificate mappings serve the others by SNI.
Certificates are inline (sent with their key in the termination or mapping), so ``upload`` makes no call,
``bind`` reads the key from ``slot.material`` and ``rotate`` replaces a certificate where it is (``PUT``).
Everything is read from Rackspace itself; nothing is kept beside it. Verification reads the termination and
the mappings back (Rackspace answers no handshake from here), leaf and chain.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import ClassVar

from sslterm.certs.names import dns_names
from sslterm.engine.contract import Capabilities, CertRef, CertSlot, ListenerSpec, Observed, ProbeTarget, Served, Timing
from sslterm.errors import ProviderError, UnsafePlan
from sslterm.ports import LocalEndpoint
from sslterm.providers.rackspace.balancer import Balancer
from sslterm.providers.rackspace.changes import apply_listener, replace_certificate
from sslterm.providers.rackspace.checks import MAPPING_LIMIT, refuse
from sslterm.providers.rackspace.options import RackspaceOptions
from sslterm.providers.rackspace.state import CUSTOM, INLINE, PROFILES, State, Termination

CAPABILITIES = Capabilities(
    key_types=("RSA",), sni=True, max_listeners=1, max_certificates_per_listener=1 + MAPPING_LIMIT,
    redirect_http=True, hsts=False, https_to_instances=False, tls_profiles=tuple(PROFILES),
    rotate_in_place=True, handshake=False, first_is_default=True, keeps_names=False, inline=True)
#: a change returns once the load balancer is ACTIVE again (its own bounded wait, see balancer.py); the engine
#: retries what may pass (5xx, no answer, a rate limit longer than the wait) a few times, and reads back at once
#: a change is planned on what ``observe`` read this long ago at most (no change sent since); then read again.
#: The service observes under the load balancer's lease, just before the command's transaction, and changes up
#: to SSLTERM_DEPLOY_WORKERS load balancers at a time: with 20 to change, the last starts some 15 s after its
#: read. Another sslterm cannot change it meanwhile (the lease); what the change does is read back after it.
REUSE = 60.0
TIMING = Timing(attempts=3, first_delay=2.0, max_wait=60.0, settle_within=10.0, settle_interval=1.0)


class RackspaceProvider:
    kind: ClassVar[str] = "rackspace"
    capabilities = CAPABILITIES
    default_lb_port = 443

    def __init__(self, name: str, options: RackspaceOptions, balancer: Balancer, *, timing: Timing = TIMING) -> None:
        self.name, self.options, self.lb, self.timing = name, options, balancer, timing
        self.scope = f"rackspace:{options.region}:{options.lb_id}"
        #: the termination of a listener observed with settings sslterm does not make, by port (this process)
        self._custom: dict[int, Termination] = {}

    # -- reading --------------------------------------------------------------------------------------
    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        """Refuse what Rackspace would (checks.py): from the certificates and settings, and the load balancer's
        protocol as ``observe`` read it (no call of its own)."""
        refuse(listeners, self.lb.info)

    def observe(self) -> Observed:
        """The termination as sslterm's listener; the load balancer's own plain port as not sslterm's."""
        state = self.lb.read()
        listener = state.listener()
        if listener is not None and state.termination is not None and listener.tls_profile == CUSTOM:
            self._custom[listener.lb_port] = state.termination  # its settings, to put back should a change fail
        return Observed((listener,) if listener else (), (state.info.port,))

    def verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        """Read the termination and the mappings back: the default certificate from the termination, each
        other one from the mappings of its DNS names (all of them must hold it), leaf and chain."""
        state = self.lb.read_served()
        host = self.address(listener.lb_port)[0]
        out = []
        for position, slot in enumerate(listener.certificates):
            if position and only is not None and slot.name not in only:
                continue
            names = dns_names(slot.sans)
            if position and not names:
                continue  # no name to ask for by SNI: status says it cannot be probed
            target = ProbeTarget(host, listener.lb_port, names[0] if position else None, slot.fingerprint,
                                 slot.name, expect_chain=slot.chain)
            out.append(self._read_back(state, listener, target, names if position else None))
        return out

    @staticmethod
    def _read_back(state: State, listener: ListenerSpec, target: ProbeTarget, names: list[str] | None) -> Served:
        t = state.termination
        if t is None or t.secure_port != listener.lb_port:
            return Served(target, None, f"no SSL termination on port {listener.lb_port}", how="read-back")
        if not t.enabled:
            return Served(target, None, "the SSL termination is disabled", how="read-back")
        if names is None:
            return Served(target, t.body.leaf, chain=t.body.chain, how="read-back")
        mapped = state.by_host()
        missing = [n for n in names if n not in mapped]
        if missing:
            return Served(target, None, f"no certificate mapping for {missing[0]}", how="read-back")
        bodies = [mapped[n].body for n in names]
        other = next((b for b in bodies if (b.leaf, b.chain) != (target.expect, target.expect_chain)), bodies[0])
        return Served(target, other.leaf, chain=other.chain, how="read-back")

    # -- changing -------------------------------------------------------------------------------------
    def upload(self, slot: CertSlot) -> CertRef:
        """Inline certificates: nothing to stage; the key must be at hand for the bind that sends it."""
        if slot.material is None:
            raise ProviderError(f"{self.name}: certificate {slot.name} is not served here and its key is not at hand",
                                code="not-staged")
        return CertRef(slot.served_id, INLINE, self.scope)

    def bind(self, listener: ListenerSpec, refs: dict[str, CertRef]) -> None:
        if not listener.certificates:
            self.unbind(listener.lb_port)
            return
        custom = self._custom.get(listener.lb_port)  # on another port than the termination's: moved there
        apply_listener(self.lb, self.lb.read(reuse=REUSE), listener, custom)

    def rotate(self, ref: CertRef, slot: CertSlot) -> CertRef:
        """Replace the certificate served as ``ref`` wherever it is: the termination (``PUT``, the mappings
        untouched) and each of its mappings (``PUT``, same ids). Already done: no write."""
        state = self.lb.read(reuse=REUSE)
        served = state.listener()
        ids = {c.served_id for c in served.certificates} if served else set()
        if ref.fingerprint not in ids:
            if slot.served_id in ids:
                return CertRef(slot.served_id, INLINE, self.scope)
            raise ProviderError(f"{self.name}: the certificate to replace ({ref.fingerprint[:16]}) is not served",
                                code="not-served", hint="run the command again: it binds what the store says")
        replace_certificate(self.lb, state, ref.fingerprint, slot)
        return CertRef(slot.served_id, INLINE, self.scope)

    def unbind(self, lb_port: int) -> None:
        """Delete the termination on ``lb_port`` and, with it, every mapping (HTTPS redirect turned off first:
        Rackspace refuses the delete under it). Plain HTTP stays as it was."""
        state = self.lb.read(reuse=REUSE)
        t = state.termination
        if t is None or t.secure_port != lb_port:
            return
        if state.info.https_redirect:
            self.lb.change("PUT", "", {"loadBalancer": {"httpsRedirect": False}}, "turning HTTPS redirect off")
        self.lb.change("DELETE", "/ssltermination", None, f"deleting the SSL termination of port {lb_port}")

    def forget(self, ref: CertRef) -> None:
        return None  # inline: nothing was uploaded

    def cleanup(self) -> None:
        return None

    # -- the rest of the contract -----------------------------------------------------------------------
    def address(self, lb_port: int) -> tuple[str, int]:
        info = self.lb.info or self.lb.details()
        return info.address or f"{self.options.region.lower()}-lb-{self.options.lb_id}", lb_port

    def local_endpoints(self, lb_ports: Iterable[int], *, http: bool = True) -> tuple[LocalEndpoint, ...]:
        return ()

    def alive(self) -> bool:
        return True  # a cloud load balancer is not started by sslterm

    def start(self) -> None:
        """That the credentials work and the load balancer exists in the region; and that it has no SSL
        termination sslterm did not put there (sslterm never takes over what it did not create)."""
        try:
            self.lb.details()
        except ProviderError as exc:
            if exc.code == "rackspace-not-found":
                raise ProviderError(f"{self.name}: no load balancer {self.options.lb_id} in {self.options.region}",
                                    code="rackspace-lb-not-found", hint="check --lb-id and --region") from exc
            raise
        if self.lb.termination() is not None:
            raise UnsafePlan(f"{self.name}: Rackspace load balancer {self.options.lb_id} terminates TLS already, "
                             "with a certificate sslterm did not put there", code="rackspace-termination-exists",
                             hint="remove that SSL termination first (sslterm then manages the new one), or add "
                                  "another load balancer")

    def stop(self, *, keep_files: bool = False) -> None:
        return None
