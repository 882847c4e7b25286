"""A throw-away PostgreSQL cluster for the tests: Debian's ``postgresql`` package, ``initdb`` into a temporary
directory, ``postgres`` on 127.0.0.1 and a free high port, trust authentication for loopback only.

As root (CI), the cluster runs as the ``postgres`` user: PostgreSQL refuses to run as root. The server is a
direct child of the test process (``subprocess`` switches the user), so it is stopped by its pid, read from
``postmaster.pid``, and reaped; nothing is ever killed by name. One cluster serves a whole test session
(:func:`shared_cluster`); each test gets a database of its own (:meth:`Cluster.new_database`).

A cluster that cannot start is a failure with the server's own words, never a skip: the PostgreSQL tests are
how the shared store is known to work.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
#: a role that owns the test databases and is no superuser, as an operator would give sslterm
ROLE = "sslterm"
INSTALL_HINT = "install Debian's postgresql package (make test does: apt-get install postgresql)"


class ClusterError(Exception):
    """The cluster could not be made or started; the message says why, with the server's log."""


def bin_dir() -> Path:
    """The newest installed server (``/usr/lib/postgresql/<version>/bin``, Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if not found:
        raise ClusterError(f"no PostgreSQL server under /usr/lib/postgresql: {INSTALL_HINT}")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """``initdb`` + ``postgres``; :meth:`start`, :meth:`new_database`, :meth:`stop` (idempotent)."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.run_as = _server_user()
        # as root, under /tmp itself: the postgres user must reach the directory (TMPDIR may be private)
        self.base = Path(tempfile.mkdtemp(prefix="sslterm-pg-", dir="/tmp" if self.run_as else None))
        self.data, self.sockets, self.log = self.base / "data", self.base / "sock", self.base / "server.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._prepare_dirs()
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"])
        self._write_hba()
        for attempt in range(3):  # a free port can be taken between the check and the bind
            self.port = free_port()
            if self._launch():
                self._create_role()
                return
            if attempt < 2:
                self._reap()
        raise ClusterError(f"PostgreSQL did not start on 127.0.0.1 ({self.bin}):\n{self.log_tail()}")

    def stop(self) -> None:
        """Fast shutdown by the pid in ``postmaster.pid``, then reap it; the directory goes too."""
        if self.process is not None:
            pid = self.server_pid()
            if pid is not None and pid == self.process.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
            self._reap()
        shutil.rmtree(self.base, ignore_errors=True)

    def server_pid(self) -> int | None:
        """The postmaster's pid as PostgreSQL wrote it (first line of ``postmaster.pid``)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    # -- databases -----------------------------------------------------------------------------------
    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{ROLE}:unused-with-trust@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new, empty database owned by :data:`ROLE`; its SQLAlchemy URL."""
        name = f"sslterm_test_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{ROLE}"')
        return self.url(name)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                               autocommit=True, connect_timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- helpers -------------------------------------------------------------------------------------
    def _prepare_dirs(self) -> None:
        self.sockets.mkdir(mode=0o700)
        if self.run_as is not None:  # the postgres user must own its directories; /tmp lets it reach them
            for path in (self.base, self.sockets):
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)

    def _write_hba(self) -> None:
        """Trust, for loopback only (the server listens on 127.0.0.1 and a private socket directory)."""
        hba = self.data / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        if self.run_as is not None:
            os.chown(hba, self.run_as.pw_uid, self.run_as.pw_gid)

    def _run(self, argv: list[str]) -> None:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env=self._env(),
                                  cwd=self.base, **self._user_args())
        except (OSError, subprocess.SubprocessError) as exc:
            raise ClusterError(f"{argv[0]} could not run: {exc}") from exc
        if proc.returncode != 0:
            raise ClusterError(f"{Path(argv[0]).name} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")

    def _launch(self) -> bool:
        """Start ``postgres`` as a child and wait until it accepts connections; False when it exited."""
        argv = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.sockets),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=100", "-c", "logging_collector=off"]
        try:
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(argv, stdout=log, stderr=log, env=self._env(), cwd=self.base,
                                                **self._user_args())
        except OSError as exc:
            raise ClusterError(f"{argv[0]} could not run: {exc}") from exc
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(psycopg.OperationalError), self.admin():
                return True
            time.sleep(0.1)
        return False

    def _create_role(self) -> None:
        with self.admin() as conn:
            conn.execute(f'CREATE ROLE "{ROLE}" LOGIN')

    def _reap(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:  # fast shutdown stuck: immediate shutdown, still by its pid
            os.kill(self.process.pid, signal.SIGQUIT)
            self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def _env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "LANG": "C", "LC_ALL": "C", "TZ": "UTC"}

    def _user_args(self) -> dict[str, object]:
        if self.run_as is None:
            return {}
        return {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}


def _server_user() -> pwd.struct_passwd | None:
    """As root, the ``postgres`` user Debian's package creates; else the current user runs the server."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ClusterError(f"running as root, but there is no 'postgres' user: {INSTALL_HINT}") from exc


_SHARED: Cluster | None = None


def shared_cluster() -> Cluster:
    """The session's one cluster, started on first use (stopped by :func:`stop_shared`, and at exit)."""
    global _SHARED
    if _SHARED is None:
        cluster = Cluster()
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        _SHARED = cluster
        atexit.register(stop_shared)  # a session that dies before its fixtures' teardown
    return _SHARED


def stop_shared() -> None:
    global _SHARED
    if _SHARED is not None:
        _SHARED.stop()
        _SHARED = None


@pytest.fixture(scope="session", name="pg_cluster")
def session_fixture() -> Iterator[Cluster]:
    """The session's cluster; a cluster that cannot start fails every test that needs it, with the reason.
    Made available to a test directory or module by naming it there: ``pg_cluster_fixture = session_fixture``."""
    problem = None
    try:
        cluster = shared_cluster()
    except ClusterError as exc:
        problem = str(exc)
    if problem is not None:  # outside the handler: the reason alone, no chained traceback
        pytest.fail(f"the throw-away PostgreSQL cluster could not start: {problem}", pytrace=False)
    yield cluster
    stop_shared()
