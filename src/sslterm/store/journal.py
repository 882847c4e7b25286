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

from sqlalchemy import select
from sqlalchemy.orm import Session

from sslterm.engine.model import ListenerSpec
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


def release_lease(session: Session, lb: str, owner: str) -> None:
    row = session.get(LeaseRow, lb, with_for_update=True)
    if row is not None and row.owner == owner:
        session.delete(row)


def lease_expired(session: Session, lb: str, now: datetime, abandoned: Abandoned) -> bool:
    """No one may be changing ``lb`` now: no lease, one that ran out, or one whose holder is gone."""
    row = session.get(LeaseRow, lb)
    return row is None or row.expires_at <= now or abandoned(row.owner)


def start(session: Session, batch: str, lb: str, intent: Sequence[ListenerSpec], observed: Sequence[ListenerSpec],
          revert: list[dict[str, Any]], owner: str, now: datetime, *, state: str = "applying") -> DeploymentRow:
    """Record a deployment about to be applied (no key material: names, fingerprints, settings); ``pending``
    when the controller the load balancer runs beside is to apply it."""
    row = DeploymentRow(load_balancer=lb, state=state, intent=[x.as_record() for x in intent],
                        observed=[x.as_record() for x in observed], owner=owner, detail="", started_at=now,
                        batch=batch, revert=revert)
    session.add(row)
    session.flush()
    return row


def finish(session: Session, ids: Sequence[int], state: str, now: datetime, detail: str = "") -> None:
    for row in session.scalars(select(DeploymentRow).where(DeploymentRow.id.in_(ids))):
        row.state, row.finished_at, row.detail = state, now, detail[:2000]


def unfinished(session: Session, lb: str | None = None) -> list[DeploymentRow]:
    """Deployments started and never finished (a command is applying them, or died doing so)."""
    query = select(DeploymentRow).where(DeploymentRow.state.in_(UNFINISHED)).order_by(DeploymentRow.id)
    if lb is not None:
        query = query.where(DeploymentRow.load_balancer == lb)
    return list(session.scalars(query))


def intent_of(row: DeploymentRow) -> tuple[ListenerSpec, ...]:
    return tuple(ListenerSpec.from_record(x) for x in row.intent)


def observed_of(row: DeploymentRow) -> tuple[ListenerSpec, ...]:
    return tuple(ListenerSpec.from_record(x) for x in row.observed)


# -- putting the store back ---------------------------------------------------------------------------------
def listeners_snapshot(lb: LoadBalancerRow) -> dict[str, Any]:
    """How to put ``lb``'s listeners back as they are now (settings and certificate names, in order)."""
    return {"kind": "listeners", "lb": lb.name,
            "listeners": [{"lb_port": x.lb_port, "instance_port": x.instance_port,
                           "instance_protocol": x.instance_protocol, "redirect_http": x.redirect_http,
                           "hsts": x.hsts, "tls_profile": x.tls_profile,
                           "certificates": [t.certificate.name for t in sorted(x.terminations,
                                                                              key=lambda t: t.position)]}
                          for x in lb.listeners]}


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
