"""Logging in with the API token, and out. The login form has no session yet, so its CSRF token is a random
value both in a cookie and in the form (a page of another site can read neither); a wrong API token is
answered after a pause, so guessing it from a browser is slow."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sslterm.api.auth import token_matches
from sslterm.api.ui.guard import CSRF_FIELD, CsrfRejected, FormDep, PageRoute, StateDep, safe_next, sessions_of
from sslterm.api.ui.pages import render
from sslterm.api.ui.sessions import LOGIN_COOKIE, SESSION_COOKIE, drop_cookie, new_token, set_cookie

WRONG_TOKEN_PAUSE = 1.0  # seconds
MAX_LOGIN_FIELDS = 8


def _login_page(request: Request, target: str, *, status: int = 200, error: str | None = None) -> Response:
    token = new_token()
    response = render(request, "login.html", session=None, status=status, login_csrf=token, next=target,
                      error=error)
    set_cookie(response, request, LOGIN_COOKIE, token)
    return response


router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if sessions_of(request).find(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login(request: Request, state: StateDep) -> Response:
    async with request.form(max_files=0, max_fields=MAX_LOGIN_FIELDS) as form:
        given = {key: value for key, value in form.items() if isinstance(value, str)}
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(given.get(CSRF_FIELD, "").encode(), expected.encode()):
        raise CsrfRejected
    target = safe_next(given.get("next"))
    if not token_matches(given.get("token", "").strip(), state.token):
        await asyncio.sleep(WRONG_TOKEN_PAUSE)
        return _login_page(request, target, status=401, error="That is not the API token of this server.")
    sessions = sessions_of(request)
    sessions.end(request.cookies.get(SESSION_COOKIE))
    session = sessions.start()
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, session.id)
    drop_cookie(response, request, LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, posted: FormDep) -> Response:
    sessions_of(request).end(posted.session.id)
    response = RedirectResponse("/login", status_code=303)
    drop_cookie(response, request, SESSION_COOKIE)
    return response
