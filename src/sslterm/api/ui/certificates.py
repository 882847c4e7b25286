"""Certificates: the list (a page of 100 at a time), the upload form (checked exactly as ``sslterm cert add``
checks files: every finding shown with its code and hint on refusal), one certificate's page (versions,
where it is served), and deleting one (refused while a load balancer serves it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from sslterm.api.ui.forms import bundle_input
from sslterm.api.ui.guard import FormDep, PageNumber, PageRoute, ServiceDep, SessionDep
from sslterm.api.ui.overview import PAGE_SIZE, offset_of
from sslterm.api.ui.pages import done, refusal, render
from sslterm.api.ui.sessions import UiSession
from sslterm.errors import SSLTermError
from sslterm.service import Service

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def certificate_page(request: Request, session: UiSession, service: Service, name: str, *,
                     status: int = 200, error: dict[str, Any] | None = None) -> Response:
    """One certificate, its versions (newest first) and where it is served; ``error``: why a button failed."""
    return render(request, "certificate.html", session=session, status=status, now=service.clock(),
                  cert=service.show_certificate(name), versions=service.certificate_history(name), error=error)


@router.get("/certificates")
def certificates(request: Request, session: SessionDep, service: ServiceDep, page: PageNumber = 1) -> Response:
    return render(request, "certificates.html", session=session, now=service.clock(), number=page,
                  page=service.certificates_page(PAGE_SIZE, offset_of(page)))


@router.get("/certificates/new")
def upload_form(request: Request, session: SessionDep) -> Response:
    return render(request, "certificate_new.html", session=session, name="", error=None)


@router.post("/certificates")
def upload(request: Request, posted: FormDep, service: ServiceDep) -> Response:
    name = posted.text("name")
    try:
        added = service.add_certificate(name, bundle_input(posted))
    except SSLTermError as exc:  # the form again, with every finding; nothing pasted is sent back
        return render(request, "certificate_new.html", session=posted.session, name=name, **refusal(exc))
    return done(posted.session, f"Added certificate {name}.", f"/certificates/{quote(name)}",
                tuple(w.as_dict() for w in added.warnings))


@router.get("/certificates/{name}")
def certificate(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    return certificate_page(request, session, service, name)


@router.post("/certificates/{name}/delete")
def delete(request: Request, name: str, posted: FormDep, service: ServiceDep) -> Response:
    try:
        removed = service.remove_certificate(name)
    except SSLTermError as exc:
        return certificate_page(request, posted.session, service, name, **refusal(exc))
    return done(posted.session, f"Deleted certificate {name} (SHA-256 {removed.fingerprint_sha256[:16]}...).",
                "/certificates")
