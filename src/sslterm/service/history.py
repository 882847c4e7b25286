"""The deployment journal as adapters show it: one deployment per load balancer, the deployments of one
command grouped by their ``batch`` (the id the REST API's ``/deployments/{id}`` names). No key material is in
the journal, so nothing here can show any."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sslterm.service import pages
from sslterm.service.context import Context
from sslterm.service.pages import Page
from sslterm.store import journal
from sslterm.store.schema import DeploymentRow


@dataclass(frozen=True)
class DeploymentView:
    id: int
    batch: str
    load_balancer: str
    #: ``pending`` (waits for the controller the load balancer runs beside), ``applying``, ``verified``,
    #: ``rolled-back``, ``failed``, ``needs-attention``
    state: str
    started_at: datetime
    finished_at: datetime | None
    detail: str
    listeners: tuple[dict[str, Any], ...]  # each listener wanted, with what changes on it (``changes``)

    @classmethod
    def of(cls, row: DeploymentRow) -> DeploymentView:
        return cls(row.id, row.batch, row.load_balancer, row.state, row.started_at, row.finished_at, row.detail,
                   tuple(dict(x) for x in row.intent))

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "batch": self.batch, "load_balancer": self.load_balancer, "state": self.state,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "detail": self.detail, "listeners": list(self.listeners)}


class History:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def batch(self, batch: str) -> list[DeploymentView]:
        """The deployments one command recorded (none: it changed nothing, or has not recorded them yet)."""
        with self.ctx.db.transaction(write=False) as session:
            return [DeploymentView.of(row) for row in journal.of_batch(session, batch)]

    def page(self, limit: int, offset: int = 0, lb: str | None = None) -> Page[DeploymentView]:
        """Newest first."""
        pages.check(limit, offset)
        with self.ctx.db.transaction(write=False) as session:
            items = tuple(DeploymentView.of(row) for row in journal.recent(session, limit=limit, offset=offset, lb=lb))
            return Page(items, journal.count(session, lb=lb), limit, offset)

    def counts(self) -> dict[str, int]:
        """Deployments by state (``/metrics``)."""
        with self.ctx.db.transaction(write=False) as session:
            return journal.counts_by_state(session)
