"""Running ``sslterm serve``: what it refuses before it starts, and uvicorn around the app.

- The API token (``SSLTERM_API_TOKEN``) must be set and at least :data:`MIN_TOKEN_LENGTH` characters
  (``api-token-required``, ``api-token-too-short``).
- ``--listen HOST:PORT``: an IPv4 or IPv6 literal (``[::1]:8700``) or ``localhost``, and a port
  (``invalid-address`` otherwise). Anything but loopback needs ``--tls-cert NAME`` (``listen-needs-tls``):
  the token would otherwise cross the network in clear.
- ``--tls-cert NAME``: a stored certificate; its key is written ``0600`` into a private directory
  ``.serve-tls-*`` inside the data directory for uvicorn alone, and removed as soon as uvicorn has read it
  (``config.load()``, before serving). At start, such directories a crash left behind are removed.
- Every ``apply_every`` seconds (and once at start) a thread runs ``sslterm apply``: finish what a crash
  left, apply what is pending, restart a managed HAProxy that died.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import logging
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from sslterm.api.app import create_app
from sslterm.api.jobs import BackgroundJobs
from sslterm.api.services import ServiceFactory
from sslterm.api.state import ApiState
from sslterm.errors import InputError, SSLTermError
from sslterm.files import ensure_private_dir, write_atomic
from sslterm.grammar import parse_endpoint
from sslterm.settings import Settings

log = logging.getLogger(__name__)
MIN_TOKEN_LENGTH = 16
DEFAULT_LISTEN = "127.0.0.1:8700"
APPLY_EVERY = 300.0


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback


def parse_listen(text: str) -> Listen:
    endpoint = parse_endpoint(text, "--listen", need_port=True, allow_zone=False)
    if endpoint.host != "localhost":
        try:
            ipaddress.ip_address(endpoint.host)
        except ValueError:
            raise InputError(f"--listen: {endpoint.host!r} is not an IP address or localhost",
                             code="invalid-address", hint="give an address: 127.0.0.1:8700, [::1]:8700, "
                             "0.0.0.0:8443 (with --tls-cert)") from None
    assert endpoint.port is not None  # need_port
    return Listen(endpoint.host, endpoint.port)


def check_token(token: str | None) -> str:
    hint = "export SSLTERM_API_TOKEN=$(head -c 32 /dev/urandom | base64)"
    if not token:
        raise SSLTermError("SSLTERM_API_TOKEN is not set: the API needs a token", code="api-token-required",
                           hint=hint)
    if len(token) < MIN_TOKEN_LENGTH:
        raise SSLTermError(f"SSLTERM_API_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters",
                           code="api-token-too-short", hint=hint)
    return token


def check_listen(listen: Listen, tls_cert: str | None) -> None:
    if not listen.loopback and tls_cert is None:
        raise InputError(f"--listen {listen.host} is not a loopback address: serving there needs TLS",
                         code="listen-needs-tls", hint="add --tls-cert NAME (a stored certificate), or listen "
                         "on 127.0.0.1 behind your own TLS proxy")


TLS_DIR_PREFIX = ".serve-tls-"


def remove_leftover_tls_files(home: Path) -> None:
    """The ``.serve-tls-*`` directories (and only those) a server that crashed while starting left in the data
    directory ``home``."""
    for leftover in home.glob(f"{TLS_DIR_PREFIX}*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def tls_files(factory: ServiceFactory, name: str) -> Iterator[tuple[Path, Path]]:
    """The certificate (leaf and chain) and key of ``name`` as files for uvicorn, in a directory of the data
    directory only this user can read; removed on exit."""
    service = factory()
    try:
        bundle = service.server_bundle(name)
    finally:
        service.close()
    ensure_private_dir(factory.settings.home)
    directory = Path(tempfile.mkdtemp(prefix=TLS_DIR_PREFIX, dir=factory.settings.home))  # 0700
    try:
        cert, key = directory / "cert.pem", directory / "key.pem"
        write_atomic(cert, bundle.certificate_pem(), mode=0o600)
        write_atomic(key, bundle.key_pem(), mode=0o600)
        yield cert, key
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Converger:
    """``sslterm apply`` every ``interval`` seconds on a thread of its own, until ``stop()``."""

    def __init__(self, factory: ServiceFactory, interval: float) -> None:
        self.factory = factory
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sslterm-apply", daemon=True)

    def start(self) -> Converger:
        if self.interval > 0:
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            service = self.factory()
            try:
                service.apply()
            except Exception:  # logged, and tried again next time: the server keeps serving
                log.exception("sslterm apply failed")
            finally:
                service.close()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)


def serve(settings: Settings, *, listen: str = DEFAULT_LISTEN, tls_cert: str | None = None,
          apply_every: float = APPLY_EVERY) -> None:
    """Refuse what is unsafe (see the module), then serve until SIGINT or SIGTERM."""
    import uvicorn  # only this command needs it

    token = check_token(settings.api_token)
    where = parse_listen(listen)
    check_listen(where, tls_cert)
    factory = ServiceFactory(settings)
    jobs = BackgroundJobs(factory)
    app = create_app(ApiState(factory, token, jobs))
    converger = Converger(factory, apply_every)
    remove_leftover_tls_files(settings.home)
    try:
        with _stopped_by_sigterm():
            with tls_files(factory, tls_cert) if tls_cert else contextlib.nullcontext(None) as files:
                config = uvicorn.Config(app, host=where.host, port=where.port, proxy_headers=False,
                                        server_header=False, ssl_certfile=files[0] if files else None,
                                        ssl_keyfile=files[1] if files else None, log_level="info")
                # what serving imports, made now, so that it is frozen with the rest; and the SSL context,
                # which reads the key file: the file goes as this block ends, before anything is served
                config.load()
            _freeze_what_lasts()
            converger.start()
            uvicorn.Server(config).run()
    finally:
        converger.stop()
        jobs.shutdown(wait=True)
        factory.close()


def _freeze_what_lasts() -> None:
    """Keep what the server holds for its whole life (modules, the app, its routes and templates: about
    130,000 objects) out of the cyclic garbage collector's full collections. Each of them scanned it all,
    50 to 70 ms on a 2-CPU machine, every few dozen requests: that was the p99 of every page
    (docs/benchmarks.md, issue 10). Garbage made so far is collected first, so none is kept for good."""
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """After its graceful shutdown uvicorn raises the signal that stopped it again, for the handler that was
    there before: for SIGTERM, that handler is this one, which ends the command (exit 0) through the
    ``finally`` blocks that wait for running jobs, instead of the default action that would kill the process
    at once. Ctrl-C ends it with KeyboardInterrupt, as any command."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)
