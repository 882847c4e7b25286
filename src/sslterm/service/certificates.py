"""Certificate use cases."""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sslterm.certs import Bundle, BundleInput, CertSummary, Finding, validate_bundle
from sslterm.certs.findings import error
from sslterm.certs.keys import KeyBlob, to_pem
from sslterm.certs.names import name_problem
from sslterm.certs.pem import parse_key
from sslterm.errors import (
    AlreadyExists,
    CertificateError,
    InputError,
    InUse,
)
from sslterm.files import read_limited, write_atomic
from sslterm.service import pages
from sslterm.service.change import Change
from sslterm.service.context import Context
from sslterm.service.deployments import Deployments
from sslterm.service.pages import Page
from sslterm.store import certificates as rows
from sslterm.store import journal, objects, versions
from sslterm.store import loadbalancers as lb_rows
from sslterm.store.loadbalancers import slot_of
from sslterm.store.schema import AuditRow

IMPORT_FLUSH_EVERY = 100  # import_bundles writes rows in batches of this many bundles


@dataclass(frozen=True)
class Added:
    summary: CertSummary
    warnings: tuple[Finding, ...]
    replaced: str | None = None  # fingerprint of the certificate it replaced
    redeployed: tuple[str, ...] = ()  # load balancers now serving the new certificate
    #: load balancers that run beside another controller: the change waits for it (pending)
    waiting: tuple[str, ...] = ()

    def waits_for(self, waiting: Sequence[str]) -> Added:
        """This, with ``waiting`` moved from redeployed to waiting."""
        return dataclasses.replace(self, redeployed=tuple(n for n in self.redeployed if n not in waiting),
                                   waiting=tuple(n for n in self.redeployed if n in waiting))


@dataclass(frozen=True)
class Version:
    """One version of a certificate, as ``cert history`` shows it (no key material)."""

    fingerprint_sha256: str
    subject: str
    not_after: datetime
    chain: tuple[str, ...]  # fingerprints, issuer of the leaf first
    since: datetime  # when it became the current version
    until: datetime | None  # when it was replaced (None: the current one)

    def as_json(self) -> dict[str, object]:
        return {"fingerprint_sha256": self.fingerprint_sha256, "subject": self.subject,
                "not_after": self.not_after.isoformat(), "chain": list(self.chain), "since": self.since.isoformat(),
                "until": self.until.isoformat() if self.until else None, "current": self.until is None}


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


class Certificates:
    """Certificate use cases: add (checked, keys sealed; a replacement redeployed where it is served), import,
    list, show, remove, expiry, the audit log, removing a key's passphrase."""

    def __init__(self, ctx: Context, deployments: Deployments) -> None:
        self.ctx = ctx
        self.deployments = deployments

    def _validate(self, name: str, inp: BundleInput, now: datetime, known: rows.KnownIntermediates, *,
                  taken: bool = False) -> tuple[Bundle, tuple[Finding, ...]]:
        """Every finding at once (name, existence, bundle); the bundle only when there is no error. A chain
        given without its intermediates is completed from the store's (``chain-completed``)."""
        result = validate_bundle(inp, now=now, anchors=self.ctx.anchors, warn_days=self.ctx.warn_days, issuers=known)
        problem = name_problem(name)
        findings = ((problem,) if problem else ()) + result.findings
        if taken:
            findings += (error("exists", f"a certificate named {name!r} is already stored",
                               "use --replace to replace it, or choose another name"),)
        if result.bundle is None or any(f.is_error for f in findings):
            raise CertificateError(findings)
        return result.bundle, result.warnings

    def check_certificate(self, name: str, inp: BundleInput, *, replace: bool = False) -> tuple[Finding, ...]:
        """What ``add_certificate`` would say of this bundle, storing nothing: its warnings, or the
        CertificateError with every finding (an adapter refuses a bad upload before it starts a job)."""
        with self.ctx.db.transaction(write=False) as session:
            taken = not replace and name_problem(name) is None and rows.get(session, name) is not None
            return self._validate(name, inp, self.ctx.clock(), rows.KnownIntermediates(session), taken=taken)[1]

    def add_certificate(self, name: str, inp: BundleInput, *, replace: bool = False,
                        batch: str | None = None) -> Added:
        serving = functools.partial(lb_rows.serving, cert_names=[name]) if replace else ()
        with self.deployments.changing(f"certificate/{name}", lbs=serving, batch=batch) as change:
            pending: list[str] = []
            added = self._add(change, name, inp, replace, pending, rows.KnownIntermediates(change.session))
            return added.waits_for(change.redeploy(pending))

    def _add(self, change: Change, name: str, inp: BundleInput, replace: bool, pending: list[str],
             known: rows.KnownIntermediates, stored: set[str] | None = None,
             new_rows: rows.NewRows | None = None) -> Added:
        """Store one bundle; the load balancers that must now serve it are appended to ``pending``.

        For imports: ``stored`` holds the stored names, lower-cased (fetched once); a name not in it
        cannot match a row, even under a case-insensitive collation, so costs no query. ``new_rows``
        collects the rows of new names, to be written in batches."""
        session, now = change.session, self.ctx.clock()
        maybe_stored = stored is None or name.lower() in stored
        if maybe_stored and new_rows is not None:
            new_rows.write(session)  # the row asked for may be one this import queued
        existing = rows.get(session, name, for_update=True) if maybe_stored and name_problem(name) is None else None
        bundle, warnings_ = self._validate(name, inp, now, known, taken=existing is not None and not replace)
        known.add(bundle.chain)
        if stored is not None:
            stored.add(name.lower())
        if existing is None and new_rows is not None:
            summary = new_rows.put(name, bundle, self.ctx.vault, now)
            new_rows.audit(now, "cert.add", f"certificate/{name}", summary.fingerprint_sha256, "")
            return Added(summary, warnings_)
        previous = existing.fingerprint if existing is not None else None
        served_before = slot_of(existing).served_id if existing is not None else None
        row = rows.put(session, name, bundle, self.ctx.vault, now, existing)
        rows.audit(session, now, "cert.replace" if previous else "cert.add", f"certificate/{name}",
                   row.fingerprint, f"replaced {previous}" if previous else "")
        summary = rows.to_summary(row)
        # what clients are sent changed (the leaf, or the same leaf with another chain): redeploy it
        redeployed = summary.attached_to if served_before != slot_of(row).served_id else ()
        if redeployed and previous is not None:  # if deploying it fails, the previous version comes back
            change.keep(journal.certificate_snapshot(name, previous))
        pending.extend(redeployed)
        return Added(summary, warnings_, previous, redeployed)

    def import_bundles(self, items: Iterable[tuple[str, Callable[[], BundleInput]]], *, replace: bool = False,
                       progress: Callable[[str], None] | None = None) -> ImportReport:
        """Add many bundles in one transaction: refused ones are reported and skipped; replaced certificates
        are redeployed at the end, all or nothing; an interruption leaves the store and the load balancers
        as they were."""
        report = ImportReport()
        items = list(items)  # the names only: each bundle is still read when its turn comes
        serving = functools.partial(lb_rows.serving, cert_names=[name for name, _ in items]) if replace else ()
        with self.deployments.changing("import", lbs=serving) as change:
            session = change.session
            stored = {stored_name.lower() for stored_name in rows.names(session)}
            new_rows = rows.NewRows()
            known = rows.KnownIntermediates(session)
            pending: list[str] = []
            for count, (name, read) in enumerate(items, 1):
                try:
                    added = self._add(change, name, read(), replace, pending, known, stored, new_rows)
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
            change.redeploy(pending)
        return report

    def list_certificates(self) -> list[CertSummary]:
        with self.ctx.db.transaction(write=False) as session:
            return [rows.to_summary(row) for row in rows.all_rows(session)]

    def certificates_page(self, limit: int, offset: int = 0) -> Page[CertSummary]:
        pages.check(limit, offset)
        with self.ctx.db.transaction(write=False) as session:
            items = tuple(rows.to_summary(row) for row in rows.all_rows(session, limit=limit, offset=offset))
            return Page(items, rows.count(session), limit, offset)

    def show_certificate(self, name: str) -> CertSummary:
        with self.ctx.db.transaction(write=False) as session:
            row = self.ctx.cert(session, name)
            return rows.to_summary(row)

    def server_bundle(self, name: str) -> Bundle:
        """The decrypted bundle of ``name`` for sslterm's own TLS (``sslterm serve --tls-cert``). Radioactive:
        the caller writes the key 0600 for its server only and removes it when done."""
        with self.ctx.db.transaction(write=False) as session:
            return rows.load_bundle(self.ctx.cert(session, name), self.ctx.vault)

    def remove_certificate(self, name: str) -> CertSummary:
        with self.ctx.db.transaction() as session:
            row = self.ctx.cert(session, name)
            summary = rows.to_summary(row)
            if summary.attached_to:
                raise InUse(f"certificate {name!r} is served by: {', '.join(summary.attached_to)}",
                            hint="disable it there first: sslterm disable LB")
            uploads = objects.of_certificate(session, row)
            session.delete(row)
            rows.audit(session, self.ctx.clock(), "cert.remove", f"certificate/{name}", summary.fingerprint_sha256)
        self.deployments.forget_uploads(uploads)  # its copies on load balancers (ACM, IAM), now unused
        return summary

    def history(self, name: str) -> list[Version]:
        """The current version first, then the kept previous ones, newest first."""
        with self.ctx.db.transaction(write=False) as session:
            row = self.ctx.cert(session, name)
            chain = tuple(e["fingerprint_sha256"] for e in row.chain)
            out = [Version(row.fingerprint, row.subject, row.not_after, chain, row.updated_at, None)]
            return out + [Version(v.fingerprint, v.subject, v.not_after,
                                  tuple(e["fingerprint_sha256"] for e in v.chain), v.added_at, v.replaced_at)
                          for v in versions.previous(row)]

    def check_rollback(self, name: str, fingerprint: str | None = None) -> None:
        """Whether ``rollback`` would find the version (``not-found``, ``no-version``), changing nothing (an
        adapter refuses a mistake before it starts a job)."""
        with self.ctx.db.transaction(write=False) as session:
            versions.find(self.ctx.cert(session, name), fingerprint)

    def rollback(self, name: str, fingerprint: str | None = None, *, batch: str | None = None) -> Added:
        """Make a previous version (the newest, or the one whose fingerprint starts with ``fingerprint``)
        current again, checked as a new bundle would be, and redeploy it wherever the certificate is served;
        the version it replaces is kept, so a rollback can be undone the same way."""
        with self.deployments.changing(f"certificate/{name}", lbs=functools.partial(lb_rows.serving, cert_names=[name]),
                                       batch=batch) as change:
            session = change.session
            row = rows.get(session, name, for_update=True) or self.ctx.cert(session, name)
            version = versions.find(row, fingerprint)
            bundle = rows.load_bundle(version, self.ctx.vault)
            pending: list[str] = []
            added = self._add(change, name, BundleInput(cert=bundle.certificate_pem(), key=bundle.key_pem()),
                              True, pending, rows.KnownIntermediates(session))
            rows.audit(session, self.ctx.clock(), "cert.rollback", f"certificate/{name}", version.fingerprint,
                       f"back from {added.replaced}")
            return added.waits_for(change.redeploy(pending))

    def expiring(self, days: int, *, limit: int | None = None) -> list[CertSummary]:
        """The certificates with fewer than ``days`` days left (expired ones included), the soonest first;
        read by their expiry date, so the others cost nothing however many there are."""
        before = self.ctx.clock() + timedelta(days=days)
        with self.ctx.db.transaction(write=False) as session:
            return [rows.to_summary(row) for row in rows.expiring_rows(session, before, limit=limit)]

    def expiry_dates(self) -> list[tuple[str, datetime]]:
        """Every certificate's name and expiry (``/metrics``)."""
        with self.ctx.db.transaction(write=False) as session:
            return rows.expiry_dates(session)

    def audit_log(self, limit: int = 50) -> list[AuditRow]:
        with self.ctx.db.transaction(write=False) as session:
            return rows.audit_entries(session, limit)

    def audit_page(self, limit: int, offset: int = 0) -> Page[AuditRow]:
        pages.check(limit, offset)
        with self.ctx.db.transaction(write=False) as session:
            return Page(tuple(rows.audit_entries(session, limit, offset)), rows.audit_count(session), limit, offset)

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
