"""What each load balancer serves, against what the store says (``sslterm status``).

The store is read in one short transaction (:class:`Expected` per load balancer); the load balancers are then
read outside it, several at a time, as deployments are (a status of a thousand cloud load balancers does not
hold a transaction open while they answer, nor ask them one after the other)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sslterm.engine.apply import Prober
from sslterm.engine.contract import Provider
from sslterm.engine.model import CertSlot, ListenerSpec, Served
from sslterm.engine.probe import probe
from sslterm.engine.verify import served_now
from sslterm.errors import SSLTermError
from sslterm.service.rollout import CertStatus, certificates_of, observe
from sslterm.store import loadbalancers as lb_rows
from sslterm.store.schema import LoadBalancerRow


@dataclass(frozen=True)
class Expected:
    """What the store gives one load balancer, read in a transaction, to compare outside it."""

    name: str
    owner: str | None
    desired: tuple[ListenerSpec, ...]
    days_left: dict[str, int]  # by certificate name

    @classmethod
    def of(cls, lb: LoadBalancerRow, now: datetime) -> Expected:
        return cls(lb.name, lb.owner, lb_rows.desired_listeners(lb),
                   {name: (row.not_after - now).days for name, row in certificates_of(lb).items()})


def status(lb: Expected, provider: Provider, prober: Prober = probe, journal: str | None = None) -> list[CertStatus]:
    desired = lb.desired
    try:
        observed = observe(provider, desired).by_port()
    except SSLTermError as exc:  # the load balancer cannot be read: every certificate says why
        return unreadable(lb, exc.message, journal)
    down = bool(desired) and not provider.alive()
    out = []
    for listener in desired:
        configured = {c.name: c for c in observed[listener.lb_port].certificates} \
            if listener.lb_port in observed else {}
        served: dict[str, Served] = {} if down else {s.target.certificate: s for s in _read(provider, listener, prober)}
        for slot in listener.certificates:
            seen = served.get(slot.name)
            error = ("the load balancer is not running; sslterm enable (or apply) starts it again" if down
                     else seen.error if seen else "no DNS name only it carries: it cannot be probed by SNI")
            have = configured.get(slot.name)
            out.append(CertStatus(lb.name, listener.lb_port, slot.name, slot.fingerprint,
                                  have.fingerprint if have else None, seen.fingerprint if seen else None,
                                  lb.days_left[slot.name], error, slot.chain,
                                  seen.chain if seen and seen.fingerprint else None, down, journal,
                                  have.location or None if have else None))
    return out + unknown_to_the_store(lb.name, desired, observed.values(), journal)


def unreadable(lb: Expected, why: str, journal: str | None) -> list[CertStatus]:
    return [CertStatus(lb.name, x.lb_port, c.name, c.fingerprint, None, None, lb.days_left[c.name],
                       f"cannot read the load balancer: {why}", c.chain, journal=journal)
            for x in lb.desired for c in x.certificates]


def _read(provider: Provider, listener: ListenerSpec, prober: Prober) -> list[Served]:
    """What clients get now (one handshake or read-back each, no waiting); a load balancer that cannot be
    read at all says so on every certificate."""
    try:
        return served_now(provider, listener, prober=prober)
    except SSLTermError:
        return []


def remote_status(lb: Expected, state: str) -> list[CertStatus]:
    """A load balancer that runs beside another controller: what the store gives it, read from the store only
    (``pending``: a change waits for that controller; ``remote``: that controller checks what is served)."""
    why = (f"recorded; applied by the controller it runs beside ({lb.owner}) on its next command or sslterm apply"
           if state == "pending" else f"runs beside another controller ({lb.owner}); its sslterm status checks it")
    return [CertStatus(lb.name, x.lb_port, c.name, c.fingerprint, None, None, lb.days_left[c.name], why, c.chain,
                       journal=state) for x in lb.desired for c in x.certificates]


def unknown_to_the_store(lb: str, desired: tuple[ListenerSpec, ...], observed: Iterable[ListenerSpec],
                         journal: str | None) -> list[CertStatus]:
    """What the load balancer has and the store does not give it (a change interrupted, or made behind
    sslterm's back): a certificate on one of its listeners, or a whole listener (observed without
    certificates: HAProxy still serves one its files dropped). ``drift``, or the journal's state."""
    wanted = {x.lb_port: {c.name for c in x.certificates} for x in desired}
    out = []
    for listener in observed:
        extra = [c for c in listener.certificates if c.name not in wanted.get(listener.lb_port, set())]
        if not listener.certificates and listener.lb_port not in wanted:
            extra = [CertSlot("-", "unsettled", ())]
        out += [CertStatus(lb, listener.lb_port, c.name, None, c.fingerprint, None, None,
                           "on the load balancer, not in the store: run the command again, or sslterm apply",
                           journal=journal) for c in extra]
    return out
