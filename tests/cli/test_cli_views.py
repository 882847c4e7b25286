"""Issue 6 (items 14, 15, 16) on a real HAProxy: what ``lb list``, ``lb show``, ``status`` and the plan show
a person, the exit codes of names taken and still in use, the quickstart's command for another terminal,
and the README's tour, pasted command by command."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pkitools import Cli, Pki, assert_error, assert_ok, write

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "haproxy"))
e2e: Any = importlib.import_module("e2e_haproxy")  # free ports, pid files, stopping what a test started

pytestmark = [pytest.mark.haproxy,
              pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs haproxy (make test installs it)")]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def short_home() -> Iterator[Path]:
    """A short data directory (HAProxy's socket paths are limited to ~100 characters); every HAProxy
    started under it is stopped by its pid when the test ends."""
    home = Path(tempfile.mkdtemp(prefix="sst-"))
    try:
        yield home
    finally:
        e2e.stop_haproxy_under(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def site(short_home: Path) -> dict[str, Any]:
    """A certificate ``site`` in the store and a managed load balancer ``edge`` on free loopback ports."""
    pki = Pki("Views", now=datetime.now(UTC))
    leaf = pki.leaf("www.views.test", "views.test")
    cli = Cli(short_home / "data")
    files = short_home / "in"
    files.mkdir()
    assert_ok(cli("cert", "add", "site", "--cert", write(files / "c.crt", leaf.pem), "--key",
                  write(files / "c.key", leaf.key_bytes()), "--chain", write(files / "chain.pem", pki.chain_pem)))
    tls, plain, backend = e2e.free_ports(3)
    empty = cli("lb", "list")
    assert_ok(empty)
    added = cli("lb", "add", "edge", "--kind", "haproxy", "--bind", f"127.0.0.1:{tls}", "--http-bind",
                f"127.0.0.1:{plain}", "--backend", f"127.0.0.1:{backend}")
    assert_ok(added)
    return {"cli": cli, "tls": tls, "fingerprint": leaf.fingerprint, "empty_list": empty, "home": short_home}


def test_an_empty_lb_list_says_what_to_do(site: dict[str, Any]) -> None:
    empty = site["empty_list"].stdout
    assert empty.startswith("no load balancers yet; add one with: sslterm lb add NAME --kind haproxy"), empty
    assert "┃" not in empty and "─" not in empty  # no empty table


def test_the_plan_is_printed_whole_as_the_steps_hold_it(site: dict[str, Any]) -> None:
    cli, args = site["cli"], ["enable", "edge", "--cert", "site", "--redirect-http", "--hsts", "--instance-port",
                              "8081", "--tls-profile", "modern", "--dry-run"]
    human, as_json = cli(*args), cli(*args, "--json")
    assert_ok(human)
    assert_ok(as_json)
    summaries = [step["summary"] for step in json.loads(as_json.stdout)["steps"]]
    assert human.stdout.splitlines() == ["plan (dry run, nothing touched) on edge:",
                                         *(f"  - {s}" for s in summaries)]


def test_lb_show_is_a_human_view_of_listeners_and_options(site: dict[str, Any]) -> None:
    cli, tls = site["cli"], site["tls"]
    assert_ok(cli("enable", "edge", "--cert", "site", "--redirect-http", "--hsts", "--instance-port", "8081"))
    shown = cli("lb", "show", "edge")
    assert_ok(shown)
    text = shown.stdout
    assert not text.lstrip().startswith("{"), text
    rows = {tuple(re.split(r"\s{2,}", line.strip(), maxsplit=1)) for line in text.splitlines() if line.strip()}
    assert ("kind", "haproxy") in rows
    assert ("bind", f"127.0.0.1:{tls}") in rows
    assert (f"listener :{tls}", f"HTTPS :{tls} -> HTTP on instance port 8081") in rows
    assert {("redirect HTTP", "yes"), ("HSTS", "yes"), ("TLS profile", "intermediate")} <= rows
    assert ("certificates", f"site (sha256 {site['fingerprint'][:16]}...)") in rows
    assert json.loads(cli("lb", "show", "edge", "--json").stdout)["listeners"][0]["lb_port"] == tls

    listed = cli("lb", "list")
    assert_ok(listed)
    assert re.search(rf"edge\s.*haproxy\s.*:{tls}\s.*site", listed.stdout), listed.stdout


def test_status_shows_both_fingerprints_alike_and_errors_whole(site: dict[str, Any]) -> None:
    cli, fingerprint = site["cli"], site["fingerprint"]
    assert_ok(cli("enable", "edge", "--cert", "site"))
    ok = cli("status")
    assert_ok(ok)
    [row] = [line for line in ok.stdout.splitlines() if "edge" in line]
    assert row.count(fingerprint[:16]) == 2 and fingerprint[:17] not in row, row  # expected, served
    assert re.search(r"\bok\b", row)

    master = e2e.pid_from_file(site["home"] / "data" / "lb" / "edge" / "haproxy.pid")
    assert master is not None
    os.kill(master, signal.SIGTERM)  # the HAProxy this test started goes away behind sslterm's back
    e2e.wait_until(lambda: not e2e.alive(master) and e2e.refused(site["tls"]), 15, "HAProxy to stop")
    down = cli("status")
    assert down.returncode == 9, down.stderr
    [row] = json.loads(cli("status", "--json").stdout)
    assert row["state"] != "ok" and len(row["error"]) > 40
    assert f"edge :{site['tls']} site: {row['state']}: {row['error']}" in down.stdout.splitlines()
    [table_row] = [line for line in down.stdout.splitlines() if "edge" in line and "│" in line]
    assert row["state"] in table_row


def test_exit_codes_of_a_name_taken_and_of_a_name_in_use(site: dict[str, Any]) -> None:
    cli = site["cli"]
    other, backend = e2e.free_ports(2)
    assert_error(cli("lb", "add", "edge", "--kind", "haproxy", "--bind", f"127.0.0.1:{other}", "--backend",
                     f"127.0.0.1:{backend}"), "exists", 2)
    assert_error(cli("enable", "nope", "--cert", "site"), "not-found", 2)
    assert_ok(cli("enable", "edge", "--cert", "site"))
    assert_error(cli("cert", "remove", "site"), "in-use", 2)
    assert_error(cli("lb", "remove", "edge"), "in-use", 2)


# -- item 14: the quickstart's command for another terminal ------------------------------------------


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError("the quickstart never printed " + repr(marker) + ":\n" + "\n".join(lines))


def test_the_quickstart_prints_a_status_command_that_works_in_another_shell(short_home: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(short_home), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
           "SSLTERM_HOME": ".demo"}  # relative, as a user may give it
    demo = subprocess.Popen([sys.executable, "-m", "sslterm", "quickstart"], cwd=short_home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = _read_until(demo, "status quickstart", 120)
        command = lines[-1].strip()
        assert "while the demo runs, in another terminal" in lines[-2]
        assert command.startswith(f"SSLTERM_HOME={short_home / '.demo'} "), command
        other = subprocess.run(["bash", "-c", command], cwd="/", capture_output=True, text=True, timeout=60,
                               check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(short_home)})
        assert other.returncode == 0, other.stderr
        assert re.search(r"quickstart\s.*\bok\b", other.stdout), other.stdout
    finally:
        demo.send_signal(signal.SIGTERM)  # the demo started here: stopped by its own pid
        out, err = demo.communicate(timeout=60)
    assert demo.returncode == 0, err
    assert "torn down" in out


# -- item 14: the README's tour, pasted ------------------------------------------------------------------


def _tour_commands() -> list[str]:
    """The sslterm lines of the README's code blocks (continuations joined), in order."""
    text = (REPO / "README.md").read_text()
    commands: list[str] = []
    for block in re.findall(r"^```\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        joined = re.sub(r"\\\n\s*", "", block)
        commands += [line for line in joined.splitlines() if line.startswith(("sslterm ", "make tour-files"))]
    return commands


def test_every_command_of_the_readme_tour_works_when_pasted(short_home: Path) -> None:
    """The addresses are moved to free loopback ports (tests bind nothing else); all the rest is as written,
    run by bash with ``sslterm`` found on PATH."""
    tls, plain, b1, b2 = e2e.free_ports(4)
    moved = {"0.0.0.0:443": f"127.0.0.1:{tls}", "0.0.0.0:80": f"127.0.0.1:{plain}",
             "10.0.0.11:80": f"127.0.0.1:{b1}", "10.0.0.12:80": f"127.0.0.1:{b2}"}
    path = short_home / "bin"
    path.mkdir()
    (path / "sslterm").symlink_to(Path(sys.executable).parent / "sslterm")
    env = {"PATH": f"{path}:/usr/bin:/bin", "HOME": str(short_home), "LANG": "C.UTF-8",
           "SSLTERM_HOME": str(short_home / "data")}
    commands = _tour_commands()
    assert commands[0] == "make tour-files && cd build/tour"
    tour = short_home / "tour"
    made = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed", "tour-files",
                           f"TOUR={tour}"], capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    assert len(commands) > 20
    for command in commands[1:]:
        for old, new in moved.items():
            command = command.replace(old, new)
        done = subprocess.run(["bash", "-c", command], cwd=tour, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
