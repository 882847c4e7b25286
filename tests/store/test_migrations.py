"""The schema comes from Alembic migrations, and the shortcut that skips Alembic stays honest."""

from __future__ import annotations

import shutil
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from sslterm.service import Service
from sslterm.settings import Settings
from sslterm.store import certificates as rows
from sslterm.store import db
from sslterm.store.certificates import load_bundle


def test_head_revision_constant_is_alembics_head() -> None:
    config = Config(str(Path(db.__file__).with_name("alembic.ini")))
    assert ScriptDirectory.from_config(config).get_current_head() == db.HEAD_REVISION


def test_a_new_database_is_migrated_to_head_and_reopening_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = db.open_engine(url)
    assert db.current_revision(engine) == db.HEAD_REVISION
    tables = set(inspect(engine).get_table_names())
    assert {"certificates", "load_balancers", "terminations", "audit_log"} <= tables
    engine.dispose()
    again = db.open_engine(url)
    assert db.current_revision(again) == db.HEAD_REVISION
    assert set(inspect(again).get_table_names()) == tables
    again.dispose()


def test_an_unmigrated_database_reports_no_revision(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert db.current_revision(engine) is None
    engine.dispose()


RELEASE_STORE = Path(__file__).with_name("fixtures") / "release-0.1.0.db"
RELEASE_SECRET = "release-0.1.0 fixture secret key, not for production use"  # see fixtures/make_release_store.py


def test_a_store_written_by_release_0_1_0_is_upgraded_in_place(tmp_path: Path) -> None:
    """Issue 7: listeners become rows of their own (settings once, the default certificate first), every
    certificate keeps its key, and the first command on the old store upgrades it."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    shutil.copyfile(RELEASE_STORE, home / "sslterm.db")
    svc = Service(Settings(home=home, secret_key=RELEASE_SECRET))

    certificates = {c.name: c for c in svc.list_certificates()}
    load_balancers = {lb["name"]: lb for lb in svc.list_load_balancers()}

    assert db.current_revision(svc.db.engine) == db.HEAD_REVISION
    assert sorted(certificates) == ["api", "legacy", "shop"]
    assert certificates["shop"].attached_to == ("edge",) and certificates["legacy"].attached_to == ()
    tls, second = sorted(x["lb_port"] for x in load_balancers["edge"]["listeners"])
    listeners = {x["lb_port"]: x for x in load_balancers["edge"]["listeners"]}
    assert [(c["name"]) for c in listeners[tls]["certificates"]] == ["shop", "api"]
    assert (listeners[tls]["redirect_http"], listeners[tls]["hsts"], listeners[tls]["tls_profile"],
            listeners[tls]["instance_port"]) == (True, True, "modern", None)
    assert [(c["name"]) for c in listeners[second]["certificates"]] == ["shop"]
    assert (listeners[second]["redirect_http"], listeners[second]["instance_port"]) == (False, 8080)
    assert load_balancers["spare"]["listeners"] == []
    with svc.db.transaction(write=False) as session:
        for name in certificates:  # every sealed key still opens and belongs to its certificate
            row = rows.get(session, name)
            assert row is not None and load_bundle(row, svc.vault).fingerprint == certificates[name].fingerprint_sha256
    svc.close()
