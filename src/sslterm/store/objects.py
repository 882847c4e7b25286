"""Provider objects: what a provider uploaded for a certificate (a file, an ARN), recorded by scope so that
the load balancers sharing an object never lose it to each other's cleanup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sslterm.store import loadbalancers as lb_rows
from sslterm.store.schema import (
    CertificateRow,
    DeploymentRow,
    ListenerRow,
    LoadBalancerRow,
    ProviderObjectRow,
    TerminationRow,
)


def record(session: Session, objects: Iterable[tuple[str, str, str]], now: datetime) -> None:
    """Record (scope, served id, location) for each object, once (a re-upload finds the same row)."""
    for scope, served_id, location in objects:
        if not scope:
            continue
        row = session.scalars(select(ProviderObjectRow).where(ProviderObjectRow.scope == scope,
                                                              ProviderObjectRow.served_id == served_id)).one_or_none()
        if row is None:
            session.add(ProviderObjectRow(scope=scope, served_id=served_id, location=location, created_at=now))
        elif row.location != location:
            row.location = location


def unused(session: Session, scope: str, candidates: Mapping[str, str]) -> list[tuple[str, str]]:
    """Of ``candidates`` (served id -> leaf fingerprint: what a deployment stopped serving), the recorded
    objects in ``scope`` that no listener of any load balancer in that scope is given by the store, as
    (served id, location). None while a deployment in that scope is unfinished: what it had before may still
    be put back."""
    if not candidates:
        return []
    members = select(LoadBalancerRow.name).where(LoadBalancerRow.scope == scope)
    if session.scalars(select(DeploymentRow.id).where(DeploymentRow.load_balancer.in_(members),
                                                      DeploymentRow.finished_at.is_(None))).first() is not None:
        return []
    serving = session.scalars(
        select(CertificateRow).join(TerminationRow).join(ListenerRow).join(LoadBalancerRow)
        .where(LoadBalancerRow.scope == scope, CertificateRow.fingerprint.in_(set(candidates.values()))))
    used = {lb_rows.slot_of(row).served_id for row in serving}
    rows = session.scalars(select(ProviderObjectRow).where(ProviderObjectRow.scope == scope,
                                                           ProviderObjectRow.served_id.in_(list(candidates))))
    return [(r.served_id, r.location) for r in rows if r.served_id not in used]


def drop(session: Session, scope: str, served_ids: Iterable[str]) -> None:
    ids = list(served_ids)
    if ids:
        session.execute(delete(ProviderObjectRow).where(ProviderObjectRow.scope == scope,
                                                        ProviderObjectRow.served_id.in_(ids)))
