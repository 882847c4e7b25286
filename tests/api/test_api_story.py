"""The user story through the REST API, on a real managed HAProxy: add a certificate, add a load balancer,
see the plan, enable (202, then verified), a real TLS handshake serves the certificate, status says ok,
disable (202, then verified), TLS is off again."""

from __future__ import annotations

import pytest
from apitools import Api
from e2e_haproxy import fingerprint, handshake, http_get, refused

pytestmark = pytest.mark.haproxy


def test_enable_and_disable_termination_through_the_api(api: Api) -> None:
    site = api.ca.issue("www.api.test", "api.test")
    added = api.add_cert("site", site)
    assert added["fingerprint_sha256"] == fingerprint(site)
    assert added["attached_to"] == [] and added["warnings"] == []
    tls, plain = api.add_lb("edge")
    assert http_get(plain, "/").status == 200 and refused(tls)

    plan = api.client.post("/api/v1/loadbalancers/edge/listeners?dry_run=true", json={"certificate": "site"})
    assert plan.status_code == 200, plan.text
    assert plan.json()["dry_run"] is True
    assert [step["action"] for step in plan.json()["steps"]] == ["upload", "bind"]
    assert refused(tls), "a dry run touched the load balancer"

    reply = api.client.post("/api/v1/loadbalancers/edge/listeners", json={"certificate": "site", "hsts": True})
    assert reply.status_code == 202
    assert reply.headers["location"] == f"/api/v1/deployments/{reply.json()['id']}"
    assert reply.json()["state"] in ("pending", "applying", "verified")
    job = api.follow(reply)
    assert job["state"] == "verified", job
    assert job["error"] is None
    assert [d["load_balancer"] for d in job["deployments"]] == ["edge"]
    assert [s["certificate"] for s in job["result"]["served"]] == ["site"]
    assert handshake(tls, "www.api.test").fingerprint == fingerprint(site)

    status = api.client.get("/api/v1/status")
    assert status.status_code == 200
    assert [(r["load_balancer"], r["lb_port"], r["certificate"], r["state"]) for r in status.json()] == [
        ("edge", tls, "site", "ok")]
    shown = api.client.get("/api/v1/certificates/site").json()
    assert shown["attached_to"] == ["edge"]

    off = api.follow(api.client.delete(f"/api/v1/loadbalancers/edge/listeners/{tls}"))
    assert off["state"] == "verified", off
    assert refused(tls) and http_get(plain, "/").status == 200
    assert api.client.get("/api/v1/status").json() == []
    assert api.client.delete("/api/v1/certificates/site").status_code == 200
    assert api.client.delete("/api/v1/loadbalancers/edge").status_code == 200
