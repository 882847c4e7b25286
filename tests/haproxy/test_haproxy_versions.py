"""Certificate versions (issue 7): a replaced certificate stays in the store with its key, `cert history`
lists the versions, and `cert rollback` serves a previous one again, on a real HAProxy."""

from __future__ import annotations

import json

import pytest
from e2e_haproxy import Kit, fingerprint, handshake, run_cli

from sslterm.errors import NotFound
from sslterm.store.versions import KEEP_VERSIONS

pytestmark = pytest.mark.haproxy


def test_rollback_serves_the_previous_version_again_and_can_be_undone(kit: Kit) -> None:
    first, second = kit.issue("shop.test"), kit.issue("shop.test")
    kit.add_cert("shop", first)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "shop")
    kit.add_cert("shop", second, replace=True)
    assert handshake(lb.tls_port, "shop.test").fingerprint == fingerprint(second)

    listed = run_cli(kit.home, "cert", "history", "shop", "--json")
    back = run_cli(kit.home, "cert", "rollback", "shop")

    assert [(v["fingerprint_sha256"], v["current"]) for v in json.loads(listed.stdout)] == [
        (fingerprint(second), True), (fingerprint(first), False)]
    assert back.returncode == 0, back.stderr
    assert "now served by edge" in back.stdout
    assert handshake(lb.tls_port, "shop.test").fingerprint == fingerprint(first)
    assert [v.fingerprint_sha256 for v in kit.svc.certificate_history("shop")] == [fingerprint(first),
                                                                                  fingerprint(second)]
    forward = run_cli(kit.home, "cert", "rollback", "shop", "--to", fingerprint(second)[:12])
    assert forward.returncode == 0, forward.stderr
    assert handshake(lb.tls_port, "shop.test").fingerprint == fingerprint(second)
    assert [s.state for s in kit.svc.status("edge")] == ["ok"]


def test_history_keeps_a_bounded_number_of_versions_and_rollback_needs_one(kit: Kit) -> None:
    issued = [kit.issue("shop.test") for _ in range(KEEP_VERSIONS + 3)]
    kit.add_cert("shop", issued[0])
    with pytest.raises(NotFound) as none:
        kit.svc.rollback_certificate("shop")
    assert none.value.code == "no-version"
    for later in issued[1:]:
        kit.add_cert("shop", later, replace=True)
    kit.add_cert("shop", issued[-1], replace=True)  # the same bundle again: no new version

    history = [v.fingerprint_sha256 for v in kit.svc.certificate_history("shop")]

    assert history == [fingerprint(i) for i in reversed(issued)][:KEEP_VERSIONS + 1]
    refused = run_cli(kit.home, "cert", "rollback", "shop", "--to", "00000000")
    assert refused.returncode == 2 and refused.stderr.startswith("error[no-version]")
