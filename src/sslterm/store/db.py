"""Opening the database: engine, migrations to the newest schema, one transaction per command.

SQLite (the default) and PostgreSQL (a store shared by several controllers, docs/shared-store.md) give
the same guarantee: writing transactions run one at a time, each seeing every write committed before it
began; readers never wait. SQLite: BEGIN IMMEDIATE. PostgreSQL: READ COMMITTED and a store-wide advisory
lock taken by the writing transaction's first statement.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from sslterm.errors import SSLTermError

_ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
#: the newest migration in migrations/versions (a test keeps this equal to Alembic's head)
HEAD_REVISION = "0004"


#: execution option of a transaction that will write: on SQLite it starts with BEGIN IMMEDIATE
WRITE = "sslterm_write"


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # sqlite3 would start transactions lazily, at the first write, so a command's reads would see the store
    # before a concurrent command's commit and its writes then overwrite it; SQLAlchemy emits BEGIN instead
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_engine(url: str) -> Engine:
    parsed, options = _engine_arguments(url)
    engine = create_engine(parsed, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_session)
        event.listen(engine, "begin", _postgresql_begin)
        event.listen(engine, "handle_error", _postgresql_busy)
    migrate(engine)
    return engine


def _engine_arguments(url: str) -> tuple[URL, dict[str, Any]]:
    """A bare ``postgresql://`` URL means the driver sslterm installs (SQLAlchemy's default, psycopg2, is
    not installed). PostgreSQL runs READ COMMITTED whatever the server's default: a writer's statements
    after the store lock see every commit made before it (a snapshot taken before the wait would not)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "postgresql":
        return parsed, {}
    return parsed, {"isolation_level": "READ COMMITTED", "pool_pre_ping": True}


def _sqlite_begin(connection: Connection) -> None:
    """A writing transaction takes SQLite's write lock at once (BEGIN IMMEDIATE): what it reads to decide
    a change cannot be changed by another command before it writes (a second writer waits, busy_timeout)."""
    immediate = connection.get_execution_options().get(WRITE)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: PostgreSQL advisory lock held by every writing transaction ("sslterm" in ASCII; per database)
STORE_LOCK = int.from_bytes(b"sslterm", "big")
#: how long a writer waits for another one before the command fails with ``store-busy`` (SQLite: busy_timeout)
LOCK_WAIT_MS = 10000
_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock wait that reached lock_timeout


def _postgresql_session(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """Every connection speaks UTC: dates are stored as UTC without a zone (schema.UTCDateTime), which
    PostgreSQL reads in the session's time zone, so a controller with another ``PGTZ`` or server default
    would store and read shifted instants. And a lock is waited for as long as SQLite waits for its own."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.execute(f"SET lock_timeout = {LOCK_WAIT_MS}")
    cursor.close()
    dbapi_connection.commit()


def _postgresql_begin(connection: Connection) -> None:
    """A writing transaction first takes the store-wide advisory lock (released at commit or rollback),
    as SQLite's BEGIN IMMEDIATE does: row locks (FOR UPDATE) cannot protect the checks a command makes
    across rows or on rows not there yet (a port used by another load balancer, a name not taken yet)."""
    if connection.get_execution_options().get(WRITE):
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({STORE_LOCK})")


def _postgresql_busy(context: ExceptionContext) -> None:
    """A lock wait that timed out is another controller's long change: ``store-busy``, as on SQLite."""
    if getattr(context.original_exception, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
        raise SSLTermError("the store is busy: another sslterm command is changing it", code="store-busy",
                           hint="try again when it has finished") from context.original_exception


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision. Alembic is loaded only when there is something to do."""
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config(str(_ALEMBIC_INI))
    # under the write lock: controllers started at once on a new or older store migrate it one at a time
    # (Alembic reads the revision again once the lock is held, and the later ones find nothing to do)
    with engine.execution_options(**{WRITE: True}).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C (SIGINT) waits until the block is done, then is raised: a commit is never cut between the
    database's COMMIT and sslterm knowing of it. Only the main thread can handle signals; elsewhere a
    no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class Database:
    """A session factory; ``transaction()`` commits on success and rolls back on any exception,
    Ctrl-C included, so a failed command leaves the store as it was."""

    def __init__(self, engine: Engine, *, before_write: Callable[[Session], None] | None = None) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: runs first in every writing transaction, inside it and under its lock, before anything is
        #: written (the service checks there that its secret key is the store's)
        self.before_write = before_write
        #: writing transactions committed so far: an interruption after one did change something
        self.commits = 0

    @contextmanager
    def transaction(self, *, commit: bool = True, write: bool = True, counted: bool = True) -> Iterator[Session]:
        """``commit=False`` rolls back at the end even on success (dry runs). A ``write`` transaction holds
        the store's write lock from its first read (SQLite: BEGIN IMMEDIATE; rows that decide a change
        are read FOR UPDATE elsewhere), so two commands changing the same thing run one after the other;
        read-only commands (list, show, status) pass ``write=False`` and never wait for a writer."""
        with self._sessions() as session:
            tx = session.begin()
            try:
                session.connection(execution_options={WRITE: write})
                if write and self.before_write is not None:
                    self.before_write(session)
                yield session
            except BaseException:
                tx.rollback()
                raise
            if not commit:
                tx.rollback()
                return
            with interrupts_deferred():  # committed and counted, or neither: never committed but "nothing changed"
                tx.commit()
                session.info["committed"] = True  # an interruption raised just after can tell
                # ``counted=False`` (or ``session.info["counted"] = False`` on the way): not a change of its own,
                # e.g. a record of a failure, or a change that counts once its deployment is done
                if write and session.info.get("counted", counted):
                    self.commits += 1
