"""Provider objects: what a provider uploaded for a certificate (a file, an ARN), recorded by scope so that
the load balancers sharing an object never lose it to each other's cleanup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sslterm.store import loadbalancers as lb_rows
from sslterm.store import versions
from sslterm.store.schema import (
    CertificateRow,
    DeploymentRow,
    LoadBalancerRow,
    ProviderObjectRow,
)


def record(session: Session, objects: Iterable[tuple[str, str, str]], now: datetime) -> None:
    """Record (scope, served id, location) for each object, once (a re-upload finds the same row)."""
    for scope, served_id, location in objects:
        if not scope:
            continue
        # a rotation in place: the location now holds this served id, no longer the one recorded for it
        session.execute(delete(ProviderObjectRow).where(ProviderObjectRow.scope == scope,
                                                        ProviderObjectRow.location == location,
                                                        ProviderObjectRow.served_id != served_id))
        row = session.scalars(select(ProviderObjectRow).where(ProviderObjectRow.scope == scope,
                                                              ProviderObjectRow.served_id == served_id)).one_or_none()
        if row is None:
            session.add(ProviderObjectRow(scope=scope, served_id=served_id, location=location, created_at=now))
        elif row.location != location:
            row.location = location


def locations(session: Session, scope: str, served_ids: Iterable[str]) -> dict[str, str]:
    """Served id -> location of what is recorded in ``scope`` for ``served_ids``."""
    return {r.served_id: r.location for r in session.scalars(select(ProviderObjectRow).where(
        ProviderObjectRow.scope == scope, ProviderObjectRow.served_id.in_(list(served_ids))))}


def unused(session: Session, scope: str, candidates: Mapping[str, str]) -> list[tuple[str, str]]:
    """Of ``candidates`` (served id -> leaf fingerprint: what a deployment stopped serving), the recorded
    objects in ``scope`` that are no stored certificate's current version (a replaced or rolled-back version),
    as (served id, location); a current version stays until ``cert remove``, which is refused while any load
    balancer serves it. None while a deployment in that scope is unfinished: what it had before may still
    be put back."""
    if not candidates:
        return []
    members = select(LoadBalancerRow.name).where(LoadBalancerRow.scope == scope)
    if session.scalars(select(DeploymentRow.id).where(DeploymentRow.load_balancer.in_(members),
                                                      DeploymentRow.finished_at.is_(None))).first() is not None:
        return []
    # a certificate's current version stays uploaded until `cert remove` (disable keeps it, to enable again)
    current = session.scalars(select(CertificateRow).where(CertificateRow.fingerprint.in_(set(candidates.values()))))
    used = {lb_rows.slot_of(row).served_id for row in current}
    rows = session.scalars(select(ProviderObjectRow).where(ProviderObjectRow.scope == scope,
                                                           ProviderObjectRow.served_id.in_(list(candidates))))
    return [(r.served_id, r.location) for r in rows if r.served_id not in used]


def drop(session: Session, scope: str, served_ids: Iterable[str]) -> None:
    ids = list(served_ids)
    if ids:
        session.execute(delete(ProviderObjectRow).where(ProviderObjectRow.scope == scope,
                                                        ProviderObjectRow.served_id.in_(ids)))


def of_certificate(session: Session, row: CertificateRow) -> dict[str, list[tuple[str, str]]]:
    """The recorded uploads of ``row`` and its kept versions that no other stored certificate holds, by the
    name of a load balancer of their scope: (served id, location). A scope with no load balancer left keeps
    its rows (nothing can reach it)."""
    mine = {lb_rows.slot_of(row).served_id} | {versions.slot_of(v).served_id for v in row.versions}
    others = session.scalars(select(CertificateRow).where(CertificateRow.id != row.id, CertificateRow.fingerprint.in_(
        {row.fingerprint, *(v.fingerprint for v in row.versions)})))
    mine -= {lb_rows.slot_of(other).served_id for other in others}
    found: dict[str, list[tuple[str, str]]] = {}
    for obj in session.scalars(select(ProviderObjectRow).where(ProviderObjectRow.served_id.in_(mine))):
        lb = session.scalars(select(LoadBalancerRow.name).where(LoadBalancerRow.scope == obj.scope).limit(1)).first()
        if lb is not None:
            found.setdefault(lb, []).append((obj.served_id, obj.location))
    return found
