"""The deployment journal and leases (issue 7), with real processes and a real HAProxy: a command killed
(SIGKILL) while it changes a load balancer leaves its deployment `applying`; until its lease runs out other
commands are refused (`lb-busy`) and `status` says so; then `status` says `interrupted` and the next command
(here `sslterm apply`) finishes it, after which the store and what clients get agree."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from e2e_haproxy import Kit, fingerprint, handshake, run_cli

from sslterm.store.journal import LEASE_SECONDS
from sslterm.store.schema import LeaseRow

pytestmark = pytest.mark.haproxy


def deployments(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "sslterm.db", timeout=10) as db:
        return [(str(s), str(d)) for s, d in db.execute("SELECT state, detail FROM deployments ORDER BY id")]


def kill_while_applying(home: Path, *args: str, attempts: int = 8) -> bool:
    """Run ``sslterm ARGS`` and SIGKILL it once its deployment is recorded as applying; True if that
    happened before it finished by itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSLTERM_")}
    env.update(SSLTERM_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "sslterm", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if (home / "sslterm.db").exists() and any(s == "applying" for s, _ in deployments(home)):
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return True
        time.sleep(0.002)
    proc.wait(timeout=30)
    return False


def test_a_killed_command_is_reported_then_finished_by_the_next_one(kit: Kit) -> None:
    site = kit.issue("site.test")
    kit.add_cert("site", site)
    lb = kit.add_lb("edge")
    for _ in range(8):  # the kill must land while the load balancer is being changed
        if kill_while_applying(kit.home, "enable", "edge", "--cert", "site"):
            break
        assert run_cli(kit.home, "disable", "edge").returncode == 0
    else:
        pytest.fail("the command always finished before it could be killed while applying")

    interrupted = run_cli(kit.home, "status", "edge", "--json")  # its holder is gone: no need to wait
    again = run_cli(kit.home, "enable", "edge", "--cert", "site")

    assert interrupted.returncode == 9 and {r["state"] for r in json.loads(interrupted.stdout)} == {"interrupted"}
    assert again.returncode == 0, again.stderr
    assert [s.state for s in kit.service().status("edge")] == ["ok"]
    assert handshake(lb.tls_port, "site.test").fingerprint == fingerprint(site)
    journal = deployments(kit.home)
    assert ("verified", "finished after an interruption") in journal  # the killed command's deployment
    assert not [state for state, _ in journal if state == "applying"]


def test_a_load_balancer_another_controller_is_changing_is_refused_until_its_lease_runs_out(kit: Kit) -> None:
    site = kit.issue("site.test")
    kit.add_cert("site", site)
    lb = kit.add_lb("edge")
    now = kit.svc.clock()
    with kit.svc.db.transaction() as session:  # another machine's sslterm holds the lease
        session.add(LeaseRow(load_balancer="edge", owner="other-controller:4242:1:cafe", token=7,
                             expires_at=now + timedelta(seconds=60)))

    busy = run_cli(kit.home, "enable", "edge", "--cert", "site")
    later = kit.service(clock=lambda: kit.svc.clock() + timedelta(seconds=LEASE_SECONDS + 1))
    later.enable("edge", "site")

    assert busy.returncode == 1 and busy.stderr.startswith("error[lb-busy]"), busy.stderr
    assert "other-controller" in busy.stderr
    assert handshake(lb.tls_port, "site.test").fingerprint == fingerprint(site)


def test_apply_converges_and_records_nothing_when_nothing_changed(kit: Kit) -> None:
    site = kit.issue("site.test")
    kit.add_cert("site", site)
    kit.add_lb("edge")
    kit.svc.enable("edge", "site")
    recorded = deployments(kit.home)

    done = run_cli(kit.home, "apply")

    assert done.returncode == 0, done.stderr
    assert "edge: nothing to change" in done.stdout
    assert deployments(kit.home) == recorded  # an unchanged state makes no deployment and no write
