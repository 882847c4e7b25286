"""Helpers for the shared-store tests: controllers (a command line with its own data directory and the
store's URL), what a store holds, and what a load balancer serves."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from pkitools import NOW, Cli, Pki
from sslterm.service import Service
from sslterm.settings import Settings

#: the key the tests' controllers share
SECRET = "the shared secret key of these tests, longer than 32 characters"
OTHER_SECRET = "another controller's secret key, also longer than 32 characters"


@dataclass
class ControllerCli(Cli):
    """``python -m sslterm`` as one controller of a shared store runs it: its own data directory, the
    store's URL, and whatever else its environment holds (``extra``: a key file, PGTZ, ...)."""

    database_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return super().env() | {"SSLTERM_DATABASE_URL": self.database_url, "COLUMNS": "200", "NO_COLOR": "1",
                                **self.extra}


@dataclass
class Controllers:
    """Controllers of one store: ``service(NAME)`` in this process (fixed clock, the test PKI as anchor),
    ``cli(NAME)`` as a real command; NAME is its data directory under the test's own."""

    root: Path
    url: str
    pki: Pki
    services: list[Service] = field(default_factory=list)

    def service(self, name: str, secret_key: str = SECRET) -> Service:
        svc = Service(Settings(home=self.root / name, database_url=self.url, secret_key=secret_key),
                      clock=lambda: NOW, anchors=(self.pki.root.cert,))
        self.services.append(svc)
        return svc

    def cli(self, name: str, secret_key: str | None = SECRET, **extra: str) -> ControllerCli:
        return ControllerCli(self.root / name, secret_key, database_url=self.url, extra=extra)

    def close(self) -> None:
        try:
            stop_haproxy_under(self.root)
        finally:
            for svc in self.services:
                svc.close()


def store_content(url: str) -> dict[str, list[str]]:
    """Every row of every table (Alembic's revision too), to compare: equal means nothing was written."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()  # names from the database itself, quoted
            return {table: sorted(repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table}"')))  # noqa: S608
                    for table in tables}
    finally:
        engine.dispose()


def served_fingerprint(port: int, server_name: str) -> str:
    """SHA-256 of the leaf a TLS client is sent on 127.0.0.1:``port`` when asking for ``server_name``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the leaf is what is compared; trust is the HAProxy tests' subject
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_haproxy_under(root: Path, timeout: float = 15.0) -> None:
    """Teardown: SIGTERM each managed HAProxy whose pid file is under ``root`` and whose command line names
    ``root`` (pids are reused), by its pid; wait until each has exited."""
    pids = []
    for pid_file in root.rglob("haproxy.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().split()[0])
            if str(root).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
