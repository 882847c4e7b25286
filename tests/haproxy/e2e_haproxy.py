"""Helpers for the HAProxy end-to-end tests: real clients (TLS, HTTP, the HAProxy master CLI), real backends,
and finding and stopping the HAProxy processes a test started (by pid, never by name).

Nothing here imitates sslterm: the clients are the standard library's ``ssl``/``http.client`` and a raw UNIX
socket, so every assertion is what an operator's own tools would see.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sslterm.certs import BundleInput
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA, Issued
from sslterm.service import Added, Service
from sslterm.settings import Settings

LOCALHOST = "127.0.0.1"


# -- ports, certificates --------------------------------------------------------------------------
def free_ports(count: int) -> list[int]:
    """Distinct free ports on 127.0.0.1 (all held at once while picking, so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((LOCALHOST, 0))
        return [int(s.getsockname()[1]) for s in socks]


def fingerprint(issued: Issued) -> str:
    return issued.cert.fingerprint(hashes.SHA256()).hex()


def bundle(issued: Issued) -> BundleInput:
    return BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem())


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# -- TLS and HTTP clients ---------------------------------------------------------------------------
def client_context(cafile: Path | None = None, *, minimum: ssl.TLSVersion | None = None,
                   maximum: ssl.TLSVersion | None = None, legacy: bool = False,
                   alpn: list[str] | None = None) -> ssl.SSLContext:
    """A client context. With ``cafile`` it trusts only that root and checks the host name (so a
    handshake succeeds only when the server sent the intermediate); without, it checks nothing.
    ``legacy`` lowers OpenSSL's own security level so the client can really offer TLS 1.0/1.1."""
    with warnings.catch_warnings():  # TLSVersion.TLSv1_1 is deprecated: the point is to offer it anyway
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if cafile is None:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context.load_verify_locations(cafile=str(cafile))
        if legacy:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


@dataclass(frozen=True)
class Handshake:
    fingerprint: str
    certificate: x509.Certificate
    version: str | None
    alpn: str | None


def handshake(port: int, server_name: str | None = None, context: ssl.SSLContext | None = None,
              timeout: float = 5.0) -> Handshake:
    """One real TLS handshake with 127.0.0.1:port; what the server sent and agreed to."""
    context = context or client_context()
    with socket.create_connection((LOCALHOST, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der, "the server sent no certificate"
        return Handshake(hashlib.sha256(der).hexdigest(), x509.load_der_x509_certificate(der), tls.version(),
                         tls.selected_alpn_protocol())


def refused(port: int) -> bool:
    """True when nothing accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    fingerprint: str | None = None  # of the certificate the TLS server sent

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> dict[str, object]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data

    def backend_headers(self) -> list[tuple[str, str]]:
        """The request headers the backend received (DemoApp: a dict; EchoBackend: every line)."""
        got = self.json()["headers"]
        if isinstance(got, dict):
            return [(str(k), str(v)) for k, v in got.items()]
        assert isinstance(got, list)
        return [(str(k), str(v)) for k, v in got]

    def backend_header(self, name: str) -> list[str]:
        return [v for k, v in self.backend_headers() if k.lower() == name.lower()]


def _exchange(connection: http.client.HTTPConnection, path: str, headers: dict[str, str] | None) -> Reply:
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, response.getheaders(), body)
    finally:
        connection.close()


def https_get(port: int, host: str, path: str = "/", *, cafile: Path | None = None,
              headers: dict[str, str] | None = None, timeout: float = 10.0) -> Reply:
    """GET over a new TLS connection to 127.0.0.1:port with SNI and Host ``host`` (verified when ``cafile``)."""
    context = client_context(cafile)
    raw = socket.create_connection((LOCALHOST, port), timeout=timeout)
    try:
        tls = context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    der = tls.getpeercert(binary_form=True)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.sock = tls
    reply = _exchange(connection, path, headers)
    reply.fingerprint = hashlib.sha256(der).hexdigest() if der else None
    return reply


def http_get(port: int, path: str = "/", *, host: str | None = None, headers: dict[str, str] | None = None,
             timeout: float = 10.0) -> Reply:
    connection = http.client.HTTPConnection(LOCALHOST, port, timeout=timeout)
    all_headers = {"Host": host} if host else {}
    all_headers.update(headers or {})
    return _exchange(connection, path, all_headers)


# -- a backend that echoes every header line, and can speak TLS -------------------------------------
class _EchoHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": list(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class EchoBackend:
    """Like sslterm's DemoApp, but it returns every header line with duplicates kept (DemoApp's dict would
    hide a second X-Forwarded-For line), and it can serve HTTPS."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.server = ThreadingHTTPServer((LOCALHOST, 0), _EchoHandler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def __enter__(self) -> EchoBackend:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# -- HAProxy processes ------------------------------------------------------------------------------
def master_cli(socket_path: Path, command: str, timeout: float = 5.0) -> str:
    """One command on HAProxy's master CLI (what ``socat`` would do: send, half-close, read to EOF)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


@dataclass(frozen=True)
class Processes:
    master: int
    reloads: int
    workers: tuple[int, ...]  # current workers only (old ones draining are listed apart)


def processes(lb_dir: Path) -> Processes:
    """The master's pid and reload count and the current worker pids, from ``show proc``. Retried for a
    few seconds: right after starting, the 2.6 master re-executes itself and its CLI briefly refuses."""
    deadline = time.monotonic() + 5
    while True:
        try:
            text = master_cli(lb_dir / "master.sock", "show proc")
            break
        except (ConnectionRefusedError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    master, reloads, workers, section = 0, -1, [], ""
    for line in text.splitlines():
        if line.startswith("#"):
            section = line
            continue
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "master":
            master, reloads = int(parts[0]), int(parts[2])
        elif section.startswith("# workers") and len(parts) >= 2 and parts[1] == "worker":
            workers.append(int(parts[0]))
    assert master and workers, f"unexpected `show proc` reply: {text!r}"
    return Processes(master, reloads, tuple(workers))


def force_reload(lb_dir: Path, timeout: float = 20.0) -> Processes:
    """Reload HAProxy from its files (as a restart or `systemctl reload` would) and wait for the new worker."""
    before = processes(lb_dir)
    master_cli(lb_dir / "master.sock", "reload")

    def reloaded() -> bool:
        with contextlib.suppress(OSError):
            now = processes(lb_dir)
            return now.reloads > before.reloads and not set(now.workers) & set(before.workers)
        return False

    wait_until(reloaded, timeout, "HAProxy to reload")
    after = processes(lb_dir)

    def answering() -> bool:
        with contextlib.suppress(OSError):
            return f"Pid: {after.workers[0]}" in master_cli(lb_dir / "admin.sock", "show info")
        return False

    wait_until(answering, timeout, "the new HAProxy worker to answer")
    return after


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("State:")), "?")
    return state not in ("Z", "X")


def pid_from_file(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def haproxy_pids_under(root: Path) -> list[int]:
    """Live HAProxy processes whose command line names a file under ``root`` (a test's own directory)."""
    marker = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"haproxy") and any(marker in a for a in argv) and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


@contextlib.contextmanager
def short_data_directory(prefix: str = "sst-") -> Iterator[Path]:
    """A data directory with a short path, removed after, every HAProxy under it stopped first. HAProxy
    refuses UNIX socket paths over 97 characters, and pytest's tmp_path plus sslterm's
    lb/NAME/candidate-XXXXXXXX/admin.sock can exceed that."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield home
    finally:
        stop_haproxy_under(home)
        shutil.rmtree(home, ignore_errors=True)


def stop_haproxy_under(root: Path, timeout: float = 15.0) -> None:
    """Teardown: SIGTERM every master whose pid file is under ``root``, then any straggler found under
    ``root``, each by its pid; wait until all have exited."""
    live = set(haproxy_pids_under(root))
    for pid_file in root.rglob("haproxy.pid"):
        pid = pid_from_file(pid_file)
        if pid in live:  # ours: its command line names our directory (pids are reused)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while (left := haproxy_pids_under(root)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        time.sleep(0.1)


# -- the command line -------------------------------------------------------------------------------
def run_cli(home: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``python -m sslterm ARGS`` as a user runs it, with its own data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSLTERM_")}
    env.update(SSLTERM_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "sslterm", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


# -- continuous client load -------------------------------------------------------------------------
@dataclass
class LoadResult:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # fingerprint of each successful request, in order

    def switches(self) -> int:
        return sum(1 for a, b in zip(self.seen, self.seen[1:], strict=False) if a != b)


class LoadClient:
    """A thread doing new TLS connections + HTTP requests through a listener until stopped, bounded by
    ``max_requests`` and ``max_seconds``. Every request must verify (root only, SNI) and answer 200 from
    the backend with X-Forwarded-Proto: https; anything else is a failure."""

    def __init__(self, port: int, host: str, cafile: Path, *, max_requests: int = 1500,
                 max_seconds: float = 60.0) -> None:
        self.port, self.host, self.cafile = port, host, cafile
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.result = LoadResult()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self.stop_event.is_set() and self.result.requests < self.max_requests \
                and time.monotonic() < deadline:
            try:
                reply = https_get(self.port, self.host, f"/load/{self.result.requests}", cafile=self.cafile)
                ok = reply.status == 200 and reply.backend_header("X-Forwarded-Proto") == ["https"]
                problem = None if ok else f"status {reply.status}: {reply.body[:200]!r}"
            except (OSError, http.client.HTTPException, ValueError) as exc:
                reply, problem = None, f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.result.requests += 1
                if problem:
                    self.result.failures.append(problem)
                elif reply is not None and reply.fingerprint:
                    self.result.seen.append(reply.fingerprint)

    def snapshot(self) -> tuple[int, str | None]:
        with self._lock:
            return self.result.requests, (self.result.seen[-1] if self.result.seen else None)

    @contextlib.contextmanager
    def running(self) -> Iterator[LoadClient]:
        self.thread.start()
        try:
            yield self
        finally:
            self.stop_event.set()
            self.thread.join(timeout=self.max_seconds + 15)
            assert not self.thread.is_alive(), "the load client did not stop"


# -- the kit: services and managed load balancers in a test's own directory ----------------------
@dataclass(frozen=True)
class Lb:
    name: str
    tls_port: int
    http_port: int | None
    dir: Path


class Kit:
    """Services over one data directory, certificates from the demo CA, load balancers on free ports."""

    def __init__(self, home: Path, ca: DemoCA, root: Path, app: DemoApp) -> None:
        self.home = home
        self.ca = ca
        self.root = root
        self.app = app
        self._services: list[Service] = []
        self.svc = self.service()

    def service(self, **kwargs: Any) -> Service:
        svc = Service(Settings(home=self.home), anchors=(self.ca.root,), **kwargs)
        self._services.append(svc)
        return svc

    def issue(self, *names: str, **kwargs: Any) -> Issued:
        return self.ca.issue(*names, **kwargs)

    def add_cert(self, name: str, issued: Issued, *, replace: bool = False, svc: Service | None = None) -> Added:
        return (svc or self.svc).add_certificate(name, bundle(issued), replace=replace)

    def add_lb(self, name: str, *, http: bool = True, backend: str | None = None, svc: Service | None = None,
               **options: Any) -> Lb:
        tls_port, http_port = free_ports(2)
        raw: dict[str, Any] = {"bind": f"{LOCALHOST}:{tls_port}",
                               "backends": [backend or f"{LOCALHOST}:{self.app.port}"], **options}
        if http:
            raw["http_bind"] = f"{LOCALHOST}:{http_port}"
        (svc or self.svc).add_load_balancer(name, "haproxy", raw)
        return Lb(name, tls_port, http_port if http else None, self.lb_dir(name))

    def lb_dir(self, name: str) -> Path:
        return self.home / "lb" / name

    def close(self) -> None:
        try:
            stop_haproxy_under(self.home)
        finally:
            for svc in self._services:
                svc.db.engine.dispose()
        assert not haproxy_pids_under(self.home), "a HAProxy started by this test is still running"
