"""The Rackspace boundary: one HTTP client per account (httpx, explicit timeouts), its token and its pace.

Every answer that is not a success becomes an :class:`ApiError` (a ProviderError) naming the load balancer,
what was being done, the HTTP status, Rackspace's fault and its message: ``retryable`` for 5xx and network
errors (the engine backs off), ``retry_after`` from a 413's ``Retry-After`` (delta-seconds or an HTTP date).
A 401 renews the token once and sends the request again. Requests are paced under the account's published
rate limits (reference/clouds.md 3.4), so a controller does not cause its own 413s. Nothing here is logged,
and no message holds a token, the API key or a private key.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from sslterm.errors import ProviderError
from sslterm.providers.rackspace.identity import CREDENTIALS_HINT, Access, Credentials, parse_access
from sslterm.text import one_line

TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)
RENEW_BEFORE = 60.0  # a token this close to its expiry is renewed before use
#: requests per second per verb on /v1.0 (the published defaults; every per-minute limit is 60 times these)
RATE_LIMITS: Mapping[str, int] = {"GET": 10, "POST": 5, "PUT": 10, "DELETE": 5}
FAULTS = {400: "badRequest", 401: "unauthorized", 404: "itemNotFound", 413: "overLimit", 422: "immutableEntity",
          500: "loadBalancerFault", 503: "serviceUnavailable"}
CODES = {400: "rackspace-bad-request", 401: "rackspace-unauthorized", 404: "rackspace-not-found",
         413: "rackspace-over-limit", 422: "rackspace-unprocessable"}


class ApiError(ProviderError):
    """A Rackspace answer other than 2xx: ``status``, and ``immutable`` for the 422 a load balancer gives while
    it is not ACTIVE (retried after it is, by the caller)."""

    def __init__(self, message: str, *, status: int, code: str, immutable: bool = False, retryable: bool = False,
                 retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, code=code, retryable=retryable, retry_after=retry_after, hint=hint)
        self.status = status
        self.immutable = immutable


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the parsed JSON, or None when there was none
    retry_after: str | None = None  # the Retry-After header, as sent


class Pacer:
    """At most ``limits[verb]`` requests of each verb in any ``window`` seconds (a sliding window, which keeps
    Repose's fixed windows too), shared by every thread using the account. The window is 1.2 s for limits per
    second: a request reaches Rackspace a little after its turn (the thread gets the interpreter back, the
    connection is taken from the pool), and with twenty threads on a busy machine that was measured above
    50 ms (11 GETs within one second at 1.05 s, one 413). 0.2 s of such delay is absorbed; a 413 from a longer
    one is waited out (Retry-After)."""

    def __init__(self, limits: Mapping[str, int] = RATE_LIMITS, window: float = 1.2, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.limits, self.window, self.clock, self.sleep = dict(limits), window, clock, sleep
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for a turn (benchmarks)

    def turn(self, method: str) -> None:
        """Wait until a ``method`` request keeps within the limit; the turn is booked before the wait."""
        limit = self.limits.get(method)
        if not limit:
            return
        with self._lock:
            sent = self._sent.setdefault(method, deque())
            now = self.clock()
            while sent and sent[0] <= now - self.window:
                sent.popleft()
            at = max(now, sent[-limit] + self.window) if len(sent) >= limit else now
            sent.append(at)
        if at > now:
            self.waited += at - now
            self.sleep(at - now)


class StatusBoard:
    """The status of every load balancer of a region, read with one request (``GET /loadbalancers``) for all
    the load balancers of the account that wait at the same time, and shared for ``fresh`` seconds: twenty
    waiting load balancers poll with one request, not twenty (GET is rate limited per account)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._read: dict[str, tuple[float, dict[int, str]]] = {}
        self._lock = threading.Lock()

    def statuses(self, region: str, fetch: Callable[[], dict[int, str]], fresh: float,
                 since: float | None = None) -> dict[int, str]:
        """The statuses read at most ``fresh`` seconds ago, and not before ``since`` (this board's clock): a
        reading sent before a change or a refusal says nothing about the load balancer after it."""
        with self._lock:  # one fetch at a time: the others then find it fresh
            at, found = self._read.get(region, (-1e9, {}))
            now = self.clock()
            if now - at > fresh or (since is not None and at < since):
                found = fetch()
                self._read[region] = (now, found)  # when the request was sent: it tells nothing older
            return found


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (as Repose sends it)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def fault_text(body: object) -> str:
    """Rackspace's words for a fault: ``message`` (a string or a list) and ``validationErrors.messages``, from
    a bare fault or one wrapped in its type (``{"overLimit": {...}}``)."""
    if isinstance(body, dict) and len(body) == 1 and isinstance(next(iter(body.values())), dict):
        body = next(iter(body.values()))
    if not isinstance(body, dict):
        return ""
    message = body.get("message")
    parts = [str(m) for m in message] if isinstance(message, list) else [str(message)] if message else []
    errors = body.get("validationErrors")
    found = errors.get("messages") if isinstance(errors, dict) else None
    if isinstance(found, list) and found:
        parts = [p for p in parts if p != "Validation Failure"] + [str(m) for m in found]
    return one_line("; ".join(dict.fromkeys(parts)), 300)


def _body_retry_after(body: object, now: float) -> float | None:
    inner = body.get("overLimit") if isinstance(body, dict) else None
    stamp = inner.get("retryAfter") if isinstance(inner, dict) else None
    try:
        return max(0.0, datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() - now) \
            if stamp else None
    except ValueError:
        return None


class RackspaceClient:
    """One account: its credentials, one token for every load balancer of the account in this process (cached
    until shortly before it expires, renewed once on a 401), one :class:`Pacer` and one :class:`StatusBoard`.
    Thread-safe."""

    def __init__(self, credentials: Credentials, *, http: httpx.Client | None = None, pacer: Pacer | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.credentials = credentials
        # trust_env=False: only settings.py reads the environment (no proxy variables, no CA bundle overrides)
        self.http = http or httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
        self.pacer = pacer or Pacer()
        self.board = StatusBoard()
        self.wall = wall
        self._access: Access | None = None
        self._lock = threading.Lock()
        self.requests = 0  # every HTTP request sent (benchmarks)
        self.authentications = 0

    def __repr__(self) -> str:
        return f"RackspaceClient({self.credentials.identity_url!r})"

    def close(self) -> None:
        """Close its connections (a process's clients are otherwise closed when it exits)."""
        self.http.close()

    # -- identity ---------------------------------------------------------------------------------------
    def access(self, *, stale: str | None = None) -> Access:
        """The current token, authenticating when there is none, it is about to expire, or it is ``stale``
        (refused with a 401: renewed once by whichever thread gets here first)."""
        with self._lock:
            current = self._access
            if current is None or current.token == stale or self.wall() >= current.expires_at - RENEW_BEFORE:
                current = self._access = self._authenticate()
            return current

    def _authenticate(self) -> Access:
        doing = "authenticating with Rackspace identity"
        reply = self._send("POST", self.credentials.tokens_url, self.credentials.auth_body(), {}, "sslterm", doing)
        if reply.status == 401:
            raise ApiError(f"Rackspace identity refused the credentials (401 unauthorized: "
                           f"{fault_text(reply.body) or 'no reason given'})", status=401,
                           code="rackspace-unauthorized", hint=CREDENTIALS_HINT)
        if reply.status >= 300:
            raise self._error(reply, "sslterm", doing)
        self.authentications += 1
        return parse_access(reply.body)

    def endpoint(self, region: str) -> str:
        return self.access().endpoint(region)

    # -- requests ---------------------------------------------------------------------------------------
    def call(self, method: str, url: str, *, lb: str, doing: str, body: object = None) -> Reply:
        """One request to the load balancer API: paced, with the token (renewed once on a 401). A success
        returns; anything else raises :class:`ApiError`, retryable where waiting may help."""
        token = self.access().token
        self.pacer.turn(method)
        reply = self._send(method, url, body, {"X-Auth-Token": token}, lb, doing)
        if reply.status == 401:  # expired or revoked early: one new token, one more try
            token = self.access(stale=token).token
            self.pacer.turn(method)
            reply = self._send(method, url, body, {"X-Auth-Token": token}, lb, doing)
        if reply.status >= 300:
            raise self._error(reply, lb, doing)
        return reply

    def _send(self, method: str, url: str, body: object, headers: dict[str, str], lb: str, doing: str) -> Reply:
        sent = {"Accept": "application/json", "User-Agent": "sslterm", **headers}
        if body is not None:
            sent["Content-Type"] = "application/json"
        self.requests += 1
        try:
            response = self.http.request(method, url, json=body, headers=sent)
        except httpx.TransportError as exc:  # no answer: refused, reset, timed out (never the request's body)
            raise ApiError(f"{lb}: {doing}: Rackspace did not answer ({type(exc).__name__}: {one_line(exc, 120)})",
                           status=0, code="rackspace-unreachable", retryable=True,
                           hint="check the network, and RACKSPACE_IDENTITY_URL") from exc
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            if response.is_success:
                raise ApiError(f"{lb}: {doing}: Rackspace answered {response.status_code} with a body that is not "
                               "JSON", status=response.status_code, code="rackspace-bad-response") from None
            parsed = None
        return Reply(response.status_code, parsed, response.headers.get("Retry-After"))

    def _error(self, reply: Reply, lb: str, doing: str) -> ApiError:
        status, text = reply.status, fault_text(reply.body)
        fault = FAULTS.get(status, f"HTTP {status}")
        message = f"{lb}: {doing}: Rackspace answered {status} {fault}" + (f": {text}" if text else "")
        if status == 413:
            wait = retry_after(reply.retry_after, self.wall())
            wait = wait if wait is not None else _body_retry_after(reply.body, self.wall())
            hint = ("Rackspace asked to wait before the next request" if wait is not None else
                    "an account limit was reached (e.g. 20 certificate mappings); it does not pass by waiting")
            return ApiError(message, status=413, code="rackspace-over-limit", retry_after=wait, hint=hint)
        immutable = status == 422 and (not text or "immutable" in text.lower())
        code = "rackspace-immutable" if immutable else CODES.get(status, "rackspace-error")
        hints = {404: "check the load balancer's id and region (sslterm lb show)",
                 400: "Rackspace refused the request; nothing was changed by it"}
        return ApiError(message, status=status, code=code, immutable=immutable, retryable=status >= 500,
                        hint=hints.get(status))

