"""Changes to a real managed HAProxy through the API run as jobs: 202 at once, followed at their Location to
the outcome; a redeploy of a served certificate too; a change that fails says why; a job is still found
after a restart (from the journal); ``/metrics`` tells what is served."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from apitools import TOKEN, Api, served
from e2e_haproxy import fingerprint, handshake

from sslterm.api.app import create_app
from sslterm.api.jobs import BackgroundJobs
from sslterm.api.state import ApiState
from sslterm.errors import ProviderError
from sslterm.providers import registry
from sslterm.settings import Settings

pytestmark = pytest.mark.haproxy


def enable(api: Api, lb: str, cert: str, **options: Any) -> dict[str, Any]:
    return api.follow(api.client.post(f"/api/v1/loadbalancers/{lb}/listeners", json={"certificate": cert, **options}))


def test_a_served_certificate_is_redeployed_by_a_job_when_replaced_or_rolled_back(api: Api) -> None:
    first, second = api.ca.issue("r.api.test"), api.ca.issue("r.api.test")
    api.add_cert("site", first)
    tls, _ = api.add_lb("edge")
    assert enable(api, "edge", "site")["state"] == "verified"

    refused = api.client.delete("/api/v1/certificates/site")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "in-use"
    busy_lb = api.client.delete("/api/v1/loadbalancers/edge")
    assert busy_lb.status_code == 409 and busy_lb.json()["error"]["code"] == "in-use"

    body = api.cert_body("site", second)
    del body["name"]
    bad = body | {"private_key": first.key_pem().decode()}
    mismatch = api.client.put("/api/v1/certificates/site", json=bad)
    assert mismatch.status_code == 422 and mismatch.json()["error"]["code"] == "key-mismatch"
    assert handshake(tls, "r.api.test").fingerprint == fingerprint(first)  # nothing changed

    replaced = api.follow(api.client.put("/api/v1/certificates/site", json=body))
    assert replaced["state"] == "verified", replaced
    assert replaced["target"] == "certificate/site"
    assert replaced["result"]["replaced"] == fingerprint(first) and replaced["result"]["redeployed"] == ["edge"]
    assert handshake(tls, "r.api.test").fingerprint == fingerprint(second)

    back = api.follow(api.client.post("/api/v1/certificates/site/rollback", json={}))
    assert back["state"] == "verified", back
    assert handshake(tls, "r.api.test").fingerprint == fingerprint(first)
    deployments = api.client.get("/api/v1/deployments?limit=2").json()
    assert deployments["total"] == 3  # enable, replace, rollback: one load balancer each
    assert [d["batch"] for d in deployments["items"]] == [back["id"], replaced["id"]]
    # each item links to its change (its ``id`` is the journal row's, not the job's)
    for item, job in zip(deployments["items"], (back, replaced), strict=True):
        assert item["href"] == f"/api/v1/deployments/{job['id']}"
        followed = api.client.get(item["href"])
        assert followed.status_code == 200 and followed.json()["id"] == job["id"]
        assert [d["id"] for d in followed.json()["deployments"]] == [item["id"]]


def test_a_change_that_fails_is_a_failed_job_with_its_error(api: Api) -> None:
    api.add_cert("site", api.ca.issue("f.api.test"))
    tls_a, _ = api.add_lb("a")
    api.add_lb("b")
    bad_profile = api.client.post("/api/v1/loadbalancers/b/listeners", json={"certificate": "site",
                                                                              "tls_profile": "ancient"})
    assert bad_profile.status_code == 400 and "TLS profile" in bad_profile.json()["error"]["message"]

    job = enable(api, "b", "site", lb_port=tls_a)  # a's TLS port: refused before anything is touched
    assert job["state"] == "failed"
    assert job["error"]["code"] == "port-taken" and job["error"]["hint"]
    assert job["deployments"] == [] and job["result"] is None
    assert "Traceback" not in str(job)


def test_a_job_is_found_in_the_journal_after_a_restart(api: Api) -> None:
    api.add_cert("site", api.ca.issue("j.api.test"))
    api.add_lb("edge")
    job = enable(api, "edge", "site")
    restarted = create_app(ApiState(api.factory, TOKEN, BackgroundJobs(api.factory)))
    with served(restarted) as url:
        again = httpx.get(f"{url}/api/v1/deployments/{job['id']}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert again.status_code == 200
    assert again.json()["state"] == "verified"
    assert again.json()["deployments"] == job["deployments"]


def test_metrics_tell_expiry_what_is_served_and_deployments(api: Api) -> None:
    site = api.ca.issue("m.api.test")
    api.add_cert("site", site)
    tls, _ = api.add_lb("edge")
    enable(api, "edge", "site")
    reply = api.client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in reply.text.splitlines()
             if line and not line.startswith("#")}
    expiry = lines['sslterm_certificate_expiry_seconds{certificate="site"}']
    expected = (site.cert.not_valid_after_utc.timestamp() - time.time())
    assert abs(expiry - expected) < 60
    assert lines[f'sslterm_listener_served_ok{{certificate="site",lb_port="{tls}",load_balancer="edge"}}'] == 1.0
    assert lines['sslterm_deployments{state="verified"}'] == 1.0
    assert "# TYPE sslterm_deployments gauge" in reply.text.splitlines()  # applying, pending: they go down


class Gated:
    """A real HAProxy provider whose ``bind`` waits for ``gate``: a load balancer that takes its time."""

    def __init__(self, inner: Any, gate: threading.Event) -> None:
        self._inner = inner
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def bind(self, *args: Any, **kwargs: Any) -> None:
        assert self._gate.wait(timeout=60), "the test never opened the gate"
        self._inner.bind(*args, **kwargs)


def test_a_slow_load_balancer_holds_neither_the_request_nor_the_store(api_with: Any, short_home: Path) -> None:
    gate = threading.Event()

    def slow(name: str, kind: str, options: dict[str, Any]) -> Any:
        create, _ = registry.lookup(kind)
        return Gated(create(name, options, short_home / "lb" / name, Settings(home=short_home).provider_env()), gate)

    api = api_with(provider_factory=slow)
    site = api.ca.issue("slow.api.test")
    api.add_cert("site", site)
    tls, _ = api.add_lb("edge")
    try:
        reply = api.client.post("/api/v1/loadbalancers/edge/listeners", json={"certificate": "site"})
        assert reply.status_code == 202  # while the load balancer has not answered
        location = reply.headers["location"]
        deadline = time.monotonic() + 30
        while (job := api.client.get(location).json())["state"] != "applying" or not job["deployments"]:
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert [d["state"] for d in job["deployments"]] == ["applying"]
        # meanwhile the API answers, and the store takes other changes
        assert api.client.get("/api/v1/certificates").json()["total"] == 1
        api.add_cert("other", api.ca.issue("other.api.test"))
        assert api.client.get(location).json()["state"] == "applying"
    finally:
        gate.set()
    done = api.wait(location)
    assert done["state"] == "verified"
    assert handshake(tls, "slow.api.test").fingerprint == fingerprint(site)


class Refusing:
    """A real HAProxy provider whose next changes (``bind``, ``rotate``) are refused, as many as
    ``refusals[0]`` says, as a load balancer's API may refuse one; the changes after that go through."""

    def __init__(self, inner: Any, refusals: list[int]) -> None:
        self._inner = inner
        self._refusals = refusals

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _check(self) -> None:
        if self._refusals[0] > 0:
            self._refusals[0] -= 1
            raise ProviderError("the load balancer refused the change", code="refused-for-the-test")

    def bind(self, *args: Any, **kwargs: Any) -> None:
        self._check()
        self._inner.bind(*args, **kwargs)

    def rotate(self, *args: Any, **kwargs: Any) -> Any:  # a replacement in place (HAProxy's runtime API)
        self._check()
        return self._inner.rotate(*args, **kwargs)


def test_a_change_the_load_balancer_refuses_is_rolled_back_and_says_why(api_with: Any, short_home: Path) -> None:
    refusals = [0]

    def refusing(name: str, kind: str, options: dict[str, Any]) -> Any:
        create, _ = registry.lookup(kind)
        return Refusing(create(name, options, short_home / "lb" / name, Settings(home=short_home).provider_env()),
                        refusals)

    api = api_with(provider_factory=refusing)
    first, second = api.ca.issue("rb.api.test"), api.ca.issue("rb.api.test")
    api.add_cert("site", first)
    tls, _ = api.add_lb("edge")
    refusals[0] = 1
    refused = enable(api, "edge", "site")
    assert refused["state"] == "rolled-back" and refused["error"]["code"] == "refused-for-the-test"
    assert api.client.get("/api/v1/loadbalancers/edge").json()["listeners"] == []  # the store change undone
    assert enable(api, "edge", "site")["state"] == "verified"
    refusals[0] = 1
    body = api.cert_body("site", second)
    del body["name"]
    job = api.follow(api.client.put("/api/v1/certificates/site", json=body))
    assert job["state"] == "rolled-back", job
    assert job["error"]["code"] == "refused-for-the-test" and job["error"]["message"] and job["result"] is None
    assert [d["state"] for d in job["deployments"]] == ["rolled-back"]
    assert handshake(tls, "rb.api.test").fingerprint == fingerprint(first)  # the previous one stays served
    assert api.client.get("/api/v1/certificates/site").json()["fingerprint_sha256"] == fingerprint(first)
