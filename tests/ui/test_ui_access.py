"""Every page usable by everyone: each field labelled, one h1 and headings in order, a ``lang``, text of 4.5:1
contrast or more, nothing wider than a phone's screen, and the whole thing usable from the keyboard with the
focus always visible. Read from the pages as chromium renders them, with a real load balancer behind them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, ViewportSize, expect
from ui_tools import (
    TOKEN,
    UiServer,
    add_certificate,
    add_load_balancer,
    api_client,
    login,
    page_problems,
    screenshot,
)

from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA

PHONE = ViewportSize(width=360, height=740)
DESKTOP = ViewportSize(width=1280, height=900)
PAGES = ("/", "/certificates", "/certificates/new", "/certificates/shop", "/loadbalancers", "/loadbalancers/new",
         "/loadbalancers/new/haproxy", "/loadbalancers/new/haproxy-attached", "/loadbalancers/new/aws-alb",
         "/loadbalancers/new/rackspace", "/loadbalancers/web", "/deployments", "/audit", "/certificates/missing")
MAX_TABS = 40  # key presses to reach a control from the top of a page


@pytest.fixture(scope="module")
def stocked(shared_server: UiServer, demo_ca: DemoCA, demo_app: DemoApp) -> Iterator[UiServer]:
    """A certificate ``shop`` and a managed HAProxy ``web`` serving it (set up through the REST API)."""
    with api_client(shared_server) as api:
        add_certificate(api, "shop", demo_ca.issue("shop.example.test"))
        add_load_balancer(api, "web", demo_app.port)
        reply = api.post("/api/v1/loadbalancers/web/listeners", json={"certificate": "shop"})
        assert reply.status_code == 202, reply.text
        deadline, state = time.monotonic() + 60, ""
        while time.monotonic() < deadline:  # the pages are read once the change is done, not while it runs
            state = api.get(reply.headers["Location"]).json()["state"]
            if state not in ("pending", "applying"):
                break
            time.sleep(0.1)
        assert state == "verified", state
    yield shared_server


def _problems_of_every_page(page: Page, server: UiServer) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in PAGES:
        page.goto(server.url + path)
        found[path] = page_problems(page)
    page.goto(server.url + "/certificates/new")  # the upload form, refused, with its findings
    page.get_by_label("Name").fill("bad")
    page.get_by_label("or paste the certificate (PEM)").fill("not a certificate")
    page.get_by_role("button", name="Check and store").click()
    expect(page.locator(".problem")).to_be_visible()
    found["refused upload"] = page_problems(page)
    page.goto(server.url + "/loadbalancers/web")  # a plan
    page.get_by_label("Certificate (required)").fill("shop")
    page.get_by_role("button", name="Show the plan").click()
    expect(page.get_by_role("button", name="Apply this plan")).to_be_visible()
    found["plan"] = page_problems(page)
    return {where: problems for where, problems in found.items() if problems}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_is_labelled_ordered_readable_and_fits_the_screen(
        viewport: ViewportSize, stocked: UiServer, context: BrowserContext) -> None:
    page = context.new_page()
    page.set_viewport_size(viewport)
    page.goto(stocked.url + "/login")
    assert page_problems(page) == []
    login(page, stocked)
    assert _problems_of_every_page(page, stocked) == {}
    if viewport == PHONE:
        page.goto(stocked.url + "/loadbalancers/web")
        screenshot(page, "loadbalancer-phone")


def _tab_to(page: Page, check: str, what: str) -> None:
    """Press Tab until the focused element passes ``check`` (a JS predicate on it), at most MAX_TABS times."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate(f"(({check}))(document.activeElement)"):
            return
    raise AssertionError(f"{what} cannot be reached with the Tab key")


def _focus_is_visible(page: Page) -> bool:
    return bool(page.evaluate("""() => { const style = getComputedStyle(document.activeElement);
        return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2; }"""))


def test_the_keyboard_alone_logs_in_and_uploads_with_the_focus_always_visible(
        stocked: UiServer, context: BrowserContext, demo_ca: DemoCA) -> None:
    page = context.new_page()
    page.goto(stocked.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    _tab_to(page, "el => el.id === 'f-token'", "the token field")
    assert _focus_is_visible(page)
    page.keyboard.type(TOKEN)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    _tab_to(page, "el => el.textContent.trim() === 'Upload a certificate'", "the upload link")
    assert _focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload a certificate")
    issued = demo_ca.issue("keyboard.example.test")
    for label, text in (("f-name", "keyboard"), ("f-certificate", issued.cert_pem().decode()),
                        ("f-private_key", issued.key_pem().decode()), ("f-chain", issued.chain_pem().decode())):
        _tab_to(page, f"el => el.id === '{label}'", label)
        assert _focus_is_visible(page), label
        page.keyboard.insert_text(text)
    _tab_to(page, "el => el.textContent.trim() === 'Check and store'", "the submit button")
    assert _focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Certificate keyboard")
