"""``create_app(state)``: the FastAPI application of ``sslterm serve``.

For the web UI (``sslterm.api.ui``), which this module installs when that package exists:

- ``install(app: FastAPI, state: ApiState) -> None`` is called last, after the REST router; mount pages at
  ``/`` and under ``/ui`` (``/api/``, ``/metrics``, ``/healthz``, ``/openapi.json`` are taken).
- ``app.state.sslterm`` is the :class:`~sslterm.api.state.ApiState`: ``state.service()`` builds a
  Service for one request (close it after; ``sslterm.api.state.request_service`` is a FastAPI dependency
  that does both), ``state.token`` the API token (compare with ``sslterm.api.auth.token_matches``),
  ``state.jobs`` the background runner: ``state.jobs.submit(target, work)`` with
  ``work(service, batch_id)`` calling a use case with ``batch=batch_id`` and returning a JSON value (see
  ``sslterm.shapes``); ``state.jobs.get(id)`` -> a job view (``state``, ``as_json()``) or None.
- The bearer check (``sslterm.api.auth.BearerAuth``) covers ``/api/`` and ``/metrics`` only; UI pages do
  their own login/session/CSRF. The body limit (413) covers every path, UI forms included.
- Errors: raise sslterm's exceptions; ``sslterm.api.errors.problem(exc)`` gives the error object
  (code, message, hint, findings) and ``status_of(exc)`` its HTTP status, for showing them in a page. The
  app's exception handlers answer JSON in the error shape for anything a UI route does not catch itself.
- Building one (tests, ``sslterm.api.server.serve``): ``factory = ServiceFactory(settings, **service_options)``
  (``sslterm.api.services``: one store engine shared by every request's Service), ``jobs =
  BackgroundJobs(factory)`` (``sslterm.api.jobs``), ``create_app(ApiState(factory, token, jobs))``; afterwards
  ``jobs.shutdown()`` and ``factory.close()``. Lists: ``service.certificates_page(limit, offset)`` (also
  ``audit_page``, ``deployments_page``, ``load_balancers_page``) -> ``Page`` with ``as_json(render_item)``.
"""

from __future__ import annotations

import importlib
import importlib.util

from fastapi import FastAPI

from sslterm import __version__
from sslterm.api import errors, metrics, rest
from sslterm.api.auth import BearerAuth
from sslterm.api.limits import DEFAULT_MAX_BODY, BodyLimit
from sslterm.api.state import ApiState, store_opens

API_PREFIX = "/api/v1"


def create_app(state: ApiState, *, max_body: int = DEFAULT_MAX_BODY) -> FastAPI:
    app = FastAPI(title="sslterm", version=__version__, openapi_url="/openapi.json", docs_url=None,
                  redoc_url=None, description="Turn on SSL/TLS termination on load balancers (see docs/api.md).")
    app.state.sslterm = state
    errors.install(app)
    app.include_router(rest.router, prefix=API_PREFIX)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, object]:
        """Up, and whether the store opens (no token needed; says nothing else)."""
        return {"status": "ok", "store": "ok" if store_opens(state) else "unavailable"}

    metrics.install(app, state)
    # the outermost middleware runs first: the token before anything, then the body's size
    app.add_middleware(BodyLimit, limit=max_body)
    app.add_middleware(BearerAuth, token=state.token)
    _install_ui(app, state)
    return app


def _install_ui(app: FastAPI, state: ApiState) -> None:
    """The web UI when its package is there (it is optional to this module, not to ``sslterm serve``); an
    error inside it is not hidden."""
    if importlib.util.find_spec("sslterm.api.ui") is None:
        return
    install = getattr(importlib.import_module("sslterm.api.ui"), "install", None)
    if install is not None:  # None: the package is there but not finished (no ``install`` yet)
        install(app, state)
