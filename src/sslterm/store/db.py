"""Opening the database: engine, migrations to the newest schema, one transaction per command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

_ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
#: the newest migration in migrations/versions (a test keeps this equal to Alembic's head)
HEAD_REVISION = "0001"


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
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    migrate(engine)
    return engine


def _sqlite_begin(connection: Connection) -> None:
    """A writing transaction takes SQLite's write lock at once (BEGIN IMMEDIATE): what it reads to decide
    a change cannot be changed by another command before it writes (a second writer waits, busy_timeout)."""
    immediate = connection.get_execution_options().get(WRITE)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    """A session factory; ``transaction()`` commits on success and rolls back on any exception,
    Ctrl-C included, so a failed command leaves the store as it was."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: writing transactions committed so far: an interruption after one did change something
        self.commits = 0

    @contextmanager
    def transaction(self, *, commit: bool = True, write: bool = True, counted: bool = True) -> Iterator[Session]:
        """``commit=False`` rolls back at the end even on success (dry runs). A ``write`` transaction holds
        the store's write lock from its first read (SQLite: BEGIN IMMEDIATE; rows that decide a change
        are read FOR UPDATE elsewhere), so two commands changing the same thing run one after the other;
        read-only commands (list, show, status) pass ``write=False`` and never wait for a writer."""
        with self._sessions() as session, session.begin() as tx:
            session.connection(execution_options={WRITE: write})
            yield session
            if not commit:
                tx.rollback()
        if commit and write and counted:  # ``counted=False``: a record of a failure, not a change
            self.commits += 1
