"""Apply a plan: stage every certificate, then one listener at a time: change it, probe it, and on any
failure put every changed listener back as it was, probe that too, and say what happened."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from sslterm.certs.names import dns_names as sni_names
from sslterm.engine.contract import CertRef, Provider
from sslterm.engine.model import ListenerSpec, ProbeTarget, Served
from sslterm.engine.plan import Plan, Step, certificate_changes
from sslterm.engine.probe import probe, probe_until
from sslterm.engine.retry import with_retries
from sslterm.errors import DeploymentError, RollbackFailed, SSLTermError, VerificationFailed

Prober = Callable[[ProbeTarget], Served]


@dataclass
class Report:
    plan: Plan
    applied: list[Step] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)


def probe_targets(provider: Provider, listener: ListenerSpec, only: Collection[str] | None = None) -> list[ProbeTarget]:
    """No SNI for the default certificate; for each other one (of ``only``, when given), a DNS name only it
    carries, or else a name it shares only with certificates of another key type (then the probe asks
    for its key type). Linear in the number of certificates. A certificate with no such name gets no
    target: :func:`unprobeable` names it."""
    host, port = provider.address(listener.lb_port)
    if not listener.certificates:
        return []
    default = listener.certificates[0]
    by_sni = not provider.capabilities.first_is_default
    targets = [] if by_sni else [ProbeTarget(host, port, None, default.fingerprint, default.name,
                                             expect_chain=default.chain)]
    holders = Counter(n for c in listener.certificates for n in set(sni_names(c.sans)))
    typed_holders = Counter((n, c.key_type) for c in listener.certificates for n in set(sni_names(c.sans)))
    for slot in listener.certificates if by_sni else listener.certificates[1:]:
        if only is not None and slot.name not in only:
            continue
        names = sni_names(slot.sans)
        unique = next((n for n in names if holders[n] == 1), None)
        shared = next((n for n in names if typed_holders[n, slot.key_type] == 1), None) if slot.key_type else None
        name = unique or shared
        if name is not None:
            targets.append(ProbeTarget(host, port, name.replace("*.", "sslterm-probe.", 1), slot.fingerprint,
                                       slot.name, None if unique else slot.key_type, expect_chain=slot.chain))
    return targets


def describe_wrong(served: Served) -> str:
    """Why a handshake did not show what it should: another leaf, another chain, or no answer."""
    target = served.target
    if served.fingerprint is None:
        return f"no certificate could be read for {target.certificate}: {served.error}"
    if not served.leaf_ok:
        return f"serves {served.fingerprint[:16]}, not {target.certificate} ({target.expect[:16]})"
    return (f"serves {target.certificate} with a chain of {len(served.chain)} certificate(s) "
            f"that is not the stored one ({len(target.expect_chain)})")


def changed_names(before: ListenerSpec | None, after: ListenerSpec) -> set[str] | None:
    """The certificates of ``after`` worth a handshake: those added or replaced (None: all of them)."""
    if before is None:
        return None
    return {name for verb, name, _ in certificate_changes(before, after) if verb != "remove"}


class Applier:
    def __init__(self, provider: Provider, *, verify_within: float = 15.0, prober: Prober = probe) -> None:
        self.provider = provider
        self.verify_within = verify_within
        self.prober = prober

    def apply(self, plan: Plan, *, cleanup: bool = True) -> Report:
        """``cleanup=False`` keeps the replaced certificates staged, so a caller changing several load
        balancers can still put this one back if a later one fails (then it calls ``provider.cleanup``)."""
        report = Report(plan)
        refs: dict[str, CertRef] = {}
        for step in plan.uploads():
            assert step.slot is not None
            refs[step.slot.served_id] = with_retries(lambda s=step.slot: self.provider.upload(s))  # type: ignore[misc]
        for step in plan.changes():
            try:
                report.applied.append(step)
                self._do(step.after, step.lb_port, refs, step.before)
                if step.after is not None:
                    report.served += self._verify(step.after, changed_names(step.before, step.after))
            except SSLTermError as exc:
                self._roll_back(report.applied, refs, exc)
            except BaseException:  # Ctrl-C or a bug mid-change: still put the previous state back
                self._roll_back(report.applied, refs, None)
                raise
        if cleanup:
            with_retries(self.provider.cleanup)
        return report

    def _do(self, listener: ListenerSpec | None, lb_port: int | None, refs: dict[str, CertRef],
            present: ListenerSpec | None) -> None:
        """Bring the listener on ``lb_port`` from ``present`` to ``listener`` (None: unbind it)."""
        if listener is None:
            assert lb_port is not None
            with_retries(lambda: self.provider.unbind(lb_port))
            return
        served = set(present.served_ids()) if present else set()
        for slot in listener.certificates:
            if slot.served_id not in refs and slot.served_id not in served:  # e.g. a rollback: still staged
                refs[slot.served_id] = with_retries(lambda s=slot: self.provider.upload(s))  # type: ignore[misc]
        with_retries(lambda: self.provider.bind(listener, refs))

    def _verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        """Handshakes with the default certificate and with ``only`` (all when None)."""
        targets = probe_targets(self.provider, listener, only)
        served = probe_until(targets, within=self.verify_within, prober=self.prober)
        wrong = [s for s in served if not s.ok]
        if wrong:
            first = wrong[0]
            sni = first.target.server_name or "no SNI"
            raise VerificationFailed(f"port {listener.lb_port} ({sni}): {describe_wrong(first)}",
                                     hint="the previous certificates were put back")
        return served

    def _roll_back(self, applied: Sequence[Step], refs: dict[str, CertRef], cause: SSLTermError | None) -> None:
        """Put back every applied step (newest first) and verify it; then raise what says so. With no
        ``cause`` (an interruption), return after putting back: the caller re-raises the interruption."""
        try:
            for step in reversed(applied):
                self._do(step.before, step.lb_port, refs, step.after)
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
