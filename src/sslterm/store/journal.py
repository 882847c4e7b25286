"""The deployment journal and load balancer leases (rows only; the flow is in ``service/deployments.py``).

A lease says who may change a load balancer until when; its token grows with every new holder, so a
holder that lost its lease (it expired and another took it) can tell. A deployment row records, before a
load balancer is touched, what it will be brought to (intent), what it had (observed) and how to put the
store back if the change fails (revert); then its outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from sslterm.engine.model import ListenerSpec
from sslterm.engine.plan import Plan, certificate_changes
from sslterm.errors import Busy
from sslterm.store import versions
from sslterm.store.schema import (
    CertificateRow,
    DeploymentRow,
    LeaseRow,
    ListenerRow,
    LoadBalancerRow,
    TerminationRow,
)

#: how long a lease lasts: longer than any one deployment takes (a crashed holder's lease runs out)
LEASE_SECONDS = 300
UNFINISHED = ("pending", "applying")


Abandoned = Callable[[str], bool]  # whether a lease owner is known to be gone (a dead process of this machine)


def take_lease(session: Session, lb: str, owner: str, now: datetime, abandoned: Abandoned,
               seconds: float = LEASE_SECONDS) -> int:
    """Hold ``lb``'s lease (new, expired, abandoned, or ours already); its fencing token. Raises :class:`Busy`."""
    row = session.get(LeaseRow, lb, with_for_update=True)
    if row is None:
        row = LeaseRow(load_balancer=lb, owner=owner, token=0, expires_at=now)
        session.add(row)
    elif row.owner != owner and row.expires_at > now and not abandoned(row.owner):
        raise Busy(f"{lb} is being changed by another sslterm ({row.owner}) until {row.expires_at:%H:%M:%S} "
                        "UTC", hint="try again when it has finished (sslterm status shows it)")
    row.owner, row.token, row.expires_at = owner, row.token + 1, now + timedelta(seconds=seconds)
    return row.token


def renew_lease(session: Session, lb: str, owner: str, now: datetime, seconds: float = LEASE_SECONDS) -> bool:
    """Extend ``owner``'s lease on ``lb`` (same token); False when it is not ``owner``'s any more."""
    row = session.get(LeaseRow, lb, with_for_update=True)
    if row is None or row.owner != owner:
        return False
    row.expires_at = now + timedelta(seconds=seconds)
    return True


def release_lease(session: Session, lb: str, owner: str) -> None:
    row = session.get(LeaseRow, lb, with_for_update=True)
    if row is not None and row.owner == owner:
        session.delete(row)


def lease_expired(session: Session, lb: str, now: datetime, abandoned: Abandoned) -> bool:
    """No one may be changing ``lb`` now: no lease, one that ran out, or one whose holder is gone."""
    row = session.get(LeaseRow, lb)
    return row is None or row.expires_at <= now or abandoned(row.owner)


def start(session: Session, batch: str, lb: str, intent: Sequence[ListenerSpec], observed: Sequence[ListenerSpec],
          revert: list[dict[str, Any]], owner: str, now: datetime, *, state: str = "applying",
          plan: Plan | None = None) -> DeploymentRow:
    """Record a deployment about to be applied (no key material); ``pending`` when the controller the load
    balancer runs beside is to apply it. Each listener is recorded by its settings and its number of
    certificates, and the intent says what the ``plan`` changes, certificate by certificate (added,
    replaced, removed, with fingerprints): a record of its own size, however many certificates the load
    balancer serves (the store holds the rest)."""
    changes = {s.lb_port: certificate_changes(s.before, s.after) for s in plan.changes()} if plan else {}
    row = DeploymentRow(load_balancer=lb, state=state,
                        intent=[_record(x, changes.get(x.lb_port, []) if plan else None) for x in intent],
                        observed=[_record(x) for x in observed], owner=owner, detail="", started_at=now,
                        batch=batch, revert=revert)
    session.add(row)
    session.flush()
    return row


def _record(listener: ListenerSpec, changes: Sequence[tuple[str, str, str | None]] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {**listener.describe(certificates=False), "certificate_count": len(listener.certificates)}
    if changes is not None:
        data["changes"] = [{"change": verb, "name": name, "fingerprint_sha256": fingerprint}
                           for verb, name, fingerprint in changes]
    return data


def finish(session: Session, ids: Sequence[int], state: str, now: datetime, detail: str = "") -> None:
    """One UPDATE: the rows (and their intent) are not read back."""
    if ids:
        session.execute(update(DeploymentRow).where(DeploymentRow.id.in_(list(ids)))
                        .values(state=state, finished_at=now, detail=detail[:2000]))


def unfinished(session: Session, lb: str | None = None) -> list[DeploymentRow]:
    """Deployments started and never finished (a command is applying them, or died doing so)."""
    query = select(DeploymentRow).where(DeploymentRow.state.in_(UNFINISHED)).order_by(DeploymentRow.id)
    if lb is not None:
        query = query.where(DeploymentRow.load_balancer == lb)
    return list(session.scalars(query))


def of_batch(session: Session, batch: str) -> list[DeploymentRow]:
    """The deployments one command recorded (one per load balancer), in order."""
    return list(session.scalars(select(DeploymentRow).where(DeploymentRow.batch == batch).order_by(DeploymentRow.id)))


def count(session: Session, *, lb: str | None = None) -> int:
    query = select(func.count()).select_from(DeploymentRow)
    return session.scalar(query.where(DeploymentRow.load_balancer == lb) if lb is not None else query) or 0


def counts_by_state(session: Session) -> dict[str, int]:
    """How many deployments ended (or stand) in each state."""
    rows = session.execute(select(DeploymentRow.state, func.count()).group_by(DeploymentRow.state))
    return {state: number for state, number in rows}


def recent(session: Session, *, limit: int, offset: int = 0, lb: str | None = None) -> list[DeploymentRow]:
    """The newest deployments first (of ``lb``, or of every load balancer)."""
    query = select(DeploymentRow).order_by(DeploymentRow.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query.where(DeploymentRow.load_balancer == lb) if lb is not None else query))


# -- putting the store back ---------------------------------------------------------------------------------
def listeners_snapshot(session: Session, lb: LoadBalancerRow) -> dict[str, Any]:
    """How to put ``lb``'s listeners back as they are now (settings and certificate names, in order); read
    with two queries, so a listener of thousands of certificates loads no object per certificate."""
    session.flush()
    listeners = session.execute(select(ListenerRow.id, ListenerRow.lb_port, ListenerRow.instance_port,
                                       ListenerRow.instance_protocol, ListenerRow.redirect_http, ListenerRow.hsts,
                                       ListenerRow.tls_profile).where(ListenerRow.load_balancer_id == lb.id)
                                .order_by(ListenerRow.lb_port)).all()
    names: dict[int, list[str]] = {row[0]: [] for row in listeners}
    for listener_id, name in session.execute(
            select(TerminationRow.listener_id, CertificateRow.name).join(CertificateRow)
            .where(TerminationRow.listener_id.in_(list(names)))
            .order_by(TerminationRow.listener_id, TerminationRow.position, TerminationRow.id)):
        names[listener_id].append(name)
    return {"kind": "listeners", "lb": lb.name,
            "listeners": [{"lb_port": port, "instance_port": instance_port, "instance_protocol": protocol,
                           "redirect_http": redirect, "hsts": hsts, "tls_profile": profile,
                           "certificates": names[listener_id]}
                          for listener_id, port, instance_port, protocol, redirect, hsts, profile in listeners]}


def certificate_snapshot(name: str, fingerprint: str) -> dict[str, Any]:
    """How to put certificate ``name`` back to the version with leaf ``fingerprint`` (kept by the replace)."""
    return {"kind": "certificate", "name": name, "fingerprint": fingerprint}


def put_back(session: Session, actions: Sequence[dict[str, Any]], now: datetime) -> None:
    """Undo a command's store change (the load balancers were put back, or never changed)."""
    for action in actions:
        if action["kind"] == "listeners":
            _put_back_listeners(session, action, now)
        elif action["kind"] == "certificate":
            row = session.scalars(select(CertificateRow).where(CertificateRow.name == action["name"])).one_or_none()
            if row is not None:
                versions.restore(row, str(action["fingerprint"]))


def _put_back_listeners(session: Session, action: dict[str, Any], now: datetime) -> None:
    lb = session.scalars(select(LoadBalancerRow).where(LoadBalancerRow.name == action["lb"])).one_or_none()
    if lb is None:
        return
    lb.listeners.clear()
    session.flush()
    for data in action["listeners"]:
        listener = ListenerRow(lb_port=data["lb_port"], instance_port=data["instance_port"],
                               instance_protocol=data["instance_protocol"], redirect_http=data["redirect_http"],
                               hsts=data["hsts"], tls_profile=data["tls_profile"], created_at=now)
        lb.listeners.append(listener)
        for position, name in enumerate(data["certificates"]):
            cert = session.scalars(select(CertificateRow).where(CertificateRow.name == name)).one()
            listener.terminations.append(TerminationRow(certificate=cert, position=position, created_at=now))


#: finished deployments kept per load balancer (the journal's history); older ones are pruned
KEEP_FINISHED = 200


def prune(session: Session, lb: str, keep: int = KEEP_FINISHED) -> None:
    """Forget the finished deployments of ``lb`` beyond the newest ``keep`` (unfinished ones are never
    pruned: they are what a reconcile finishes)."""
    cutoff = session.scalars(select(DeploymentRow.id).where(DeploymentRow.load_balancer == lb,
                                                            DeploymentRow.finished_at.is_not(None))
                             .order_by(DeploymentRow.id.desc()).offset(keep).limit(1)).first()
    if cutoff is not None:
        session.execute(delete(DeploymentRow).where(DeploymentRow.load_balancer == lb, DeploymentRow.id <= cutoff,
                                                    DeploymentRow.finished_at.is_not(None)))
