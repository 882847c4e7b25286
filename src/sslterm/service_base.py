"""What every part of the service shares: wiring (store, key vault, trust anchors, providers) and the
one way a command changes the store and load balancers together (``_changing``)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sslterm.deployments import Outcome, deploy, restore
from sslterm.engine.apply import Prober
from sslterm.engine.probe import probe
from sslterm.errors import (
    DeploymentError,
    NotFound,
    RollbackFailed,
    SSLTermError,
)
from sslterm.files import create_private_file, ensure_private_dir
from sslterm.providers import registry
from sslterm.providers.base import Provider
from sslterm.settings import Settings
from sslterm.store import certificates as rows
from sslterm.store import loadbalancers as lb_rows
from sslterm.store.db import Database, open_engine
from sslterm.store.schema import CertificateRow, LoadBalancerRow
from sslterm.store.secrets import KeyVault, vault_from

SYSTEM_ANCHORS = Path("/etc/ssl/certs/ca-certificates.crt")
ProviderFactory = Callable[[str, str, dict[str, Any]], Provider]  # (name, kind, options) -> provider


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


class ServiceBase:
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

    @property
    def db(self) -> Database:
        if self._db is None:
            ensure_private_dir(self.settings.home)
            if self.settings.database_url is None:
                create_private_file(self.settings.home / "sslterm.db")
            self._db = Database(open_engine(self.settings.effective_database_url))
        return self._db

    @property
    def changed_anything(self) -> bool:
        """Whether a change was committed to the store through this service (an interruption after that
        must not claim that nothing changed)."""
        return self._db is not None and self._db.commits > 0

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

    def provider(self, lb: LoadBalancerRow) -> Provider:
        if lb.name not in self._providers:
            if self._provider_factory is not None:
                self._providers[lb.name] = self._provider_factory(lb.name, lb.kind, lb.options)
            else:
                factory, _ = registry.lookup(lb.kind)
                self._providers[lb.name] = factory(lb.name, lb.options, self.settings.home / "lb" / lb.name,
                                                   {"haproxy_binary": self.settings.haproxy_binary})
        return self._providers[lb.name]

    def _cert(self, session: Session, name: str) -> CertificateRow:
        row = rows.get(session, name)
        if row is None:
            raise NotFound(f"no certificate named {name!r}",
                           hint="see: sslterm cert list; add one with: sslterm cert add NAME ...")
        return row

    def _lb(self, session: Session, name: str) -> LoadBalancerRow:
        lb = lb_rows.get(session, name)
        if lb is None:
            raise NotFound(f"no load balancer named {name!r}", hint="see: sslterm lb list")
        return lb

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
        with contextlib.suppress(SQLAlchemyError), self.db.transaction(counted=False) as session:
            rows.audit(session, self.clock(), "deploy.failed", target, None, exc.message)

    def _redeploy(self, session: Session, lb_names: Sequence[str], done: list[tuple[str, Outcome]]) -> None:
        """Deploy to each load balancer in turn (once each), recording it in ``done`` so that the
        command's failure puts it back."""
        for lb_name in dict.fromkeys(lb_names):
            self._deploy_one(session, self._lb(session, lb_name), done, dry_run=False)

    def _deploy_one(self, session: Session, lb: LoadBalancerRow, done: list[tuple[str, Outcome]], *,
                    dry_run: bool) -> Outcome:
        """Deploy ``lb`` and, unless it was a dry run, record it for the command's put-back."""
        outcome = self._deploy(session, lb, dry_run=dry_run)
        if not dry_run:
            done.append((lb.name, outcome))
        return outcome

    def _deploy(self, session: Session, lb: LoadBalancerRow, *, dry_run: bool) -> Outcome:
        def audit(action: str, target: str, fingerprint: str | None, detail: str) -> None:
            rows.audit(session, self.clock(), action, target, fingerprint, detail)

        return deploy(session, lb, self.provider(lb), self.vault, self.clock(), dry_run=dry_run,
                      verify_within=self.verify_within, prober=self.prober, audit=audit)
