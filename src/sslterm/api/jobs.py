"""Changes to load balancers run in the background, so an HTTP request never waits on a slow load balancer
(nor holds a database transaction while it does): ``submit`` answers with the job's id at once, and
``get`` tells how it goes from the deployment journal, where the use case records its deployments under
that id (its ``batch``).

A job's state: ``pending`` while queued (and until the use case has recorded a deployment),
``applying`` while it runs, then the journal's worst outcome: ``verified`` (every deployment verified, or
nothing needed changing), ``pending`` (recorded for the controller the load balancer runs beside),
``rolled-back``, ``failed``, ``needs-attention``. A use case that raised is at least ``failed``, with the
error in the one error shape. After a restart the process no longer knows its jobs: a job id is then looked
up in the journal alone.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sslterm.api.errors import problem
from sslterm.api.state import JobView
from sslterm.errors import SSLTermError, unexpected
from sslterm.service import DeploymentView, Service

log = logging.getLogger(__name__)

#: outcomes from best to worst: a job of several deployments shows its worst
OUTCOMES = ("verified", "pending", "rolled-back", "failed", "needs-attention")
DEFAULT_WORKERS = 4
#: finished jobs this process remembers (with their result and error); older ones are told from the journal
KEEP_FINISHED = 10_000


@dataclass
class _Record:
    """What this process knows of a job it runs (the journal knows the rest)."""

    id: str
    target: str
    started: bool = False
    done: bool = False
    error: dict[str, object] | None = None
    result: object = None


@dataclass(frozen=True)
class Job:
    """One job as the API shows it: no key material (the journal holds none, nor do results or errors)."""

    id: str
    target: str
    state: str
    deployments: tuple[DeploymentView, ...] = ()
    error: dict[str, object] | None = None
    result: object = None
    known: bool = field(default=True)  # False: looked up in the journal only (started by another process)

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "target": self.target, "state": self.state, "error": self.error,
                "deployments": [d.as_json() for d in self.deployments], "result": self.result}


def job_state(deployments: Sequence[DeploymentView], *, running: bool, failed: bool) -> str:
    """The state of a job from its journal rows (see the module)."""
    states = [d.state for d in deployments]
    if running or "applying" in states:
        return "applying"
    worst = OUTCOMES[max((OUTCOMES.index(s) for s in states if s in OUTCOMES), default=0)]
    # an error after a clean roll-back is that roll-back (the error says why); else the job failed
    return "failed" if failed and worst in ("verified", "pending") else worst


class BackgroundJobs:
    """``BackgroundJobs(service_factory, workers=4)``: a bounded pool; each job runs on a Service of its own.

    ``work(service, batch_id)`` calls one use case with ``batch=batch_id`` and returns what the API shows
    as the job's ``result``: a JSON value (the route renders it; see :mod:`sslterm.shapes`)."""

    def __init__(self, service: Callable[[], Service], *, workers: int = DEFAULT_WORKERS) -> None:
        self._service = service
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sslterm-job")
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def submit(self, target: str, work: Callable[[Service, str], object]) -> str:
        record = _Record(uuid.uuid4().hex, target)
        with self._lock:
            self._records[record.id] = record
            if len(self._records) > KEEP_FINISHED:  # the oldest finished one goes (insertion order)
                oldest = next((key for key, kept in self._records.items() if kept.done), None)
                self._records.pop(oldest or "", None)
        self._pool.submit(self._run, record, work)
        return record.id

    def _run(self, record: _Record, work: Callable[[Service, str], object]) -> None:
        record.started = True
        service = self._service()
        try:
            record.result = work(service, record.id)
        except SSLTermError as exc:
            record.error = problem(exc)
        except Exception as exc:  # a bug or the environment: the job says so; the log has the traceback
            log.exception("job %s (%s) failed", record.id, record.target)
            record.error = problem(unexpected(exc, hint="see the server's log"))
        finally:
            service.close()
            record.done = True

    def get(self, job_id: str) -> JobView | None:
        with self._lock:
            record = self._records.get(job_id)
        # what this process knows, read once and before the journal: the job may finish while this runs, and a
        # job that was not done then shows the journal as ``applying`` without its result or error, never both
        started, done = (record.started, record.done) if record is not None else (False, False)
        error, result = (record.error, record.result) if record is not None and done else (None, None)
        service = self._service()
        try:
            deployments = tuple(service.deployment_batch(job_id))
        finally:
            service.close()
        if record is None:  # another process's, or this one's before a restart: the journal alone
            if not deployments:
                return None
            target = "lb/" + ",".join(dict.fromkeys(d.load_balancer for d in deployments))
            return Job(job_id, target, job_state(deployments, running=False, failed=False), deployments,
                       known=False)
        if not started:
            return Job(record.id, record.target, "pending", deployments)
        state = job_state(deployments, running=not done, failed=error is not None)
        return Job(record.id, record.target, state, deployments, error, result)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking jobs; ``wait``: until the running ones have finished (their deployments recorded)."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
