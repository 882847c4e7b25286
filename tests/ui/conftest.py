"""Fixtures for the browser tests: the real ``sslterm serve`` (a subprocess on a free 127.0.0.1 port, its own
data directory) and Debian's chromium driven by Playwright. Managed HAProxy load balancers the server starts
live under that data directory and are stopped by pid when the test ends; so is the server.

Chromium is never downloaded (``playwright install`` is not used): the tests fail, not skip, when
/usr/bin/chromium is missing (``make test`` installs it)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "haproxy"))

from e2e_haproxy import free_ports, haproxy_pids_under, stop_haproxy_under
from ui_tools import CHROMIUM, CHROMIUM_ARGS, Recorder, UiServer, start_server

from sslterm.demo.ca import DemoCA

if shutil.which("haproxy") is None:
    raise RuntimeError("these tests need HAProxy: apt-get install haproxy (make test does it)")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium "
                    "(make test installs it); Playwright's own browsers are never downloaded")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="session")
def demo_ca() -> DemoCA:
    return DemoCA("sslterm ui")


def _server() -> Iterator[UiServer]:
    home = Path(tempfile.mkdtemp(prefix="ssw-"))  # short: HAProxy's socket paths are limited
    try:
        with start_server(home, free_ports(1)[0]) as server:
            yield server
    finally:
        stop_haproxy_under(home)
        left = haproxy_pids_under(home)
        shutil.rmtree(home, ignore_errors=True)
        assert not left, f"HAProxy processes {left} started by this test are still running"


@pytest.fixture
def server() -> Iterator[UiServer]:
    """A server of this test's own (its store starts empty)."""
    yield from _server()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[UiServer]:
    """One server for the tests of a module that only read, or change what they alone look at."""
    yield from _server()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies); every wait in it is bounded."""
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(20_000)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def recorder(context: BrowserContext) -> Recorder:
    """Every HTML document and fragment the browser receives in this test."""
    return Recorder.attach(context)
