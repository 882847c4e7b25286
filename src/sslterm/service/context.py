"""What every part of the service shares: the wiring (settings, clock, store, key vault, trust anchors,
providers) and the lookups by name that every use case starts with. Built once per command (or per API
process) and handed to the parts of the service; holds no use case itself."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sslterm.engine.apply import Prober
from sslterm.engine.contract import Provider
from sslterm.engine.probe import probe
from sslterm.errors import NotFound
from sslterm.files import create_private_file, ensure_private_dir, write_atomic
from sslterm.providers import registry
from sslterm.settings import Settings
from sslterm.store import certificates as rows
from sslterm.store import journal
from sslterm.store import loadbalancers as lb_rows
from sslterm.store.db import Database, open_engine
from sslterm.store.schema import CertificateRow, LoadBalancerRow
from sslterm.store.secrets import KeyVault, check_secret_key, vault_from

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


def open_store(settings: Settings) -> Engine:
    """The store's engine, migrated; the data directory (0700) and SQLite file (0600) created first."""
    ensure_private_dir(settings.home)
    if settings.database_url is None:
        create_private_file(settings.home / "sslterm.db")
    return open_engine(settings.effective_database_url)


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), or "" when it is gone: with the pid, names one
    process for good (pids are reused)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else ""


class Context:
    """``Context(settings, clock=..., anchors=..., provider_factory=..., prober=...)``: collaborators are
    injected, so tests use real local services instead of patching. The store, the vault and the trust
    anchors are opened on first use: `sslterm --help` and usage errors never pay for them."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 anchors: Sequence[x509.Certificate] | None = None, warn_days: int = 30,
                 provider_factory: ProviderFactory | None = None, verify_within: float | None = None,
                 prober: Prober = probe, lease_seconds: float = journal.LEASE_SECONDS,
                 engine: Engine | None = None) -> None:
        self.settings = settings
        #: an engine shared by many contexts (a server's requests: one pool, migrated once); not disposed here
        self._engine = engine
        #: how long a lease lasts unless renewed; a deployment renews it every third of that while it runs
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.warn_days = warn_days
        self.verify_within = verify_within
        self.prober = prober
        self._provider_factory = provider_factory
        self.providers: dict[str, Provider] = {}
        self._anchors = anchors
        self._db: Database | None = None
        self._vault: KeyVault | None = None
        #: who holds the leases this process takes: this machine, this process (pid and start time), a nonce
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}:{secrets.token_hex(4)}"
        self._key_checked = False  # the store's canary opened with this context's key
        self._controller: str | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self._engine or open_store(self.settings), before_write=self._check_secret_key)
        return self._db

    @property
    def changed_anything(self) -> bool:
        """Whether a change was committed to the store through this context (an interruption after that
        must not claim that nothing changed)."""
        return self._db is not None and self._db.commits > 0

    @property
    def vault(self) -> KeyVault:
        if self._vault is None:
            self._vault = vault_from(self.settings.secret_key, self.settings.key_file)
        return self._vault

    def _check_secret_key(self, session: Session) -> None:
        """First in every writing transaction until the canary has opened once: a controller whose key is
        not the store's is refused (``wrong-secret-key``) before it writes anything, whatever the command,
        instead of sealing keys the other controllers cannot open."""
        if not self._key_checked:
            self._key_checked = check_secret_key(session, self.vault, self.clock())

    @property
    def anchors(self) -> Sequence[x509.Certificate]:
        if self._anchors is None:
            self._anchors = load_anchors()
        return self._anchors

    def provider(self, lb: LoadBalancerRow) -> Provider:
        """The provider for ``lb``, built once per context (``forget_provider`` when ``lb`` goes)."""
        if lb.name not in self.providers:
            if self._provider_factory is not None:
                self.providers[lb.name] = self._provider_factory(lb.name, lb.kind, lb.options)
            else:
                factory, _ = registry.lookup(lb.kind)
                self.providers[lb.name] = factory(lb.name, lb.options, self.settings.home / "lb" / lb.name,
                                                  self.settings.provider_env())
        return self.providers[lb.name]

    def forget_provider(self, name: str) -> None:
        """A later load balancer of this name gets its own provider (a cached one knows old options)."""
        self.providers.pop(name, None)

    @property
    def controller(self) -> str:
        """This controller, for good: the host and an id kept in the data directory (``controller-id``),
        made on first use. A managed HAProxy belongs to the controller that added it."""
        if self._controller is None:
            path = self.settings.home / "controller-id"
            if not path.exists():  # made whole, then linked into place: two first commands agree on one id
                ensure_private_dir(self.settings.home)
                draft = path.with_name(f".controller-id.{os.getpid()}")
                write_atomic(draft, f"{socket.gethostname()}:{secrets.token_hex(8)}\n".encode())
                with contextlib.suppress(FileExistsError):
                    os.link(draft, path)
                draft.unlink()
            self._controller = path.read_text().strip()
        return self._controller

    def owned_elsewhere(self, lb: LoadBalancerRow) -> bool:
        """Whether ``lb`` runs beside another controller: this one only records changes to it (pending)."""
        return lb.owner is not None and lb.owner != self.controller

    def abandoned(self, owner: str) -> bool:
        """Whether a lease holder was a process of this machine that is gone (killed, crashed): its lease
        need not run out before another command takes over. Another machine's holder is never judged."""
        host, _, rest = owner.partition(":")
        pid, _, rest = rest.partition(":")
        started = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit():
            return False
        return _started(int(pid)) != started

    def cert(self, session: Session, name: str) -> CertificateRow:
        row = rows.get(session, name)
        if row is None:
            raise NotFound(f"no certificate named {name!r}",
                           hint="see: sslterm cert list; add one with: sslterm cert add NAME ...")
        return row

    def lb(self, session: Session, name: str, *, listeners: bool = True) -> LoadBalancerRow:
        """``listeners=False``: its listeners and certificates are loaded on first use (a deployment reads
        what it needs with queries of its own)."""
        lb = lb_rows.get(session, name, listeners=listeners)
        if lb is None:
            raise NotFound(f"no load balancer named {name!r}", hint="see: sslterm lb list")
        return lb

    def close(self) -> None:
        """Release the store's connections (tests; a command's process just exits)."""
        if self._db is not None and self._engine is None:
            self._db.engine.dispose()
