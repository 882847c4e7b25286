"""Shared fixtures: real PKIs (made once per session), a service with a fixed clock, the CLI runner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pkitools import NOW, Cli, Pki, ec_key, rsa_key
from sslterm.demo.app import DemoApp
from sslterm.service import Service
from sslterm.settings import Settings


@pytest.fixture(scope="session")
def pki() -> Pki:
    """Root -> intermediate, valid around the fixed NOW."""
    return Pki("Test")


@pytest.fixture(scope="session")
def deep_pki() -> Pki:
    """Root -> intermediate 1 -> intermediate 2, for ordering tests."""
    return Pki("Deep", depth=2)


@pytest.fixture(scope="session")
def other_pki() -> Pki:
    """An unrelated PKI: its certificates link to nothing of ``pki``."""
    return Pki("Other")


@pytest.fixture(scope="session")
def live_pki() -> Pki:
    """Valid around the real clock, for the command line (which reads the real clock)."""
    return Pki("Live", now=datetime.now(UTC))


@pytest.fixture(scope="session")
def rsa2048() -> object:
    return rsa_key(2048)


@pytest.fixture(scope="session")
def ec256() -> object:
    return ec_key()


@pytest.fixture(scope="session")
def demo_app() -> Iterator[DemoApp]:
    """A real HTTP backend on 127.0.0.1 (the instances behind a load balancer), one per test session."""
    app = DemoApp().start()
    yield app
    app.stop()
    app.thread.join(timeout=5)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory that does not exist yet (sslterm must create it)."""
    return tmp_path / "data" / "sslterm"


@pytest.fixture
def service(home: Path, pki: Pki) -> Iterator[Service]:
    svc = Service(Settings(home=home), clock=lambda: NOW, anchors=(pki.root.cert,))
    yield svc
    svc.close()  # close SQLite cleanly: warnings are errors


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)
