"""Deployments: bring load balancers to what the store says, inside one command's store transaction, and
tell what they serve (status).

The store change and the load balancer change succeed together: the engine applies inside the
transaction, and a failed deployment (rolled back on the load balancer) rolls the store back too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sslterm.certs.names import dns_names
from sslterm.engine.apply import Applier, Prober, Report, probe_targets
from sslterm.engine.contract import Provider
from sslterm.engine.model import ListenerSpec, Served
from sslterm.engine.plan import Plan, certificate_changes, compute
from sslterm.engine.probe import probe
from sslterm.errors import DeploymentError, RollbackFailed, SSLTermError, UnsafePlan
from sslterm.service.context import Context
from sslterm.store import certificates as rows
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
    expected_chain: tuple[str, ...] = ()  # the stored chain, issuer of the leaf first
    served_chain: tuple[str, ...] | None = None  # what the handshake sent after the leaf
    down: bool = False  # the load balancer itself is not running

    @property
    def state(self) -> str:
        """``down`` (the load balancer is not running), ``drift`` (configured with another certificate than
        the store says), ``unreachable`` (no handshake), ``not-served`` (another leaf is served),
        ``wrong-chain`` (the right leaf with another chain: clients may fail to verify it), or ``ok``."""
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
    if not dry_run and not provider.alive():  # converge: a managed HAProxy that died is started again
        provider.start()
        audit("lb.restart", f"lb/{lb.name}", None, "was down; started again on its last configuration")
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
    down = bool(desired) and not provider.alive()
    rows_by_name = certificates_of(lb)
    out = []
    for listener in desired:
        configured = {c.name: c.fingerprint for c in observed[listener.lb_port].certificates} \
            if listener.lb_port in observed else {}
        targets = [] if down else probe_targets(provider, listener)
        served: dict[str, Served] = {s.target.certificate: s for s in map(prober, targets)}
        for slot in listener.certificates:
            seen = served.get(slot.name)
            error = ("the load balancer is not running; sslterm enable (or apply) starts it again" if down
                     else seen.error if seen else "no DNS name only it carries: it cannot be probed by SNI")
            out.append(CertStatus(lb.name, listener.lb_port, slot.name, slot.fingerprint, configured.get(slot.name),
                                  seen.fingerprint if seen else None, (rows_by_name[slot.name].not_after - now).days,
                                  error, slot.chain, seen.chain if seen and seen.fingerprint else None, down))
    return out


def summary(lb: LoadBalancerRow) -> dict[str, object]:
    return {"name": lb.name, "kind": lb.kind, "options": lb.options,
            "listeners": [x.describe() for x in lb_rows.desired_listeners(lb)],
            "certificates": sorted({t.certificate.name for t in lb.terminations})}


Done = list[tuple[str, Outcome]]  # the load balancers a command changed, with how (for putting them back)


class Deployments:
    """The one way a command changes the store and load balancers together (``changing``), and status."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @contextmanager
    def changing(self, target: str, *, commit: bool = True) -> Iterator[tuple[Session, Done]]:
        """One command's transaction and the load balancers it changed. On any failure (a refused
        deployment, Ctrl-C, the commit itself) the store rolls back and every load balancer already changed
        is put back; the failure is then audited in a transaction of its own. After success, copies of
        certificates no longer served are removed."""
        done: Done = []
        try:
            with self.ctx.db.transaction(commit=commit) as session:
                yield session, done
        except BaseException as exc:
            try:
                self._put_back(done, exc)
            except RollbackFailed as failed:
                self._audit_failure(target, failed)
                raise
            if isinstance(exc, DeploymentError):
                self._audit_failure(target, exc)
            raise
        for lb_name, _ in done:
            with contextlib.suppress(SSLTermError):
                self.ctx.providers[lb_name].cleanup()

    def _put_back(self, done: Done, cause: BaseException) -> None:
        """Restore every load balancer in ``done`` (newest first), all of them even if one fails."""
        failed: list[tuple[str, SSLTermError]] = []
        for lb_name, outcome in reversed(done):
            try:
                restore(lb_name, self.ctx.providers[lb_name], outcome.previous,
                        verify_within=self.ctx.verify_within, prober=self.ctx.prober)
            except SSLTermError as exc:
                failed.append((lb_name, exc))
        if failed:
            what = cause.message if isinstance(cause, SSLTermError) else type(cause).__name__
            names = ", ".join(f"{lb} ({exc.message})" for lb, exc in failed)
            raise RollbackFailed(f"{what}; putting back failed on: {names}",
                                 hint="check the load balancers now: sslterm status") from failed[0][1]

    def _audit_failure(self, target: str, exc: SSLTermError) -> None:
        """Best effort: a store that cannot record the failure must not hide it."""
        with contextlib.suppress(SQLAlchemyError), self.ctx.db.transaction(counted=False) as session:
            rows.audit(session, self.ctx.clock(), "deploy.failed", target, None, exc.message)

    def redeploy(self, session: Session, lb_names: Sequence[str], done: Done) -> None:
        """Deploy to each load balancer in turn (once each), recording it in ``done`` so that the
        command's failure puts it back."""
        for lb_name in dict.fromkeys(lb_names):
            self.deploy_one(session, self.ctx.lb(session, lb_name), done, dry_run=False)

    def deploy_one(self, session: Session, lb: LoadBalancerRow, done: Done, *, dry_run: bool) -> Outcome:
        """Deploy ``lb`` and, unless it was a dry run, record it for the command's put-back."""
        outcome = self._deploy(session, lb, dry_run=dry_run)
        if not dry_run:
            done.append((lb.name, outcome))
        return outcome

    def _deploy(self, session: Session, lb: LoadBalancerRow, *, dry_run: bool) -> Outcome:
        def audit(action: str, target: str, fingerprint: str | None, detail: str) -> None:
            rows.audit(session, self.ctx.clock(), action, target, fingerprint, detail)

        return deploy(session, lb, self.ctx.provider(lb), self.ctx.vault, self.ctx.clock(), dry_run=dry_run,
                      verify_within=self.ctx.verify_within, prober=self.ctx.prober, audit=audit)

    def status(self, lb_name: str | None = None) -> list[CertStatus]:
        with self.ctx.db.transaction(write=False) as session:
            lbs = [self.ctx.lb(session, lb_name)] if lb_name else lb_rows.all_rows(session)
            return [s for lb in lbs for s in status(lb, self.ctx.provider(lb), self.ctx.clock(), self.ctx.prober)]
