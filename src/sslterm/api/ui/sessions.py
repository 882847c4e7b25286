"""The web UI's sessions, kept in memory: an operator logs in with the API token once, then the browser holds
only an opaque random id in a cookie (``HttpOnly``: no script reads it; ``SameSite=Strict``: no other site's
page sends it; ``Secure`` over HTTPS). Each session has its own CSRF token, put in a hidden field of every
form and checked on every POST (:mod:`sslterm.api.ui.guard`).

A session ends at logout, after :data:`IDLE_SECONDS` without a request, or :data:`LIFETIME_SECONDS` after
login, whichever comes first; a restart of the server ends them all (the operator logs in again).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "sslterm_session"
#: the login form's CSRF token, before there is a session: the same random value in this cookie and in the
#: form's hidden field (a page of another site can neither read the cookie nor set it)
LOGIN_COOKIE = "sslterm_login"
IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 12 * 3600
TOKEN_BYTES = 32  # 256 bits: session ids and CSRF tokens cannot be guessed


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class Flash:
    """A message for the next page the session sees (after a redirect): ``kind`` is ok, warning or error;
    ``findings`` the certificate checks' warnings when a certificate was accepted with some."""

    kind: str
    text: str
    findings: tuple[dict[str, str | None], ...] = ()


@dataclass
class UiSession:
    id: str = field(repr=False)
    csrf: str = field(repr=False)
    started: float
    seen: float
    flashes: list[Flash] = field(default_factory=list)

    def flash(self, kind: str, text: str, findings: tuple[dict[str, str | None], ...] = ()) -> None:
        self.flashes.append(Flash(kind, text, findings))

    def take_flashes(self) -> list[Flash]:
        taken, self.flashes = self.flashes, []
        return taken


class Sessions:
    """``Sessions(idle=..., lifetime=..., clock=time.monotonic)``: thread-safe (pages run in a thread pool)."""

    def __init__(self, *, idle: float = IDLE_SECONDS, lifetime: float = LIFETIME_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle, self.lifetime, self.clock = idle, lifetime, clock
        self._sessions: dict[str, UiSession] = {}
        self._lock = threading.Lock()

    def start(self) -> UiSession:
        """A new session (at login: never one the browser had before, so a planted id is worth nothing)."""
        now = self.clock()
        session = UiSession(new_token(), new_token(), now, now)
        with self._lock:
            for stale in [s.id for s in self._sessions.values() if self._expired(s, now)]:
                del self._sessions[stale]
            self._sessions[session.id] = session
        return session

    def find(self, session_id: str | None) -> UiSession | None:
        """The live session of that id (its idle time starts again), else None (an expired one is dropped)."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _expired(self, session: UiSession, now: float) -> bool:
        return now - session.seen > self.idle or now - session.started > self.lifetime


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """A cookie no script can read and no other site's page sends; ``Secure`` when served over HTTPS. No
    ``Max-Age``: it goes when the browser closes, and the server's expiry applies before that."""
    response.set_cookie(name, value, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def drop_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
