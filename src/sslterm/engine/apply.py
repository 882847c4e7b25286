"""Apply a plan: stage every certificate, then one listener at a time: change it (bind, or rotate its
certificates in place), verify it, and on any failure put every changed listener back as it was, verify
that too, and say what happened. Provider calls go through the one retry loop, within the provider's
Timing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TypeVar

from sslterm.engine.contract import CertRef, Provider
from sslterm.engine.model import CertSlot, ListenerSpec, Served
from sslterm.engine.plan import Plan, Step, certificate_changes, replaced_pairs
from sslterm.engine.probe import probe
from sslterm.engine.retry import with_retries
from sslterm.engine.verify import Prober, verified
from sslterm.errors import DeploymentError, RollbackFailed, SSLTermError

__all__ = ["Applier", "Prober", "Report", "changed_names"]

T = TypeVar("T")


@dataclass
class Report:
    plan: Plan
    applied: list[Step] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    refs: dict[str, CertRef] = field(default_factory=dict)  # what was uploaded or rotated, by served id


def changed_names(before: ListenerSpec | None, after: ListenerSpec) -> set[str] | None:
    """The certificates of ``after`` worth a handshake: those added or replaced (None: all of them)."""
    if before is None:
        return None
    return {name for verb, name, _ in certificate_changes(before, after) if verb != "remove"}


#: a lock per (scope, served id), held while a certificate is staged (uploaded or rotated in place)
Staging = Callable[[str, str], AbstractContextManager[object]]


def _unshared(scope: str, served_id: str) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


class Applier:
    """``verify_within`` overrides the provider's settle window (tests that expect a failure). ``staging``:
    when several load balancers are changed at the same time, the lock their appliers share, so that those of
    one scope (one ACM region, one IAM account) stage a certificate once: the first uploads or re-imports it,
    the others then find it there (providers find uploads by fingerprint) and write nothing."""

    def __init__(self, provider: Provider, *, verify_within: float | None = None, prober: Prober = probe,
                 staging: Staging = _unshared) -> None:
        self.provider = provider
        self.verify_within = verify_within
        self.prober = prober
        self.staging = staging

    def _call(self, call: Callable[[], T]) -> T:
        return with_retries(call, self.provider.timing)

    def _stage(self, slot: CertSlot, call: Callable[[], CertRef]) -> CertRef:
        with self.staging(self.provider.scope, slot.served_id):
            return self._call(call)

    def apply(self, plan: Plan, *, cleanup: bool = True, refs: dict[str, CertRef] | None = None) -> Report:
        """``cleanup=False`` keeps the replaced certificates staged, so a caller changing several load
        balancers can still put this one back if a later one fails (then it calls ``provider.cleanup``).
        ``refs``, when given, is filled with what is uploaded as it goes (the caller records it even when the
        change fails: an upload is never lost track of)."""
        report = Report(plan, refs=refs if refs is not None else {})
        for step in plan.uploads():
            assert step.slot is not None
            report.refs[step.slot.served_id] = self._stage(step.slot, lambda s=step.slot: self.provider.upload(s))  # type: ignore[misc]
        for step in plan.changes():
            try:
                report.applied.append(step)
                self._do(step.action, step.after, step.lb_port, report.refs, step.before)
                if step.after is not None:
                    report.served += self._verify(step.after, changed_names(step.before, step.after))
            except SSLTermError as exc:
                self._roll_back(report.applied, report.refs, exc)
            except BaseException:  # Ctrl-C or a bug mid-change: still put the previous state back
                self._roll_back(report.applied, report.refs, None)
                raise
        if cleanup:
            self._call(self.provider.cleanup)
        return report

    def _do(self, action: str, listener: ListenerSpec | None, lb_port: int | None, refs: dict[str, CertRef],
            present: ListenerSpec | None) -> None:
        """Bring the listener on ``lb_port`` from ``present`` to ``listener`` (None: unbind it); a ``rotate``
        swaps the replaced certificates in place."""
        if listener is None:
            assert lb_port is not None
            self._call(lambda: self.provider.unbind(lb_port))
            return
        if action == "rotate" and present is not None:
            self._rotate(present, listener, refs)
            return
        served = set(present.served_ids()) if present else set()
        for slot in listener.certificates:
            if slot.served_id not in refs and slot.served_id not in served:  # e.g. a rollback: still staged
                refs[slot.served_id] = self._stage(slot, lambda s=slot: self.provider.upload(s))  # type: ignore[misc]
        self._call(lambda: self.provider.bind(listener, refs))

    def _rotate(self, present: ListenerSpec, listener: ListenerSpec, refs: dict[str, CertRef]) -> None:
        for was, slot in replaced_pairs(present, listener):
            if was.served_id == slot.served_id:
                continue
            ref = refs.get(was.served_id) or CertRef(was.served_id, was.location, self.provider.scope)
            refs[slot.served_id] = self._stage(slot, lambda r=ref, s=slot: self.provider.rotate(r, s))  # type: ignore[misc]

    def _verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        return verified(self.provider, listener, only, prober=self.prober, within=self.verify_within)

    def _roll_back(self, applied: Sequence[Step], refs: dict[str, CertRef], cause: SSLTermError | None) -> None:
        """Put back every applied step (newest first) and verify it; then raise what says so. With no
        ``cause`` (an interruption), return after putting back: the caller re-raises the interruption."""
        try:
            for step in reversed(applied):
                self._do(step.action, step.before, step.lb_port, refs, step.after)
                if step.before is not None:
                    self._verify(step.before, changed_names(step.after, step.before))
        except SSLTermError as exc:
            what = cause.message if cause else "interrupted"
            raise RollbackFailed(
                f"{what}; putting the previous state back failed too: {exc.message}",
                hint="check the load balancer now: sslterm status",
            ) from exc
        with contextlib.suppress(SSLTermError):  # staged copies of certificates no longer wanted
            self.provider.cleanup()
        if cause is None:
            return
        if isinstance(cause, DeploymentError):
            raise cause
        raise DeploymentError(f"{cause.message} (rolled back: the previous certificates are served)",
                              code=cause.code, hint=cause.hint) from cause
