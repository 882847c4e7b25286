"""Load balancer and termination rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from sslterm.engine.model import CertSlot, ListenerSpec
from sslterm.store.schema import CertificateRow, LoadBalancerRow, TerminationRow


def get(session: Session, name: str) -> LoadBalancerRow | None:
    query = select(LoadBalancerRow).where(LoadBalancerRow.name == name).options(
        selectinload(LoadBalancerRow.terminations).selectinload(TerminationRow.certificate))
    return session.scalars(query).one_or_none()


def all_rows(session: Session) -> list[LoadBalancerRow]:
    query = select(LoadBalancerRow).options(
        selectinload(LoadBalancerRow.terminations).selectinload(TerminationRow.certificate)
    ).order_by(LoadBalancerRow.name)
    return list(session.scalars(query))


def add_termination(session: Session, lb: LoadBalancerRow, cert: CertificateRow, lb_port: int,
                    settings: dict[str, object], now: datetime, *, first: bool = False) -> TerminationRow:
    """Attach ``cert`` to the listener on ``lb_port`` (after the ones already there, or ``first``: as its
    default certificate); the listener's settings apply to all of its certificates."""
    same_port = [t for t in lb.terminations if t.lb_port == lb_port]
    row = next((t for t in same_port if t.certificate_id == cert.id), None)
    positions = [t.position for t in same_port]
    if row is None:
        row = TerminationRow(load_balancer=lb, certificate=cert, lb_port=lb_port, created_at=now,
                             position=min(positions, default=1) - 1 if first else max(positions, default=-1) + 1,
                             instance_port=0, instance_protocol="HTTP", options={})
        session.add(row)
        same_port.append(row)
    for t in same_port:
        t.instance_port = int(settings["instance_port"] or 0)  # type: ignore[call-overload]
        t.instance_protocol = str(settings["instance_protocol"])
        t.options = {k: settings[k] for k in ("redirect_http", "hsts", "tls_profile")}
    return row


def listener_settings(lb: LoadBalancerRow, lb_port: int) -> dict[str, object] | None:
    row = next((t for t in lb.terminations if t.lb_port == lb_port), None)
    if row is None:
        return None
    return {"instance_port": row.instance_port or None, "instance_protocol": row.instance_protocol, **row.options}


def slot_of(cert: CertificateRow) -> CertSlot:
    """A certificate as a listener serves it: leaf, chain, names (the key stays sealed)."""
    return CertSlot(cert.name, cert.fingerprint, tuple(cert.sans), cert.key_type,
                    chain=tuple(entry["fingerprint_sha256"] for entry in cert.chain))


def desired_listeners(lb: LoadBalancerRow) -> tuple[ListenerSpec, ...]:
    """What the store says ``lb`` should serve (slots without bundles: keys stay sealed)."""
    by_port: dict[int, list[TerminationRow]] = defaultdict(list)
    for t in lb.terminations:
        by_port[t.lb_port].append(t)
    listeners = []
    for port, terms in sorted(by_port.items()):
        terms.sort(key=lambda t: t.position)
        first = terms[0]
        slots = tuple(slot_of(t.certificate) for t in terms)
        listeners.append(ListenerSpec(
            lb_port=port, instance_port=first.instance_port or None, instance_protocol=first.instance_protocol,
            redirect_http=bool(first.options.get("redirect_http")), hsts=bool(first.options.get("hsts")),
            tls_profile=str(first.options.get("tls_profile", "intermediate")), certificates=slots,
        ))
    return tuple(listeners)
