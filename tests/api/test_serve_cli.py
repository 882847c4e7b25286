"""``sslterm serve`` as an operator runs it: what it refuses before it listens (stable codes, no token shown),
and a real server on 127.0.0.1, over TLS with a stored certificate whose key file is gone before it serves."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from apitools import TOKEN
from cryptography.hazmat.primitives.serialization import Encoding
from e2e_haproxy import LOCALHOST, fingerprint, free_ports, handshake, run_cli

from pkitools import assert_error
from sslterm.demo.ca import DemoCA


def serve_env(home: Path, token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSLTERM_")}
    env.update(SSLTERM_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    if token is not None:
        env["SSLTERM_API_TOKEN"] = token
    return env


def serve(home: Path, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sslterm", "serve", *args], capture_output=True, text=True,
                          env=serve_env(home, token), timeout=60, check=False)


@contextmanager
def running(home: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``sslterm serve ARGS`` in the background; stopped with SIGTERM (by its pid) after."""
    proc = subprocess.Popen([sys.executable, "-m", "sslterm", "serve", "--apply-every", "0", *args], text=True,
                            env=serve_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_healthy(url: str, proc: subprocess.Popen[str], **kwargs: object) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(f"{url}/healthz", timeout=2, **kwargs).status_code == 200:  # type: ignore[arg-type]
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "sslterm serve did not answer"
        time.sleep(0.1)


@pytest.mark.parametrize(("args", "token", "code", "exit_code"), [
    ((), None, "api-token-required", 1),
    ((), "short-token", "api-token-too-short", 1),
    (("--listen", "0.0.0.0:8700"), TOKEN, "listen-needs-tls", 2),
    (("--listen", "[2001:db8::1]:8700"), TOKEN, "listen-needs-tls", 2),
    (("--listen", "example.com:8700"), TOKEN, "invalid-address", 2),
    (("--listen", "127.0.0.1"), TOKEN, "invalid-address", 2),
    (("--listen", "127.0.0.1:99999"), TOKEN, "invalid-address", 2),
    (("--listen", "127.0.0.1:8700\n"), TOKEN, "invalid-address", 2),
    (("--listen", f"{LOCALHOST}:{free_ports(1)[0]}", "--tls-cert", "nope"), TOKEN, "not-found", 2),
])
def test_serve_refuses_what_is_unsafe_before_it_listens(tmp_path: Path, args: tuple[str, ...], token: str | None,
                                                        code: str, exit_code: int) -> None:
    done = serve(tmp_path / "home", *args, token=token)
    assert_error(done, code, exit_code)
    assert len(done.stderr.strip().splitlines()) <= 2
    assert TOKEN not in done.stderr + done.stdout


def test_serve_on_loopback_needs_the_token_for_the_api(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    with running(tmp_path / "home", "--listen", f"{LOCALHOST}:{port}") as proc:
        url = f"http://{LOCALHOST}:{port}"
        wait_healthy(url, proc)
        assert httpx.get(f"{url}/api/v1/certificates").status_code == 401
        listed = httpx.get(f"{url}/api/v1/certificates", headers={"Authorization": f"Bearer {TOKEN}"})
        assert listed.status_code == 200 and listed.json()["total"] == 0
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    out, err = proc.communicate()
    assert TOKEN not in out + err and "Traceback" not in err


def test_serve_over_tls_with_a_stored_certificate(tmp_path: Path) -> None:
    home, ca = tmp_path / "home", DemoCA("sslterm serve")
    issued = ca.issue("api.serve.test")
    (tmp_path / "c.pem").write_bytes(issued.cert_pem() + issued.chain_pem())
    (tmp_path / "k.pem").write_bytes(issued.key_pem())
    added = run_cli(home, "cert", "add", "api", "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem"))
    assert added.returncode == 0, added.stderr
    leftover = home / ".serve-tls-crashed"  # as a server killed while starting would leave it
    leftover.mkdir(mode=0o700)
    (leftover / "key.pem").write_bytes(issued.key_pem())
    (home / "serve-tls-not-ours").mkdir()  # not one of those: kept
    port = free_ports(1)[0]
    with running(home, "--listen", f"{LOCALHOST}:{port}", "--tls-cert", "api") as proc:
        url = f"https://{LOCALHOST}:{port}"
        trust = ssl.create_default_context(cadata=ca.root.public_bytes(Encoding.PEM).decode())
        trust.check_hostname = False  # the certificate names api.serve.test; the test dials an address
        wait_healthy(url, proc, verify=trust)
        assert handshake(port, "api.serve.test").fingerprint == fingerprint(issued)
        reply = httpx.get(f"{url}/api/v1/certificates/api", headers={"Authorization": f"Bearer {TOKEN}"},
                          verify=trust)
        assert reply.status_code == 200 and reply.json()["fingerprint_sha256"] == fingerprint(issued)
        # uvicorn read the key before it served: its file is gone already, and so is the leftover
        assert list(home.glob(".serve-tls-*")) == []
        assert (home / "serve-tls-not-ours").is_dir()
    assert proc.returncode == 0
    assert list(home.glob(".serve-tls-*")) == []
    out, err = proc.communicate()
    assert "PRIVATE KEY" not in out + err and TOKEN not in out + err
