"""What protects the API: the bearer token on every ``/api/v1`` route and ``/metrics`` (checked before the
body is read), the body size limit, and no key material or traceback in any answer."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
from apitools import TOKEN, Api

from sslterm.api.limits import DEFAULT_MAX_BODY

WRONG = [None, "Bearer", "Bearer wrong-token-0123456789", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}",
         f"Basic {TOKEN}", TOKEN]


def protected_requests(api: Api) -> list[tuple[str, str]]:
    """(method, path) of every API operation the app documents, and /metrics, path parameters filled in."""
    out = [("GET", "/metrics")]
    for path, operations in api.app.openapi()["paths"].items():
        if path.startswith("/api/"):
            filled = re.sub(r"\{[a-z_]+\}", "x", path.replace("{lb_port}", "443"))
            out += [(method.upper(), filled) for method in sorted(operations)]
    return out


#: what no operation documents but a client may send: the token is needed all the same
UNDOCUMENTED = [("HEAD", "/api/v1/certificates"), ("OPTIONS", "/api/v1/certificates"),
                ("HEAD", "/api/v1/certificates/x"), ("OPTIONS", "/api/v1/loadbalancers/x/listeners"),
                ("GET", "/api/v1/certificates/"), ("POST", "/api/v1/certificates/"), ("HEAD", "/metrics"),
                ("OPTIONS", "/metrics")]


def test_every_api_route_and_metrics_refuse_a_missing_or_wrong_token(api: Api) -> None:
    requests = protected_requests(api)
    assert len(requests) == 18  # /metrics and the 17 operations of DESIGN.md's resources
    for method, path in requests + UNDOCUMENTED:
        for authorization in WRONG:
            headers = {"Authorization": authorization} if authorization else {}
            reply = httpx.request(method, str(api.client.base_url) + path, headers=headers,
                                  json={"name": "x", "certificate": "x"})
            assert reply.status_code == 401, (method, path, authorization, reply.text)
            assert reply.headers["www-authenticate"] == "Bearer"
            if method != "HEAD":  # a HEAD answer has no body
                assert reply.json()["error"]["code"] == "unauthorized"
            assert TOKEN not in reply.text and "wrong-token" not in reply.text
    # none of those requests changed anything
    assert api.client.get("/api/v1/certificates").json()["total"] == 0
    assert api.client.get("/api/v1/loadbalancers").json()["total"] == 0
    assert api.client.get("/api/v1/audit").json()["total"] == 0


def test_health_and_the_openapi_document_need_no_token(api: Api) -> None:
    health = httpx.get(f"{api.client.base_url}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "store": "ok"}
    spec = httpx.get(f"{api.client.base_url}/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/api/v1/certificates", "/api/v1/certificates/{name}", "/api/v1/certificates/{name}/versions",
                 "/api/v1/certificates/{name}/rollback", "/api/v1/loadbalancers", "/api/v1/loadbalancers/{name}",
                 "/api/v1/loadbalancers/{name}/listeners", "/api/v1/loadbalancers/{name}/listeners/{lb_port}",
                 "/api/v1/deployments", "/api/v1/deployments/{job_id}", "/api/v1/status", "/api/v1/audit"):
        assert path in paths, path
    assert set(paths["/api/v1/certificates"]["post"]["requestBody"]["content"]) == {
        "application/json", "multipart/form-data"}
    assert spec.json()["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert TOKEN not in spec.text


def test_a_body_over_the_limit_is_refused_with_413_whether_its_length_is_told_or_not(api: Api) -> None:
    big = "A" * (DEFAULT_MAX_BODY + 1)
    told = api.client.post("/api/v1/certificates", json={"name": "big", "certificate": big})
    assert told.status_code == 413
    assert told.json()["error"]["code"] == "too-large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, counted as it comes
        yield b'{"name": "big", "certificate": "'
        for _ in range(DEFAULT_MAX_BODY // 65536 + 4):
            yield b"A" * 65536
        yield b'"}'

    streamed = api.client.post("/api/v1/certificates", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"]["code"] == "too-large"
    form = api.client.post("/api/v1/certificates", data={"name": "big"}, files={"certificate": ("c.pem", big)})
    assert form.status_code == 413
    assert api.client.get("/api/v1/certificates").json()["total"] == 0
    just_under = api.client.post("/api/v1/certificates", json={"name": "ok", "certificate": "x" * 1000})
    assert just_under.status_code == 422  # read and checked: not a certificate


def test_errors_are_one_shape_with_no_traceback(api: Api) -> None:
    for reply in (api.client.get("/api/v1/nowhere"), api.client.post("/api/v1/certificates", content=b"{not json"),
                  api.client.post("/api/v1/loadbalancers", json={"name": "x"}),
                  api.client.get("/api/v1/certificates?limit=0"), api.client.patch("/api/v1/certificates")):
        error = reply.json()["error"]
        assert set(error) == {"code", "message", "hint", "findings"}, reply.text
        assert reply.status_code in (400, 404, 405)
        assert "Traceback" not in reply.text and "File \"" not in reply.text
