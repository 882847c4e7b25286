"""The Rackspace user story through real ``python -m sslterm`` commands, the RACKSPACE_* environment pointing at
the emulator (so every request goes through the real HTTP client): lb add, enable (redirect, SNI mappings), a
rotation in place, status (read back), disable; and each asynchronous and error path of issue 9."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from emulator import Emulator, running_emulator
from rax_tools import LB_ID, REGION, assert_no_secrets, checked, writes

from pkitools import assert_error, assert_ok
from sslterm.certs.bundle import Bundle, fingerprint
from sslterm.demo.ca import DemoCA

LB = ["--kind", "rackspace", "--lb-id", str(LB_ID), "--region", REGION]
LB_PATH = rf"/loadbalancers/{LB_ID}$"
SSL_PATH = r"/ssltermination$"
PROCS: list[subprocess.CompletedProcess[str]] = []  # every command's output: checked for secrets


@dataclass(frozen=True)
class Files:
    dir: Path
    bundles: dict[str, Bundle]

    def add(self, run: Run, name: str, file: str | None = None, *extra: str) -> None:
        assert_ok(run("cert", "add", name, "--cert", self.dir / f"{file or name}.crt",
                      "--key", self.dir / f"{file or name}.key", *extra))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    """RSA certificates (Rackspace takes no other), valid now (the command line reads the real clock)."""
    ca, out = DemoCA("rackspace cli test"), tmp_path_factory.mktemp("certs")
    hosts = {"shop": ("shop.example.test", "www.shop.example.test"), "renewed": ("shop.example.test",
             "www.shop.example.test"), "api": ("api.example.test", "www.api.example.test"),
             "api2": ("api.example.test", "www.api.example.test"), "other": ("www.api.example.test",),
             "many": tuple(f"h{i}.example.test" for i in range(21)), "ec": ("ec.example.test",)}
    bundles = {}
    for name, names in hosts.items():
        issued = ca.issue(*names, key_kind="ec" if name == "ec" else "rsa")
        (out / f"{name}.crt").write_bytes(issued.cert_pem() + issued.chain_pem())
        (out / f"{name}.key").write_bytes(issued.key_pem())
        bundles[name] = checked(issued, ca)
    return Files(out, bundles)


@pytest.fixture
def rax() -> Iterator[Emulator]:
    with running_emulator(pending_seconds=0.1) as emulator:
        emulator.add_load_balancer(LB_ID, REGION, name="legacy")
        yield emulator
        assert_no_secrets([p.stdout + p.stderr for p in PROCS], emulator)
        PROCS.clear()


class Run:
    def __init__(self, home: Path, rax: Emulator) -> None:
        self.home, self.rax = home, rax
        self.env = {"RACKSPACE_USERNAME": rax.username, "RACKSPACE_API_KEY": rax.api_key,
                    "RACKSPACE_IDENTITY_URL": rax.identity_url}

    def environment(self, **env: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SSLTERM_", "RACKSPACE_"))}
        merged = {**base, "SSLTERM_HOME": str(self.home), "COLUMNS": "200", "NO_COLOR": "1", **self.env, **env}
        return {k: v for k, v in merged.items() if v}

    def __call__(self, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "sslterm", *map(str, args)], env=self.environment(**env),
                              capture_output=True, text=True, timeout=120, check=False)
        PROCS.append(proc)
        return proc


@pytest.fixture
def run(tmp_path: Path, rax: Emulator) -> Run:
    return Run(tmp_path / "home", rax)


@pytest.fixture
def legacy(run: Run, files: Files, rax: Emulator) -> Run:
    """``legacy`` added, with certificates shop and api in the store; nothing on the load balancer yet."""
    files.add(run, "shop")
    files.add(run, "api")
    assert_ok(run("lb", "add", "legacy", *LB))
    rax.clear_requests()
    return run


def pem(files: Files, name: str) -> str:
    return files.bundles[name].leaf.public_bytes(Encoding.PEM).decode()


def put(rax: Emulator, path: str, body: object) -> None:
    """Another client's change (not sslterm's)."""
    httpx.put(f"{rax.endpoint(REGION)}/loadbalancers/{LB_ID}{path}", json=body,
              headers={"X-Auth-Token": rax.issue_token()}, timeout=10).raise_for_status()


def mappings(rax: Emulator) -> dict[str, tuple[int, str]]:
    return {m.host_name: (m.id, m.certificate) for m in rax.certificate_mappings(LB_ID)}


# -- the user story ----------------------------------------------------------------------------------------------------


def test_the_user_story(legacy: Run, files: Files, rax: Emulator) -> None:
    run = legacy
    shown = run("lb", "show", "legacy", "--json")
    assert_ok(shown)
    assert '"lb_id": 123456' in shown.stdout and rax.username not in shown.stdout

    assert_ok(run("enable", "legacy", "--cert", "shop", "--redirect-http"))
    t = rax.ssl_termination(LB_ID)
    assert t is not None and t.certificate == pem(files, "shop") and t.secure_traffic_only and t.secure_port == 443
    assert rax.load_balancer(LB_ID).https_redirect

    assert_ok(run("enable", "legacy", "--cert", "api"))
    assert {h: c for h, (_, c) in mappings(rax).items()} == {h: pem(files, "api") for h in
                                                            ("api.example.test", "www.api.example.test")}
    ids = {h: i for h, (i, _) in mappings(rax).items()}

    rax.clear_requests()
    assert_ok(run("cert", "add", "shop", "--cert", files.dir / "renewed.crt", "--key", files.dir / "renewed.key",
                  "--replace"))
    assert writes(rax) == [("PUT", f"/loadbalancers/{LB_ID}/ssltermination")]  # in place: nothing else written
    t = rax.ssl_termination(LB_ID)
    assert t is not None and t.certificate == pem(files, "renewed") and t.secure_traffic_only
    assert {h: i for h, (i, _) in mappings(rax).items()} == ids  # every mapping kept, same ids, same certificate
    assert {c for _, c in mappings(rax).values()} == {pem(files, "api")}

    status = run("status", "legacy", "--json")
    rows = {r["certificate"]: r for r in json.loads(status.stdout) if r["expected"]}
    assert rows["shop"]["served"] == rows["shop"]["expected"] == files.bundles["renewed"].fingerprint
    assert rows["api"]["served"] == files.bundles["api"].fingerprint
    assert all(r["served_chain"] == r["expected_chain"] and len(r["expected_chain"]) == 1 for r in rows.values())

    assert_ok(run("disable", "legacy"))
    assert rax.ssl_termination(LB_ID) is None and mappings(rax) == {}
    assert not rax.load_balancer(LB_ID).https_redirect
    store = (run.home / "sslterm.db").read_bytes()
    assert rax.api_key.encode() not in store and rax.username.encode() not in store


def test_status_is_ok_once_served(legacy: Run, rax: Emulator) -> None:
    assert_ok(legacy("enable", "legacy", "--cert", "shop"))
    assert_ok(legacy("enable", "legacy", "--cert", "api"))
    assert_ok(legacy("status", "legacy"))


def test_status_reads_back_the_chain(legacy: Run, files: Files, rax: Emulator) -> None:
    assert_ok(legacy("enable", "legacy", "--cert", "shop"))
    bundle = files.bundles["shop"]
    # someone puts the same leaf back without its chain, behind sslterm's back
    put(rax, "/ssltermination", {"sslTermination": {"certificate": pem(files, "shop"), "securePort": 443,
                                                    "privatekey": bundle.key_pem().decode()}})
    time.sleep(0.5)
    status = legacy("status", "legacy", "--json")
    (row,) = [r for r in json.loads(status.stdout) if r["certificate"] == "shop"]
    assert row["served"] == bundle.fingerprint and row["served_chain"] == []
    assert row["expected_chain"] == [fingerprint(c) for c in bundle.chain]
    assert status.returncode == 9


# -- credentials, identity, the catalog --------------------------------------------------------------------------------


def test_no_credentials(run: Run, rax: Emulator) -> None:
    proc = run("lb", "add", "legacy", *LB, RACKSPACE_USERNAME="", RACKSPACE_API_KEY="")
    assert_error(proc, "rackspace-no-credentials", 6)
    assert "RACKSPACE_API_KEY" in proc.stderr
    assert rax.requests == []


def test_wrong_api_key(run: Run, rax: Emulator) -> None:
    proc = run("lb", "add", "legacy", *LB, RACKSPACE_API_KEY="wrong-" + rax.api_key[:8])
    assert_error(proc, "rackspace-unauthorized", 6)
    assert "wrong-" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("args", "code", "exit_code"), [
    (["--lb-id", "999", "--region", REGION], "rackspace-lb-not-found", 6),
    (["--lb-id", str(LB_ID), "--region", "LON"], "rackspace-no-endpoint", 6),  # not in the emulator's catalog
    (["--lb-id", str(LB_ID), "--region", "XYZ"], "invalid-option", 2),
    (["--lb-id", "abc", "--region", REGION], "invalid-option", 2),
    (["--region", REGION], "invalid-option", 2)])
def test_lb_add_refusals(run: Run, rax: Emulator, args: list[str], code: str, exit_code: int) -> None:
    assert_error(run("lb", "add", "legacy", "--kind", "rackspace", *args), code, exit_code)
    assert rax.writes() == []
    assert "no load balancers" in run("lb", "list").stdout


def test_a_termination_sslterm_did_not_make_is_not_taken_over(run: Run, files: Files, rax: Emulator) -> None:
    files.add(run, "shop")
    assert_ok(run("lb", "add", "first", *LB))
    assert_ok(run("enable", "first", "--cert", "shop"))
    assert_error(run("lb", "add", "second", *LB), "rackspace-termination-exists", 4)


def test_an_expired_token_is_renewed(legacy: Run, rax: Emulator) -> None:
    rax.fail_next("GET", LB_PATH, 401)  # as an expired or revoked token gets it
    assert_ok(legacy("enable", "legacy", "--cert", "shop"))
    assert rax.count("POST", r"/v2.0/tokens$") == 2


# -- refused before any call -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cert", "args", "code"), [
    ("ec", [], "unsupported-key-type"),  # RSA only: the engine, from the capabilities
    ("many", [], "rackspace-mapping-limit"),
    ("other", [], "rackspace-duplicate-host-name"),
    ("shop", ["--lb-port", "8443", "--redirect-http"], "rackspace-redirect-port"),
    ("shop", ["--tls-profile", "modern"], "tls-profile-unsupported"),
    ("shop", ["--hsts"], "hsts-unsupported"),
    ("shop", ["--instance-port", "8080"], "rackspace-instance-port"),
    ("shop", ["--lb-port", "80"], "port-taken")])
def test_refused_before_any_change(legacy: Run, files: Files, rax: Emulator, cert: str, args: list[str],
                                   code: str) -> None:
    first = "api" if cert in ("many", "other") else None
    if first:
        assert_ok(legacy("enable", "legacy", "--cert", "shop"))
        assert_ok(legacy("enable", "legacy", "--cert", first))
        rax.clear_requests()
    if cert not in ("shop", "api"):
        files.add(legacy, cert)
    assert_error(legacy("enable", "legacy", "--cert", cert, *args), code, 4)
    assert rax.writes() == []


# -- the load balancer is asynchronous ---------------------------------------------------------------------------------


def their_change(rax: Emulator) -> None:
    """Another client renames the load balancer: PENDING_UPDATE for ``rax.pending_seconds``."""
    put(rax, "", {"loadBalancer": {"name": "theirs"}})


def test_waits_while_pending_update(legacy: Run, rax: Emulator) -> None:
    rax.pending_seconds = 1.5
    their_change(rax)
    started = time.monotonic()
    assert_ok(legacy("enable", "legacy", "--cert", "shop"))
    assert time.monotonic() - started > 1.2
    assert [r.status for r in rax.requests_matching("PUT", SSL_PATH)] == [200]  # sent once it was ACTIVE


def test_retries_a_422_immutable(legacy: Run, rax: Emulator) -> None:
    rax.fail_next("PUT", SSL_PATH, 422)
    assert_ok(legacy("enable", "legacy", "--cert", "shop"))
    assert [r.status for r in rax.requests_matching("PUT", SSL_PATH)] == [422, 200]


def test_honours_413_retry_after(legacy: Run, rax: Emulator) -> None:
    rax.fail_next("PUT", SSL_PATH, 413, headers={"Retry-After": "2"})
    started = time.monotonic()
    assert_ok(legacy("enable", "legacy", "--cert", "shop"))
    assert time.monotonic() - started > 2.0
    puts = rax.requests_matching("PUT", SSL_PATH)
    assert [r.status for r in puts] == [413, 200] and puts[1].at - puts[0].at >= 2.0


def test_the_wait_is_bounded_and_says_why(legacy: Run, rax: Emulator) -> None:
    rax.set_status(LB_ID, "PENDING_UPDATE")  # stuck
    started = time.monotonic()
    proc = legacy("enable", "legacy", "--cert", "shop", RACKSPACE_MAX_WAIT="2")
    assert time.monotonic() - started < 30
    assert_error(proc, "rackspace-timeout", 5)
    assert "legacy (Rackspace DFW load balancer 123456)" in proc.stderr and "PENDING_UPDATE" in proc.stderr
    assert rax.writes() == []


def test_a_change_that_ends_in_error(legacy: Run, rax: Emulator) -> None:
    rax.fail_next_update(LB_ID, "ERROR")
    proc = legacy("enable", "legacy", "--cert", "shop")
    assert proc.returncode == 7 and "Traceback" not in proc.stderr  # it cannot be put back: needs attention
    assert "ERROR" in proc.stderr and "legacy" in proc.stderr


def test_a_failure_midway_leaves_the_previous_certificate(legacy: Run, files: Files, rax: Emulator) -> None:
    assert_ok(legacy("enable", "legacy", "--cert", "shop"))
    assert_ok(legacy("enable", "legacy", "--cert", "api"))
    before = mappings(rax)
    rax.fail_next("PUT", rf"/certificatemappings/{before['www.api.example.test'][0]}$", 400)
    proc = legacy("cert", "add", "api", "--cert", files.dir / "api2.crt", "--key", files.dir / "api2.key", "--replace")
    assert proc.returncode == 5 and "rolled back" in proc.stderr
    assert mappings(rax) == before  # the first mapping, already replaced, was put back
    t = rax.ssl_termination(LB_ID)
    assert t is not None and t.certificate == pem(files, "shop")


# -- several load balancers, and the store while one answers -----------------------------------------------------------

FLEET = [LB_ID + i for i in range(1, 4)]


def fleet(run: Run, files: Files, rax: Emulator) -> None:
    """shop served by three more load balancers: fleet1..fleet3."""
    for i, lb_id in enumerate(FLEET, 1):
        rax.add_load_balancer(lb_id, REGION, name=f"fleet{i}")
        assert_ok(run("lb", "add", f"fleet{i}", "--kind", "rackspace", "--lb-id", str(lb_id), "--region", REGION))
        assert_ok(run("enable", f"fleet{i}", "--cert", "shop"))
    rax.clear_requests()


def ssl_put(lb_id: int) -> str:
    return rf"/loadbalancers/{lb_id}/ssltermination$"


def wait_for(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


def test_a_rotation_changes_its_load_balancers_side_by_side(legacy: Run, files: Files, rax: Emulator) -> None:
    fleet(legacy, files, rax)
    first = rax.hold("PUT", ssl_put(FLEET[0]))  # the first one answers only once the others were sent theirs
    rotation = subprocess.Popen([sys.executable, "-m", "sslterm", "cert", "add", "shop", "--cert",
                                 str(files.dir / "renewed.crt"), "--key", str(files.dir / "renewed.key"), "--replace"],
                                env=legacy.environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        others_sent = wait_for(lambda: all(rax.count("PUT", ssl_put(i)) for i in FLEET[1:]))
    finally:
        first.release()
        _, err = rotation.communicate(timeout=120)
    assert rotation.returncode == 0, err
    assert others_sent  # while the first was still answering: not one after another
    for lb_id in FLEET:
        t = rax.ssl_termination(lb_id)
        assert t is not None and t.certificate == pem(files, "renewed")


def test_one_failing_puts_the_others_back(legacy: Run, files: Files, rax: Emulator) -> None:
    fleet(legacy, files, rax)
    rax.fail_next("PUT", ssl_put(FLEET[-1]), 400)
    proc = legacy("cert", "add", "shop", "--cert", files.dir / "renewed.crt", "--key", files.dir / "renewed.key",
                  "--replace")
    assert proc.returncode == 5 and "rolled back" in proc.stderr and "fleet3" in proc.stderr
    for lb_id in FLEET:  # every one serves the certificate it had: those changed were put back
        t = rax.ssl_termination(lb_id)
        assert t is not None and t.certificate == pem(files, "shop")
    shown = legacy("cert", "show", "shop", "--json")
    assert json.loads(shown.stdout)["fingerprint_sha256"] == fingerprint(files.bundles["shop"].leaf)
    status = legacy("status", "--json")
    assert status.returncode == 0 and {e["state"] for e in json.loads(status.stdout)} == {"ok"}


def test_the_store_is_not_locked_while_a_load_balancer_answers(legacy: Run, files: Files, rax: Emulator) -> None:
    slow = rax.hold("GET", LB_PATH)  # the load balancer is slow to say what it has
    enabling = subprocess.Popen([sys.executable, "-m", "sslterm", "enable", "legacy", "--cert", "shop"],
                                env=legacy.environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert slow.arrived.wait(60)
        other = legacy("cert", "add", "other", "--cert", files.dir / "other.crt", "--key", files.dir / "other.key")
        still_waiting = enabling.poll() is None
    finally:
        slow.release()
        _, err = enabling.communicate(timeout=120)
    assert_ok(other)  # another command wrote the store while the enable waited on the load balancer
    assert still_waiting and enabling.returncode == 0, err
    t = rax.ssl_termination(LB_ID)
    assert t is not None and t.certificate == pem(files, "shop")
