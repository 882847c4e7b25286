"""Load balancer, listener and termination rows."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import compress, count
from operator import is_, is_not

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session, selectinload

from sslterm.engine.model import CertSlot, ListenerSpec
from sslterm.store.schema import CertificateRow, ListenerRow, LoadBalancerRow, TerminationRow

_LOADED = selectinload(LoadBalancerRow.listeners).selectinload(ListenerRow.terminations).selectinload(
    TerminationRow.certificate)


def get(session: Session, name: str, *, listeners: bool = True) -> LoadBalancerRow | None:
    """The row, with its listeners, their certificates in order and those certificates' rows loaded; without
    them (``listeners=False``: loaded on first use) for a deployment, which reads what it needs itself
    (:func:`desired`, :func:`served_rows`)."""
    query = select(LoadBalancerRow).where(LoadBalancerRow.name == name)
    return session.scalars(query.options(_LOADED) if listeners else query).one_or_none()


def all_rows(session: Session) -> list[LoadBalancerRow]:
    return list(session.scalars(select(LoadBalancerRow).options(_LOADED).order_by(LoadBalancerRow.name)))


def serving(session: Session, cert_names: Collection[str]) -> list[str]:
    """The names of the load balancers that serve any of ``cert_names`` (one query, whatever their number)."""
    if not cert_names:
        return []
    wanted = set(cert_names)
    pairs = session.execute(select(CertificateRow.name, LoadBalancerRow.name).select_from(TerminationRow)
                            .join(CertificateRow, TerminationRow.certificate_id == CertificateRow.id)
                            .join(ListenerRow, TerminationRow.listener_id == ListenerRow.id)
                            .join(LoadBalancerRow, ListenerRow.load_balancer_id == LoadBalancerRow.id))
    return sorted({lb for cert, lb in pairs if cert in wanted})


def names(session: Session) -> list[str]:
    return list(session.scalars(select(LoadBalancerRow.name).order_by(LoadBalancerRow.name)))


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
    if "terminations" not in listener.__dict__ and listener.id is not None:  # not loaded: ask the database
        return _add_by_query(session, listener, cert, now, first=first)
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


def _add_by_query(session: Session, listener: ListenerRow, cert: CertificateRow, now: datetime, *,
                  first: bool) -> TerminationRow:
    """:func:`add_termination` on a listener whose certificates are not loaded: found or placed with two
    queries instead of loading every one of them (a listener may have thousands)."""
    session.flush()
    row = session.scalars(select(TerminationRow).where(TerminationRow.listener_id == listener.id,
                                                       TerminationRow.certificate_id == cert.id)).first()
    if row is not None:
        return row
    low, high = session.execute(select(func.min(TerminationRow.position), func.max(TerminationRow.position))
                                .where(TerminationRow.listener_id == listener.id)).one()
    position = (1 if low is None else low) - 1 if first else (-1 if high is None else high) + 1
    row = TerminationRow(listener_id=listener.id, certificate_id=cert.id, created_at=now, position=position)
    session.add(row)
    return row


def ports(session: Session, lb: LoadBalancerRow) -> set[int]:
    """The ports on which ``lb`` terminates TLS (listeners with certificates), without loading them."""
    query = select(ListenerRow.lb_port).where(ListenerRow.load_balancer_id == lb.id,
                                              select(TerminationRow.id).where(
                                                  TerminationRow.listener_id == ListenerRow.id).exists())
    return set(session.scalars(query))


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


#: slots by the very column values they are made of: a deployment reads every certificate of its load
#: balancer, and most of them are unchanged since the last one (JSON is decoded only for the others, and
#: equal slots stay the same object, so comparing listeners stays cheap); bounded, cleared when full
_SLOTS: dict[tuple[str, str, str, str, str], CertSlot] = {}
MAX_CACHED_SLOTS = 200_000
_SETTINGS = (ListenerRow.id, ListenerRow.lb_port, ListenerRow.instance_port, ListenerRow.instance_protocol,
             ListenerRow.redirect_http, ListenerRow.hsts, ListenerRow.tls_profile)
_SLOT_COLUMNS = (TerminationRow.listener_id, CertificateRow.name, CertificateRow.fingerprint,
                 cast(CertificateRow.sans, Text), CertificateRow.key_type, cast(CertificateRow.chain, Text))


_KEYS: dict[int, tuple[str, str, str, str, str]] = {}  # id of a cached slot -> its key (to adopt another)


def _slot(key: tuple[str, str, str, str, str]) -> CertSlot:
    slot = _SLOTS.get(key)
    if slot is None:
        name, fingerprint, sans, key_type, chain = key
        slot = CertSlot(name, fingerprint, tuple(json.loads(sans)), key_type,
                        chain=tuple(entry["fingerprint_sha256"] for entry in json.loads(chain)))
        if len(_SLOTS) >= MAX_CACHED_SLOTS:
            _SLOTS.clear()
            _KEYS.clear()
        _SLOTS[key] = slot
        _KEYS[id(slot)] = key
    return slot


def adopt(desired: tuple[ListenerSpec, ...], observed: Sequence[ListenerSpec]) -> tuple[ListenerSpec, ...]:
    """``desired`` with each slot that equals the observed one at the same place, in every field (key type
    and location too; no material on either), replaced by that observed object; and the cache of slots made
    to give that object from now on. Desired and observed then share the objects of every certificate that
    did not change, and plans compare them by identity (``engine.plan``): one comparison per certificate
    the first time, then only where something changed."""
    by_port = {x.lb_port: x for x in observed}
    out = []
    for listener in desired:
        seen = by_port.get(listener.lb_port)
        if seen is None or len(seen.certificates) != len(listener.certificates):
            out.append(listener)
            continue
        mine, theirs = listener.certificates, seen.certificates
        certificates = list(mine)
        for i in compress(count(), map(is_not, mine, theirs)):
            slot, other = mine[i], theirs[i]
            if _same(slot, other) and id(slot) in _KEYS:
                certificates[i] = other
                key = _KEYS.pop(id(slot))
                _SLOTS[key], _KEYS[id(other)] = other, key
        same = all(map(is_, certificates, mine))
        out.append(listener if same else replace(listener, certificates=tuple(certificates)))
    return tuple(out)


def _same(a: CertSlot, b: CertSlot) -> bool:
    return a == b and (a.key_type, a.location, a.material, b.material) == (b.key_type, b.location, None, None)


def desired(session: Session, lb: LoadBalancerRow) -> tuple[ListenerSpec, ...]:
    """:func:`desired_listeners` as the database has it now, the session's pending changes flushed: read
    with two queries (no ORM object per certificate, no key material)."""
    session.flush()
    connection = session.connection()  # plain rows, no ORM loading (the session's transaction, flushed)
    listeners = connection.execute(select(*_SETTINGS).where(ListenerRow.load_balancer_id == lb.id)
                                   .order_by(ListenerRow.lb_port)).all()
    slots: dict[int, list[CertSlot]] = {row[0]: [] for row in listeners}
    found = connection.execute(select(*_SLOT_COLUMNS)
                               .join(CertificateRow, TerminationRow.certificate_id == CertificateRow.id)
                               .join(ListenerRow, TerminationRow.listener_id == ListenerRow.id)
                               .where(ListenerRow.load_balancer_id == lb.id)
                               .order_by(TerminationRow.listener_id, TerminationRow.position, TerminationRow.id)).all()
    cached = list(map(_SLOTS.get, (row[1:] for row in found)))  # the slots already made, in one pass
    for row, slot in zip(found, cached, strict=True):
        slots[row[0]].append(slot or _slot(row[1:]))
    return tuple(ListenerSpec(lb_port=port, instance_port=instance_port, instance_protocol=protocol,
                              redirect_http=redirect, hsts=hsts, tls_profile=profile,
                              certificates=tuple(slots[listener_id]))
                 for listener_id, port, instance_port, protocol, redirect, hsts, profile in listeners
                 if slots[listener_id])


def served_rows(session: Session, lb: LoadBalancerRow, names: Collection[str]) -> dict[str, CertificateRow]:
    """The certificate rows among ``names`` that ``lb`` serves, by name."""
    wanted, found = sorted(set(names)), {}
    for start in range(0, len(wanted), 500):  # bound the statement's parameters (a first bind names them all)
        query = (select(CertificateRow).join(TerminationRow).join(ListenerRow)
                 .where(ListenerRow.load_balancer_id == lb.id, CertificateRow.name.in_(wanted[start:start + 500])))
        found.update({row.name: row for row in session.scalars(query)})
    return found
