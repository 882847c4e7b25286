"""Load balancer, listener and termination rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from sslterm.engine.model import CertSlot, ListenerSpec
from sslterm.store.schema import CertificateRow, ListenerRow, LoadBalancerRow, TerminationRow

_LOADED = selectinload(LoadBalancerRow.listeners).selectinload(ListenerRow.terminations).selectinload(
    TerminationRow.certificate)


def get(session: Session, name: str) -> LoadBalancerRow | None:
    return session.scalars(select(LoadBalancerRow).where(LoadBalancerRow.name == name).options(_LOADED)).one_or_none()


def all_rows(session: Session) -> list[LoadBalancerRow]:
    return list(session.scalars(select(LoadBalancerRow).options(_LOADED).order_by(LoadBalancerRow.name)))


def add_termination(session: Session, lb: LoadBalancerRow, cert: CertificateRow, lb_port: int,
                    settings: dict[str, object], now: datetime, *, first: bool = False) -> TerminationRow:
    """Attach ``cert`` to the listener on ``lb_port`` (made with ``settings`` when there is none; else its
    settings become ``settings``), after the certificates already there, or ``first``: as its default."""
    listener = lb.listener(lb_port)
    if listener is None:
        listener = ListenerRow(load_balancer=lb, lb_port=lb_port, created_at=now, instance_protocol="HTTP",
                               redirect_http=False, hsts=False, tls_profile="intermediate")
        session.add(listener)
    instance_port = settings["instance_port"]
    listener.instance_port = int(instance_port) if isinstance(instance_port, int) else None
    listener.instance_protocol = str(settings["instance_protocol"])
    listener.redirect_http = bool(settings["redirect_http"])
    listener.hsts = bool(settings["hsts"])
    listener.tls_profile = str(settings["tls_profile"])
    row = next((t for t in listener.terminations if t.certificate_id == cert.id), None)
    if row is None:
        positions = [t.position for t in listener.terminations]
        row = TerminationRow(certificate=cert, created_at=now,
                             position=min(positions, default=1) - 1 if first else max(positions, default=-1) + 1)
        if first:
            listener.terminations.insert(0, row)
        else:
            listener.terminations.append(row)
    return row


def remove_terminations(lb: LoadBalancerRow, lb_port: int, cert_name: str | None = None) -> list[str]:
    """Take ``cert_name`` (or every certificate) off the listener on ``lb_port``; a listener left without
    certificates goes. The names of the certificates taken off."""
    listener = lb.listener(lb_port)
    if listener is None:
        return []
    gone = [t for t in listener.terminations if cert_name in (None, t.certificate.name)]
    for t in gone:
        listener.terminations.remove(t)
    if not listener.terminations:
        lb.listeners.remove(listener)
    return [t.certificate.name for t in gone]


def listener_settings(lb: LoadBalancerRow, lb_port: int) -> dict[str, object] | None:
    listener = lb.listener(lb_port)
    if listener is None:
        return None
    return {"instance_port": listener.instance_port, "instance_protocol": listener.instance_protocol,
            "redirect_http": listener.redirect_http, "hsts": listener.hsts, "tls_profile": listener.tls_profile}


def slot_of(cert: CertificateRow) -> CertSlot:
    """A certificate as a listener serves it: leaf, chain, names (the key stays sealed)."""
    return CertSlot(cert.name, cert.fingerprint, tuple(cert.sans), cert.key_type,
                    chain=tuple(entry["fingerprint_sha256"] for entry in cert.chain))


def desired_listeners(lb: LoadBalancerRow) -> tuple[ListenerSpec, ...]:
    """What the store says ``lb`` should serve (slots without bundles: keys stay sealed)."""
    return tuple(
        ListenerSpec(lb_port=x.lb_port, instance_port=x.instance_port, instance_protocol=x.instance_protocol,
                     redirect_http=x.redirect_http, hsts=x.hsts, tls_profile=x.tls_profile,
                     certificates=tuple(slot_of(t.certificate) for t in sorted(x.terminations,
                                                                                key=lambda t: t.position)))
        for x in sorted(lb.listeners, key=lambda x: x.lb_port) if x.terminations)
