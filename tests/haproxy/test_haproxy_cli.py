"""The command line end to end (`python -m sslterm ...` with its own SSLTERM_HOME), on a real HAProxy."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from e2e_haproxy import (
    LOCALHOST,
    Kit,
    alive,
    fingerprint,
    free_ports,
    handshake,
    haproxy_pids_under,
    http_get,
    https_get,
    pid_from_file,
    refused,
    run_cli,
    wait_until,
)

from sslterm.demo.ca import Issued

pytestmark = pytest.mark.haproxy


def write_bundle(folder: Path, issued: Issued) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"cert": folder / "cert.pem", "chain": folder / "chain.pem", "key": folder / "key.pem"}
    paths["cert"].write_bytes(issued.cert_pem())
    paths["chain"].write_bytes(issued.chain_pem())
    paths["key"].write_bytes(issued.key_pem())
    return paths


def assert_no_key_material(issued: Issued, *outputs: str) -> None:
    body = [ln for ln in issued.key_pem().decode().splitlines() if ln and not ln.startswith("-----")]
    for text in outputs:
        assert "PRIVATE KEY" not in text
        assert not any(line in text for line in body)


def assert_error_lines(done: subprocess.CompletedProcess[str], exit_code: int, code: str) -> None:
    """`error[CODE]: message`, at most a hint line after it, never a traceback."""
    assert done.returncode == exit_code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines and lines[0].startswith(f"error[{code}]: "), done.stderr
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("  hint: ")), done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_enable_status_disable_and_remove_through_the_cli(kit: Kit) -> None:
    home = kit.home
    site = kit.issue("www.cli.test", "cli.test")
    files = write_bundle(home / "input", site)
    tls, plain = free_ports(2)

    added = run_cli(home, "cert", "add", "site", "--cert", str(files["cert"]), "--chain", str(files["chain"]),
                    "--key", str(files["key"]))
    assert added.returncode == 0, added.stderr
    lb_add = run_cli(home, "lb", "add", "edge", "--kind", "haproxy", "--bind", f"{LOCALHOST}:{tls}",
                     "--http-bind", f"{LOCALHOST}:{plain}", "--backend", f"{LOCALHOST}:{kit.app.port}")
    assert lb_add.returncode == 0, lb_add.stderr
    assert http_get(plain, "/").status == 200  # HAProxy runs, plain HTTP to the backend
    assert refused(tls)

    dry = run_cli(home, "enable", "edge", "--cert", "site", "--redirect-http", "--hsts", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] is True and plan["served"] == []
    assert plan["load_balancer"] == "edge"
    assert [s["action"] for s in plan["steps"]] == ["upload", "bind"]
    after = plan["steps"][1]["after"]
    assert (after["lb_port"], after["redirect_http"], after["hsts"]) == (tls, True, True)
    assert after["certificates"] == [{"name": "site", "fingerprint_sha256": fingerprint(site)}]
    assert_no_key_material(site, dry.stdout, dry.stderr)
    assert refused(tls)  # the dry run touched nothing
    assert http_get(plain, "/").status == 200

    enabled = run_cli(home, "enable", "edge", "--cert", "site", "--redirect-http", "--hsts", "--json")
    assert enabled.returncode == 0, enabled.stderr
    assert_no_key_material(site, enabled.stdout, enabled.stderr)
    served = json.loads(enabled.stdout)["served"]
    assert [(s["lb_port"], s["fingerprint_sha256"]) for s in served] == [(tls, fingerprint(site))]
    assert handshake(tls, "cli.test").fingerprint == fingerprint(site)
    reply = https_get(tls, "www.cli.test", "/x", cafile=kit.root)
    assert reply.status == 200 and reply.header("Strict-Transport-Security")
    assert http_get(plain, "/y?z=1", host="www.cli.test").header("Location") == f"https://www.cli.test:{tls}/y?z=1"

    status = run_cli(home, "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)
    assert [(r["load_balancer"], r["lb_port"], r["certificate"], r["state"]) for r in rows] == [
        ("edge", tls, "site", "ok")]
    assert rows[0]["expected"] == rows[0]["served"] == rows[0]["configured"] == fingerprint(site)

    in_use = run_cli(home, "cert", "remove", "site")
    assert_error_lines(in_use, 2, "in-use")
    assert "edge" in in_use.stderr
    assert handshake(tls, "cli.test").fingerprint == fingerprint(site)

    disabled = run_cli(home, "disable", "edge")
    assert disabled.returncode == 0, disabled.stderr
    assert refused(tls)
    assert http_get(plain, "/").status == 200

    master = pid_from_file(home / "lb" / "edge" / "haproxy.pid")
    assert master is not None and alive(master)
    removed = run_cli(home, "lb", "remove", "edge")
    assert removed.returncode == 0, removed.stderr
    assert not alive(master)
    assert refused(plain)
    assert haproxy_pids_under(home) == []
    gone = run_cli(home, "cert", "remove", "site")
    assert gone.returncode == 0, gone.stderr


def test_status_reports_an_unreachable_load_balancer(kit: Kit) -> None:
    site = kit.issue("site.test")
    kit.add_cert("site", site)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "site")
    ok = run_cli(kit.home, "status", "edge", "--json")
    assert ok.returncode == 0, ok.stderr
    assert [r["state"] for r in json.loads(ok.stdout)] == ["ok"]

    master = pid_from_file(lb.dir / "haproxy.pid")
    assert master is not None
    os.kill(master, signal.SIGTERM)  # HAProxy goes away behind sslterm's back
    wait_until(lambda: not alive(master) and refused(lb.tls_port), 15, "HAProxy to stop")

    down = run_cli(kit.home, "status", "--json")
    assert down.returncode == 9, down.stderr
    rows = json.loads(down.stdout)
    assert [(r["load_balancer"], r["certificate"], r["state"]) for r in rows] == [("edge", "site", "down")]
    assert rows[0]["served"] is None and rows[0]["expected"] == fingerprint(site)
    assert "not running" in rows[0]["error"].lower()


@pytest.fixture
def with_lb(kit: Kit) -> Kit:
    kit.add_cert("site", kit.issue("site.test"))
    kit.add_lb("edge")
    return kit


@pytest.mark.parametrize(("args", "exit_code", "code"), [
    (["enable", "nope", "--cert", "site"], 2, "not-found"),
    (["enable", "edge", "--cert", "site", "--tls-profile", "bogus"], 2, "usage"),
    (["lb", "add", "x", "--kind", "haproxy", "--bind", "a b", "--backend", "127.0.0.1:80"], 2, "invalid-address"),
    (["lb", "add", "x", "--kind", "nginx", "--backend", "127.0.0.1:80"], 2, "unknown-kind"),
], ids=["unknown-lb", "bogus-profile", "bind-with-space", "unknown-kind"])
def test_cli_errors_are_one_line_with_a_code(with_lb: Kit, args: list[str], exit_code: int, code: str) -> None:
    before = with_lb.svc.list_load_balancers()

    done = run_cli(with_lb.home, *args)

    assert_error_lines(done, exit_code, code)
    assert with_lb.svc.list_load_balancers() == before  # nothing changed


def test_lb_add_on_a_busy_port_fails_cleanly(kit: Kit) -> None:
    with socket.socket() as taken:
        taken.bind((LOCALHOST, 0))
        taken.listen()
        busy = taken.getsockname()[1]
        done = run_cli(kit.home, "lb", "add", "edge", "--kind", "haproxy", "--http-bind", f"{LOCALHOST}:{busy}",
                       "--backend", f"{LOCALHOST}:{kit.app.port}")

    assert_error_lines(done, 4, "port-in-use")  # caught before HAProxy is started
    assert str(busy) in done.stderr
    assert kit.svc.list_load_balancers() == []
    assert haproxy_pids_under(kit.home) == []
    assert not (kit.home / "lb" / "edge").exists()


def test_quickstart_check_runs_the_demo_and_leaves_nothing_behind(short_home: Path) -> None:
    done = run_cli(short_home, "quickstart", "--check")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "TLS enabled" in done.stdout and '"x-forwarded-proto": "https"' in done.stdout
    assert "HSTS: max-age=" in done.stdout
    assert "torn down" in done.stdout
    assert haproxy_pids_under(short_home) == []
    assert not (short_home / "lb" / "quickstart").exists()
    listed = run_cli(short_home, "lb", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_disable_again_is_a_no_op(with_lb: Kit) -> None:
    """Issue 7: like every re-run, disabling a port that is not enabled changes nothing and succeeds."""
    enabled = run_cli(with_lb.home, "enable", "edge", "--cert", "site")
    assert enabled.returncode == 0, enabled.stderr
    first, again = run_cli(with_lb.home, "disable", "edge"), run_cli(with_lb.home, "disable", "edge")

    assert first.returncode == 0 and again.returncode == 0, again.stderr
    assert "nothing to change" in again.stdout
    assert with_lb.svc.show_load_balancer("edge")["listeners"] == []
