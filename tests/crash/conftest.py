"""Fixtures for the crash tests: a demo CA valid around the real clock, a real backend, and a ``kit`` (from
tests/haproxy/e2e_haproxy.py) that builds services and managed HAProxy load balancers in a short data
directory and stops every HAProxy it started, by pid, when the test ends."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "haproxy"))

from e2e_haproxy import Kit, stop_haproxy_under

from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA

for tool, package in (("haproxy", "haproxy"), ("strace", "strace")):
    if shutil.which(tool) is None:
        raise RuntimeError(f"the crash tests need {tool}: apt-get install {package} (make test does it)")


@pytest.fixture(scope="session")
def demo_ca() -> DemoCA:
    return DemoCA("sslterm crash")


@pytest.fixture
def kit(demo_ca: DemoCA, demo_app: DemoApp) -> Iterator[Kit]:
    """A data directory with a short path (HAProxy's unix socket paths are limited to ~100 characters)."""
    home = Path(tempfile.mkdtemp(prefix="ssc-"))
    made: Any = None
    try:
        made = Kit(home, demo_ca, home / "unused-root.pem", demo_app)
        yield made
    finally:
        if made is not None:
            made.close()
        stop_haproxy_under(home)
        shutil.rmtree(home, ignore_errors=True)
