"""The REST API tests' tools: the real app (``create_app``) over a real store, served by a real uvicorn on
127.0.0.1 and driven through httpx, with real managed HAProxy load balancers on 127.0.0.1 behind it. Every
response a test received is kept (``api.responses``) for the no-key-material checks; every HAProxy a test
started is stopped by pid when it ends."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "haproxy"))

from e2e_haproxy import LOCALHOST, free_ports, haproxy_pids_under, stop_haproxy_under

from sslterm.api.app import create_app
from sslterm.api.jobs import BackgroundJobs
from sslterm.api.services import ServiceFactory
from sslterm.api.state import ApiState
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA, Issued
from sslterm.settings import Settings

TOKEN = "test-token-0123456789abcdef"
FINAL = ("verified", "rolled-back", "failed", "needs-attention")


@dataclass
class Api:
    """The app, a client that sends the token, and what it was answered."""

    home: Path
    factory: ServiceFactory
    jobs: BackgroundJobs
    app: FastAPI
    client: httpx.Client
    ca: DemoCA
    backend_port: int
    responses: list[httpx.Response] = field(default_factory=list)

    def cert_body(self, name: str, issued: Issued, **extra: Any) -> dict[str, Any]:
        return {"name": name, "certificate": issued.cert_pem().decode(), "chain": issued.chain_pem().decode(),
                "private_key": issued.key_pem().decode(), **extra}

    def add_cert(self, name: str, issued: Issued) -> dict[str, Any]:
        reply = self.client.post("/api/v1/certificates", json=self.cert_body(name, issued))
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    def add_lb(self, name: str) -> tuple[int, int]:
        """A managed HAProxy on two free loopback ports (TLS, plain HTTP) in front of the demo app."""
        tls, plain = free_ports(2)
        reply = self.client.post("/api/v1/loadbalancers", json={"name": name, "kind": "haproxy", "options": {
            "bind": f"{LOCALHOST}:{tls}", "http_bind": f"{LOCALHOST}:{plain}",
            "backends": [f"{LOCALHOST}:{self.backend_port}"]}})
        assert reply.status_code == 201, reply.text
        return tls, plain

    def follow(self, reply: httpx.Response) -> dict[str, Any]:
        """The job a 202 names, polled at its Location until it is over."""
        assert reply.status_code == 202, reply.text
        return self.wait(reply.headers["location"])

    def wait(self, location: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.client.get(location)
            assert job.status_code == 200, job.text
            body: dict[str, Any] = job.json()
            if body["state"] in FINAL:
                return body
            assert time.monotonic() < deadline, f"the job is still {body['state']} after {timeout} s"
            time.sleep(0.05)


@contextlib.contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 (a free port) in a thread; its base URL. Stopped after."""
    # IPPROTO_TCP given: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it
    # every keep-alive answer waits out the client's delayed ACK (40 ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((LOCALHOST, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://{LOCALHOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def make_api(home: Path, ca: DemoCA, backend: DemoApp, **service_options: Any) -> Iterator[Api]:
    factory = ServiceFactory(Settings(home=home), anchors=(ca.root,), **service_options)
    jobs = BackgroundJobs(factory)
    app = create_app(ApiState(factory, TOKEN, jobs))
    responses: list[httpx.Response] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        responses.append(response)

    try:
        with served(app) as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"},
                                              event_hooks={"response": [keep]}, timeout=60) as client:
            yield Api(home, factory, jobs, app, client, ca, backend.port, responses)
    finally:
        jobs.shutdown(wait=True)
        stop_haproxy_under(home)
        factory.close()
        assert not haproxy_pids_under(home), "a HAProxy started by this test is still running"


