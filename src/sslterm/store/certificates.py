"""Certificate rows: the only code that turns a bundle into a row and back."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified

from sslterm.certs.bundle import Bundle, CertSummary, ChainEntry, summarize
from sslterm.engine.model import CertMaterial
from sslterm.store import versions
from sslterm.store.schema import AuditRow, CertificateRow, CertificateVersionRow, ListenerRow, TerminationRow
from sslterm.store.secrets import KeyVault


def get(session: Session, name: str, *, for_update: bool = False) -> CertificateRow | None:
    """``for_update``: the row is locked until the transaction ends (PostgreSQL; SQLite's writing
    transactions hold the whole store's write lock already)."""
    query = select(CertificateRow).where(CertificateRow.name == name)
    return session.scalars(query.with_for_update() if for_update else query).one_or_none()


def names(session: Session) -> list[str]:
    """Every stored certificate name, and nothing else (cheap even for a large store)."""
    return list(session.scalars(select(CertificateRow.name)))


class KnownIntermediates:
    """The chain certificates already in the store, by subject: how a bundle given without its intermediates
    is completed (``validate_bundle(issuers=...)``). The small chain column of every row is read once, on
    the first question, so a whole import costs one scan; certificates added since are told with ``add``."""

    PER_SUBJECT = 4  # rows read for one subject: the same intermediate is in many rows

    def __init__(self, session: Session) -> None:
        self._session = session
        self._rows: dict[str, list[int]] | None = None
        self._added: dict[x509.Name, list[x509.Certificate]] = {}

    def __call__(self, subject: x509.Name) -> list[x509.Certificate]:
        if self._rows is None:
            self._rows = {}
            for row_id, chain in self._session.execute(select(CertificateRow.id, CertificateRow.chain)):
                for entry in chain:
                    self._rows.setdefault(str(entry.get("subject")), []).append(row_id)
        ids = self._rows.get(subject.rfc4514_string(), [])[:self.PER_SUBJECT]
        found = list(self._added.get(subject, []))
        for pem in self._session.scalars(select(CertificateRow.certificate_pem).where(CertificateRow.id.in_(ids))):
            found += [c for c in x509.load_pem_x509_certificates(pem.encode())[1:] if c.subject == subject]
        return list(dict.fromkeys(found))

    def add(self, chain: tuple[x509.Certificate, ...]) -> None:
        for cert in chain:
            self._added.setdefault(cert.subject, []).append(cert)


def expiring_rows(session: Session, before: datetime, *, limit: int | None = None) -> list[CertificateRow]:
    """The certificates whose ``not_after`` is before ``before``, the soonest first (the index on it: the
    others are not read)."""
    query = select(CertificateRow).options(
        selectinload(CertificateRow.terminations).selectinload(TerminationRow.listener)
        .selectinload(ListenerRow.load_balancer)
    ).where(CertificateRow.not_after < before).order_by(CertificateRow.not_after, CertificateRow.name).limit(limit)
    return list(session.scalars(query))


def expiry_dates(session: Session) -> list[tuple[str, datetime]]:
    """Every certificate's name and ``not_after``, by name (two columns, not the rows)."""
    return [(name, not_after) for name, not_after in session.execute(
        select(CertificateRow.name, CertificateRow.not_after).order_by(CertificateRow.name))]


def all_rows(session: Session, *, limit: int | None = None, offset: int = 0) -> list[CertificateRow]:
    """By name; ``limit``/``offset``: one page of them (read with the rows of that page only)."""
    query = select(CertificateRow).options(
        selectinload(CertificateRow.terminations).selectinload(TerminationRow.listener)
        .selectinload(ListenerRow.load_balancer)
    ).order_by(CertificateRow.name).limit(limit).offset(offset)
    return list(session.scalars(query))


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CertificateRow)) or 0


def attached_to(row: CertificateRow) -> tuple[str, ...]:
    return tuple(sorted({t.load_balancer.name for t in row.terminations}))


def to_summary(row: CertificateRow) -> CertSummary:
    return CertSummary(
        name=row.name, subject=row.subject, sans=tuple(row.sans), issuer=row.issuer,
        not_before=row.not_before, not_after=row.not_after, fingerprint_sha256=row.fingerprint,
        key_type=row.key_type, key_bits=row.key_bits,
        chain=tuple(ChainEntry(**entry) for entry in row.chain), attached_to=attached_to(row),
    )


def _columns(summary: CertSummary, bundle: Bundle, vault: KeyVault, now: datetime) -> dict[str, object]:
    """What :func:`put` and :class:`NewRows` write for a bundle: every column but ``name`` and ``created_at``."""
    return {
        "fingerprint": summary.fingerprint_sha256,
        "subject": summary.subject, "issuer": summary.issuer, "sans": list(summary.sans),
        "not_before": summary.not_before, "not_after": summary.not_after,
        "key_type": summary.key_type, "key_bits": summary.key_bits,
        "chain": [vars(entry) for entry in summary.chain],
        "certificate_pem": bundle.certificate_pem().decode(),
        "key_sealed": vault.seal(bundle.key_pem(), summary.fingerprint_sha256),
        "updated_at": now,
    }


def put(session: Session, name: str, bundle: Bundle, vault: KeyVault, now: datetime,
        existing: CertificateRow | None = None) -> CertificateRow:
    """Insert a new row, or overwrite ``existing`` in place (its terminations stay attached; what it served
    before is kept as a version). Every column is written, changed or not, so a row always holds one bundle
    whole (certificate and sealed key)."""
    summary = summarize(name, bundle.leaf, bundle.chain)
    row = existing or CertificateRow(name=name, created_at=now)
    served = (summary.fingerprint_sha256, *(entry.fingerprint_sha256 for entry in summary.chain))
    if existing is not None and versions.served_identity(existing) != served:
        versions.keep_current(existing, now)  # what it was stays at hand for a rollback
    for column, value in _columns(summary, bundle, vault, now).items():
        setattr(row, column, value)
        if existing is not None:
            flag_modified(row, column)
    if existing is None:
        session.add(row)
    return row


class NewRows:
    """New certificate rows and audit rows, written in one multi-row INSERT per table by :meth:`write`: the
    same rows :func:`put` (for a new name) and :func:`audit` would write, without the ORM's work per object.
    For imports of whole fleets. Rows go out in the order they were given, after anything pending in the
    session, so ids come out as they would have one by one."""

    def __init__(self) -> None:
        self._certificates: list[dict[str, object]] = []
        self._audits: list[dict[str, object]] = []

    def put(self, name: str, bundle: Bundle, vault: KeyVault, now: datetime) -> CertSummary:
        """Queue a new row; its summary, equal to :func:`to_summary` of the row (a new row serves nowhere)."""
        summary = summarize(name, bundle.leaf, bundle.chain)
        self._certificates.append({"name": name, "created_at": now, **_columns(summary, bundle, vault, now)})
        return summary

    def audit(self, now: datetime, action: str, target: str, fingerprint: str | None = None,
              detail: str = "") -> None:
        self._audits.append({"at": now, "action": action, "target": target, "fingerprint": fingerprint,
                             "detail": detail})

    def write(self, session: Session) -> None:
        session.flush()
        if self._certificates:
            session.execute(insert(CertificateRow), self._certificates)
        if self._audits:
            session.execute(insert(AuditRow), self._audits)
        self._certificates, self._audits = [], []


def _open(certificate_pem: str, key_sealed: bytes, fingerprint: str, vault: KeyVault) -> Bundle:
    certs = x509.load_pem_x509_certificates(certificate_pem.encode())
    key = load_pem_private_key(vault.open(key_sealed, fingerprint), None, unsafe_skip_rsa_key_validation=True)
    return Bundle(certs[0], tuple(certs[1:]), key)


def load_bundle(row: CertificateRow | CertificateVersionRow, vault: KeyVault) -> Bundle:
    """Decrypt a stored bundle for deployment. Radioactive: the result holds the private key."""
    return _open(row.certificate_pem, row.key_sealed, row.fingerprint, vault)


def sealed_material(row: CertificateRow | CertificateVersionRow, vault: KeyVault) -> CertMaterial:
    """The key material of ``row`` (a certificate or a kept version), unsealed only if a provider asks; it
    holds copies of the row's columns, so it outlives the session."""
    pem, sealed, fingerprint = row.certificate_pem, row.key_sealed, row.fingerprint
    return CertMaterial(fingerprint, lambda: _open(pem, sealed, fingerprint, vault))


def audit(session: Session, now: datetime, action: str, target: str, fingerprint: str | None = None,
          detail: str = "") -> None:
    session.add(AuditRow(at=now, action=action, target=target, fingerprint=fingerprint, detail=detail))


def audit_entries(session: Session, limit: int, offset: int = 0) -> list[AuditRow]:
    return list(session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit).offset(offset)))


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditRow)) or 0
