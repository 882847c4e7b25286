"""Ctrl-C at any moment of a real `sslterm enable` (issue 6, item 12): exit 130 means nothing was changed,
and an interruption after the change was saved says so and exits 0, the change in place and served."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_haproxy import Kit, fingerprint, handshake, refused, run_cli

pytestmark = pytest.mark.haproxy

ROUNDS = 12


def listeners_in_store(home: Path) -> int:
    with sqlite3.connect(home / "sslterm.db", timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM terminations").fetchone()[0])


def verified(home: Path) -> int:
    """Deployments whose outcome was recorded: from then on the change is saved and served."""
    with sqlite3.connect(home / "sslterm.db", timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM deployments WHERE state = 'verified'").fetchone()[0])


def start_cli(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSLTERM_")}
    env.update(SSLTERM_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return subprocess.Popen([sys.executable, "-m", "sslterm", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def interrupt_after(proc: subprocess.Popen[str], home: Path, committed: bool, delay: float) -> bool:
    """SIGINT ``proc`` once its deployment is recorded as verified (``committed``), or after ``delay``
    seconds; True when the signal was sent after that while the command still ran."""
    deadline = time.monotonic() + (30 if committed else delay)
    before = verified(home)
    while proc.poll() is None and time.monotonic() < deadline:
        if committed and verified(home) > before:
            proc.send_signal(signal.SIGINT)
            return True
        time.sleep(0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    return False


def test_an_interrupted_enable_exits_130_only_when_nothing_changed(kit: Kit) -> None:
    site = kit.issue("site.test")
    kit.add_cert("site", site)
    lb = kit.add_lb("edge")
    landed_after_commit = 0
    for round_ in range(ROUNDS):
        after_commit = round_ % 2 == 0  # odd rounds: at a moment during the deployment, before its commit
        proc = start_cli(kit.home, "enable", "edge", "--cert", "site")
        landed = interrupt_after(proc, kit.home, after_commit, delay=0.3 + 0.15 * round_)
        out, err = proc.communicate(timeout=60)
        served = listeners_in_store(kit.home) == 1
        assert "Traceback" not in out + err
        if proc.returncode == -signal.SIGINT:  # landed in Python's own start-up, before sslterm ran at all
            assert (out, err) == ("", "") and not served and refused(lb.tls_port)
        elif proc.returncode == 130:  # "nothing was changed": store and load balancer as before
            assert not served and refused(lb.tls_port), err
        else:
            assert proc.returncode == 0, (round_, landed, served, err)
            assert served and handshake(lb.tls_port, "site.test").fingerprint == fingerprint(site)
            warned = "interrupted after the change was saved" in err
            assert warned or "applied on edge" in out, (out, err)  # said what was done, one way or the other
            landed_after_commit += landed and warned
        if served:
            assert run_cli(kit.home, "disable", "edge").returncode == 0
    print("interruptions after a commit:", landed_after_commit)
    assert landed_after_commit > 0, "no interruption landed after a commit: the test proved nothing"
