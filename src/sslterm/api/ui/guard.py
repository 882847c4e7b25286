"""What stands before every page: a live session (else a redirect to the login page), and on every POST the
form's CSRF token, compared in constant time with the session's (else 403, nothing done); and the other
dependencies pages share. Pages are routed through :class:`PageRoute`, so sslterm's errors become a page
(with the code, message and hint) instead of the REST API's JSON."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sslterm.api.errors import problem, status_of
from sslterm.api.state import ApiState, api_state, request_service
from sslterm.api.ui.pages import render
from sslterm.api.ui.sessions import SESSION_COOKIE, Sessions, UiSession
from sslterm.errors import SSLTermError
from sslterm.service import Service

CSRF_FIELD = "csrf"
MAX_FILES, MAX_FIELDS = 8, 64  # the largest form (a certificate upload) has 4 files and 9 fields
CSRF_REFUSED: dict[str, object] = {
    "code": "csrf-failed", "findings": [],
    "message": "this form's security token is missing or is not this session's: nothing was changed",
    "hint": "go back, reload the page and send the form again (a form from another site is always refused)"}


class LoginRequired(Exception):
    """No live session: the browser is sent to the login page."""


class CsrfRejected(Exception):
    """A POST without this session's CSRF token."""


@dataclass(frozen=True)
class Posted:
    """A form checked for CSRF: its text fields, and the content of each file chosen (empty ones left out)."""

    session: UiSession
    fields: dict[str, str] = field(repr=False)
    files: dict[str, bytes] = field(repr=False)

    def text(self, name: str) -> str:
        return self.fields.get(name, "").strip()

    def raw(self, name: str) -> str:
        return self.fields.get(name, "")


def sessions_of(request: Request) -> Sessions:
    """The sessions of the app serving ``request`` (set by ``install``)."""
    sessions = request.app.state.ui_sessions
    assert isinstance(sessions, Sessions)
    return sessions


def current_session(request: Request) -> UiSession:
    """A FastAPI dependency: the request's live session, else :class:`LoginRequired`."""
    session = sessions_of(request).find(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise LoginRequired
    request.state.ui_session = session  # for an error page rendered by PageRoute
    return session


async def checked_form(request: Request) -> Posted:
    """A FastAPI dependency for POST routes: the session, and the form once its CSRF token matched."""
    session = current_session(request)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    async with request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS) as form:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()  # the app's body limit bounds it
                if data:
                    files[key] = data
            else:
                fields[key] = value
    if not hmac.compare_digest(fields.get(CSRF_FIELD, "").encode(), session.csrf.encode()):
        raise CsrfRejected
    return Posted(session, fields, files)


#: what a page's route asks for: a live session; a form checked for CSRF (POST); a Service for this request
#: (closed after it); the server's shared state (the job runner); a page number of a listing
SessionDep = Annotated[UiSession, Depends(current_session)]
FormDep = Annotated[Posted, Depends(checked_form)]
ServiceDep = Annotated[Service, Depends(request_service)]
StateDep = Annotated[ApiState, Depends(api_state)]
PageNumber = Annotated[int, Query(ge=1)]


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never ``//host`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def to_login(request: Request) -> Response:
    """A redirect to the login page that comes back here (htmx: told by ``HX-Redirect``, not followed)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/login" if here == "/" or request.method != "GET" else f"/login?next={quote(here, safe='/')}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


class PageRoute(APIRoute):
    """A UI route: no session -> the login page; a CSRF failure -> 403; an sslterm error or a malformed
    query -> an error page with its stable code, message and hint (the status of the REST API's mapping)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return to_login(request)
            except CsrfRejected:
                return _error_page(request, 403, CSRF_REFUSED)
            except SSLTermError as exc:
                return _error_page(request, status_of(exc), problem(exc))
            except RequestValidationError:
                return _error_page(request, 400, {"code": "bad-request", "findings": [], "hint": None,
                                                  "message": "this address has a malformed value"})

        return page


def _error_page(request: Request, status: int, error: dict[str, object]) -> Response:
    session = getattr(request.state, "ui_session", None)
    return render(request, "error.html", session=session, status=status, error=error)
