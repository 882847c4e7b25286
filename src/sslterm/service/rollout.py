"""One load balancer at a time: plan what the store says (in the command's transaction), carry it out
(outside any transaction), put it back, and tell what it serves (status). The journal and leases around
these are in :mod:`sslterm.service.deployments`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from operator import attrgetter

from sqlalchemy import select
from sqlalchemy.orm import Session

from sslterm.certs.names import dns_names
from sslterm.engine.adopt import adopt_names
from sslterm.engine.apply import Applier, Prober, Report, Staging
from sslterm.engine.capabilities import enforce, refuse_foreign
from sslterm.engine.contract import CertRef, Observed, Provider
from sslterm.engine.model import CertSlot, ListenerSpec
from sslterm.engine.plan import Plan, Step, certificate_changes, compute
from sslterm.engine.probe import probe
from sslterm.errors import UnsafePlan
from sslterm.store import loadbalancers as lb_rows
from sslterm.store import objects
from sslterm.store.certificates import sealed_material
from sslterm.store.schema import CertificateRow, CertificateVersionRow, LoadBalancerRow
from sslterm.store.secrets import KeyVault


@dataclass
class Outcome:
    """What a command planned for one load balancer and, once applied, the report of what is served."""

    plan: Plan
    report: Report | None  # None for a dry run (and until the deployment has been applied)
    previous: tuple[ListenerSpec, ...] = ()  # what the load balancer had before
    #: the controller that will apply it: the load balancer runs beside that one (the change is pending)
    waiting_for: str | None = None


@dataclass(frozen=True)
class CertStatus:
    load_balancer: str
    lb_port: int
    certificate: str
    expected: str | None  # what the store says
    configured: str | None  # what the load balancer is configured with
    served: str | None  # what a handshake returned
    days_left: int | None
    error: str | None = None
    expected_chain: tuple[str, ...] = ()  # the stored chain, issuer of the leaf first
    served_chain: tuple[str, ...] | None = None  # what the handshake sent after the leaf
    down: bool = False  # the load balancer itself is not running
    journal: str | None = None  # "applying" (a command is changing it now) or "interrupted" (one died doing so)
    location: str | None = None  # where the load balancer keeps it (an ARN; a file), when it says

    @property
    def state(self) -> str:
        """``applying`` or ``interrupted`` (a deployment is unfinished; the next command or ``sslterm apply``
        finishes it), ``pending`` (a change waits for the controller the load balancer runs beside),
        ``remote`` (it runs beside another controller, which checks what it serves), ``down`` (the load
        balancer is not running), ``drift`` (configured with another certificate than the store says),
        ``unreachable`` (no handshake), ``not-served`` (another leaf is served),
        ``wrong-chain`` (the right leaf with another chain: clients may fail to verify it), or ``ok``."""
        if self.journal:
            return self.journal
        if self.down:
            return "down"
        if self.expected != self.configured:
            return "drift"
        if self.served is None:
            return "unreachable"
        if self.served != self.expected:
            return "not-served"
        if self.served_chain != self.expected_chain:
            return "wrong-chain"
        return "ok"

    def as_json(self) -> dict[str, object]:
        data = {**vars(self), "state": self.state}
        data.pop("down")
        data.pop("journal")
        data["expected_chain"], data["served_chain"] = list(self.expected_chain), (
            list(self.served_chain) if self.served_chain is not None else None)
        return data


def certificates_of(lb: LoadBalancerRow) -> dict[str, CertificateRow]:
    """The certificate rows ``lb`` serves, by name."""
    return {t.certificate.name: t.certificate for t in lb.terminations}


def needs_default(lb: LoadBalancerRow, cert: CertificateRow, lb_port: int, provider: Provider) -> bool:
    """A certificate with no DNS name can be reached only without SNI: it must be its listener's default.
    Refused where it cannot be: another such certificate is the default already, or the load balancer's
    default is not sslterm's (attached to an operator's configuration)."""
    if dns_names(cert.sans):
        return False
    hint = "give it a DNS name (a SAN), or serve it on another --lb-port"
    if not provider.capabilities.first_is_default:
        raise UnsafePlan(f"{cert.name} has no DNS name, so only a default certificate could serve it, and "
                         f"{lb.name}'s default certificate is not sslterm's", code="no-dns-name", hint=hint)
    others = [t.certificate.name for t in lb.terminations if t.lb_port == lb_port and t.certificate.id != cert.id
              and not dns_names(t.certificate.sans)]
    if others:
        raise UnsafePlan(f"{cert.name} has no DNS name, and neither has {others[0]}, the default certificate of "
                         f"port {lb_port}: a listener can serve one such certificate", code="no-dns-name", hint=hint)
    return True


def check_expiry(plan: Plan, by_name: Mapping[str, CertificateRow], now: datetime) -> None:
    """Refuse to put an expired certificate live (removing one is always allowed); ``by_name``: the rows
    the load balancer serves, of (at least) the certificates the plan puts live."""
    for slot in _new_slots(plan):
        row = by_name.get(slot.name)
        if row is not None and row.fingerprint == slot.fingerprint and row.not_after <= now:
            raise UnsafePlan(f"certificate {row.name} has expired; it will not be deployed",
                             hint="add a renewed certificate with: sslterm cert add NAME --replace ...")


def _new_slots(plan: Plan) -> list[CertSlot]:
    """The certificates a plan puts live: uploaded, or replacing another in place."""
    out = [s.slot for s in plan.uploads() if s.slot is not None]
    for step in plan.changes():
        if step.action == "rotate" and step.after is not None:
            changed = {name for _, name, _ in certificate_changes(step.before, step.after)}
            out += [c for c in step.after.certificates if c.name in changed]
    return out


def _changed_names(plan: Plan) -> set[str]:
    """The certificates a plan uploads, or adds, replaces or removes on a listener."""
    names = {s.slot.name for s in plan.uploads() if s.slot is not None}
    for step in plan.changes():
        if step.after is not None:
            names |= {name for _, name, _ in certificate_changes(step.before, step.after)}
    return names


_name = attrgetter("name")


class Armory:
    """Key material for the certificates a plan changes, looked up by leaf fingerprint among the store's
    certificates and their kept versions (a rollback puts an older version back), still sealed."""

    def __init__(self, session: Session, lb: LoadBalancerRow, vault: KeyVault, plan: Plan, *,
                 inline: bool = False) -> None:
        self.session, self.vault, self.inline = session, vault, inline
        #: the rows ``lb`` serves of the certificates the plan changes (the others are not armed), or of every
        #: certificate of the listeners it changes when the provider binds them inline
        names = _changed_names(plan) if not inline else {
            c.name for st in plan.changes() for x in (st.before, st.after) if x is not None for c in x.certificates}
        self.current = lb_rows.served_rows(session, lb, names)

    def row(self, slot: CertSlot) -> CertificateRow | CertificateVersionRow | None:
        row = self.current.get(slot.name)
        if row is not None and row.fingerprint == slot.fingerprint:
            return row
        return self.session.scalars(select(CertificateVersionRow).where(
            CertificateVersionRow.fingerprint == slot.fingerprint).limit(1)).first()

    def arm(self, slot: CertSlot) -> CertSlot:
        row = self.row(slot)
        return replace(slot, material=sealed_material(row, self.vault)) if row is not None else slot

    def listener(self, listener: ListenerSpec | None, names: set[str]) -> ListenerSpec | None:
        if listener is None or not names:
            return listener
        listed = list(map(_name, listener.certificates))
        if any(listed.count(name) > 1 for name in names):  # not from the store; as it was, then
            return replace(listener, certificates=tuple(self.arm(c) if c.name in names else c
                                                        for c in listener.certificates))
        certificates = list(listener.certificates)
        for i in sorted(listed.index(name) for name in names if name in listed):  # the few it changes
            certificates[i] = self.arm(certificates[i])
        return replace(listener, certificates=tuple(certificates))

    def step(self, step: Step) -> Step:
        if step.slot is not None:
            return replace(step, slot=self.arm(step.slot))
        if self.inline:  # every certificate of a listener it binds goes with its key
            names = {c.name for x in (step.before, step.after) if x is not None for c in x.certificates}
        else:
            names = {name for _, name, _ in certificate_changes(step.before, step.after)} if step.after else set()
        return replace(step, before=self.listener(step.before, names), after=self.listener(step.after, names))

    def previous(self, plan: Plan, previous: tuple[ListenerSpec, ...]) -> tuple[ListenerSpec, ...]:
        """``previous`` with material on the certificates the plan changes: to put them back."""
        armed = {s.lb_port: s.before for s in plan.changes() if s.before is not None}
        return tuple(armed.get(x.lb_port) or x for x in previous)


def observe(provider: Provider, desired: tuple[ListenerSpec, ...], observed: Observed | None = None) -> Observed:
    """What the load balancer has (``observed``: as read a moment ago); where it keeps no names of sslterm's,
    under the store's names."""
    observed = observed if observed is not None else provider.observe()
    if provider.capabilities.keeps_names:
        return observed
    return Observed(adopt_names(observed.listeners, desired), observed.foreign_ports)


def plan_for(session: Session, lb: LoadBalancerRow, provider: Provider, vault: KeyVault, now: datetime,
             seen: Observed | None = None) -> tuple[Outcome, tuple[ListenerSpec, ...], Plan]:
    """What bringing ``lb`` to what the store says takes (the session holds the pending change): the outcome
    (plan, what it had), what it is brought to, and the plan with the material of what it changes (sealed
    until a provider asks). ``seen``: what it has, read under its lease before the transaction (else read
    now). What the load balancer cannot do is refused first, before any call to it."""
    desired = lb_rows.desired(session, lb)  # the session's pending change flushed, read back
    enforce(lb.name, lb.kind, provider.capabilities, desired)
    observed = observe(provider, desired, seen)
    desired = lb_rows.adopt(desired, observed.listeners)  # what did not change: the very same objects
    refuse_foreign(lb.name, observed, desired)
    plan = compute(lb.name, observed.listeners, desired, rotate_in_place=provider.capabilities.rotate_in_place)
    armory = Armory(session, lb, vault, plan, inline=provider.capabilities.inline)
    check_expiry(plan, armory.current, now)
    armed = Plan(plan.lb, tuple(map(armory.step, plan.steps)))
    after = {s.lb_port: s.after for s in armed.changes() if s.after is not None}
    provider.check(tuple(after.get(x.lb_port, x) for x in desired))  # what it puts live, with its material
    armed = with_known_uploads(session, armed, provider.scope)
    return Outcome(plan, None, armory.previous(armed, observed.listeners)), desired, armed


def with_known_uploads(session: Session, plan: Plan, scope: str) -> Plan:
    """Uploads the store recorded in ``scope`` (by another load balancer of it) are given to the provider as
    the slot's location: it reuses them (after reading them back) instead of uploading a copy."""
    wanted = [s.slot.served_id for s in plan.uploads() if s.slot is not None]
    known = objects.locations(session, scope, wanted) if wanted else {}
    if not known:
        return plan
    return Plan(plan.lb, tuple(replace(s, slot=replace(s.slot, location=known[s.slot.served_id]))
                               if s.slot is not None and s.slot.served_id in known else s for s in plan.steps))


def carry_out(lb: str, provider: Provider, plan: Plan, *, verify_within: float | None, prober: Prober,
              audit: Callable[[str, str, str | None, str], None], refs: dict[str, CertRef],
              staging: Staging) -> Report:
    """Apply ``plan`` (outside any store transaction), starting a managed HAProxy that died first. Replaced
    certificates stay staged, so the caller can still put this load balancer back; it calls
    ``provider.cleanup`` once the command has succeeded."""
    if not provider.alive():  # converge: a managed HAProxy that died is started again
        provider.start()
        audit("lb.restart", f"lb/{lb}", None, "was down; started again on its last configuration")
    report = Applier(provider, verify_within=verify_within, prober=prober, staging=staging).apply(
        plan, cleanup=False, refs=refs)
    for step in report.applied:
        target = f"lb/{lb}:{step.lb_port}"
        for verb, name, fingerprint in certificate_changes(step.before, step.after) or [("update", "", None)]:
            audit(f"deploy.{verb}", target, fingerprint, f"{name} on :{step.lb_port}" if name else step.summary)
    return report


def restore(lb: str, provider: Provider, previous: tuple[ListenerSpec, ...], *, verify_within: float | None,
            prober: Prober = probe) -> None:
    """Put a load balancer back to ``previous`` (its certificates still staged), verified by probes."""
    plan = compute(lb, observe(provider, previous).listeners, previous,
                   rotate_in_place=provider.capabilities.rotate_in_place)
    Applier(provider, verify_within=verify_within, prober=prober).apply(plan)


def summary(lb: LoadBalancerRow) -> dict[str, object]:
    return {"name": lb.name, "kind": lb.kind, "options": lb.options,
            "listeners": [x.describe() for x in lb_rows.desired_listeners(lb)],
            "certificates": sorted({t.certificate.name for t in lb.terminations})}
