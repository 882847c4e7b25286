"""How a command changes the store and load balancers together: a journal, leases, and no store transaction
held while a load balancer is changed.

0. The load balancers the command names are leased (a short transaction) and read, outside any transaction.
1. In the command's own short transaction, the use case changes the store; each load balancer to change is
   planned from that reading and recorded as a deployment: intent (what it will serve), what it had, and how
   to put the store back. Then the transaction commits.
2. Outside any transaction, the deployments are carried out, several load balancers at a time
   (``SSLTERM_DEPLOY_WORKERS``), leases renewed meanwhile: applied, verified (the engine puts a load balancer
   back itself when its change fails); once one fails, no other is started.
3. A short transaction records the outcome: ``verified``, leases released; or, when one failed, the load
   balancers already changed are put back, the store change is undone, and the deployments say
   ``rolled-back`` (``needs-attention`` when putting back failed too).

A command that died between 1 and 3 (a crash, SIGKILL, a lost machine) leaves deployments ``applying``; once
its lease has run out, or at once when it was a process of this machine that is gone, ``status`` says
``interrupted``, and the next command, or ``sslterm apply``, first finishes
them (:meth:`Deployments.reconcile`): what the store says is deployed again; if that fails, the store change
is undone and the load balancers are brought back to it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sslterm.engine.contract import CertRef, Observed, Provider
from sslterm.engine.plan import Plan
from sslterm.engine.retry import with_retries
from sslterm.errors import Busy, DeploymentError, RollbackFailed, SSLTermError
from sslterm.providers import registry
from sslterm.service import parallel
from sslterm.service.change import Change, Pending
from sslterm.service.context import Context
from sslterm.service.rollout import CertStatus, Outcome, carry_out, plan_for, restore
from sslterm.service.status import Expected, remote_status, status
from sslterm.store import certificates as rows
from sslterm.store import journal, objects
from sslterm.store import loadbalancers as lb_rows
from sslterm.store.schema import LoadBalancerRow

Audit = tuple[str, str, str | None, str]  # action, target, fingerprint, detail
#: the load balancers a command will change: names, or a query run in a short read transaction before it
LbNames = Sequence[str] | Callable[[Session], Sequence[str]]


class Deployments:
    """Deployments of the store's state to load balancers, journalled; and status."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @contextmanager
    def changing(self, target: str, *, lbs: LbNames = (), dry_run: bool = False, reconcile: bool = True,
                 batch: str | None = None) -> Iterator[Change]:
        """One command's change: the use case changes the store in ``change.session`` and asks for
        deployments (``change.deploy``); they are carried out once that has committed (see the module).

        ``lbs``: the load balancers it will change. They are leased and read (``observe``) first, side by
        side, outside any transaction: the command's transaction then plans from those readings, and holds
        no lock while a load balancer answers. One it did not name is read in the transaction (correct, but
        it holds the transaction for that long). ``batch``: the id its deployments are journalled under (an
        adapter that reports on them later chooses it; else a new one)."""
        if reconcile and not dry_run:
            self.reconcile()
        leased, observed = self._observe_first(lbs, dry_run)
        change: Change | None = None
        try:
            with self.ctx.db.transaction(commit=not dry_run) as session:
                change = Change(session, self, dry_run, observed)
                if batch:
                    change.batch = batch
                yield change
        except BaseException as exc:  # a Ctrl-C right after the commit: nothing was applied yet, undo it
            committed = change is not None and bool(change.session.info.get("committed"))
            if change is not None and change.pending and committed:
                self._fail(change, [], exc, target)
            self._release_others(leased, change if committed else None)
            raise
        self._carry_out(change, leased, target)

    def _observe_first(self, lbs: LbNames, dry_run: bool) -> tuple[list[str], dict[str, Observed]]:
        """Lease (unless a dry run) and read the load balancers a command will change, those this controller
        may change; the names leased, and what each has."""
        with self.ctx.db.transaction(write=False) as session:
            names = lbs(session) if callable(lbs) else lbs
            found = [lb for name in dict.fromkeys(names) if (lb := lb_rows.get(session, name, listeners=False))]
            providers = {lb.name: self.ctx.provider(lb) for lb in found if not self.ctx.owned_elsewhere(lb)}
        if not providers:
            return [], {}
        leased = [] if dry_run else list(providers)
        if leased:
            with self.ctx.db.transaction(counted=False) as session:
                for name in leased:  # all or none: a Busy one rolls the others back
                    journal.take_lease(session, name, self.ctx.owner, self.ctx.clock(), self.ctx.abandoned,
                                       self.ctx.lease_seconds)
        read = parallel.each(list(providers), lambda name: providers[name].observe(), self.ctx.settings.deploy_workers)
        failure = read.first_failure()
        if failure is not None:
            self._release_others(leased, None)
            raise failure
        return leased, dict(read.done)

    def _release_others(self, leased: Sequence[str], change: Change | None) -> None:
        """Release the leases taken before the transaction that no recorded deployment holds now."""
        holding = {p.lb for p in change.pending} if change is not None else set()
        free = [name for name in leased if name not in holding]
        if free:
            with self.ctx.db.transaction(counted=False) as session:
                for name in free:
                    journal.release_lease(session, name, self.ctx.owner)

    def prepare(self, change: Change, lb: LoadBalancerRow) -> Outcome:
        now = self.ctx.clock()
        if lb.owner is None and lb.kind in registry.OWNED_KINDS:  # a store from before owners were kept
            lb.owner = self.ctx.controller
        if self.ctx.owned_elsewhere(lb):  # never touched from here: its owner applies what the store says
            outcome = Outcome(Plan(lb.name, ()), None, (), waiting_for=lb.owner)
            if not change.dry_run:
                journal.start(change.session, change.batch, lb.name, lb_rows.desired(change.session, lb), (),
                              change.revert, self.ctx.owner, now, state="pending")
            return outcome
        outcome, desired, plan = plan_for(change.session, lb, self.ctx.provider(lb), self.ctx.vault, now,
                                          change.observed.get(lb.name))
        if change.dry_run or (plan.empty and self.ctx.provider(lb).alive()):
            return outcome
        provider = self.ctx.provider(lb)
        if lb.scope != provider.scope:
            lb.scope = provider.scope
        journal.take_lease(change.session, lb.name, self.ctx.owner, now, self.ctx.abandoned, self.ctx.lease_seconds)
        row = journal.start(change.session, change.batch, lb.name, desired, outcome.previous, change.revert,
                            self.ctx.owner, now, plan=outcome.plan)
        change.pending.append(Pending(lb.name, outcome, plan, row.id, desired))
        change.session.info["counted"] = False  # the change counts once its outcome is recorded
        return outcome

    # -- carrying out ------------------------------------------------------------------------------------
    def _carry_out(self, change: Change, leased: Sequence[str], target: str) -> None:
        """Apply every recorded deployment, several load balancers at a time (``deploy_workers``); when one
        fails, none is started after it. Whatever ends it before the outcome is committed (a failure, a Ctrl-C
        at any point, the renewals starting or stopping included) puts back the load balancers changed and
        undoes the store change (:meth:`_fail`); once the outcome is committed, the change stands."""
        audits: list[Audit] = []
        ran: parallel.Results[Pending, None] | None = None
        outcome: list[Session] = []
        staging = parallel.KeyedLocks()  # a certificate is staged once per scope, not once per load balancer

        def one(pending: Pending) -> None:
            pending.outcome.report = carry_out(
                pending.lb, self.ctx.providers[pending.lb], pending.plan, verify_within=self.ctx.verify_within,
                prober=self.ctx.prober, audit=lambda *entry: audits.append(entry), refs=pending.refs,
                staging=staging)

        try:
            self._release_others(leased, change)
            if not change.pending:
                return
            with self._renewing([p.lb for p in change.pending]):
                ran = parallel.each(change.pending, one, self.ctx.settings.deploy_workers)
            if ran.failed:
                failures = [exc for _, exc in ran.failed]
                raise next((exc for exc in failures if isinstance(exc, RollbackFailed)), failures[0])
            with self.ctx.db.transaction() as session:
                outcome.append(session)
                journal.finish(session, [p.deployment for p in change.pending], "verified", self.ctx.clock())
                self._release(session, [p.lb for p in change.pending])
                self._write(session, audits)
                objects.record(session, [o for p in change.pending for o in p.uploaded()], self.ctx.clock())
                unused = self._unused(session, change.pending, lambda p: p.stopped_serving())
        except BaseException as exc:
            if change.pending and not (outcome and outcome[0].info.get("committed")):
                self._fail(change, [p for p, _ in ran.done] if ran else [], exc, target)
            raise
        for pending in change.pending:
            with contextlib.suppress(SSLTermError):
                self.ctx.providers[pending.lb].cleanup()
        self._forget(unused)

    @contextmanager
    def _renewing(self, lbs: Sequence[str]) -> Iterator[None]:
        """Renew the leases on ``lbs`` every third of their time while the block runs (a load balancer may take
        minutes); a crashed command renews nothing, so its leases still run out."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.ctx.lease_seconds / 3):
                with contextlib.suppress(SSLTermError), self.ctx.db.transaction(counted=False) as session:
                    for lb in lbs:
                        journal.renew_lease(session, lb, self.ctx.owner, self.ctx.clock(), self.ctx.lease_seconds)

        beat = threading.Thread(target=renew, name="sslterm-lease", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()

    def _unused(self, session: Session, pending: Sequence[Pending],
                candidates: Callable[[Pending], dict[str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
        """The recorded uploads among each deployment's ``candidates`` that no one needs any more, once per
        scope (through the first load balancer of it), so each is deleted once."""
        seen: set[tuple[str, str]] = set()
        out = []
        for p in pending:
            scope = self.ctx.providers[p.lb].scope
            found = [o for o in objects.unused(session, scope, candidates(p)) if (scope, o[0]) not in seen]
            seen |= {(scope, o[0]) for o in found}
            out.append((p.lb, found))
        return out

    def forget_uploads(self, uploads: dict[str, list[tuple[str, str]]]) -> None:
        """Delete uploads of a removed certificate, through a load balancer of each one's scope."""
        with self.ctx.db.transaction(write=False) as session:
            for name in uploads:
                self.ctx.provider(self.ctx.lb(session, name))
        self._forget(list(uploads.items()))

    def _forget(self, unused: Sequence[tuple[str, list[tuple[str, str]]]]) -> None:
        """Delete the uploads no load balancer of their scope is given any more (an error leaves the object
        recorded: the next deployment in that scope tries again)."""
        for lb, found in unused:
            provider = self.ctx.providers[lb]
            gone = []
            for served_id, location in found:
                ref = CertRef(served_id, location, provider.scope)
                with contextlib.suppress(SSLTermError):
                    with_retries(functools.partial(provider.forget, ref), provider.timing)
                    gone.append(served_id)
            if gone:
                with self.ctx.db.transaction(counted=False) as session:
                    objects.drop(session, provider.scope, gone)

    def _fail(self, change: Change, done: Sequence[Pending], cause: BaseException, target: str) -> None:
        """Put back the load balancers already changed (newest first, all of them even if one fails), undo
        the store change, record the outcome; raises RollbackFailed when a load balancer could not be put
        back (the failed one itself is put back by the engine, which raises RollbackFailed if it could not)."""
        failed = [(p.lb, exc) for p in reversed(done) if (exc := self._put_back_lb(p)) is not None]
        if isinstance(cause, RollbackFailed):
            failed.append(("", cause))
        state = "needs-attention" if failed else "rolled-back"
        what = cause.message if isinstance(cause, SSLTermError) else type(cause).__name__
        with self.ctx.db.transaction(counted=False) as session:
            journal.put_back(session, change.revert, self.ctx.clock())
            journal.finish(session, [p.deployment for p in change.pending], state, self.ctx.clock(), what)
            self._release(session, [p.lb for p in change.pending])
            if isinstance(cause, DeploymentError) or failed:
                rows.audit(session, self.ctx.clock(), "deploy.failed", target, None, what)
            # what it uploaded is recorded even so, and what no one needs now (the store change is undone) goes
            objects.record(session, [o for p in change.pending for o in p.uploaded()], self.ctx.clock())
            unused = [] if failed else self._unused(session, change.pending, lambda p: p.fingerprints())
        with contextlib.suppress(SSLTermError):
            self._forget(unused)
        if [f for f in failed if f[0]]:
            names = ", ".join(f"{lb} ({exc.message})" for lb, exc in failed if lb)
            raise RollbackFailed(f"{what}; putting back failed on: {names}",
                                 hint="check the load balancers now: sslterm status") from failed[0][1]

    def _put_back_lb(self, pending: Pending) -> SSLTermError | None:
        try:
            restore(pending.lb, self.ctx.providers[pending.lb], pending.outcome.previous,
                    verify_within=self.ctx.verify_within, prober=self.ctx.prober)
        except SSLTermError as exc:
            return exc
        return None

    def _release(self, session: Session, lbs: Sequence[str]) -> None:
        for lb in dict.fromkeys(lbs):
            journal.release_lease(session, lb, self.ctx.owner)
            journal.prune(session, lb)

    def _write(self, session: Session, audits: Sequence[Audit]) -> None:
        for action, target, fingerprint, detail in audits:
            rows.audit(session, self.ctx.clock(), action, target, fingerprint, detail)

    # -- finishing what a dead command started -----------------------------------------------------------
    def reconcile(self, lb_name: str | None = None) -> list[str]:
        """Finish what was left unfinished on the load balancers this controller may change: deployments
        whose command died (lease run out: deploy what the store says; if that fails, undo that command's
        store change and deploy that), and changes another controller recorded for the load balancers that
        run beside this one (pending: applied now). The load balancers done."""
        now = self.ctx.clock()
        with self.ctx.db.transaction(write=False) as session:
            rows = journal.unfinished(session, lb_name)
            if not rows:
                return []
            owners = {name: owner for name, owner in session.execute(select(
                LoadBalancerRow.name, LoadBalancerRow.owner).where(LoadBalancerRow.name.in_({r.load_balancer
                                                                                           for r in rows})))}
            rows = [r for r in rows if owners.get(r.load_balancer) in (None, self.ctx.controller)]
            pending = [r for r in rows if r.state == "pending"]
            stale = [r for r in rows if r.state != "pending"
                     and journal.lease_expired(session, r.load_balancer, now, self.ctx.abandoned)]
            batches = {r.batch: (r.revert, [x.id for x in stale if x.batch == r.batch],
                                 sorted({x.load_balancer for x in stale if x.batch == r.batch})) for r in stale}
            waiting = {r.load_balancer: [x.id for x in pending if x.load_balancer == r.load_balancer]
                       for r in pending}
        for revert, ids, lbs in batches.values():
            self._reconcile_batch(revert, ids, lbs)
        for lb, ids in waiting.items():
            self._apply_pending(lb, ids)
        return sorted({lb for _, _, lbs in batches.values() for lb in lbs} | waiting.keys())

    def _apply_pending(self, lb: str, ids: list[int]) -> None:
        """Apply what another controller recorded for ``lb``, which runs beside this one. A failure leaves
        ``lb`` as it was (the engine puts it back) and the change recorded as ``failed``: ``status`` shows
        the difference until the store or the load balancer is put right and ``sslterm apply`` runs."""
        try:
            self._converge([lb], f"applied changes recorded by another controller (deployments {ids})")
            state, detail = "verified", "applied by the controller it runs beside"
        except Busy:
            return  # another command of this controller is changing it: it stays pending for the next one
        except SSLTermError as exc:
            state, detail = "failed", f"the controller it runs beside could not apply it: {exc.message}"
        with self.ctx.db.transaction(counted=False) as session:
            journal.finish(session, ids, state, self.ctx.clock(), detail)
            rows.audit(session, self.ctx.clock(), "deploy.pending", lb, None, f"{state}: {detail}")

    def _reconcile_batch(self, revert: list[dict[str, Any]], ids: list[int], lbs: list[str]) -> None:
        try:
            self._converge(lbs, f"finished after an interruption (deployments {ids})")
            state, detail = "verified", "finished after an interruption"
        except SSLTermError as exc:
            with self.ctx.db.transaction(counted=False) as session:
                journal.put_back(session, revert, self.ctx.clock())
            try:
                self._converge(lbs, f"put back after an interrupted deployment failed to finish ({exc.message})")
                state, detail = "rolled-back", f"could not be finished ({exc.message}); put back"
            except SSLTermError as again:
                state, detail = "needs-attention", f"could not be finished nor put back: {again.message}"
        with self.ctx.db.transaction(counted=False) as session:
            journal.finish(session, ids, state, self.ctx.clock(), detail)
            rows.audit(session, self.ctx.clock(), "deploy.reconciled", ",".join(lbs), None, f"{state}: {detail}")

    def _converge(self, lbs: Sequence[str], why: str) -> None:
        """Deploy what the store says to each of ``lbs`` (a change of nothing: leased and journalled)."""
        with self.changing(why, lbs=lbs, reconcile=False) as change:
            for name in lbs:
                lb = lb_rows.get(change.session, name, listeners=False)
                if lb is not None:
                    self.prepare(change, lb)

    def apply(self, lb_name: str | None = None) -> list[Outcome]:
        """``sslterm apply``: finish interrupted deployments, then bring every load balancer (or ``lb_name``)
        to what the store says, starting a managed HAProxy that died."""
        self.reconcile(lb_name)
        with self.changing("apply", lbs=[lb_name] if lb_name else lb_rows.names, reconcile=False) as change:
            lbs = [self.ctx.lb(change.session, lb_name)] if lb_name else lb_rows.all_rows(change.session)
            return [change.deploy(lb) for lb in lbs]

    # -- status -------------------------------------------------------------------------------------------
    def status(self, lb_name: str | None = None) -> list[CertStatus]:
        """What each load balancer (or ``lb_name``) serves against what the store says: the store read in one
        short transaction, the load balancers then read outside it, several at a time."""
        now = self.ctx.clock()
        checks: list[tuple[Expected, Provider | None, str | None]] = []
        with self.ctx.db.transaction(write=False) as session:
            for lb in [self.ctx.lb(session, lb_name)] if lb_name else lb_rows.all_rows(session):
                unfinished = journal.unfinished(session, lb.name)
                if self.ctx.owned_elsewhere(lb):  # never read from here: it runs beside its owner
                    checks.append((Expected.of(lb, now), None, "pending" if unfinished else "remote"))
                    continue
                state = None if not unfinished else "pending" if any(r.state == "pending" for r in unfinished) else (
                    "interrupted" if journal.lease_expired(session, lb.name, now, self.ctx.abandoned) else "applying")
                checks.append((Expected.of(lb, now), self.ctx.provider(lb), state))

        def one(check: tuple[Expected, Provider | None, str | None]) -> list[CertStatus]:
            expected, provider, state = check
            if provider is None:
                return remote_status(expected, state or "remote")
            return status(expected, provider, self.ctx.prober, state)

        read = parallel.each(checks, one, self.ctx.settings.deploy_workers)
        failure = read.first_failure()
        if failure is not None:
            raise failure
        return [row for _, rows in read.done for row in rows]
