"""Deployment use cases over one store transaction: enable, disable, redeploy, status.

The store change and the load balancer change succeed together: the engine applies inside the
transaction, and a failed deployment (rolled back on the load balancer) rolls the store back too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from sslterm.engine.apply import Applier, Prober, Report, probe_targets
from sslterm.engine.model import ListenerSpec, Served
from sslterm.engine.plan import Plan, certificate_changes, compute
from sslterm.engine.probe import probe
from sslterm.errors import UnsafePlan
from sslterm.providers.base import Provider
from sslterm.store import loadbalancers as lb_rows
from sslterm.store.certificates import load_bundle
from sslterm.store.schema import CertificateRow, LoadBalancerRow
from sslterm.store.secrets import KeyVault


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    report: Report | None  # None for a dry run
    previous: tuple[ListenerSpec, ...] = ()  # what the load balancer had before


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

    @property
    def state(self) -> str:
        if self.error and self.served is None:
            return "unreachable"
        if self.expected != self.configured:
            return "drift"
        if self.served != self.expected:
            return "not-served"
        return "ok"

    def as_json(self) -> dict[str, object]:
        return {**vars(self), "state": self.state}


def certificates_of(lb: LoadBalancerRow) -> dict[str, CertificateRow]:
    """The certificate rows ``lb`` serves, by name."""
    return {t.certificate.name: t.certificate for t in lb.terminations}


def check_expiry(plan: Plan, lb: LoadBalancerRow, now: datetime) -> None:
    """Refuse to put an expired certificate live (removing one is always allowed)."""
    by_name = certificates_of(lb)
    for step in plan.uploads():
        row = by_name[step.slot.name] if step.slot else None
        if row is not None and row.not_after <= now:
            raise UnsafePlan(f"certificate {row.name} has expired; it will not be deployed",
                             hint="add a renewed certificate with: sslterm cert add NAME --replace ...")


def with_bundles(plan: Plan, lb: LoadBalancerRow, vault: KeyVault) -> Plan:
    """Unseal the keys of the certificates the plan uploads, and of no other."""
    by_name = certificates_of(lb)
    steps = tuple(
        replace(s, slot=replace(s.slot, bundle=load_bundle(by_name[s.slot.name], vault))) if s.slot else s
        for s in plan.steps
    )
    return Plan(plan.lb, steps)


def deploy(session: Session, lb: LoadBalancerRow, provider: Provider, vault: KeyVault, now: datetime, *,
           dry_run: bool, verify_within: float, prober: Prober = probe,
           audit: Callable[[str, str, str | None, str], None]) -> Outcome:
    """Bring ``lb`` to what the store says (the session holds the pending change). Replaced certificates
    stay staged, so the caller can still put this load balancer back; it calls ``provider.cleanup`` once
    its transaction has committed."""
    session.flush()
    session.refresh(lb)
    desired = lb_rows.desired_listeners(lb)
    provider.check(desired)
    previous = provider.observe()
    plan = compute(lb.name, previous, desired)
    check_expiry(plan, lb, now)
    if dry_run:
        return Outcome(plan, None, previous)
    applier = Applier(provider, verify_within=verify_within, prober=prober)
    report = applier.apply(with_bundles(plan, lb, vault), cleanup=False)
    for step in report.applied:
        target = f"lb/{lb.name}:{step.lb_port}"
        for verb, name, fingerprint in certificate_changes(step.before, step.after) or [("update", "", None)]:
            audit(f"deploy.{verb}", target, fingerprint, f"{name} on :{step.lb_port}" if name else step.summary)
    return Outcome(plan, report, previous)


def restore(lb: str, provider: Provider, previous: tuple[ListenerSpec, ...], *, verify_within: float,
            prober: Prober = probe) -> None:
    """Put a load balancer back to ``previous`` (its certificates still staged), verified by probes."""
    plan = compute(lb, provider.observe(), previous)
    Applier(provider, verify_within=verify_within, prober=prober).apply(plan)


def status(lb: LoadBalancerRow, provider: Provider, now: datetime, prober: Prober = probe) -> list[CertStatus]:
    desired = lb_rows.desired_listeners(lb)
    observed = {x.lb_port: x for x in provider.observe()}
    rows_by_name = certificates_of(lb)
    out = []
    for listener in desired:
        configured = {c.name: c.fingerprint for c in observed[listener.lb_port].certificates} \
            if listener.lb_port in observed else {}
        served: dict[str, Served] = {s.target.certificate: s for s in map(prober, probe_targets(provider, listener))}
        for slot in listener.certificates:
            row = rows_by_name[slot.name]
            seen = served.get(slot.name)
            out.append(CertStatus(lb.name, listener.lb_port, slot.name, slot.fingerprint, configured.get(slot.name),
                                  seen.fingerprint if seen else None, (row.not_after - now).days,
                                  seen.error if seen else "no DNS name to probe it by"))
    return out


def summary(lb: LoadBalancerRow) -> dict[str, object]:
    return {"name": lb.name, "kind": lb.kind, "options": lb.options,
            "listeners": [x.describe() for x in lb_rows.desired_listeners(lb)],
            "certificates": sorted({t.certificate.name for t in lb.terminations})}
