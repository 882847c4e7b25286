"""The JSON shapes of what the use cases return, where the value has no ``as_json`` of its own: one place
for the CLI's ``--json`` and the REST API, so both show the same fields. No key material reaches any of
these values. Imports nothing at run time: the CLI imports it without paying for the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sslterm.service.certificates import Added
    from sslterm.service.rollout import Outcome
    from sslterm.store.schema import AuditRow


def served(outcome: Outcome) -> list[dict[str, object]]:
    """What the load balancer was verified to serve after the change (nothing for a dry run)."""
    return [{"lb_port": s.target.port, "server_name": s.target.server_name, "certificate": s.target.certificate,
             "fingerprint_sha256": s.fingerprint} for s in (outcome.report.served if outcome.report else [])]


def outcome(result: Outcome, *, dry_run: bool) -> dict[str, object]:
    """``enable``/``disable``: the plan, and what is served."""
    return {**result.plan.as_json(), "dry_run": dry_run, "served": served(result), "waiting_for": result.waiting_for}


def applied(result: Outcome) -> dict[str, object]:
    """One load balancer of ``apply``."""
    return {**result.plan.as_json(), "served": served(result)}


def added(result: Added, *, warnings: bool = True) -> dict[str, object]:
    """``cert add`` (with its warnings) and ``cert rollback``: the certificate, what it replaced and where it
    is served now."""
    extra: dict[str, object] = {"warnings": [w.as_dict() for w in result.warnings]} if warnings else {}
    return {**result.summary.as_json(), **extra, "replaced": result.replaced, "redeployed": list(result.redeployed),
            "waiting": list(result.waiting)}


def audit(entry: AuditRow) -> dict[str, object]:
    return {"at": entry.at.isoformat(), "action": entry.action, "target": entry.target,
            "fingerprint": entry.fingerprint, "detail": entry.detail}
