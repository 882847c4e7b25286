"""The ``provider`` fixture the contract suite is parametrised over: one real load balancer per kind
(see contract_subjects.py). Only HAProxy exists so far; AWS and Rackspace add a parameter each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract_subjects import Subject, make_haproxy

from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA


# -- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def contract_ca() -> DemoCA:
    return DemoCA("sslterm contract")


@pytest.fixture(scope="session")
def contract_app() -> Iterator[DemoApp]:
    app = DemoApp().start()
    yield app
    app.stop()
    app.thread.join(timeout=5)


@pytest.fixture(params=[pytest.param("haproxy-managed", marks=pytest.mark.haproxy)])
def provider(request: pytest.FixtureRequest, contract_ca: DemoCA, contract_app: DemoApp) -> Iterator[Subject]:
    makers = {"haproxy-managed": lambda: make_haproxy(contract_ca, contract_app)}
    with makers[request.param]() as subject:
        yield subject
