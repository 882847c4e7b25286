"""Fixtures for the HAProxy end-to-end tests: a demo CA valid around the real clock, a real backend, and a
``kit`` that builds services and managed HAProxy load balancers in the test's own directory and stops every
HAProxy it started (by pid) when the test ends, whatever happened."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from e2e_haproxy import Kit, short_data_directory

from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA

if shutil.which("haproxy") is None:
    raise RuntimeError("these tests need HAProxy: apt-get install haproxy (make test does it)")


@pytest.fixture(scope="session")
def demo_ca() -> DemoCA:
    return DemoCA("sslterm e2e")


@pytest.fixture(scope="session")
def root_pem(demo_ca: DemoCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo root alone: a client trusting only this verifies a leaf only when the intermediate is sent."""
    path = tmp_path_factory.mktemp("trust") / "root.pem"
    path.write_bytes(demo_ca.root.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def short_home() -> Iterator[Path]:
    """A data directory with a short path (see short_data_directory; reported as a bug: see
    test_haproxy_engine.py::test_a_long_but_valid_load_balancer_name_works)."""
    with short_data_directory() as home:
        yield home


@pytest.fixture
def kit(short_home: Path, demo_ca: DemoCA, root_pem: Path, demo_app: DemoApp) -> Iterator[Kit]:
    made = Kit(short_home, demo_ca, root_pem, demo_app)
    try:
        yield made
    finally:
        made.close()
