"""Helpers for the browser tests: the real ``sslterm serve`` as a subprocess, what the browser received, and
the checks a person would make of a page (labels, headings, contrast, focus, a narrow screen).

Nothing here imitates sslterm: the server is the command an operator runs, the browser is Debian's chromium,
and the assertions read the pages as rendered."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from e2e_haproxy import free_ports
from playwright.sync_api import BrowserContext, FilePayload, Page, Response, expect

from pkitools import assert_no_key_material
from sslterm.demo.ca import Issued

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "ui-test-token-0123456789abcdef"
LOCALHOST = "127.0.0.1"
#: where the screenshots of the main pages go, when set (``SSLTERM_UI_SCREENSHOTS=docs/ui``)
SCREENSHOTS = os.environ.get("SSLTERM_UI_SCREENSHOTS")
DEPLOYMENT_TIMEOUT = 90_000  # ms: a deployment on a local HAProxy takes a second or two


@dataclass
class UiServer:
    url: str
    home: Path  # the server's data directory (its load balancers run below it)
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def start_server(root: Path, port: int, timeout: float = 30.0) -> Iterator[UiServer]:
    """``sslterm serve --listen 127.0.0.1:PORT`` with the test token and a data directory under ``root``,
    until it answers ``/healthz``; stopped (SIGTERM, then SIGKILL) after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSLTERM_", "AWS_", "RACKSPACE_"))}
    home = root / "data"
    env.update(SSLTERM_HOME=str(home), SSLTERM_API_TOKEN=TOKEN)
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "sslterm", "serve", "--listen", f"{LOCALHOST}:{port}",
                                    "--apply-every", "0"], env=env, stdout=out, stderr=subprocess.STDOUT)
    server = UiServer(f"http://{LOCALHOST}:{port}", home, process, log)
    try:
        _wait_healthy(server, timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_healthy(server: UiServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.process.poll() is None, f"sslterm serve exited:\n{server.output()}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        assert time.monotonic() < deadline, f"sslterm serve did not answer in {timeout} s:\n{server.output()}"
        time.sleep(0.1)


@dataclass
class Recorder:
    """Every HTML response (pages and htmx fragments) the browser received, by URL."""

    documents: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def attach(cls, context: BrowserContext) -> Recorder:
        recorder = cls()
        context.on("response", recorder._keep)
        return recorder

    def _keep(self, response: Response) -> None:
        if "text/html" in response.headers.get("content-type", "") and not 300 <= response.status < 400:
            self.documents.append((response.url, response.text()))

    def assert_no_key_material(self, *keys: object) -> None:
        """No page holds a PEM key marker, nor any piece of these keys (base64 lines, DER, the secret number)."""
        assert self.documents, "no page was recorded"
        for url, html in self.documents:
            assert "PRIVATE KEY" not in html, f"{url} shows a private key marker"
            try:
                assert_no_key_material(html, *keys)
            except AssertionError as exc:
                raise AssertionError(f"{url}: {exc}") from None


def login(page: Page, server: UiServer, path: str = "/") -> None:
    """Open ``path``; the login page comes first; paste the token; back at ``path``."""
    page.goto(server.url + path)
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + path)


def wait_for_deployment(page: Page, state: str) -> None:
    """On a deployment's page, which follows the job by itself (htmx): wait, bounded, until it says ``state``."""
    expect(page).to_have_url(re.compile(r"/deployments/[0-9a-f]{32}$"))
    expect(page.locator("#progress [role=status] .badge")).to_have_text(state, timeout=DEPLOYMENT_TIMEOUT)


def api_client(server: UiServer) -> httpx.Client:
    """The server's REST API with the token: to set up what a test does not do in the browser."""
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)


def bundle_body(issued: Issued) -> dict[str, str]:
    return {"certificate": issued.cert_pem().decode(), "chain": issued.chain_pem().decode(),
            "private_key": issued.key_pem().decode()}


def add_certificate(api: httpx.Client, name: str, issued: Issued) -> None:
    reply = api.post("/api/v1/certificates", json={"name": name, **bundle_body(issued)})
    assert reply.status_code == 201, reply.text


def add_load_balancer(api: httpx.Client, name: str, backend_port: int) -> int:
    """A managed HAProxy on free loopback ports in front of ``backend_port``; its TLS port."""
    tls, plain = free_ports(2)
    options = {"bind": f"{LOCALHOST}:{tls}", "http_bind": f"{LOCALHOST}:{plain}",
               "backends": [f"{LOCALHOST}:{backend_port}"]}
    reply = api.post("/api/v1/loadbalancers", json={"name": name, "kind": "haproxy", "options": options})
    assert reply.status_code == 201, reply.text
    return tls


def screenshot(page: Page, name: str) -> None:
    """``SSLTERM_UI_SCREENSHOTS/name.png`` (the whole page), when that is set."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def upload(page: Page, server: UiServer, name: str, cert: bytes, key: bytes, chain: bytes | None = None) -> None:
    """The upload form as an operator fills it: the certificate pasted, the key chosen as a file."""
    page.goto(server.url + "/certificates/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("or paste the certificate (PEM)").fill(cert.decode())
    page.get_by_label("Private key file").set_input_files(
        files=[FilePayload(name=f"{name}.key", mimeType="application/x-pem-file", buffer=key)])
    if chain:
        page.get_by_label("or paste the chain (PEM)").fill(chain.decode())
    page.get_by_role("button", name="Check and store").click()


# -- what a person checks on a page -------------------------------------------------------------------------
_PAGE_PROBLEMS = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("the page has no lang attribute");
  if (!document.querySelector('meta[name="viewport"]')) problems.push("no viewport meta");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button")) {
    const named = el.tagName === "BUTTON" ? el.textContent.trim() || el.getAttribute("aria-label")
                                          : el.labels && el.labels.length;
    if (!named) problems.push(`${el.tagName.toLowerCase()} ${el.name || el.id} has no label`);
  }
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  let last = 0;
  for (const h of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    const level = Number(h.tagName[1]);
    if (level > last + 1) problems.push(`${h.tagName} "${h.textContent.trim()}" skips a level after h${last}`);
    last = level;
  }
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = (c) => c.map(linear).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || el.closest(".skip")) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)} of "${el.textContent.trim().slice(0, 30)}"`);
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push("wider than the screen");
  return problems;
}"""


def page_problems(page: Page) -> list[str]:
    """What a careful reviewer would flag on the page as shown: unlabelled fields, no ``lang``, headings out of
    order, text under 4.5:1 contrast, a page wider than the screen."""
    problems: list[str] = page.evaluate(_PAGE_PROBLEMS)
    return problems
