"""What the contract suite runs against: a :class:`Subject` (a provider on a real load balancer) per kind.

Add a kind with a ``make_<kind>`` context manager that yields a Subject (for AWS: moto in server mode; for
Rackspace: the local emulator), and a parameter for it in conftest.py's ``provider`` fixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes

from sslterm.certs import BundleInput, validate_bundle
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA
from sslterm.engine.contract import Provider
from sslterm.engine.model import CertSlot
from sslterm.engine.probe import served_fingerprint


@dataclass
class Subject:
    """A provider under test, plus what the suite needs around it."""

    provider: Provider
    spare_port: int  # a second listener port, besides provider.default_lb_port
    generation: Callable[[], object]  # changes whenever the load balancer really reconfigured itself
    ca: DemoCA

    @property
    def lb_port(self) -> int:
        return self.provider.default_lb_port

    def slot(self, name: str, *sans: str) -> CertSlot:
        """A real certificate (demo CA, chain included) as the engine hands it over: with its bundle."""
        issued = self.ca.issue(*sans)
        result = validate_bundle(BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem()),
                                 now=datetime.now(UTC), anchors=(self.ca.root,))
        assert result.bundle is not None, result.findings
        return CertSlot(name, issued.cert.fingerprint(hashes.SHA256()).hex(), tuple(sans), "EC", result.bundle)

    def served(self, lb_port: int, server_name: str | None) -> str | None:
        """The fingerprint a real handshake gets on ``lb_port``; None when nothing answers TLS there."""
        host, port = self.provider.address(lb_port)
        try:
            return served_fingerprint(host, port, server_name)
        except OSError:  # ssl.SSLError is an OSError too
            return None


# -- HAProxy (managed) ---------------------------------------------------------------------------------
def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def _show_proc(master_socket: Path) -> str:
    """``show proc`` on the master CLI (retried briefly: the 2.6 master re-executes itself after a start or
    reload, and its CLI refuses connections meanwhile)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(master_socket))
                sock.sendall(b"show proc\n")
                sock.shutdown(socket.SHUT_WR)
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            return b"".join(chunks).decode()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _haproxy_generation(state_dir: Path) -> Callable[[], object]:
    """The master's reload count and the current worker pids: both stay put unless HAProxy reloaded."""

    def generation() -> object:
        text = _show_proc(state_dir / "master.sock")
        section, reloads, workers = "", None, []
        for line in text.splitlines():
            parts = line.split()
            if line.startswith("#"):
                section = line
            elif len(parts) >= 3 and parts[1] == "master":
                reloads = parts[2]
            elif section.startswith("# workers") and len(parts) >= 2 and parts[1] == "worker":
                workers.append(parts[0])
        assert reloads is not None and workers, text
        return reloads, tuple(workers)

    return generation


def _pids_under(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            if argv and argv[0].endswith(b"haproxy") and any(str(root).encode() in a for a in argv) \
                    and "State:\tZ" not in (entry / "status").read_text():
                found.append(int(entry.name))
    return found


@contextlib.contextmanager
def make_haproxy(ca: DemoCA, app: DemoApp) -> Iterator[Subject]:
    from sslterm.providers.haproxy import create

    root = Path(tempfile.mkdtemp(prefix="sst-contract-"))  # short: HAProxy's socket paths are limited
    state_dir = root / "lb"
    tls, spare, plain = _free_ports(3)
    provider = create("contract", {"bind": f"127.0.0.1:{tls}", "http_bind": f"127.0.0.1:{plain}",
                                   "backends": [f"127.0.0.1:{app.port}"]}, state_dir, {"haproxy_binary": "haproxy"})
    try:
        provider.start()
        yield Subject(provider, spare, _haproxy_generation(state_dir), ca)
    finally:
        try:
            provider.stop()
        finally:  # whatever stop() missed: our own processes (their command line names our directory)
            deadline = time.monotonic() + 10
            while (left := _pids_under(root)) and time.monotonic() < deadline:
                for pid in left:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                time.sleep(0.1)
            shutil.rmtree(root, ignore_errors=True)
        assert not _pids_under(root), "HAProxy is still running after stop()"
