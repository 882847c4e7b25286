"""The ``subject`` fixture the contract suite is parametrised over: one real load balancer per kind of
contract_subjects.KINDS. A test marked ``@pytest.mark.contract_needs("feature", ...)`` runs on the kinds that
have every feature named, and only on those: a kind without one is not collected for it (never a skip
counted as a pass), and a feature no kind has is a collection error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract_subjects import FEATURES, KINDS, Kind, Subject

from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract_needs(*features): run only on subjects with these features "
                                       "(contract_subjects.FEATURES)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "subject_kind" not in metafunc.fixturenames:
        return
    needs: set[str] = set()
    for mark in metafunc.definition.iter_markers("contract_needs"):
        needs.update(mark.args)
    unknown = needs - FEATURES
    if unknown:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown contract features {sorted(unknown)}")
    kinds = [k for k in KINDS if needs <= k.features]
    if not kinds:  # an empty parameter set would be a skip: refuse it
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: no subject kind has {sorted(needs)}")
    metafunc.parametrize("subject_kind", [pytest.param(k, id=k.name, marks=k.marks) for k in kinds])


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


@pytest.fixture
def subject(subject_kind: Kind, contract_ca: DemoCA, contract_app: DemoApp) -> Iterator[Subject]:
    with subject_kind.make(contract_ca, contract_app) as made:
        made.features = subject_kind.features
        yield made
