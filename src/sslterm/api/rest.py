"""The REST API under ``/api/v1``: parse, call the one service facade, render with the CLI's JSON shapes.

A change that touches a load balancer (enable, disable, and every replacement or rollback of a certificate,
since whether it is served is only known inside the change) runs in the background: ``202 Accepted``,
``Location: /api/v1/deployments/{id}`` and the job's JSON; ``GET /deployments/{id}`` follows it. Adding or
removing a load balancer is synchronous (it changes nothing served). Lists are pages: ``?limit=&offset=`` ->
``{items, total, limit, offset}``. Errors: see :mod:`sslterm.api.errors`. The bearer token is checked before a
request gets here (:mod:`sslterm.api.auth`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from sslterm import shapes
from sslterm.api import bodies
from sslterm.api.state import ApiState, api_state, request_service
from sslterm.errors import NotFound
from sslterm.service import Page, Service, merge_settings

# documents the token in /openapi.json; BearerAuth enforces it before any route runs
router = APIRouter(dependencies=[Security(HTTPBearer(auto_error=False))])
Svc = Annotated[Service, Depends(request_service)]
State = Annotated[ApiState, Depends(api_state)]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, description="how many to skip")]
DryRun = Annotated[bool, Query(description="return the plan; touch nothing")]
Json = dict[str, Any]


def accepted(state: ApiState, target: str, work: Callable[[Service, str], object]) -> JSONResponse:
    """Run ``work`` as a job: 202, where to follow it, and the job as it stands."""
    job_id = state.jobs.submit(target, work)
    job = state.jobs.get(job_id)
    body = job.as_json() if job is not None else {"id": job_id, "target": target, "state": "pending"}
    return JSONResponse(body, status_code=202, headers={"Location": f"/api/v1/deployments/{job_id}"})


def created(body: Json, location: str) -> JSONResponse:
    return JSONResponse(body, status_code=201, headers={"Location": location})


# -- certificates ----------------------------------------------------------------------------------------
CERT_UPLOAD = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": bodies.NewCertificate.model_json_schema()},
    "multipart/form-data": {"schema": bodies.NewCertificate.model_json_schema()}}}}
REPLACEMENT = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": bodies.Replacement.model_json_schema()},
    "multipart/form-data": {"schema": bodies.Replacement.model_json_schema()}}}}


@router.get("/certificates", tags=["certificates"])
def list_certificates(svc: Svc, limit: Limit = 100, offset: Offset = 0) -> Json:
    """Stored certificates by name, a page at a time (``cert list --json``'s objects)."""
    return svc.certificates_page(limit, offset).as_json(lambda s: s.as_json())


@router.post("/certificates", tags=["certificates"], status_code=201, openapi_extra=CERT_UPLOAD)
async def add_certificate(request: Request) -> JSONResponse:
    """Check a bundle as ``sslterm cert add`` does and store it (422 with every finding when refused)."""
    name, inp = await bodies.upload(request, bodies.NewCertificate)
    assert name is not None  # NewCertificate requires it
    added = await run_in_threadpool(_call, request, lambda svc: svc.add_certificate(name, inp))
    return created(shapes.added(added), f"/api/v1/certificates/{name}")


@router.get("/certificates/{name}", tags=["certificates"])
def show_certificate(name: str, svc: Svc) -> Json:
    return svc.show_certificate(name).as_json()


@router.put("/certificates/{name}", tags=["certificates"], openapi_extra=REPLACEMENT, status_code=202,
            responses={202: {"description": "the job that stores it and redeploys it where it is served"}})
async def replace_certificate(name: str, request: Request) -> JSONResponse:
    """A new version (checked first: 404, 422 with its findings), stored and redeployed by a job (202): whether
    it is served is decided inside the change, so a listener enabled meanwhile is redeployed too."""
    _, inp = await bodies.upload(request, bodies.Replacement)
    await run_in_threadpool(_call, request, lambda svc: _check_replacement(svc, name, inp))
    return await run_in_threadpool(accepted, api_state(request), f"certificate/{name}", lambda svc, batch: (
        shapes.added(svc.add_certificate(name, inp, replace=True, batch=batch))))


def _check_replacement(svc: Service, name: str, inp: Any) -> None:
    """The stored certificate ``name`` exists (404); the bundle is checked (422)."""
    svc.show_certificate(name)
    svc.check_certificate(name, inp, replace=True)


@router.delete("/certificates/{name}", tags=["certificates"])
def remove_certificate(name: str, svc: Svc) -> Json:
    """Delete it (409 ``in-use`` while a load balancer serves it)."""
    return {"removed": svc.remove_certificate(name).as_json()}


@router.get("/certificates/{name}/versions", tags=["certificates"])
def certificate_versions(name: str, svc: Svc, limit: Limit = 100, offset: Offset = 0) -> Json:
    """The current version first, then the kept previous ones (``cert history --json``)."""
    return Page.of(svc.certificate_history(name), limit, offset).as_json(lambda v: v.as_json())


@router.post("/certificates/{name}/rollback", tags=["certificates"], status_code=202,
             responses={202: {"description": "the job that rolls it back and redeploys it where it is served"}})
def rollback_certificate(name: str, svc: Svc, state: State, body: bodies.Rollback | None = None) -> JSONResponse:
    """A previous version made current again by a job (202); no such certificate or version is 404 now."""
    to = body.to if body else None
    svc.check_rollback(name, to)
    return accepted(state, f"certificate/{name}", lambda job_svc, batch: shapes.added(
        job_svc.rollback_certificate(name, to, batch=batch), warnings=False))


# -- load balancers -------------------------------------------------------------------------------------------
@router.get("/loadbalancers", tags=["load balancers"])
def list_load_balancers(svc: Svc, limit: Limit = 100, offset: Offset = 0) -> Json:
    return svc.load_balancers_page(limit, offset).as_json(lambda lb: lb)


@router.post("/loadbalancers", tags=["load balancers"], status_code=201)
def add_load_balancer(body: bodies.NewLoadBalancer, svc: Svc) -> JSONResponse:
    """Register a load balancer (a managed HAProxy is started, serving plain HTTP)."""
    added = svc.add_load_balancer(body.name, body.kind, dict(body.options))
    return created(added, f"/api/v1/loadbalancers/{body.name}")


@router.get("/loadbalancers/{name}", tags=["load balancers"])
def show_load_balancer(name: str, svc: Svc) -> Json:
    return svc.show_load_balancer(name)


@router.delete("/loadbalancers/{name}", tags=["load balancers"])
def remove_load_balancer(name: str, svc: Svc) -> Json:
    """Forget it (409 ``in-use`` while it terminates TLS); a managed HAProxy is stopped."""
    svc.remove_load_balancer(name)
    return {"removed": name}


@router.post("/loadbalancers/{name}/listeners", tags=["load balancers"],
             responses={202: {"description": "the deployment, running"}, 200: {"description": "the plan (dry run)"}})
def enable(name: str, body: bodies.Enable, svc: Svc, state: State, dry_run: DryRun = False) -> JSONResponse:
    """Terminate TLS on a listener with a stored certificate: the plan with ``?dry_run=true``, else a job."""
    options = body.model_dump(exclude={"certificate"})
    if dry_run:
        return JSONResponse(shapes.outcome(svc.enable(name, body.certificate, dry_run=True, **options), dry_run=True))
    svc.show_load_balancer(name)  # 404 now, not in the job
    svc.show_certificate(body.certificate)
    merge_settings(None, **options)  # 400 now for a bad value
    return accepted(state, f"lb/{name}", lambda job_svc, batch: shapes.outcome(
        job_svc.enable(name, body.certificate, batch=batch, **options), dry_run=False))


@router.delete("/loadbalancers/{name}/listeners/{lb_port}", tags=["load balancers"],
               responses={202: {"description": "the deployment, running"}, 200: {"description": "the plan (dry run)"}})
def disable(name: str, lb_port: int, svc: Svc, state: State, dry_run: DryRun = False,
            certificate: Annotated[str | None, Query(description="only drop this certificate")] = None
            ) -> JSONResponse:
    """Stop terminating TLS on ``lb_port`` (plain HTTP stays as it was)."""
    if dry_run:
        outcome = svc.disable(name, lb_port=lb_port, cert_name=certificate, dry_run=True)
        return JSONResponse(shapes.outcome(outcome, dry_run=True))
    svc.show_load_balancer(name)
    return accepted(state, f"lb/{name}", lambda job_svc, batch: shapes.outcome(
        job_svc.disable(name, lb_port=lb_port, cert_name=certificate, batch=batch), dry_run=False))


# -- deployments, status, audit ---------------------------------------------------------------------------
@router.get("/deployments", tags=["deployments"])
def list_deployments(svc: Svc, limit: Limit = 100, offset: Offset = 0,
                     lb: Annotated[str | None, Query(description="only this load balancer's")] = None) -> Json:
    """One deployment per load balancer and change, newest first; ``batch`` is its job's id, ``href`` where
    that job is (``id`` is the journal row's, not a job's)."""
    return svc.deployments_page(limit, offset, lb).as_json(
        lambda d: d.as_json() | {"href": f"/api/v1/deployments/{d.batch}"})


@router.get("/deployments/{job_id}", tags=["deployments"])
def show_deployment(job_id: str, state: State) -> Json:
    """A change's progress: ``pending -> applying -> verified | rolled-back | failed | needs-attention``."""
    job = state.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no deployment {job_id!r}", hint="see: GET /api/v1/deployments")
    return job.as_json()


@router.get("/status", tags=["status"])
def status(svc: Svc, lb: Annotated[str | None, Query(description="only this load balancer")] = None
           ) -> list[Json]:
    """Configured versus actually served, per certificate (``status --json``); read live, so not paged."""
    return [row.as_json() for row in svc.status(lb)]


@router.get("/audit", tags=["audit"])
def audit(svc: Svc, limit: Limit = 100, offset: Offset = 0) -> Json:
    """Every change sslterm made, newest first (``log --json``)."""
    return svc.audit_page(limit, offset).as_json(shapes.audit)


def _call(request: Request, use_case: Callable[[Service], Any]) -> Any:
    """``use_case`` on a Service for this request (for the async routes, which read their body first)."""
    service = api_state(request).service()
    try:
        return use_case(service)
    finally:
        service.close()
