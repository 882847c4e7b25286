"""moto in server mode, the tests' AWS: a child process on 127.0.0.1 and a free port, reached over HTTP
exactly as sslterm reaches AWS (``AWS_ENDPOINT_URL``), never patched into the test process.

The server gets a minimal environment built here (no AWS credentials, no proxy settings, nothing of the
caller's), is waited for within a bound, and is stopped by its pid: terminate, wait, kill, reap. Nothing is
ever stopped by name.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
ATTEMPTS = 3  # a free port can be taken between the check and the bind

#: what every client and every sslterm child is given: fake credentials, one region
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class MotoError(Exception):
    """moto did not start or did not answer; the message holds the server's last output."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _request(port: int, method: str, path: str, timeout: float = 5.0) -> int:
    """Status of one plain HTTP request (http.client: no proxy from the environment, unlike urllib)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """By pid: SIGTERM, then SIGKILL if it outlives STOP_TIMEOUT; always reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    """True once moto answers; False when it exited (the port was taken); MotoError after START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            if 200 <= _request(port, "GET", "/moto-api/config") < 300:
                return True
        time.sleep(0.1)
    raise MotoError(f"moto did not answer on {HOST}:{port} within {START_TIMEOUT:g} s:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start ``python -m moto.server`` on 127.0.0.1, yield its endpoint URL, stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="sslterm-moto-") as tmp:
        log = Path(tmp) / "moto.log"
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        for _ in range(ATTEMPTS):
            port = free_port()
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                    env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            try:
                if _wait_ready(process, port, log):
                    yield f"http://{HOST}:{port}"
                    return
            finally:
                _stop(process)
        raise MotoError(f"moto could not bind a port on {HOST} in {ATTEMPTS} tries:\n{log.read_text()[-2000:]}")


_SHARED: dict[str, str] = {}
_SHARED_STACK = contextlib.ExitStack()


def shared_endpoint() -> str:
    """The endpoint of this process's one moto server (tests/aws and the contract suite alike), started on the
    first call and stopped by its pid when the process exits; each user empties it first (:func:`reset`)."""
    if "endpoint" not in _SHARED:
        _SHARED["endpoint"] = _SHARED_STACK.enter_context(moto_server())
        atexit.register(_SHARED_STACK.close)
    return _SHARED["endpoint"]


def reset(endpoint: str) -> None:
    """Empty every moto backend (``POST /moto-api/reset``), so each test starts from a blank account."""
    port = int(endpoint.rsplit(":", 1)[1])
    status = _request(port, "POST", "/moto-api/reset")
    if not 200 <= status < 300:
        raise MotoError(f"moto reset answered HTTP {status}")


def environment(endpoint: str) -> dict[str, str]:
    """What an sslterm child needs to reach moto through boto3's own settings, and nothing beyond loopback."""
    return {"AWS_ENDPOINT_URL": endpoint, **CREDENTIALS, "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true"}


@cache
def client(endpoint: str, service: str) -> Any:
    """A boto3 client of moto: explicit endpoint, credentials and region; no retries (moto answers an
    unimplemented call with HTTP 500, which botocore would otherwise retry). Made once per endpoint and
    service (a client holds no state of moto's, and making one takes a tenth of a second)."""
    session = boto3.session.Session(aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name=REGION)
    return session.client(service, endpoint_url=endpoint,
                          config=Config(retries={"mode": "standard", "max_attempts": 1}))
