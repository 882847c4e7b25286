"""A deployment that outlasts its lease keeps it: the lease is renewed while the load balancer answers slowly, so
``status`` says ``applying`` (not ``interrupted``) and no other command takes the load balancer over."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator import Emulator, running_emulator
from rax_tools import LB_ID, REGION

from sslterm.certs import BundleInput
from sslterm.demo.ca import DemoCA
from sslterm.errors import Busy
from sslterm.service import Service
from sslterm.settings import Settings

LEASE = 2.0  # seconds: the deployment below takes 2.5 times that; renewed every third, so 1.3 s of slack


@pytest.fixture
def rax() -> Iterator[Emulator]:
    with running_emulator(pending_seconds=0.05) as emulator:
        emulator.add_load_balancer(LB_ID, REGION, name="legacy")
        yield emulator


def service(home: Path, rax: Emulator, ca: DemoCA) -> Service:
    settings = Settings(home=home, rackspace_username=rax.username, rackspace_api_key=rax.api_key,
                        rackspace_identity_url=rax.identity_url)
    return Service(settings, anchors=(ca.root,), lease_seconds=LEASE)


def test_a_slow_deployment_keeps_its_lease(tmp_path: Path, rax: Emulator) -> None:
    ca = DemoCA("lease test")
    ours, other = service(tmp_path, rax, ca), service(tmp_path, rax, ca)  # two commands, two lease holders
    issued = ca.issue("shop.example.test", key_kind="rsa")
    ours.add_certificate("shop", BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem()))
    ours.add_load_balancer("legacy", "rackspace", {"lb_id": str(LB_ID), "region": REGION})
    slow = rax.hold("PUT", r"/ssltermination$")  # the load balancer takes its time to accept the change
    failures: list[BaseException] = []

    def enable() -> None:
        try:
            ours.enable("legacy", "shop")
        except BaseException as exc:
            failures.append(exc)

    enabling = threading.Thread(target=enable)
    enabling.start()
    try:
        assert slow.arrived.wait(60)
        time.sleep(2.5 * LEASE)  # the lease, taken before the change, would have run out twice
        states = {s.state for s in other.status("legacy")}
        with pytest.raises(Busy):
            other.disable("legacy")
    finally:
        slow.release()
        enabling.join(timeout=120)
    assert states == {"applying"}
    assert not failures and {s.state for s in other.status("legacy")} == {"ok"}
    ours.close()
    other.close()
