"""Changes to load balancers, never made inside a page's request: the enable (or disable) form first shows
the plan (a dry run: nothing touched), its confirm button submits the change as a background job and sends
the browser to the deployment's page, which follows it (htmx polls a fragment every second) until it is
verified, rolled back (and why) or failed. Rolling a certificate back redeploys it the same way wherever it
is served. The plan and the job's result are the CLI's and the REST API's JSON shapes (``sslterm.shapes``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sslterm import shapes
from sslterm.api.state import ApiState
from sslterm.api.ui.certificates import certificate_page
from sslterm.api.ui.forms import DisableForm, EnableForm
from sslterm.api.ui.guard import FormDep, PageRoute, Posted, ServiceDep, SessionDep, StateDep
from sslterm.api.ui.loadbalancers import load_balancer_page
from sslterm.api.ui.pages import refusal, render
from sslterm.errors import NotFound, SSLTermError
from sslterm.service import Outcome, Service

#: a job in one of these states is over: its page stops polling
FINISHED = ("verified", "rolled-back", "failed", "needs-attention")

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _submitted(state: ApiState, target: str, work: Callable[[Service, str], object]) -> Response:
    """``work(service, batch)`` as a job; the browser goes to its deployment page."""
    return RedirectResponse(f"/deployments/{state.jobs.submit(target, work)}", status_code=303)


def _changed(state: ApiState, name: str, change: Callable[[Service, str], Outcome]) -> Response:
    """A change to load balancer ``name`` as a job, its result the plan applied and what is served now."""
    return _submitted(state, f"lb/{name}", lambda svc, batch: shapes.outcome(change(svc, batch), dry_run=False))


def _planned(request: Request, posted: Posted, service: Service, name: str, verb: str,
             plan: Callable[[], Outcome], given: dict[str, str]) -> Response:
    """The plan of a dry run and its confirm button; a refusal: the load balancer's page says why."""
    try:
        outcome = plan()
    except SSLTermError as exc:
        return load_balancer_page(request, posted.session, service, name, given=posted.fields, **refusal(exc))
    return render(request, "plan.html", session=posted.session, lb=name, verb=verb, given=given,
                  plan=shapes.outcome(outcome, dry_run=True))


@router.post("/loadbalancers/{name}/enable/plan")
def enable_plan(request: Request, name: str, posted: FormDep, service: ServiceDep) -> Response:
    form = EnableForm.parse(posted)
    return _planned(request, posted, service, name, "enable", lambda: service.enable(
        name, form.certificate, dry_run=True, **form.options), form.given)


@router.post("/loadbalancers/{name}/enable")
def enable(name: str, posted: FormDep, state: StateDep) -> Response:
    form = EnableForm.parse(posted)
    return _changed(state, name, lambda svc, batch: svc.enable(name, form.certificate, batch=batch, **form.options))


@router.post("/loadbalancers/{name}/disable/plan")
def disable_plan(request: Request, name: str, posted: FormDep, service: ServiceDep) -> Response:
    form = DisableForm.parse(posted)
    return _planned(request, posted, service, name, "disable", lambda: service.disable(
        name, lb_port=form.lb_port, cert_name=form.certificate, dry_run=True), form.given)


@router.post("/loadbalancers/{name}/disable")
def disable(name: str, posted: FormDep, state: StateDep) -> Response:
    form = DisableForm.parse(posted)
    return _changed(state, name, lambda svc, batch: svc.disable(name, lb_port=form.lb_port,
                                                                cert_name=form.certificate, batch=batch))


@router.post("/certificates/{name}/rollback")
def rollback(request: Request, name: str, posted: FormDep, service: ServiceDep, state: StateDep) -> Response:
    """A job, as over the REST API (it redeploys wherever the certificate is served, at the moment it runs);
    an unknown certificate or version is refused at once."""
    to = posted.text("version") or None
    try:
        service.check_rollback(name, to)
    except SSLTermError as exc:
        return certificate_page(request, posted.session, service, name, **refusal(exc))
    return _submitted(state, f"certificate/{name}", lambda svc, batch: shapes.added(
        svc.rollback_certificate(name, to, batch=batch), warnings=False))


def _job(state: ApiState, job_id: str) -> dict[str, object]:
    view = state.jobs.get(job_id)
    if view is None:
        raise NotFound(f"no deployment {job_id!r}", hint="see the deployments page")
    return view.as_json()


@router.get("/deployments/{job_id}")
def deployment(request: Request, job_id: str, session: SessionDep, state: StateDep) -> Response:
    return render(request, "deployment.html", session=session, job=_job(state, job_id), finished=FINISHED)


@router.get("/deployments/{job_id}/progress")
def progress(request: Request, job_id: str, session: SessionDep, state: StateDep) -> Response:
    """The part of the deployment page that changes, for htmx to swap in."""
    return render(request, "_progress.html", session=session, fragment=True, job=_job(state, job_id),
                  finished=FINISHED)
