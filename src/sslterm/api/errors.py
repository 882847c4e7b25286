"""sslterm's exception tree as HTTP: one status per branch, one body shape for every error.

    {"error": {"code": "...", "message": "...", "hint": "..." | null, "findings": [{code, severity, message}]}}

=====================================  ======  ==============================================================
exception                              status  why
=====================================  ======  ==============================================================
InputError (``usage``, bad names ...)  400     the request is malformed
NotFound                               404     no certificate or load balancer of that name
AlreadyExists, InUse                   409     the name is taken / still attached
UnsafePlan (``port-taken`` ...)        409     the change conflicts with what the load balancers have now
Refusal (provider limits)              422     the load balancer's kind cannot take this certificate/setting
CertificateError                       422     the bundle failed its checks; every finding listed
Busy (``lb-busy``)                     423     another command holds the load balancer's lease; retry
ProviderError, DeploymentError         502     a load balancer said no, or failed while being changed
any other SSLTermError                 500     a deliberate error of the server itself (store, settings)
anything else                          500     ``internal``: one line, no traceback, no SQL, no URL
=====================================  ======  ==============================================================

Text from certificates and remote APIs is data in JSON (``json`` escapes control characters itself); no
message is built from key material (see :mod:`sslterm.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sslterm.errors import (
    AlreadyExists,
    Busy,
    CertificateError,
    DeploymentError,
    InputError,
    InUse,
    NotFound,
    ProviderError,
    Refusal,
    SSLTermError,
    UnsafePlan,
    unexpected,
)

#: most specific first: the first class an exception is an instance of gives its status
STATUS: tuple[tuple[type[SSLTermError], int], ...] = (
    (NotFound, 404), (AlreadyExists, 409), (InUse, 409), (InputError, 400), (Refusal, 422), (UnsafePlan, 409),
    (CertificateError, 422), (Busy, 423), (ProviderError, 502), (DeploymentError, 502),
)


def status_of(exc: SSLTermError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def problem(exc: SSLTermError) -> dict[str, object]:
    """The error object (``code``, ``message``, ``hint``, ``findings``) of ``exc``: no traceback, no key."""
    findings = exc.findings if isinstance(exc, CertificateError) else ()
    return {"code": exc.code, "message": exc.message, "hint": exc.hint, "findings": [f.as_dict() for f in findings]}


def error_response(status: int, code: str, message: str, hint: str | None = None, *,
                   headers: Mapping[str, str] | None = None, findings: Sequence[dict[str, object]] = ()
                   ) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "hint": hint, "findings": list(findings)}}
    return JSONResponse(body, status_code=status, headers=headers)


def respond(exc: SSLTermError) -> JSONResponse:
    return JSONResponse({"error": problem(exc)}, status_code=status_of(exc))


def install(app: FastAPI) -> None:
    """Every error the app can meet, in the one shape: sslterm's, FastAPI's validation, Starlette's HTTP
    errors (404 for an unknown path, 405), and anything unexpected."""

    async def on_sslterm(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SSLTermError)
        return respond(exc)

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # each error names where (body.name) and what; the input itself is never echoed (it may be a key)
        where = [".".join(str(part) for part in error["loc"]) + ": " + str(error["msg"]) for error in exc.errors()]
        return error_response(400, "bad-request", "; ".join(where) or "the request is malformed",
                              "see /openapi.json for the request's shape")

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {401: "unauthorized", 404: "not-found", 405: "method-not-allowed",
                413: "too-large"}.get(exc.status_code, "http-error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def on_other(_request: Request, exc: Exception) -> JSONResponse:
        return respond(unexpected(exc, hint="see the server's log"))

    app.add_exception_handler(SSLTermError, on_sslterm)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_other)
