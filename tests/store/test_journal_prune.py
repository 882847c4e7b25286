"""The deployment journal keeps a bounded history per load balancer: finished deployments beyond the newest
ones are pruned, unfinished ones never (a reconcile finishes them), other load balancers' untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from sslterm.store import journal
from sslterm.store.db import Database, open_engine
from sslterm.store.schema import DeploymentRow

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def test_prune_keeps_the_newest_finished_and_every_unfinished_deployment(tmp_path: Path) -> None:
    db = Database(open_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    with db.transaction() as session:
        for lb in ("edge", "other"):
            for i in range(6):
                row = journal.start(session, f"b{i}", lb, (), (), [], "me", NOW + timedelta(seconds=i))
                if i != 1:  # deployment 1 stays unfinished (its command died)
                    journal.finish(session, [row.id], "verified", NOW + timedelta(seconds=i))
    with db.transaction() as session:
        journal.prune(session, "edge", keep=2)
    with db.transaction(write=False) as session:
        left = {lb: [r.batch for r in session.scalars(select(DeploymentRow).where(
            DeploymentRow.load_balancer == lb).order_by(DeploymentRow.id))] for lb in ("edge", "other")}
    assert left == {"edge": ["b1", "b4", "b5"], "other": [f"b{i}" for i in range(6)]}
    db.engine.dispose()
