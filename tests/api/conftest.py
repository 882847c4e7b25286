"""Fixtures for the REST API tests (see apitools.py): an ``api`` over a fresh short data directory, or
``api_with(**service_options)`` for one whose Services get injected collaborators."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apitools import Api, make_api
from e2e_haproxy import short_data_directory

from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA

if shutil.which("haproxy") is None:
    raise RuntimeError("these tests need HAProxy: apt-get install haproxy (make test does it)")


@pytest.fixture(scope="session")
def demo_ca() -> DemoCA:
    return DemoCA("sslterm api")


@pytest.fixture
def short_home() -> Iterator[Path]:
    """A short data directory (HAProxy's unix socket paths are limited to ~100 characters)."""
    with short_data_directory("ssa-") as home:
        yield home


@pytest.fixture
def api(short_home: Path, demo_ca: DemoCA, demo_app: DemoApp) -> Iterator[Api]:
    yield from make_api(short_home, demo_ca, demo_app)


@pytest.fixture
def api_with(short_home: Path, demo_ca: DemoCA, demo_app: DemoApp) -> Iterator[Callable[..., Api]]:
    """``api_with(**service_options)``: an Api whose Services get those options (a provider factory...)."""
    made: list[Iterator[Api]] = []

    def build(**options: Any) -> Api:
        made.append(make_api(short_home, demo_ca, demo_app, **options))
        return next(made[-1])

    yield build
    for generator in made:
        generator.close()
