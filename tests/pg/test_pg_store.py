"""The store on a real PostgreSQL: migrations, the certificate use cases, dates, and writers one at a time.

Every service here is a controller of its own (its own data directory) on one database of the session's
throw-away cluster, as several machines sharing a store would be.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives.asymmetric import ec
from pgtools import Controllers
from sqlalchemy import MetaData, Table, create_engine, insert, inspect, select, text
from sqlalchemy.orm import Session

from pkitools import Pki, assert_ok, rsa_key
from sslterm.certs import BundleInput
from sslterm.errors import CertificateError, NotFound, SSLTermError
from sslterm.service import Service
from sslterm.store import certificates as rows
from sslterm.store import db
from sslterm.store.schema import Base


def bundle_of(pki: Pki, *names: str, key: object | None = None) -> BundleInput:
    leaf = pki.leaf(*names, key=key)
    return BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())


# -- migrations -----------------------------------------------------------------------------------


def test_a_new_database_is_migrated_to_alembics_head(pg_url: str) -> None:
    """Whatever migrations exist run on PostgreSQL, to the head Alembic knows; reopening runs none."""
    head = ScriptDirectory.from_config(Config(str(Path(db.__file__).with_name("alembic.ini")))).get_current_head()
    engine = db.open_engine(pg_url)
    assert db.current_revision(engine) == head == db.HEAD_REVISION
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    engine.dispose()
    again = db.open_engine(pg_url)
    assert db.current_revision(again) == head
    again.dispose()


def waiting_backends(url: str) -> int:
    """Sessions of ``url``'s database waiting for a lock (a controller waiting for another)."""
    database = url.rsplit("/", 1)[1]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND "
                                         "wait_event_type = 'Lock'"), {"db": database}).scalar_one())
    finally:
        engine.dispose()


def test_a_controller_starting_while_another_migrates_waits_and_works(controllers: Controllers,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two controllers' first commands on an empty database at once: the second waits for the first one's
    migration, then finds it done and works, instead of failing on a table the first one has just made."""
    upgrade = command.upgrade
    second: list[subprocess.Popen[str]] = []

    def first_controllers_upgrade(config: Config, revision: str) -> None:
        upgrade(config, revision)  # done, not committed yet: the second controller starts now
        second.append(subprocess.Popen([sys.executable, "-m", "sslterm", "cert", "list"], text=True,
                                       env=controllers.cli("two").env(), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE))
        deadline = time.monotonic() + 60
        while not waiting_backends(controllers.url) and second[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)

    monkeypatch.setattr(command, "upgrade", first_controllers_upgrade)
    db.open_engine(controllers.url).dispose()
    out, err = second[0].communicate(timeout=60)
    assert second[0].returncode == 0, err
    assert "no certificates yet" in (out + err).lower()


# -- the certificate use cases ----------------------------------------------------------------------


def test_add_list_show_replace_remove_on_postgresql(controllers: Controllers, pki: Pki) -> None:
    """The certificate use cases on PostgreSQL: what is shown is what was added (names, dates, key types,
    the chain's JSON), ``exists`` without ``--replace``, a replacement, a removal, and the audit log."""
    svc = controllers.service("one")
    leaf = pki.leaf("www.example.test", "example.test", key=rsa_key(2048))
    added = svc.add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    svc.add_certificate("api", bundle_of(pki, "api.example.test", key=ec.generate_private_key(ec.SECP384R1())))
    assert added.replaced is None
    assert [s.name for s in svc.list_certificates()] == ["api", "www"]
    shown = svc.show_certificate("www")
    assert (shown.fingerprint_sha256, shown.sans, shown.key_type, shown.key_bits) == (
        leaf.fingerprint, ("www.example.test", "example.test"), "RSA", 2048)
    assert (shown.not_before, shown.not_after) == (leaf.cert.not_valid_before_utc, leaf.cert.not_valid_after_utc)
    assert svc.show_certificate("api").key_type == "EC"

    with pytest.raises(CertificateError) as exc:
        svc.add_certificate("www", bundle_of(pki, "www.example.test"))
    assert "exists" in {f.code for f in exc.value.findings if f.is_error}
    new = pki.leaf("www.example.test")
    replaced = svc.add_certificate("www", BundleInput(cert=new.pem, chain=pki.chain_pem, key=new.key_bytes()),
                                   replace=True)
    assert replaced.replaced == leaf.fingerprint
    assert svc.show_certificate("www").fingerprint_sha256 == new.fingerprint

    svc.remove_certificate("api")
    assert [s.name for s in svc.list_certificates()] == ["www"]
    with pytest.raises(NotFound):
        svc.show_certificate("api")
    assert [(e.action, e.target) for e in svc.audit_log()] == [
        ("cert.remove", "certificate/api"), ("cert.replace", "certificate/www"), ("cert.add", "certificate/api"),
        ("cert.add", "certificate/www")]


def test_dates_are_the_same_instant_for_controllers_in_any_time_zone(controllers: Controllers, pki: Pki,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A controller whose libpq session is in Tokyo stores an expiry that one in New York reads back unchanged
    (dates are stored as UTC: a session in another zone would shift them by hours)."""
    leaf = pki.leaf("www.example.test")
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    controllers.service("tokyo").add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem,
                                                                    key=leaf.key_bytes()))
    monkeypatch.setenv("PGTZ", "America/New_York")
    shown = controllers.service("new-york").show_certificate("www")
    assert shown.not_after == leaf.cert.not_valid_after_utc
    assert shown.not_before == leaf.cert.not_valid_before_utc


# -- writers one at a time ------------------------------------------------------------------------


class PausedWriter:
    """Stops the next writing transaction of ``svc`` right after it began, holding the store's write lock,
    until released: another controller's command runs meanwhile. (It sits in ``Database.before_write``,
    which runs first in every writing transaction.)"""

    def __init__(self, svc: Service) -> None:
        self.svc, self.inner = svc, svc.db.before_write
        self.inside, self.release = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None

    def __call__(self, session: Session) -> None:
        self.svc.db.before_write = self.inner  # once
        self.inside.set()
        assert self.release.wait(30)
        if self.inner is not None:
            self.inner(session)

    def run(self, work: Callable[[], object]) -> PausedWriter:
        """``work`` (a change through ``svc``) in a thread; returns once it holds the store's write lock."""
        self.svc.db.before_write = self
        self.thread = threading.Thread(target=work)
        self.thread.start()
        assert self.inside.wait(30), "the first writer never began its transaction"
        return self

    def finish(self) -> None:
        self.release.set()
        assert self.thread is not None
        self.thread.join(30)


def test_two_controllers_adding_one_new_name_at_once_the_second_is_told_it_exists(controllers: Controllers,
                                                                                   pki: Pki) -> None:
    """The second writer waits for the first, then sees its certificate: ``exists`` (exit 3), not a store
    error, and the first one's certificate is the one stored. Row locks alone cannot give this: the row
    the second one would lock does not exist yet when it looks."""
    first, second = controllers.service("first"), controllers.service("second")
    first.add_certificate("api", bundle_of(pki, "api.example.test"))  # the store has its canary, keys match
    second.list_certificates()
    mine = pki.leaf("www.example.test")
    paused = PausedWriter(first).run(lambda: first.add_certificate(
        "www", BundleInput(cert=mine.pem, chain=pki.chain_pem, key=mine.key_bytes())))
    outcome: list[BaseException | None] = []

    def add() -> None:
        try:
            second.add_certificate("www", bundle_of(pki, "www.example.test"))
            outcome.append(None)
        except BaseException as exc:  # what the second controller was told
            outcome.append(exc)

    rival = threading.Thread(target=add)
    rival.start()
    rival.join(1.0)
    assert rival.is_alive(), "the second writer did not wait for the first"
    paused.finish()
    rival.join(30)
    [told] = outcome
    assert isinstance(told, CertificateError) and told.exit_code == 3
    assert "exists" in {f.code for f in told.findings if f.is_error}
    assert second.show_certificate("www").fingerprint_sha256 == mine.fingerprint


def test_a_writer_kept_waiting_too_long_is_told_the_store_is_busy(controllers: Controllers, pki: Pki,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """While another controller's change holds the store, a writer waits (10 s in real life, shortened here)
    and then fails with ``store-busy`` and nothing stored; run again afterwards, it works."""
    monkeypatch.setattr(db, "LOCK_WAIT_MS", 300)
    first, second = controllers.service("first"), controllers.service("second")
    first.add_certificate("api", bundle_of(pki, "api.example.test"))
    paused = PausedWriter(first).run(lambda: first.add_certificate("www", bundle_of(pki, "www.example.test")))
    started = time.monotonic()
    with pytest.raises(SSLTermError) as exc:
        second.add_certificate("shop", bundle_of(pki, "shop.example.test"))
    waited = time.monotonic() - started
    paused.finish()
    assert exc.value.code == "store-busy" and exc.value.exit_code == 1
    assert "another sslterm command" in exc.value.message
    assert 0.2 < waited < 5
    assert [s.name for s in second.list_certificates()] == ["api", "www"]
    second.add_certificate("shop", bundle_of(pki, "shop.example.test"))
    assert [s.name for s in second.list_certificates()] == ["api", "shop", "www"]


def test_readers_never_wait_for_a_writer(controllers: Controllers, pki: Pki) -> None:
    """``cert list`` and ``cert show`` answer at once while another controller's change is in progress, and
    show the store as it was before that change."""
    first, reader = controllers.service("first"), controllers.service("reader")
    first.add_certificate("api", bundle_of(pki, "api.example.test"))
    paused = PausedWriter(first).run(lambda: first.add_certificate("www", bundle_of(pki, "www.example.test")))
    try:
        started = time.monotonic()
        assert [s.name for s in reader.list_certificates()] == ["api"]
        assert reader.show_certificate("api").name == "api"
        assert time.monotonic() - started < 2
    finally:
        paused.finish()
    assert [s.name for s in reader.list_certificates()] == ["api", "www"]


def test_a_bare_postgresql_url_uses_the_driver_sslterm_installs(controllers: Controllers, live_pki: Pki,
                                                                  tmp_path: Path) -> None:
    """``postgresql://`` (SQLAlchemy's default driver, psycopg2, is not installed) works as well as
    ``postgresql+psycopg://``: both are the same store."""
    leaf = live_pki.leaf("www.example.test")
    (tmp_path / "www.crt").write_bytes(leaf.pem + live_pki.chain_pem)
    (tmp_path / "www.key").write_bytes(leaf.key_bytes())
    bare = controllers.cli("bare")
    bare.database_url = controllers.url.replace("postgresql+psycopg://", "postgresql://")
    assert_ok(bare("cert", "add", "www", "--cert", tmp_path / "www.crt", "--key", tmp_path / "www.key"))
    listed = controllers.cli("explicit")("cert", "list", "--json")
    assert_ok(listed)
    assert [c["name"] for c in json.loads(listed.stdout)] == ["www"]


# -- a store from release 0.1.0, moved to PostgreSQL, upgraded in place --------------------------------

RELEASE_STORE = Path(__file__).parents[1] / "store" / "fixtures" / "release-0.1.0.db"
RELEASE_SECRET = "release-0.1.0 fixture secret key, not for production use"  # see fixtures/make_release_store.py
RELEASE_TABLES = ("certificates", "load_balancers", "terminations", "audit_log")  # schema 0001, parents first


def move_release_store_to(url: str) -> None:
    """Release 0.1.0's SQLite store copied into PostgreSQL at its schema (0001), as an operator moving to a
    shared store would (pgloader's way: the rows, then each id sequence set past them)."""
    target = create_engine(url, connect_args={"options": "-c timezone=UTC"})
    scratch = Path(tempfile.mkdtemp()) / "release.db"  # never opened in place: SQLite would add files beside it
    shutil.copyfile(RELEASE_STORE, scratch)
    source = create_engine(f"sqlite:///{scratch}")
    config = Config(str(Path(db.__file__).with_name("alembic.ini")))
    with target.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with source.connect() as src, target.begin() as dst:
        for name in RELEASE_TABLES:
            copied = [dict(row) for row in src.execute(select(Table(name, MetaData(), autoload_with=src))).mappings()]
            dst.execute(insert(Table(name, MetaData(), autoload_with=dst)), copied)
            dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608 - our constants
                             f"(SELECT max(id) FROM {name}))"))
    source.dispose()
    target.dispose()
    shutil.rmtree(scratch.parent, ignore_errors=True)


def test_a_release_store_moved_to_postgresql_is_upgraded_in_place(controllers: Controllers) -> None:
    """Every migration since 0001 runs on PostgreSQL over real data: certificates, load balancers and their
    sealed keys are all there, and the controller with the store's key can change it."""
    move_release_store_to(controllers.url)
    svc = controllers.service("upgraded", secret_key=RELEASE_SECRET)
    certificates = {c.name: c for c in svc.list_certificates()}
    assert db.current_revision(svc.db.engine) == db.HEAD_REVISION
    assert sorted(certificates) == ["api", "legacy", "shop"]
    assert certificates["shop"].attached_to == ("edge",)
    assert sorted(lb["name"] for lb in svc.list_load_balancers()) == ["edge", "spare"]
    with svc.db.transaction(write=False) as session:
        for name, summary in certificates.items():
            row = rows.get(session, name)
            assert row is not None and rows.load_bundle(row, svc.vault).fingerprint == summary.fingerprint_sha256
    svc.add_certificate("www", bundle_of(controllers.pki, "www.example.test"))
    assert "www" in {c.name for c in svc.list_certificates()}


def test_after_the_upgrade_on_postgresql_new_rows_get_new_ids(controllers: Controllers) -> None:
    """Every table's id sequence is past the rows the migrations copied, else the next row added there (a
    listener at the next ``enable``) collides with a copied one: ``store-conflict`` on every try."""
    move_release_store_to(controllers.url)
    db.open_engine(controllers.url).dispose()
    engine = create_engine(controllers.url)
    with engine.connect() as conn:
        behind = []
        serials = conn.execute(text("SELECT table_name, pg_get_serial_sequence(quote_ident(table_name), 'id') "
                                    "FROM information_schema.columns WHERE column_name = 'id' "
                                    "AND table_schema = current_schema()")).all()
        for table, sequence in serials:  # names from the database's own catalog
            if sequence is None:
                continue
            issued = conn.execute(text(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"))  # noqa: S608
            top = conn.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table}"'))  # noqa: S608
            if issued.scalar_one() < top.scalar_one():
                behind.append(table)
    engine.dispose()
    assert behind == []
