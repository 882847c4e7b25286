"""The web UI of ``sslterm serve``: server-rendered pages (Jinja2) over the one service facade, a little htmx
to follow a deployment, no JavaScript build step. ``create_app`` calls :func:`install` last.

Modules, one job each: ``sessions`` (login sessions in memory, the cookie), ``guard`` (session and CSRF
checks before every page, errors as pages), ``pages`` (templates, escaping, security headers), ``forms``
and ``kinds`` (forms to use-case arguments), and the routes: ``login``, ``overview`` (dashboard, deployments,
audit log), ``certificates``, ``loadbalancers``, ``changes`` (plan, confirm as a job, deployment progress).
Decisions (sessions, CSRF, escaping, accessibility): docs/ui.md.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from sslterm.api.state import ApiState
from sslterm.api.ui import certificates, changes, loadbalancers, login, overview
from sslterm.api.ui.sessions import Sessions


def install(app: FastAPI, state: ApiState, *, sessions: Sessions | None = None) -> None:
    """Pages at ``/`` (the dashboard) and below, the stylesheet and htmx under ``/static``. The pages reach
    ``state`` as every route of the app does (``app.state.sslterm``); the login sessions are kept in
    ``app.state.ui_sessions``."""
    assert app.state.sslterm is state, "create_app sets the state before it installs the UI"
    app.state.ui_sessions = sessions or Sessions()
    app.mount("/static", StaticFiles(packages=[("sslterm.api.ui", "static")]), name="static")
    for module in (login, overview, certificates, loadbalancers, changes):
        app.include_router(module.router)
