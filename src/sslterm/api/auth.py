"""The bearer token on every ``/api/v1`` request and on ``/metrics``: ``Authorization: Bearer <token>``,
compared in constant time. Checked before the request's body is read or parsed, so a caller without the
token learns nothing (not even whether its body was valid). The token is never logged or echoed."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from sslterm.api.errors import error_response

#: what needs the token here: paths under API_PREFIX, and METRICS (the web UI checks the token at its login
#: and then uses its session cookie)
API_PREFIX = "/api/"
METRICS = "/metrics"


def token_matches(given: str | None, token: str) -> bool:
    """Whether ``given`` is ``token``, in time independent of where they differ (``hmac.compare_digest``)."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case), else None."""
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class BearerAuth:
    """ASGI middleware: a request for a protected path without the token gets 401 (the error shape,
    ``WWW-Authenticate: Bearer``) and never reaches the app."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"].startswith(API_PREFIX) or scope["path"] == METRICS):
            headers = dict(scope["headers"])
            given = bearer(headers.get(b"authorization", b"").decode("latin-1"))
            if not token_matches(given, self.token):
                response = error_response(
                    401, "unauthorized", "no API token" if given is None else "wrong API token",
                    "send Authorization: Bearer $SSLTERM_API_TOKEN", headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

