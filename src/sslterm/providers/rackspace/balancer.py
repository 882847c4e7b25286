"""One Rackspace load balancer over its API: reads, and changes that wait out its asynchrony.

A change (POST, PUT or DELETE) is accepted only while the load balancer is ``ACTIVE``; it then stays
``PENDING_UPDATE`` for seconds to minutes. So every change here waits for ``ACTIVE`` first (no read of its
own when the last read, since this object's last change, found it ACTIVE), sends the request again after a
``422 immutable`` once ``ACTIVE`` is back (another client's change was in progress), sends it again after a
413's ``Retry-After``, and waits for ``ACTIVE`` after it, so that the change is live when it returns. All of it
within :class:`Waits`: a total time per change and a number of polls and of sends, ending in an error that
names the load balancer and the status it last had. Polls start fast (0.25 s) and slow down (by half each
time) to the documented 5 seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sslterm.errors import ProviderError
from sslterm.providers.rackspace.client import ApiError, RackspaceClient, Reply
from sslterm.providers.rackspace.state import WAITING, Body, LbInfo, Mapping, State, Termination

MAPPINGS = "/ssltermination/certificatemappings"
T = TypeVar("T")


@dataclass(frozen=True)
class Waits:
    """The bounds of every wait: ``max_wait`` seconds per change (or per read that is rate limited) in all,
    ``max_polls`` status reads and ``max_sends`` sends of one request."""

    max_wait: float = 600.0
    first_poll: float = 0.25
    growth: float = 1.5  # each poll waits this much longer than the one before, up to max_poll
    max_poll: float = 5.0
    max_polls: int = 400
    max_sends: int = 12


class Budget:
    """Time left for one change; every sleep goes through it."""

    def __init__(self, waits: Waits, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.waits, self.clock, self._sleep = waits, clock, sleep
        self.started = clock()

    @property
    def left(self) -> float:
        return self.waits.max_wait - (self.clock() - self.started)

    @property
    def spent(self) -> float:
        return self.clock() - self.started

    def sleep(self, seconds: float) -> None:
        self._sleep(max(0.0, min(seconds, self.left)))


class Balancer:
    """``label`` names the load balancer in every message (sslterm's name, Rackspace's region and id)."""

    def __init__(self, client: RackspaceClient | Callable[[], RackspaceClient], region: str, lb_id: int, label: str,
                 waits: Waits = Waits(), *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self.region, self.lb_id, self.label, self.waits = region, lb_id, label, waits
        self.clock, self.sleep = clock, sleep
        self.info: LbInfo | None = None  # as last read
        self._settled = False  # ACTIVE when last read (after this object's own last change, if any)
        self._state: tuple[float, State] | None = None  # the last full read, until the next change

    @property
    def client(self) -> RackspaceClient:
        """Made on first use (a command that never calls Rackspace needs no credentials)."""
        if not isinstance(self._client, RackspaceClient):
            self._client = self._client()
        return self._client

    def _url(self, path: str) -> str:
        return f"{self.client.endpoint(self.region)}/loadbalancers/{self.lb_id}{path}"

    # -- reads ------------------------------------------------------------------------------------------
    def get(self, path: str, doing: str, budget: Budget | None = None) -> Reply:
        """GET, sent again after a 413's Retry-After within ``budget`` (a fresh one when None)."""
        return self._send_get(self._url(path), doing, budget)

    def _send_get(self, url: str, doing: str, budget: Budget | None) -> Reply:
        budget = budget or Budget(self.waits, self.clock, self.sleep)
        for _ in range(self.waits.max_sends):
            try:
                return self.client.call("GET", url, lb=self.label, doing=doing)
            except ApiError as exc:
                if not self._wait_out_limit(exc, budget):
                    raise
        raise self._gave_up(doing, budget)

    def details(self, budget: Budget | None = None) -> LbInfo:
        doc = self.get("", "reading the load balancer", budget).body
        self.info = _parsed(lambda: LbInfo.of(doc["loadBalancer"]), self.label, "the load balancer's details")
        self._settled = self.info.status == "ACTIVE"
        return self.info

    def termination(self) -> Termination | None:
        try:
            doc = self.get("/ssltermination", "reading its SSL termination").body["sslTermination"]
        except ApiError as exc:
            if exc.status == 404:  # none configured (the load balancer itself was just read)
                return None
            raise
        return _parsed(lambda: Termination.of(doc), self.label, "its SSL termination")

    def mappings(self) -> tuple[Mapping, ...]:
        listed = self.get(MAPPINGS, "listing its certificate mappings").body
        ids = _parsed(lambda: [int(item["certificateMapping"]["id"]) for item in listed["certificateMappings"]],
                      self.label, "the list of its certificate mappings")
        return tuple(self._mapping(mapping_id) for mapping_id in ids)

    def _mapping(self, mapping_id: int) -> Mapping:
        doc = self.get(f"{MAPPINGS}/{mapping_id}", f"reading certificate mapping {mapping_id}").body

        def parse() -> Mapping:
            found = doc["certificateMapping"]
            body = Body.of(str(found["certificate"]), found.get("intermediateCertificate"))
            return Mapping(mapping_id, str(found["hostName"]), body)

        return _parsed(parse, self.label, f"certificate mapping {mapping_id}")

    def read(self, *, reuse: float = 0.0) -> State:
        """Everything sslterm looks at: the load balancer, its termination, its mappings; read now, or the
        last read when it is at most ``reuse`` seconds old and no change was sent since (a change planned on
        a read made a moment before is verified by a fresh read after it anyway)."""
        if self._state is not None and self.clock() - self._state[0] <= reuse:
            return self._state[1]
        info = self.details()
        termination = self.termination()
        state = State(info, termination, self.mappings() if termination is not None else ())
        self._state = (self.clock(), state)
        return state

    def read_served(self) -> State:
        """The termination and the mappings, read now (what a read-back verifies); the load balancer's
        details as last read."""
        info = self.info or self.details()
        termination = self.termination()
        self._state = None  # a change after a verification (a rollback) reads everything again
        return State(info, termination, self.mappings() if termination is not None else ())

    def status(self, budget: Budget, since: float | None = None) -> str:
        """Its status, from the account's shared board (one ``GET /loadbalancers`` for every load balancer
        waiting at the same time) as read at or after ``since`` (the board's clock); one of its own when the
        list does not have it."""
        def fetch() -> dict[int, str]:
            url = f"{self.client.endpoint(self.region)}/loadbalancers"
            listed = self._send_get(url, "reading the load balancers' status", budget).body
            return _parsed(lambda: {int(x["id"]): str(x["status"]) for x in listed["loadBalancers"]}, self.label,
                           "the list of load balancers")

        found = self.client.board.statuses(self.region, fetch, fresh=min(self.waits.first_poll, 1.0) / 2,
                                           since=since)
        status = found.get(self.lb_id) or self.details(budget).status
        self._settled = status == "ACTIVE"
        return status

    # -- changes ----------------------------------------------------------------------------------------
    def change(self, method: str, path: str, body: dict[str, Any] | None, doing: str) -> Reply:
        """Send one change when the load balancer is ACTIVE and return once it is ACTIVE again."""
        budget = Budget(self.waits, self.clock, self.sleep)
        if not self._settled:
            self.wait_active(budget, f"before {doing}")
        self._settled, self._state = False, None
        for _ in range(self.waits.max_sends):
            try:
                reply = self.client.call(method, self._url(path), lb=self.label, doing=doing, body=body)
            except ApiError as exc:
                if exc.immutable:  # another change is in progress: wait for it, then send ours
                    self.wait_active(budget, f"{doing} (refused while the load balancer was busy)", answered=True)
                    continue
                if not self._wait_out_limit(exc, budget):
                    raise
                continue
            self.wait_active(budget, f"after {doing}", after=True, answered=True)
            self._settled = True
            return reply
        raise self._gave_up(doing, budget)

    def wait_active(self, budget: Budget, doing: str, *, after: bool = False, answered: bool = False) -> None:
        """Poll until ACTIVE; ERROR, SUSPENDED and the like end the wait at once. After a change or a 422
        (``answered``), only a reading sent after that answer counts: one shared by another load balancer a
        moment earlier could predate it. Bounded by ``budget`` and ``waits.max_polls``; the error names the
        load balancer and its last status."""
        since = self.client.board.clock() if answered else None
        delay = self.waits.first_poll
        if after:  # right after a change it is PENDING_UPDATE for certain: no read for that
            budget.sleep(delay)
            delay = min(delay * self.waits.growth, self.waits.max_poll)
        status = self.status(budget, since)
        for _ in range(self.waits.max_polls):
            if status == "ACTIVE":
                return
            if status not in WAITING:
                raise self._bad_status(status, doing, after=after)
            if budget.left <= 0:
                break
            budget.sleep(delay)
            delay = min(delay * self.waits.growth, self.waits.max_poll)
            status = self.status(budget, since)
        raise ProviderError(f"{self.label}: still {status} after waiting {budget.spent:.0f} s ({doing})",
                            code="rackspace-timeout", hint="the load balancer is busy; run the command again later "
                            "(RACKSPACE_MAX_WAIT sets how long sslterm waits, in seconds)")

    def _bad_status(self, status: str, doing: str, *, after: bool) -> ProviderError:
        if after and status == "ERROR":
            return ProviderError(f"{self.label}: the load balancer went to ERROR {doing}: Rackspace could not "
                                 "apply the change", code="rackspace-lb-error",
                                 hint="ask Rackspace support to repair it: it accepts no change while in ERROR")
        return ProviderError(f"{self.label}: the load balancer is {status} ({doing}): it accepts no change",
                             code="rackspace-lb-status", hint="wait until it is ACTIVE in the control panel, "
                             "or ask Rackspace support")

    def _wait_out_limit(self, exc: ApiError, budget: Budget) -> bool:
        """After a 413 with Retry-After that fits the budget: wait it out (True: send again)."""
        if exc.status != 413 or exc.retry_after is None or exc.retry_after > budget.left:
            return False
        budget.sleep(max(exc.retry_after, 0.05))
        return True

    def _gave_up(self, doing: str, budget: Budget) -> ProviderError:
        return ProviderError(f"{self.label}: {doing}: sent {self.waits.max_sends} times in {budget.spent:.0f} s "
                             "without success", code="rackspace-timeout", retryable=True,
                             hint="the account is busy or over its rate limit; run the command again later")


def _parsed(read: Callable[[], T], label: str, what: str) -> T:
    try:
        return read()
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderError(f"{label}: Rackspace sent {what} in a form sslterm cannot read ({type(exc).__name__})",
                            code="rackspace-bad-response", hint="check the load balancer in the control panel") from exc
