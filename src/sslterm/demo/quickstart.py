"""The demo: a local HAProxy terminating TLS in front of a demo app, set up with sslterm's own commands
(certificate added and checked, load balancer registered, TLS enabled and verified by a handshake)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from sslterm.certs import BundleInput
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA
from sslterm.errors import InputError, SSLTermError
from sslterm.files import ensure_private_dir, write_atomic
from sslterm.service import Service

NAME = "quickstart"
HOSTNAME = "demo.sslterm.test"


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


@dataclass
class Running:
    app: DemoApp
    tls_port: int
    http_port: int
    root_ca: Path
    response: dict[str, object]
    served: str


def _marker(svc: Service) -> Path:
    return svc.settings.home / "quickstart" / "owned-by-quickstart"


def tear_down(svc: Service) -> None:
    """Remove what a quickstart made (certificate, load balancer, HAProxy process), and only that: the
    marker file says the names are the demo's, not an operator's that happen to be called the same."""
    if not _marker(svc).exists():
        return
    with contextlib.suppress(SSLTermError):
        svc.disable(NAME)
    with contextlib.suppress(SSLTermError):
        svc.remove_load_balancer(NAME)
    with contextlib.suppress(SSLTermError):
        svc.remove_certificate(NAME)
    _marker(svc).unlink()


def _refuse_foreign_names(svc: Service) -> None:
    taken = [what for what, names in (("certificate", [c.name for c in svc.list_certificates()]),
                                      ("load balancer", [lb["name"] for lb in svc.list_load_balancers()]))
             if NAME in names]
    if taken:
        raise InputError(f"a {' and a '.join(taken)} named {NAME!r} exist(s) and are not the demo's",
                         code="exists", hint="run the demo with another SSLTERM_HOME (make demo uses .demo/)")


def start(svc: Service, say: Callable[[str], None]) -> Running:
    tear_down(svc)
    _refuse_foreign_names(svc)
    folder = svc.settings.home / "quickstart"
    ensure_private_dir(folder)
    write_atomic(_marker(svc), b"names made by sslterm quickstart\n")
    app = DemoApp().start()
    try:
        return _bring_up(svc, app, folder, say)
    except BaseException:
        tear_down(svc)
        app.stop()
        raise


def _bring_up(svc: Service, app: DemoApp, folder: Path, say: Callable[[str], None]) -> Running:
    say(f"demo app listening on http://127.0.0.1:{app.port}")
    ca = DemoCA("sslterm quickstart")
    issued = ca.issue(HOSTNAME, "localhost")
    root = folder / "root-ca.pem"
    write_atomic(root, ca.root.public_bytes(serialization.Encoding.PEM), mode=0o644)
    added = svc.add_certificate(NAME, BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(),
                                                  key=issued.key_pem()))
    say(f"certificate added: {added.summary.subject} (sha256 {added.summary.fingerprint_sha256[:16]}...)")
    tls_port, http_port = free_port(8443), free_port(8080)
    svc.add_load_balancer(NAME, "haproxy", {"bind": f"127.0.0.1:{tls_port}", "http_bind": f"127.0.0.1:{http_port}",
                                            "backends": [f"127.0.0.1:{app.port}"]})
    say(f"HAProxy started: plain HTTP on 127.0.0.1:{http_port}")
    outcome = svc.enable(NAME, NAME, redirect_http=True, hsts=True)
    served = outcome.report.served[0].fingerprint if outcome.report and outcome.report.served else ""
    say(f"TLS enabled on 127.0.0.1:{tls_port}; the handshake shows sha256 {(served or '')[:16]}...")
    try:
        response = fetch(tls_port, root)
    except (OSError, ValueError) as exc:
        raise SSLTermError(f"the HTTPS request through HAProxy failed: {exc}", code="demo-failed") from exc
    return Running(app, tls_port, http_port, root, response, served or "")


def fetch(port: int, root: Path) -> dict[str, object]:
    """A real HTTPS request through the load balancer: SNI and name checked, trusting only the demo root."""
    context = ssl.create_default_context(cafile=str(root))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection = http.client.HTTPConnection(HOSTNAME, port, timeout=10)
    connection.sock = context.wrap_socket(raw, server_hostname=HOSTNAME)
    try:
        connection.request("GET", "/hello")
        response = connection.getresponse()
        data: dict[str, object] = json.loads(response.read())
        data["hsts"] = response.getheader("Strict-Transport-Security")
    finally:
        connection.close()
    return data
