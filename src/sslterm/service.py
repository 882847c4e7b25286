"""The one facade every adapter (CLI, API) uses. Holds no presentation and reads no environment."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from sqlalchemy.orm import Session

from sslterm.certs import Bundle, BundleInput, CertSummary, Finding, summarize, validate_bundle
from sslterm.certs.findings import error
from sslterm.certs.keys import KeyBlob, to_pem
from sslterm.certs.names import name_problem
from sslterm.certs.pem import parse
from sslterm.errors import AlreadyExists, CertificateError, InputError, InUse, NotFound
from sslterm.files import create_private_file, ensure_private_dir, read_limited, write_atomic
from sslterm.settings import Settings
from sslterm.store import certificates as rows
from sslterm.store.db import Database, open_engine
from sslterm.store.schema import AuditRow
from sslterm.store.secrets import KeyVault, vault_from

SYSTEM_ANCHORS = Path("/etc/ssl/certs/ca-certificates.crt")


def utcnow() -> datetime:
    return datetime.now(UTC)


def load_anchors(path: Path = SYSTEM_ANCHORS) -> tuple[x509.Certificate, ...]:
    """The system's trusted roots, used only to tell whether a chain is complete."""
    try:
        with warnings.catch_warnings():  # some distribution roots have odd serial numbers
            warnings.simplefilter("ignore")
            return tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except (OSError, ValueError):
        return ()


@dataclass(frozen=True)
class Added:
    summary: CertSummary
    warnings: tuple[Finding, ...]
    replaced: str | None = None  # fingerprint of the certificate it replaced


@dataclass(frozen=True)
class Refused:
    name: str
    findings: tuple[Finding, ...]


@dataclass
class ImportReport:
    added: list[Added] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


class Service:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 anchors: Sequence[x509.Certificate] | None = None, warn_days: int = 30) -> None:
        self.settings = settings
        self.clock = clock
        self.warn_days = warn_days
        self._anchors = anchors
        self._db: Database | None = None
        self._vault: KeyVault | None = None

    # -- wiring (lazy, so commands that need no store create none) ------------------------------
    @property
    def db(self) -> Database:
        if self._db is None:
            if self.settings.database_url is None:
                ensure_private_dir(self.settings.home)
                create_private_file(self.settings.home / "sslterm.db")
            self._db = Database(open_engine(self.settings.effective_database_url))
        return self._db

    @property
    def vault(self) -> KeyVault:
        if self._vault is None:
            self._vault = vault_from(self.settings.secret_key, self.settings.key_file)
        return self._vault

    @property
    def anchors(self) -> Sequence[x509.Certificate]:
        if self._anchors is None:
            self._anchors = load_anchors()
        return self._anchors

    # -- certificates ----------------------------------------------------------------------------
    def _validate(self, name: str, inp: BundleInput, now: datetime, *,
                  taken: bool = False) -> tuple[Bundle, tuple[Finding, ...]]:
        """Every finding at once (name, existence, bundle); the bundle only when there is no error."""
        result = validate_bundle(inp, now=now, anchors=self.anchors, warn_days=self.warn_days)
        problem = name_problem(name)
        findings = ((problem,) if problem else ()) + result.findings
        if taken:
            findings += (error("exists", f"a certificate named {name!r} is already stored",
                               "use --replace to replace it, or choose another name"),)
        if result.bundle is None or any(f.is_error for f in findings):
            raise CertificateError(findings)
        return result.bundle, result.warnings

    def check_bundle(self, name: str, inp: BundleInput) -> Added:
        """Validate without storing: the bundle's summary and warnings, or CertificateError."""
        bundle, warnings_ = self._validate(name, inp, self.clock())
        return Added(summarize(name, bundle.leaf, bundle.chain), warnings_)

    def add_certificate(self, name: str, inp: BundleInput, *, replace: bool = False) -> Added:
        with self.db.transaction() as session:
            return self._add(session, name, inp, replace)

    def _add(self, session: Session, name: str, inp: BundleInput, replace: bool) -> Added:
        now = self.clock()
        existing = rows.get(session, name) if name_problem(name) is None else None
        bundle, warnings_ = self._validate(name, inp, now, taken=existing is not None and not replace)
        previous = existing.fingerprint if existing is not None else None
        row = rows.put(session, name, bundle, self.vault, now, existing)
        rows.audit(session, now, "cert.replace" if previous else "cert.add", f"certificate/{name}",
                   row.fingerprint, f"replaced {previous}" if previous else "")
        return Added(rows.to_summary(row), warnings_, previous)

    def import_bundles(self, items: Iterable[tuple[str, Callable[[], BundleInput]]], *, replace: bool = False,
                       progress: Callable[[str], None] | None = None) -> ImportReport:
        """Add many bundles in one transaction: refused ones are reported and skipped; an interruption
        leaves the store as it was."""
        report = ImportReport()
        with self.db.transaction() as session:
            for name, read in items:
                try:
                    report.added.append(self._add(session, name, read(), replace))
                except CertificateError as exc:
                    report.refused.append(Refused(name, exc.findings))
                if progress:
                    progress(name)
        return report

    def list_certificates(self) -> list[CertSummary]:
        with self.db.transaction() as session:
            return [rows.to_summary(row) for row in rows.all_rows(session)]

    def show_certificate(self, name: str) -> CertSummary:
        with self.db.transaction() as session:
            row = rows.get(session, name)
            if row is None:
                raise NotFound(f"no certificate named {name!r}", hint="see: sslterm cert list")
            return rows.to_summary(row)

    def remove_certificate(self, name: str) -> CertSummary:
        with self.db.transaction() as session:
            row = rows.get(session, name)
            if row is None:
                raise NotFound(f"no certificate named {name!r}", hint="see: sslterm cert list")
            summary = rows.to_summary(row)
            if summary.attached_to:
                raise InUse(f"certificate {name!r} is served by: {', '.join(summary.attached_to)}",
                            hint="disable it there first: sslterm disable LB")
            session.delete(row)
            rows.audit(session, self.clock(), "cert.remove", f"certificate/{name}", summary.fingerprint_sha256)
            return summary

    def expiring(self, days: int) -> list[CertSummary]:
        now = self.clock()
        return [s for s in self.list_certificates() if s.days_left(now) < days]

    def audit_log(self, limit: int = 50) -> list[AuditRow]:
        with self.db.transaction() as session:
            return rows.audit_entries(session, limit)

    # -- keys -------------------------------------------------------------------------------------
    def decrypt_key(self, key_file: Path, passphrase: bytes, out: Path, *, force: bool = False) -> None:
        """Write ``key_file`` without its passphrase to ``out`` (0600, atomically)."""
        if out.exists() and not force:
            raise AlreadyExists(f"{out} exists", hint="choose another -o, or add --force")
        parsed = parse(read_limited(key_file), str(key_file), allow_der_key=True)
        if not parsed.keys:
            raise CertificateError([error("no-private-key", f"{key_file}: no private key found")])
        blob: KeyBlob = parsed.keys[0]
        loaded = blob.load(passphrase if blob.encrypted else None)
        if isinstance(loaded, Finding):
            raise CertificateError([loaded])
        if not out.parent.is_dir():
            raise InputError(f"{out.parent} is not a directory")
        write_atomic(out, to_pem(loaded), mode=0o600)
