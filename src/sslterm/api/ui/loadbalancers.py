"""Load balancers: the list, the "add" form of each kind, one load balancer's page (its listeners, what each
is expected to serve against what a client is served, the enable form) and removing one. Turning TLS on or
off is in :mod:`sslterm.api.ui.changes`: a plan first, then a background job."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from sslterm.api.ui.guard import FormDep, PageNumber, PageRoute, ServiceDep, SessionDep
from sslterm.api.ui.kinds import FORMS, KindForm
from sslterm.api.ui.overview import PAGE_SIZE, offset_of
from sslterm.api.ui.pages import done, refusal, render
from sslterm.api.ui.sessions import UiSession
from sslterm.engine.model import INSTANCE_PROTOCOLS, TLS_PROFILES
from sslterm.errors import NotFound, SSLTermError
from sslterm.service import Service
from sslterm.service.pages import MAX_LIMIT

#: the enable form's choices (left empty: the listener keeps its own; a new one gets the default)
CHOICES = {"instance_protocol": INSTANCE_PROTOCOLS, "tls_profile": TLS_PROFILES}

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def load_balancer_page(request: Request, session: UiSession, service: Service, name: str, *, status: int = 200,
                       error: dict[str, Any] | None = None, given: dict[str, str] | None = None) -> Response:
    """One load balancer: its options and listeners, expected against served, the enable form (``given``:
    the values sent, when it comes back with ``error``)."""
    lb = service.show_load_balancer(name)
    names = [c.name for c in service.certificates_page(MAX_LIMIT).items]  # suggestions; any name can be typed
    return render(request, "loadbalancer.html", session=session, status=status, lb=lb, rows=service.status(name),
                  certificate_names=names, choices=CHOICES, error=error, given=given or {})


def _kind_form(slug: str) -> KindForm:
    if slug not in FORMS:
        raise NotFound(f"no load balancer kind {slug!r}", hint=f"one of: {', '.join(FORMS)}")
    return FORMS[slug]


@router.get("/loadbalancers")
def load_balancers(request: Request, session: SessionDep, service: ServiceDep, page: PageNumber = 1) -> Response:
    return render(request, "loadbalancers.html", session=session, number=page,
                  page=service.load_balancers_page(PAGE_SIZE, offset_of(page)))


@router.get("/loadbalancers/new")
def kinds(request: Request, session: SessionDep) -> Response:
    return render(request, "loadbalancer_kinds.html", session=session, forms=FORMS.values())


@router.get("/loadbalancers/new/{slug}")
def add_form(request: Request, slug: str, session: SessionDep) -> Response:
    return render(request, "loadbalancer_new.html", session=session, form=_kind_form(slug), given={}, error=None)


@router.post("/loadbalancers/new/{slug}")
def add(request: Request, slug: str, posted: FormDep, service: ServiceDep) -> Response:
    form, name = _kind_form(slug), posted.text("name")
    try:
        service.add_load_balancer(name, form.kind, form.options(posted.fields))
    except SSLTermError as exc:  # the form again with what was typed (no secrets in these fields)
        return render(request, "loadbalancer_new.html", session=posted.session, form=form, given=posted.fields,
                      **refusal(exc))
    return done(posted.session, f"Added load balancer {name}; it serves plain HTTP until TLS is enabled.",
                f"/loadbalancers/{quote(name)}")


@router.get("/loadbalancers/{name}")
def load_balancer(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    return load_balancer_page(request, session, service, name)


@router.post("/loadbalancers/{name}/remove")
def remove(request: Request, name: str, posted: FormDep, service: ServiceDep) -> Response:
    try:
        service.remove_load_balancer(name)
    except SSLTermError as exc:
        return load_balancer_page(request, posted.session, service, name, **refusal(exc))
    return done(posted.session, f"Removed load balancer {name}.", "/loadbalancers")
