"""What every route of ``sslterm serve`` shares (REST API and web UI): how to get a Service, the API token,
and the background runner of changes to load balancers. Set once by the app factory as ``app.state.sslterm``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from sslterm.service import Service

log = logging.getLogger(__name__)


class JobView(Protocol):
    """One change submitted to the background runner; ``id`` is the journal's batch id of its deployments."""

    @property
    def id(self) -> str: ...

    @property
    def target(self) -> str: ...  # e.g. "lb/web", "certificate/shop"

    @property
    def state(self) -> str: ...  # "pending" | "applying" | "verified" | "rolled-back" | "failed" | "needs-attention"

    def as_json(self) -> dict[str, object]: ...  # no key material, ever


class Jobs(Protocol):
    def submit(self, target: str, work: Callable[[Service, str], object]) -> str:
        """Run ``work(service, batch_id)`` in the background on a Service of its own; the batch id at once."""
        ...

    def get(self, job_id: str) -> JobView | None: ...


@dataclass
class ApiState:
    service: Callable[[], Service]  # a Service for one request (its own sessions and providers)
    token: str  # SSLTERM_API_TOKEN: compared in constant time, never shown
    jobs: Jobs


def api_state(request: Request) -> ApiState:
    state = request.app.state.sslterm
    assert isinstance(state, ApiState)
    return state


def request_service(request: Request) -> Iterator[Service]:
    """A FastAPI dependency: a Service for this request, closed after it."""
    service = api_state(request).service()
    try:
        yield service
    finally:
        service.close()


def store_opens(state: ApiState) -> bool:
    """Whether the store answers a read (``/healthz``); why not goes to the log, not to the caller."""
    try:
        service = state.service()
        try:
            service.deployments_page(1)
        finally:
            service.close()
    except Exception:
        log.warning("the store does not open", exc_info=True)
        return False
    return True
