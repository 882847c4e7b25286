"""The generated HAProxy configuration, graded from outside by sslyze against Mozilla's profiles.

sslyze lives in its own virtualenv (`make test` creates `.venv-tools`), since it pins an older
`cryptography` than sslterm uses. A private test CA never passes sslyze's path validation against public
trust stores, so that one finding is expected and every other one fails the test.
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sslterm.certs import BundleInput
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA
from sslterm.service import Service
from sslterm.settings import Settings

SSLYZE = Path(__file__).resolve().parents[2] / ".venv-tools" / "bin" / "sslyze"
HOST = "compliance.sslterm.test"
EXPECTED_WITH_PRIVATE_CA = {"certificate_path_validation"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def listeners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """One managed HAProxy with an intermediate listener (RSA certificate) and a modern one (ECDSA, as
    Mozilla's modern profile requires), certificates from a demo CA."""
    home = tmp_path_factory.mktemp("compliance")
    svc = Service(Settings(home=home), anchors=())
    app = DemoApp().start()
    ca = DemoCA("compliance", now=datetime.now(UTC))
    for profile, kind in (("intermediate", "rsa"), ("modern", "ec")):
        issued = ca.issue(HOST, key_kind=kind)
        svc.add_certificate(profile, BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(),
                                                 key=issued.key_pem()))
    ports = {"intermediate": free_port(), "modern": free_port()}
    svc.add_load_balancer("grade", "haproxy", {"bind": f"127.0.0.1:{ports['intermediate']}",
                                               "backends": [f"127.0.0.1:{app.port}"]})
    try:
        for profile, port in ports.items():
            svc.enable("grade", profile, lb_port=port, tls_profile=profile)
        yield ports
    finally:
        for port in ports.values():
            svc.disable("grade", lb_port=port)
        svc.remove_load_balancer("grade")
        app.stop()


def compliance_failures(profile: str, port: int) -> set[str]:
    done = subprocess.run(
        [str(SSLYZE), "--quiet", f"--mozilla_config={profile}", f"{HOST}:{port}{{127.0.0.1}}"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert "COMPLIANCE AGAINST TLS CONFIGURATION" in done.stdout, done.stdout + done.stderr
    return set(re.findall(r"^\s+\* (\w+):", done.stdout.split("COMPLIANCE AGAINST")[1], re.MULTILINE))


@pytest.mark.parametrize("profile", ["intermediate", "modern"])
def test_profile_passes_mozilla_compliance(listeners: dict[str, int], profile: str) -> None:
    assert SSLYZE.exists(), "sslyze is missing: run `make test`, which installs it into .venv-tools"
    assert compliance_failures(profile, listeners[profile]) == EXPECTED_WITH_PRIVATE_CA


def test_intermediate_listener_is_not_modern(listeners: dict[str, int]) -> None:
    """The grading can fail: the intermediate listener (TLS 1.2 allowed) is not modern-compliant."""
    failures = compliance_failures("modern", listeners["intermediate"])
    assert failures - EXPECTED_WITH_PRIVATE_CA, failures
