"""The schema comes from Alembic migrations, and the shortcut that skips Alembic stays honest."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from sslterm.store import db


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
