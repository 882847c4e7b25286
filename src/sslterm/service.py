"""The one facade every adapter (CLI, API) uses. Holds no presentation and reads no environment."""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sslterm.certs import Bundle, BundleInput, CertSummary, Finding, validate_bundle
from sslterm.certs.findings import error
from sslterm.certs.keys import KeyBlob, to_pem
from sslterm.certs.names import name_problem
from sslterm.certs.pem import parse_key
from sslterm.deployments import CertStatus, Outcome, deploy, restore, status, summary
from sslterm.engine.apply import Prober
from sslterm.engine.model import INSTANCE_PROTOCOLS, TLS_PROFILES
from sslterm.engine.probe import probe
from sslterm.errors import (
    AlreadyExists,
    CertificateError,
    DeploymentError,
    InputError,
    InUse,
    NotFound,
    RollbackFailed,
    SSLTermError,
)
from sslterm.files import create_private_file, ensure_private_dir, read_limited, write_atomic
from sslterm.providers import registry
from sslterm.providers.base import Provider
from sslterm.settings import Settings
from sslterm.store import certificates as rows
from sslterm.store import loadbalancers as lb_rows
from sslterm.store.db import Database, open_engine
from sslterm.store.schema import AuditRow, LoadBalancerRow
from sslterm.store.secrets import KeyVault, vault_from

SYSTEM_ANCHORS = Path("/etc/ssl/certs/ca-certificates.crt")
IMPORT_FLUSH_EVERY = 100  # import_bundles writes rows in batches of this many bundles
ProviderFactory = Callable[[str, str, dict[str, Any]], Provider]  # (name, kind, options) -> provider


def merge_settings(current: dict[str, object] | None, **given: object) -> dict[str, object]:
    """A listener's settings: what was given, else what it has, else the defaults."""
    defaults: dict[str, object] = {"instance_port": None, "instance_protocol": "HTTP", "redirect_http": False,
                                   "hsts": False, "tls_profile": "intermediate"}
    merged = {k: given[k] if given.get(k) is not None else (current or defaults).get(k, v)
              for k, v in defaults.items()}
    if merged["tls_profile"] not in TLS_PROFILES:
        raise InputError(f"unknown TLS profile {merged['tls_profile']!r}", hint=f"one of {', '.join(TLS_PROFILES)}")
    if str(merged["instance_protocol"]).upper() not in INSTANCE_PROTOCOLS:
        raise InputError(f"instance protocol must be one of {', '.join(INSTANCE_PROTOCOLS)}")
    merged["instance_protocol"] = str(merged["instance_protocol"]).upper()
    port = merged["instance_port"]
    if port is not None and not (isinstance(port, int) and 0 < port < 65536):
        raise InputError(f"instance port {port} is not 1-65535")
    return merged


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
    redeployed: tuple[str, ...] = ()  # load balancers now serving the new certificate


@dataclass(frozen=True)
class Refused:
    name: str
    findings: tuple[Finding, ...]


@dataclass
class ImportReport:
    """Kept small on purpose (names and counts, not summaries), so importing a fleet stays flat in memory."""

    added: list[str] = field(default_factory=list)
    warnings: Counter[str] = field(default_factory=Counter)  # warning code -> bundles that had it
    refused: list[Refused] = field(default_factory=list)


class Service:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 anchors: Sequence[x509.Certificate] | None = None, warn_days: int = 30,
                 provider_factory: ProviderFactory | None = None, verify_within: float = 15.0,
                 prober: Prober = probe) -> None:
        self.settings = settings
        self.clock = clock
        self.warn_days = warn_days
        self.verify_within = verify_within
        self.prober = prober
        self._provider_factory = provider_factory
        self._providers: dict[str, Provider] = {}
        self._anchors = anchors
        self._db: Database | None = None
        self._vault: KeyVault | None = None

    # -- wiring (lazy, so commands that need no store create none) ------------------------------
    @property
    def db(self) -> Database:
        if self._db is None:
            ensure_private_dir(self.settings.home)
            if self.settings.database_url is None:
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

    def add_certificate(self, name: str, inp: BundleInput, *, replace: bool = False) -> Added:
        with self._changing(f"certificate/{name}") as (session, done):
            pending: list[str] = []
            added = self._add(session, name, inp, replace, pending)
            self._redeploy(session, pending, done)
            return added

    def _add(self, session: Session, name: str, inp: BundleInput, replace: bool, pending: list[str],
             stored: set[str] | None = None, new_rows: rows.NewRows | None = None) -> Added:
        """Store one bundle; the load balancers that must now serve it are appended to ``pending``.

        For imports: ``stored`` holds the stored names, lower-cased (fetched once); a name not in it
        cannot match a row, even under a case-insensitive collation, so costs no query. ``new_rows``
        collects the rows of new names, to be written in batches."""
        now = self.clock()
        maybe_stored = stored is None or name.lower() in stored
        if maybe_stored and new_rows is not None:
            new_rows.write(session)  # the row asked for may be one this import queued
        existing = rows.get(session, name) if maybe_stored and name_problem(name) is None else None
        bundle, warnings_ = self._validate(name, inp, now, taken=existing is not None and not replace)
        if stored is not None:
            stored.add(name.lower())
        if existing is None and new_rows is not None:
            summary = new_rows.put(name, bundle, self.vault, now)
            new_rows.audit(now, "cert.add", f"certificate/{name}", summary.fingerprint_sha256, "")
            return Added(summary, warnings_)
        previous = existing.fingerprint if existing is not None else None
        row = rows.put(session, name, bundle, self.vault, now, existing)
        rows.audit(session, now, "cert.replace" if previous else "cert.add", f"certificate/{name}",
                   row.fingerprint, f"replaced {previous}" if previous else "")
        summary = rows.to_summary(row)
        redeployed = summary.attached_to if previous != row.fingerprint else ()
        pending.extend(redeployed)
        return Added(summary, warnings_, previous, redeployed)

    def _redeploy(self, session: Session, lb_names: Sequence[str], done: list[tuple[str, Outcome]]) -> None:
        """Deploy to each load balancer in turn (once each), recording it in ``done`` so that the
        command's failure puts it back."""
        for lb_name in dict.fromkeys(lb_names):
            done.append((lb_name, self._deploy(session, self._lb(session, lb_name), dry_run=False)))

    @contextmanager
    def _changing(self, target: str, *, commit: bool = True) -> Iterator[tuple[Session, list[tuple[str, Outcome]]]]:
        """One command's transaction and the load balancers it changed. On any failure (a refused
        deployment, Ctrl-C, the commit itself) the store rolls back and every load balancer already changed
        is put back; the failure is then audited in a transaction of its own. After success, copies of
        certificates no longer served are removed."""
        done: list[tuple[str, Outcome]] = []
        try:
            with self.db.transaction(commit=commit) as session:
                yield session, done
        except BaseException as exc:
            try:
                self._put_back(done, exc)
            except RollbackFailed as failed:
                self._audit_failure(target, failed)
                raise
            if isinstance(exc, DeploymentError):
                self._audit_failure(target, exc)
            raise
        for lb_name, _ in done:
            with contextlib.suppress(SSLTermError):
                self._providers[lb_name].cleanup()

    def _put_back(self, done: Sequence[tuple[str, Outcome]], cause: BaseException) -> None:
        """Restore every load balancer in ``done`` (newest first), all of them even if one fails."""
        failed: list[tuple[str, SSLTermError]] = []
        for lb_name, outcome in reversed(done):
            try:
                restore(lb_name, self._providers[lb_name], outcome.previous, verify_within=self.verify_within,
                        prober=self.prober)
            except SSLTermError as exc:
                failed.append((lb_name, exc))
        if failed:
            what = cause.message if isinstance(cause, SSLTermError) else type(cause).__name__
            names = ", ".join(f"{lb} ({exc.message})" for lb, exc in failed)
            raise RollbackFailed(f"{what}; putting back failed on: {names}",
                                 hint="check the load balancers now: sslterm status") from failed[0][1]

    def _audit_failure(self, target: str, exc: SSLTermError) -> None:
        """Best effort: a store that cannot record the failure must not hide it."""
        with contextlib.suppress(SQLAlchemyError), self.db.transaction() as session:
            rows.audit(session, self.clock(), "deploy.failed", target, None, exc.message)

    def import_bundles(self, items: Iterable[tuple[str, Callable[[], BundleInput]]], *, replace: bool = False,
                       progress: Callable[[str], None] | None = None) -> ImportReport:
        """Add many bundles in one transaction: refused ones are reported and skipped; replaced certificates
        are redeployed at the end, all or nothing; an interruption leaves the store and the load balancers
        as they were."""
        report = ImportReport()
        with self._changing("import") as (session, done):
            stored = {stored_name.lower() for stored_name in rows.names(session)}
            new_rows = rows.NewRows()
            pending: list[str] = []
            for count, (name, read) in enumerate(items, 1):
                try:
                    added = self._add(session, name, read(), replace, pending, stored, new_rows)
                    report.added.append(name)
                    report.warnings.update({w.code for w in added.warnings})
                except CertificateError as exc:
                    report.refused.append(Refused(name, exc.findings))
                except InputError as exc:  # e.g. a file that cannot be read: refuse that bundle only
                    report.refused.append(Refused(name, (error("unreadable-certificate", exc.message),)))
                if count % IMPORT_FLUSH_EVERY == 0:
                    new_rows.write(session)  # rows go out in batches: memory stays flat however many bundles
                if progress:
                    progress(name)
            new_rows.write(session)
            self._redeploy(session, pending, done)
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

    # -- load balancers --------------------------------------------------------------------------
    def provider(self, lb: LoadBalancerRow) -> Provider:
        if lb.name not in self._providers:
            if self._provider_factory is not None:
                self._providers[lb.name] = self._provider_factory(lb.name, lb.kind, lb.options)
            else:
                factory, _ = registry.lookup(lb.kind)
                self._providers[lb.name] = factory(lb.name, lb.options, self.settings.home / "lb" / lb.name,
                                                   {"haproxy_binary": self.settings.haproxy_binary})
        return self._providers[lb.name]

    def _lb(self, session: Session, name: str) -> LoadBalancerRow:
        lb = lb_rows.get(session, name)
        if lb is None:
            raise NotFound(f"no load balancer named {name!r}", hint="see: sslterm lb list")
        return lb

    def add_load_balancer(self, name: str, kind: str, options: dict[str, Any]) -> dict[str, object]:
        problem = name_problem(name, "load balancer")
        if problem:
            raise InputError(problem.message, code=problem.code, hint=problem.hint)
        _, validate = registry.lookup(kind)
        clean = validate(options)
        with self.db.transaction() as session:
            if lb_rows.get(session, name) is not None:
                raise AlreadyExists(f"a load balancer named {name!r} exists", hint="choose another name")
            lb = LoadBalancerRow(name=name, kind=kind, options=clean, created_at=self.clock())
            self._providers.pop(name, None)  # a provider cached under this name knows old options
            session.add(lb)
            session.flush()
            self.provider(lb).start()
            rows.audit(session, self.clock(), "lb.add", f"lb/{name}", None, kind)
            return summary(lb)

    def list_load_balancers(self) -> list[dict[str, object]]:
        with self.db.transaction() as session:
            return [summary(lb) for lb in lb_rows.all_rows(session)]

    def show_load_balancer(self, name: str) -> dict[str, object]:
        with self.db.transaction() as session:
            return summary(self._lb(session, name))

    def remove_load_balancer(self, name: str) -> None:
        with self.db.transaction() as session:
            lb = self._lb(session, name)
            if lb.terminations:
                ports = sorted({t.lb_port for t in lb.terminations})
                raise InUse(f"load balancer {name!r} still terminates TLS on port(s) {ports}",
                            hint=f"disable it first: sslterm disable {name} --lb-port PORT")
            provider = self.provider(lb)
            self._providers.pop(name, None)  # a later load balancer of this name gets its own
            session.delete(lb)
            rows.audit(session, self.clock(), "lb.remove", f"lb/{name}")
            session.flush()
            provider.stop()

    def enable(self, lb_name: str, cert_name: str, *, lb_port: int | None = None, instance_port: int | None = None,
               instance_protocol: str | None = None, redirect_http: bool | None = None, hsts: bool | None = None,
               tls_profile: str | None = None, dry_run: bool = False) -> Outcome:
        """Terminate TLS on ``lb_port`` with ``cert_name`` (added after the listener's other certificates);
        options left None keep the listener's current value, or the default for a new listener."""
        with self._changing(f"lb/{lb_name}", commit=not dry_run) as (session, done):
            lb = self._lb(session, lb_name)
            cert = rows.get(session, cert_name)
            if cert is None:
                raise NotFound(f"no certificate named {cert_name!r}", hint="add it: sslterm cert add NAME ...")
            port = lb_port or self.provider(lb).default_lb_port
            settings = merge_settings(lb_rows.listener_settings(lb, port), instance_port=instance_port,
                                      instance_protocol=instance_protocol, redirect_http=redirect_http, hsts=hsts,
                                      tls_profile=tls_profile)
            lb_rows.add_termination(session, lb, cert, port, settings, self.clock())
            return self._deploy_one(session, lb, done, dry_run=dry_run)

    def disable(self, lb_name: str, *, lb_port: int | None = None, cert_name: str | None = None,
                dry_run: bool = False) -> Outcome:
        """Stop terminating TLS on ``lb_port`` (or only drop ``cert_name`` from it)."""
        with self._changing(f"lb/{lb_name}", commit=not dry_run) as (session, done):
            lb = self._lb(session, lb_name)
            port = lb_port or self.provider(lb).default_lb_port
            gone = [t for t in lb.terminations if t.lb_port == port and cert_name in (None, t.certificate.name)]
            if not gone:
                raise NotFound(f"{lb_name} terminates no TLS on port {port}" +
                               (f" with {cert_name}" if cert_name else ""), hint=f"see: sslterm lb show {lb_name}")
            for t in gone:
                lb.terminations.remove(t)
            return self._deploy_one(session, lb, done, dry_run=dry_run)

    def _deploy_one(self, session: Session, lb: LoadBalancerRow, done: list[tuple[str, Outcome]], *,
                    dry_run: bool) -> Outcome:
        outcome = self._deploy(session, lb, dry_run=dry_run)
        if not dry_run:
            done.append((lb.name, outcome))
        return outcome

    def _deploy(self, session: Session, lb: LoadBalancerRow, *, dry_run: bool) -> Outcome:
        def audit(action: str, target: str, fingerprint: str | None, detail: str) -> None:
            rows.audit(session, self.clock(), action, target, fingerprint, detail)

        return deploy(session, lb, self.provider(lb), self.vault, self.clock(), dry_run=dry_run,
                      verify_within=self.verify_within, prober=self.prober, cleanup=False, audit=audit)

    def status(self, lb_name: str | None = None) -> list[CertStatus]:
        with self.db.transaction() as session:
            lbs = [self._lb(session, lb_name)] if lb_name else lb_rows.all_rows(session)
            return [s for lb in lbs for s in status(lb, self.provider(lb), self.clock(), self.prober)]

    # -- keys -------------------------------------------------------------------------------------
    def decrypt_key(self, key_file: Path, passphrase: bytes, out: Path, *, force: bool = False) -> None:
        """Write ``key_file`` without its passphrase to ``out`` (0600, atomically)."""
        if out.exists() and not force:
            raise AlreadyExists(f"{out} exists", hint="choose another -o, or add --force")
        parsed = parse_key(read_limited(key_file), str(key_file))
        if not parsed.keys:
            raise CertificateError(parsed.problems)
        blob: KeyBlob = parsed.keys[0]
        loaded = blob.load(passphrase if blob.encrypted else None)
        if isinstance(loaded, Finding):
            raise CertificateError([loaded])
        if not out.parent.is_dir():
            raise InputError(f"{out.parent} is not a directory")
        write_atomic(out, to_pem(loaded), mode=0o600)
