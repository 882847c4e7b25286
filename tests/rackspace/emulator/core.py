"""The emulator's state, test hooks, routing, rate limits and asynchrony."""

from __future__ import annotations

import copy
import email.utils
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from .model import (
    CertificateMapping,
    LoadBalancer,
    RateLimit,
    RecordedRequest,
    SslTermination,
    _Injected,
    _Pending,
    _Token,
)
from .server import _Server
from .texts import _UNITS, DEFAULT_REGIONS, LOOPBACK, OVER_LIMIT_MESSAGE
from .wire import _empty, _Fault, _fault, _iso, _redact, _Reply


class _Core:
    """State, test hooks, request routing, rate limits and asynchrony; the API itself is in the mixins."""

    def __init__(self, *, tenant_id: str = "123456", username: str = "sslterm-test",
                 api_key: str = "0123456789abcdef0123456789abcdef", password: str | None = None,
                 regions: Sequence[str] = DEFAULT_REGIONS, pending_seconds: float = 0.2,
                 token_lifetime: float = 86400.0, rate_limits: Sequence[RateLimit] = (),
                 mapping_limit: int = 20, atlas_status_codes: bool = False,
                 retry_after: Literal["http-date", "seconds"] = "http-date") -> None:
        self.tenant_id = tenant_id
        self.username = username
        self.api_key = api_key
        self.password = password
        self.regions = tuple(r.upper() for r in regions)
        #: How long an LB stays PENDING_UPDATE after an accepted mutation (the service takes seconds to minutes).
        self.pending_seconds = pending_seconds
        self.token_lifetime = token_lifetime
        self.rate_limits = tuple(rate_limits)
        #: CERTIFICATE_MAPPING_LIMIT ([docs] limits.rst: 20).
        self.mapping_limit = mapping_limit
        #: True: PUT/DELETE ssltermination answer 202 as Atlas does; False: 200 as the docs say.
        self.atlas_status_codes = atlas_status_codes
        #: Repose sends an RFC 1123 date; "seconds" sends delta-seconds instead.
        self.retry_after = retry_after
        self.base_url = ""
        self._lock = threading.RLock()
        self._lbs: dict[int, LoadBalancer] = {}
        self._pending: dict[int, _Pending] = {}
        self._fail_updates: dict[int, str] = {}
        self._tokens: dict[str, _Token] = {}
        self._requests: list[RecordedRequest] = []
        self._injected: list[_Injected] = []
        self._holds: list[Hold] = []
        self._hits: dict[RateLimit, deque[float]] = {}
        self._next_mapping_id = 1000
        self.tokens_issued = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> None:
        server = _Server(self)
        host, port = server.server_address[:2]
        assert host == LOOPBACK
        self.base_url = f"http://{LOOPBACK}:{port}"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="rackspace-emulator", daemon=True)
        self._server, self._thread = server, thread
        thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- addresses --------------------------------------------------------------------------------------------------

    @property
    def identity_url(self) -> str:
        return f"{self.base_url}/v2.0"

    @property
    def auth_url(self) -> str:
        return f"{self.identity_url}/tokens"

    def endpoint(self, region: str) -> str:
        """The ``publicURL`` the catalog lists for ``region``."""
        return f"{self.base_url}/{region.lower()}/v1.0/{self.tenant_id}"

    def credentials_body(self) -> dict[str, object]:
        return {"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": self.username, "apiKey": self.api_key}}}

    # -- test set-up and inspection ---------------------------------------------------------------------------------

    def add_load_balancer(self, lb_id: int, region: str = "ORD", *, name: str | None = None, protocol: str = "HTTP",
                          port: int = 80, algorithm: str = "RANDOM", timeout: int = 30, status: str = "ACTIVE",
                          https_redirect: bool = False, shared_vip_ports: Sequence[int] = (),
                          nodes: Sequence[tuple[str, int]] | None = None) -> LoadBalancer:
        if region.upper() not in self.regions:
            raise ValueError(f"region {region!r} is not one of {self.regions}")
        lb = LoadBalancer(lb_id, region.upper(), name or f"lb-{lb_id}", protocol, port, algorithm, timeout,
                          https_redirect=https_redirect, status=status, shared_vip_ports=tuple(shared_vip_ports),
                          nodes=tuple(nodes) if nodes is not None else (("10.1.1.1", port),))
        with self._lock:
            if lb_id in self._lbs:
                raise ValueError(f"load balancer {lb_id} exists")
            self._lbs[lb_id] = lb
            return copy.deepcopy(lb)

    def load_balancer(self, lb_id: int) -> LoadBalancer:
        """A copy of the load balancer as stored now (status settled)."""
        with self._lock:
            self._settle()
            return copy.deepcopy(self._lbs[lb_id])

    def ssl_termination(self, lb_id: int) -> SslTermination | None:
        return self.load_balancer(lb_id).ssl_termination

    def certificate_mappings(self, lb_id: int) -> list[CertificateMapping]:
        return sorted(self.load_balancer(lb_id).certificate_mappings.values(), key=lambda m: m.id)

    def set_status(self, lb_id: int, status: str) -> None:
        """Force a status (e.g. ``ERROR``, ``SUSPENDED``, ``PENDING_UPDATE`` with no end); cancels any pending end."""
        with self._lock:
            self._pending.pop(lb_id, None)
            self._lbs[lb_id].status = status

    def fail_next_update(self, lb_id: int, status: str = "ERROR") -> None:
        """The next accepted mutation of ``lb_id`` ends in ``status`` instead of ``ACTIVE`` (an async failure)."""
        with self._lock:
            self._fail_updates[lb_id] = status

    def fail_next(self, method: str, path_regex: str, status: int, body: object = None,
                  headers: Mapping[str, str] | None = None, *, times: int = 1) -> None:
        """The next ``times`` requests whose method is ``method`` (``*``: any) and whose path matches ``path_regex``
        (``re.search`` on the full path, e.g. ``r"/ssltermination$"``) get ``status`` without touching state.

        ``body`` None gives the published fault body for the status (413 also gets a ``Retry-After``);
        a str/bytes body is sent as is, anything else as JSON.
        """
        with self._lock:
            self._injected.append(_Injected(method.upper(), re.compile(path_regex), status, body,
                                            dict(headers or {}), times))

    def hold(self, method: str, path_regex: str) -> Hold:
        """Requests like ``fail_next``'s wait (at most 60 s) before they are handled until the hold is released:
        a load balancer API that is slow to answer, at a moment the test chooses. ``arrived`` is set once one
        such request is waiting."""
        held = Hold(method.upper(), re.compile(path_regex))
        with self._lock:
            self._holds.append(held)
        return held

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    def issue_token(self) -> str:
        """A valid token without a request (for tests that start past authentication)."""
        with self._lock:
            return self._new_token()

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._hits.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_matching(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        pattern = re.compile(path_regex) if path_regex is not None else None
        return [r for r in self.requests
                if (method is None or r.method == method.upper()) and (pattern is None or pattern.search(r.path))]

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        return len(self.requests_matching(method, path_regex))

    def writes(self) -> list[RecordedRequest]:
        """Every POST/PUT/DELETE/... received on the load balancer API, whatever its answer."""
        return [r for r in self.requests if r.is_write]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- request handling -------------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> _Reply:
        """One HTTP request (``headers`` with lower-case names) -> reply.  Called by the server threads."""
        method = method.upper()
        for held in list(self._holds):  # outside the lock: other requests go on meanwhile
            if held.method in ("*", method) and held.path.search(target):
                held.arrived.set()
                held.released.wait(60)
        with self._lock:
            self._settle()
            injected = self._take_injected(method, target)
            if injected is not None:
                reply = injected
            else:
                try:
                    reply = self._route(method, target, headers, raw)
                except _Fault as fault:
                    reply = fault.reply
            self._requests.append(RecordedRequest(method, target, reply.status, self._logged_body(raw),
                                                  time.monotonic(), injected is not None))
            return reply

    @staticmethod
    def _logged_body(raw: bytes) -> object:
        if not raw:
            return None
        try:
            return _redact(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return f"<{len(raw)} bytes, not JSON>"

    def _take_injected(self, method: str, target: str) -> _Reply | None:
        for rule in self._injected:
            if rule.method in ("*", method) and rule.path.search(target):
                rule.times -= 1
                if rule.times <= 0:
                    self._injected.remove(rule)
                return self._injected_reply(rule)
        return None

    def _injected_reply(self, rule: _Injected) -> _Reply:
        headers = dict(rule.headers)
        if rule.body is None:
            reply = self._default_fault(rule.status)
            reply.headers.update(headers)
            return reply
        if isinstance(rule.body, bytes):
            return _Reply(rule.status, headers=headers, raw=rule.body)
        if isinstance(rule.body, str):
            return _Reply(rule.status, headers=headers, raw=rule.body.encode())
        return _Reply(rule.status, rule.body, headers)

    def _default_fault(self, status: int) -> _Reply:
        if status == 413:
            return self._over_limit(time.time() + 1.0)
        if status == 401 or status < 400:
            return _Reply(status)
        messages = {  # [docs] general-api-info/faults.rst; [atlas] ResponseMapper defaults
            400: "Bad request.",
            404: "Object not Found",
            422: "The object at the specified URI is immutable and cannot be overwritten.",
            500: "An unknown exception has occurred. Please contact support.",
            503: "The Load balancing service is currently not available",
        }
        return _fault(status, messages.get(status, "An unknown exception has occurred. Please contact support.")).reply

    def _route(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> _Reply:
        path = urlsplit(target).path.rstrip("/") or "/"
        self._negotiate(method, headers, raw)
        if path == "/v2.0/tokens":
            if method != "POST":
                raise _empty(405)
            return self._authenticate(raw)
        match = re.fullmatch(r"/(?P<region>[a-z]+)/v1\.0/(?P<tenant>[^/]+)(?P<rest>/.*)?", path)
        if match is None:
            raise _fault(404, "Object not Found")
        self._check_token(headers, match["tenant"])
        region = match["region"].upper()
        if region not in self.regions:
            raise _fault(404, "Object not Found")
        self._rate_limit(method)
        return self._api(method, region, match["rest"] or "/", raw)

    @staticmethod
    def _negotiate(method: str, headers: Mapping[str, str], raw: bytes) -> None:
        """JSON only: the real API also speaks XML, which this emulator does not."""
        accept = headers.get("accept", "*/*").lower()
        if not any(kind in accept for kind in ("json", "*/*", "application/*")):
            raise _empty(406)
        if raw and method in ("POST", "PUT") and "application/json" not in headers.get("content-type", "").lower():
            raise _empty(415)


    # -- rate limits ------------------------------------------------------------------------------------------------

    def _rate_limit(self, method: str) -> None:
        now = time.time()
        limits = [limit for limit in self.rate_limits if limit.verb.upper() == method]
        for limit in limits:
            hits = self._hits.setdefault(limit, deque())
            window = _UNITS[limit.unit]
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit.value:
                raise _Fault(self._over_limit(hits[0] + window))
        for limit in limits:
            self._hits[limit].append(now)

    def _over_limit(self, available_at: float) -> _Reply:
        """[repose] RateLimitingHandler + rate-limiting recipe: 413, Retry-After (RFC 1123), overLimit body."""
        at = math.ceil(available_at)
        retry_after = (email.utils.formatdate(at, usegmt=True) if self.retry_after == "http-date"
                       else str(max(1, math.ceil(available_at - time.time()))))
        return _Reply(413, {"overLimit": {"code": 413, "message": OVER_LIMIT_MESSAGE, "details": "Error Details...",
                                          "retryAfter": _iso(at)}}, {"Retry-After": retry_after})

    # -- asynchrony -------------------------------------------------------------------------------------------------

    def _settle(self) -> None:
        now = time.monotonic()
        for lb_id, pending in list(self._pending.items()):
            if pending.until <= now:
                lb = self._lbs[lb_id]
                for effect in pending.deferred:
                    effect(lb)
                lb.status = pending.then_status
                lb.updated = datetime.now(UTC)
                del self._pending[lb_id]

    def _claim(self, lb: LoadBalancer, *deferred: Callable[[LoadBalancer], None]) -> None:
        """Atlas ``testAndSetStatus(PENDING_UPDATE)``: only an ACTIVE load balancer accepts a mutation."""
        if lb.status != "ACTIVE":
            raise _fault(422, f"Load Balancer '{lb.id}' has a status of '{lb.status}' and is considered immutable.")
        lb.status = "PENDING_UPDATE"
        lb.updated = datetime.now(UTC)
        self._pending[lb.id] = _Pending(time.monotonic() + self.pending_seconds,
                                        self._fail_updates.pop(lb.id, "ACTIVE"), list(deferred))


@dataclass
class Hold:
    """See :meth:`_Core.hold`: ``release()`` lets the held requests (and later ones) through."""

    method: str
    path: re.Pattern[str]
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()
