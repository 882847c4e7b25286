"""The operator's story in a real browser against the real ``sslterm serve`` and a real managed HAProxy: log in,
upload a certificate (and a bad one, and read why it was refused), add a load balancer, enable TLS with the
plan shown first, watch the deployment until it is verified, check with a real TLS handshake what HAProxy
serves, disable it again. Every HTML the browser received is searched for key material at the end.

With ``SSLTERM_UI_SCREENSHOTS=docs/ui`` the main pages are saved there as PNGs (docs/ui.md shows them)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from e2e_haproxy import (
    LOCALHOST,
    alive,
    fingerprint,
    free_ports,
    handshake,
    haproxy_pids_under,
    http_get,
    pid_from_file,
    refused,
    wait_until,
)
from playwright.sync_api import BrowserContext, expect
from ui_tools import (
    TOKEN,
    Recorder,
    UiServer,
    add_certificate,
    add_load_balancer,
    api_client,
    bundle_body,
    login,
    screenshot,
    upload,
    wait_for_deployment,
)

from pkitools import assert_no_key_material
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA


@contextlib.contextmanager
def _frozen(home: Path) -> Iterator[None]:
    """Every HAProxy under ``home`` stopped (SIGSTOP) for the time of the block, then continued: briefly, as
    its runtime API answers within a few seconds or is taken for dead."""
    pids = haproxy_pids_under(home)
    assert pids, "no HAProxy to freeze"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_upload_enable_verify_disable(server: UiServer, context: BrowserContext, recorder: Recorder,
                                      demo_ca: DemoCA, demo_app: DemoApp) -> None:
    page = context.new_page()
    login(page, server)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # a good certificate: accepted, its page shows what it is (and never its key)
    shop = demo_ca.issue("shop.example.test", "www.shop.example.test")
    upload(page, server, "shop", shop.cert_pem(), shop.key_pem(), shop.chain_pem())
    expect(page).to_have_url(f"{server.url}/certificates/shop")
    expect(page.get_by_role("status")).to_contain_text("Added certificate shop")
    expect(page.locator(".fingerprint")).to_have_text(fingerprint(shop))
    expect(page.locator("dl.facts")).to_contain_text("www.shop.example.test")
    screenshot(page, "certificate")

    # one that expires in 5 days: accepted with a warning, and the dashboard says it is urgent
    soon = demo_ca.issue("soon.example.test", days=5)
    upload(page, server, "soon", soon.cert_pem(), soon.key_pem(), soon.chain_pem())
    expect(page.locator(".flash .finding-code")).to_contain_text(["expires-soon"])

    api = demo_ca.issue("api.example.test", days=20)
    upload(page, server, "api", api.cert_pem(), api.key_pem(), api.chain_pem())
    expect(page.locator(".flash")).to_contain_text("Added certificate api")

    # a bad one: refused, every finding shown with its code; nothing pasted comes back
    now = datetime.now(UTC)
    expired = demo_ca.issue("old.example.test", start=now - timedelta(days=100), days=10)
    stranger = demo_ca.issue("stranger.example.test")
    upload(page, server, "old", expired.cert_pem(), stranger.key_pem())
    codes = page.locator(".problem .finding-code")
    expect(codes).to_contain_text(["expired", "key-mismatch"])
    expect(page.get_by_label("Name")).to_have_value("old")
    expect(page.get_by_label("or paste the certificate (PEM)")).to_have_value("")
    screenshot(page, "certificate-upload-findings")
    page.goto(f"{server.url}/certificates")
    expect(page.get_by_role("link", name="old")).to_have_count(0)

    # a managed HAProxy in front of the demo app, serving plain HTTP only
    tls_port, http_port = free_ports(2)
    page.get_by_role("navigation").get_by_role("link", name="Load balancers").click()
    page.get_by_role("link", name="Add a load balancer").click()
    page.get_by_role("link", name="HAProxy, managed by sslterm").click()
    page.get_by_label("Name in sslterm").fill("web")
    page.get_by_label("TLS bind address").fill(f"{LOCALHOST}:{tls_port}")
    page.get_by_label("Plain HTTP bind address").fill(f"{LOCALHOST}:{http_port}")
    page.get_by_label("Backends").fill(f"{LOCALHOST}:{demo_app.port}")
    page.get_by_role("button", name="Add load balancer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Load balancer web")
    expect(page.get_by_text("TLS is off")).to_be_visible()
    assert http_get(http_port).status == 200

    # enable: the plan first, and nothing touched until it is confirmed
    page.get_by_label("Certificate (required)").fill("shop")
    page.get_by_role("button", name="Show the plan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Plan: turn TLS on on web")
    expect(page.locator(".plan-step")).to_contain_text(["upload shop", f"enable TLS on :{tls_port}"])
    expect(page.get_by_text("Nothing has been changed yet")).to_be_visible()
    assert refused(tls_port), "the plan alone turned TLS on"
    screenshot(page, "loadbalancer-plan")
    with _frozen(server.home):  # HAProxy cannot answer: the deployment cannot finish while the page is read
        page.get_by_role("button", name="Apply this plan").click()
        expect(page.locator("#progress [role=status] .badge")).to_have_text(re.compile(r"^(pending|applying)$"))
        expect(page.locator("#progress")).to_have_attribute("hx-trigger", "every 1s")
        page.evaluate("window.sameDocument = true")
    wait_for_deployment(page, "verified")  # the page followed the job by itself (htmx), not reloaded:
    assert page.evaluate("window.sameDocument") is True
    expect(page.locator("#progress")).to_contain_text("shop")
    screenshot(page, "deployment-verified")

    # what a client is served, by a real handshake: the certificate uploaded in the browser
    assert handshake(tls_port, "shop.example.test").fingerprint == fingerprint(shop)
    page.get_by_role("link", name="web").first.click()
    expect(page.locator(".served-row .badge")).to_have_text(["ok"])
    screenshot(page, "loadbalancer")

    # HAProxy dies behind sslterm's back: the dashboard says so, with the soon-expiring certificates
    master = pid_from_file(server.home / "lb" / "web" / "haproxy.pid")
    assert master is not None
    os.kill(master, signal.SIGTERM)
    wait_until(lambda: not alive(master), 15, "HAProxy to stop")
    page.get_by_role("link", name="Dashboard").click()
    expiring = page.locator("#expiring ~ .table-wrap tbody tr")
    expect(expiring).to_contain_text(["urgent: 4 days left", "soon: 19 days left"])
    attention = page.locator("#attention ~ .table-wrap")
    expect(attention).to_contain_text("down")
    expect(attention).to_contain_text("the load balancer is not running")
    screenshot(page, "dashboard")

    # disable: the plan, then the job (which starts HAProxy again first); TLS is off, plain HTTP answers
    page.get_by_role("link", name="web").first.click()
    page.get_by_role("button", name=f"Turn TLS off on port {tls_port}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Plan: turn TLS off on web")
    page.get_by_role("button", name="Apply this plan").click()
    wait_for_deployment(page, "verified")
    assert refused(tls_port), "TLS is still served after disable"
    assert http_get(http_port).status == 200

    page.goto(f"{server.url}/audit")
    for action in ("cert.add", "lb.add", "deploy.add", "deploy.remove"):
        expect(page.locator("tbody")).to_contain_text(action)

    recorder.assert_no_key_material(shop.key, soon.key, api.key, stranger.key)
    logged = server.output()  # what the server printed all along (uvicorn's access log, warnings)
    assert "PRIVATE KEY" not in logged and TOKEN not in logged
    assert_no_key_material(logged, shop.key, soon.key, api.key, stranger.key)


def test_a_served_certificate_is_rolled_back_from_its_page_and_a_failed_change_says_why(
        server: UiServer, context: BrowserContext, demo_ca: DemoCA, demo_app: DemoApp) -> None:
    first, second = demo_ca.issue("shop.example.test"), demo_ca.issue("shop.example.test")
    with api_client(server) as api:
        add_certificate(api, "shop", first)
        tls_port = add_load_balancer(api, "web", demo_app.port)
    page = context.new_page()
    login(page, server, "/loadbalancers/web")
    page.get_by_label("Certificate (required)").fill("shop")
    page.get_by_role("button", name="Show the plan").click()
    page.get_by_role("button", name="Apply this plan").click()
    wait_for_deployment(page, "verified")
    with api_client(server) as api:  # a renewal, redeployed where it is served
        reply = api.put("/api/v1/certificates/shop", json=bundle_body(second))
        assert reply.status_code == 202, reply.text
    page.goto(f"{server.url}/deployments/{reply.json()['id']}")
    wait_for_deployment(page, "verified")
    assert handshake(tls_port, "shop.example.test").fingerprint == fingerprint(second)

    page.goto(f"{server.url}/certificates/shop")
    page.get_by_role("button", name="Delete certificate shop").click()
    expect(page.locator(".problem")).to_contain_text("in-use")
    expect(page.locator(".problem")).to_contain_text("web")
    page.get_by_role("button", name=f"Roll back to version {fingerprint(first)[:16]}").click()
    wait_for_deployment(page, "verified")
    assert handshake(tls_port, "shop.example.test").fingerprint == fingerprint(first)
    page.goto(f"{server.url}/certificates/shop")
    expect(page.locator(".fingerprint")).to_have_text(fingerprint(first))

    # a certificate deleted between its plan and the confirm button: the job fails and says why
    with api_client(server) as api:
        add_certificate(api, "other", demo_ca.issue("other.example.test"))
    page.goto(f"{server.url}/loadbalancers/web")
    page.get_by_label("Certificate (required)").fill("other")
    page.get_by_role("button", name="Show the plan").click()
    with api_client(server) as api:
        assert api.delete("/api/v1/certificates/other").status_code == 200
    page.get_by_role("button", name="Apply this plan").click()
    wait_for_deployment(page, "failed")
    expect(page.locator("#progress .problem")).to_contain_text("no certificate named 'other'")
    assert handshake(tls_port, "shop.example.test").fingerprint == fingerprint(first)
