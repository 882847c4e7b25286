"""The pages that read across everything: the dashboard (what expires, what is not served as the store says),
the deployments and the audit log."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from sslterm.api.ui.guard import PageNumber, PageRoute, ServiceDep, SessionDep
from sslterm.api.ui.pages import render
from sslterm.certs.bundle import SOON_DAYS

PAGE_SIZE = 100
#: states of a served certificate that need nobody (``remote``: the controller it runs beside checks it)
QUIET = ("ok", "remote")

DASHBOARD_ROWS = 100  # the certificates that expire first; the rest are one command away

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def offset_of(page: int) -> int:
    return (page - 1) * PAGE_SIZE


@router.get("/")
def dashboard(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    expiring = service.expiring(SOON_DAYS, limit=DASHBOARD_ROWS + 1)  # the soonest first
    problems = [row for row in service.status() if row.state not in QUIET]
    return render(request, "dashboard.html", session=session, now=service.clock(), expiring=expiring[:DASHBOARD_ROWS],
                  more_expiring=len(expiring) > DASHBOARD_ROWS, problems=problems, soon_days=SOON_DAYS)


@router.get("/deployments")
def deployments(request: Request, session: SessionDep, service: ServiceDep, page: PageNumber = 1) -> Response:
    return render(request, "deployments.html", session=session, number=page,
                  page=service.deployments_page(PAGE_SIZE, offset_of(page)))


@router.get("/audit")
def audit(request: Request, session: SessionDep, service: ServiceDep, page: PageNumber = 1) -> Response:
    return render(request, "audit.html", session=session, number=page,
                  page=service.audit_page(PAGE_SIZE, offset_of(page)))
