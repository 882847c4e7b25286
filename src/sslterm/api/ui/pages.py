"""Responses: the Jinja2 templates of the web UI with the headers every page is sent with, a refusal shown on
the page that was asked for, and the redirect after a change (POST, redirect, GET).

Escaping is on for every template (``autoescape``), and every value a template prints goes through
:func:`sslterm.text.escape_controls` first: certificate subjects and names, and errors from remote APIs, are
anyone's text; HTML escaping keeps their markup inert, the control escapes keep a right-to-left override or
a line separator from reordering what the operator reads. No template is given key material: pages are
rendered from summaries, plans, statuses and the journal, none of which holds any.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from sslterm.api.errors import problem, status_of
from sslterm.api.ui.sessions import UiSession
from sslterm.errors import SSLTermError
from sslterm.text import escape_controls, short_name

#: What a page may load and where its forms may go: only this server. No inline script or style, so
#: markup that escaped escaping still could not run. ``connect-src``: htmx polls the deployment page.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
FINGERPRINT_SHOWN = 16  # hex digits of a SHA-256 fingerprint in tables (the whole one on a certificate's page)


def _shown(value: object) -> object:
    """Every ``{{ value }}``: text with its control characters made visible; markup made here stays."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return escape_controls(value)


def _short(fingerprint: object) -> str:
    return str(fingerprint)[:FINGERPRINT_SHOWN] if fingerprint else "-"


def _when(moment: datetime | str | None) -> str:
    """A moment (or its ISO 8601 text, as in the journal's JSON) to the minute, in UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "-"


def _yes_no(value: object) -> str:
    return "on" if value is True else "off" if value is False else "-" if value is None else str(value)


ENV = Environment(loader=PackageLoader("sslterm.api.ui", "templates"), autoescape=select_autoescape(default=True),
                  undefined=StrictUndefined, finalize=_shown, trim_blocks=True, lstrip_blocks=True)
ENV.filters.update(short=_short, when=_when, cn=short_name, onoff=_yes_no)


def render(request: Request, template: str, *, session: UiSession | None, status: int = 200,
           fragment: bool = False, **context: Any) -> HTMLResponse:
    """``template`` with ``context``, the session's CSRF token and (a whole page only) its pending messages."""
    flashes = session.take_flashes() if session is not None and not fragment else []
    html = ENV.get_template(template).render(path=request.url.path, session=session, flashes=flashes,
                                             csrf=session.csrf if session else "", **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def refusal(exc: SSLTermError) -> dict[str, Any]:
    """``status`` and ``error`` for a page that says why ``exc`` refused what was asked (code, message, hint,
    findings), with the REST API's status for it."""
    return {"status": status_of(exc), "error": problem(exc)}


def done(session: UiSession, message: str, location: str,
         findings: tuple[dict[str, str | None], ...] = ()) -> RedirectResponse:
    """After a change: ``message`` for the next page the session sees, and the browser sent there."""
    session.flash("ok", message, findings)
    return RedirectResponse(location, status_code=303)
