"""What keeps the web UI's sessions and forms safe, tried in a real browser: pages need a session, the session
cookie cannot be read by a script nor sent by another site's page, a form without this session's CSRF token
changes nothing (403), logging out ends the session, a wrong token opens nothing, and text taken from a
certificate is shown as text (never markup, never reordered)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, expect
from ui_tools import TOKEN, Recorder, UiServer, add_certificate, api_client, login, upload

from pkitools import Node, Pki, ec_key, make_cert
from sslterm.demo.ca import DemoCA, Issued

PAGES = ("/", "/certificates", "/certificates/new", "/certificates/shop", "/loadbalancers", "/loadbalancers/new",
         "/deployments", "/audit")


@pytest.fixture(scope="module")
def shop(shared_server: UiServer, demo_ca: DemoCA) -> Iterator[Issued]:
    """A certificate ``shop`` in the store (added through the REST API)."""
    issued = demo_ca.issue("shop.example.test")
    with api_client(shared_server) as api:
        add_certificate(api, "shop", issued)
    yield issued


def _stored(server: UiServer, name: str) -> bool:
    with api_client(server) as api:
        reply = api.get(f"/api/v1/certificates/{name}")
    assert reply.status_code in (200, 404), reply.text
    return reply.status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_visitor_without_a_session_to_the_login_page(
        path: str, shared_server: UiServer, shop: Issued, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(shared_server.url + path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to sslterm")
    login(page, shared_server, path)  # and logging in leads back to the page asked for
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_a_form_posted_without_a_session_changes_nothing(shared_server: UiServer, shop: Issued,
                                                         context: BrowserContext) -> None:
    reply = context.request.post(f"{shared_server.url}/certificates/shop/delete", form={"csrf": "x"},
                                 max_redirects=0)
    assert reply.status == 303 and reply.headers["location"] == "/login"
    assert _stored(shared_server, "shop")


def test_the_session_cookie_is_httponly_and_samesite_strict(shared_server: UiServer,
                                                            context: BrowserContext) -> None:
    page = context.new_page()
    login(page, shared_server)
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["sslterm_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/"
    assert session["expires"] == -1  # gone when the browser closes; the server's expiry applies before
    assert len(session["value"]) >= 40  # 256 random bits
    assert "sslterm_session" not in page.evaluate("document.cookie")  # no script can read it


@pytest.mark.parametrize("forged", ["", "not-this-sessions-token"])
def test_a_form_without_this_sessions_csrf_token_is_refused(forged: str, shared_server: UiServer, shop: Issued,
                                                            context: BrowserContext) -> None:
    page = context.new_page()
    login(page, shared_server, "/certificates/shop")
    page.evaluate("""(forged) => document.querySelectorAll('input[name="csrf"]').forEach(
        (field) => forged ? field.value = forged : field.remove())""", forged)
    with page.expect_response(f"{shared_server.url}/certificates/shop/delete") as response:
        page.get_by_role("button", name="Delete certificate shop").click()
    assert response.value.status == 403
    expect(page.locator(".problem")).to_contain_text("csrf-failed")
    expect(page.locator(".problem")).to_contain_text("nothing was changed")
    assert _stored(shared_server, "shop")


def test_another_sites_page_cannot_post_a_form_with_the_session(shared_server: UiServer, shop: Issued,
                                                                context: BrowserContext) -> None:
    """A page of another site (served here by the browser itself, no network) posting to sslterm: the browser
    does not send the SameSite=Strict cookie, so sslterm sees no session and changes nothing."""
    page = context.new_page()
    login(page, shared_server)
    evil = (f'<!doctype html><html lang="en"><title>win a prize</title><form method="post" '
            f'action="{shared_server.url}/certificates/shop/delete"><input name="csrf" value="guess">'
            '<button>Claim</button></form></html>')
    context.route("http://attacker.test/**", lambda route: route.fulfill(body=evil, content_type="text/html"))
    page.goto("http://attacker.test/prize")
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to sslterm")
    assert _stored(shared_server, "shop")


def test_a_wrong_token_opens_nothing_and_logging_out_ends_the_session(shared_server: UiServer,
                                                                      context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(shared_server.url + "/")
    page.get_by_label("API token").fill("not-the-token-of-this-server")
    with page.expect_response(f"{shared_server.url}/login") as response:
        page.get_by_role("button", name="Log in").click()
    assert response.value.status == 401
    expect(page.locator(".problem")).to_contain_text("not the API token")
    assert "sslterm_session" not in {c["name"] for c in context.cookies()}

    login(page, shared_server)
    old = next(c for c in context.cookies() if c["name"] == "sslterm_session")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to sslterm")
    context.add_cookies([{"name": old["name"], "value": old["value"], "url": shared_server.url}])  # put back
    page.goto(shared_server.url + "/audit")
    expect(page).to_have_url(re.compile(r"/login\?next=/audit$"))


def test_text_from_a_certificate_is_shown_as_text(shared_server: UiServer, context: BrowserContext,
                                                 recorder: Recorder, live_pki: Pki) -> None:
    """A subject with markup and a right-to-left override: shown literally, the override as a visible escape."""
    key = ec_key()
    now = datetime.now(UTC)
    cn = '<img src=x onerror="alert(1)">\u202egnp.exe'
    leaf = Node(make_cert(cn, key.public_key(), issuer=live_pki.issuer, not_before=now - timedelta(days=1),
                          not_after=now + timedelta(days=90), sans=["xss.example.test"]), key)
    page = context.new_page()
    dialogs: list[str] = []

    def dismissed(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismissed)
    login(page, shared_server)
    upload(page, shared_server, "markup", leaf.pem, leaf.key_bytes(), live_pki.chain_pem)
    expect(page).to_have_url(f"{shared_server.url}/certificates/markup")
    subject = page.locator("dl.facts dd").first
    expect(subject).to_contain_text(r'CN=\<img src=x onerror=\"alert(1)\"\>\u202egnp.exe')  # RFC 4514
    page.goto(f"{shared_server.url}/certificates")
    expect(page.get_by_role("cell", name=re.compile(r"^\\<img src=x"))).to_have_count(1)
    assert page.locator("main img").count() == 0 and not dialogs
    assert all("\u202e" not in html for _, html in recorder.documents)
    recorder.assert_no_key_material(key)


def test_a_session_ends_when_the_server_forgets_it(shared_server: UiServer, context: BrowserContext) -> None:
    """A made-up session id is no session."""
    context.add_cookies([{"name": "sslterm_session", "value": "made-up", "url": shared_server.url}])
    page: Page = context.new_page()
    page.goto(shared_server.url + "/certificates")
    expect(page).to_have_url(re.compile(r"/login\?next=/certificates$"))


@pytest.mark.parametrize("target", ["//attacker.test/", "https://attacker.test/", "/\\attacker.test"])
def test_logging_in_never_leads_to_another_site(target: str, shared_server: UiServer,
                                                context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(f"{shared_server.url}/login?next={target}")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    assert page.url == shared_server.url + "/"
