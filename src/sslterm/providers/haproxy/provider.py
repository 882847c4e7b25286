"""The HAProxy provider: managed mode (sslterm writes the configuration and runs HAProxy) and attached
mode (the operator's configuration includes sslterm's crt-lists; sslterm owns those and the certificates).

How a change is made live, cheapest first (docs/haproxy.md):
1. only certificate contents changed, HAProxy 2.1+: runtime API ``set``/``commit ssl cert`` (no reload);
2. SNI certificates appended to a crt-list, HAProxy 2.2+: ``new ssl cert`` + ``add ssl crt-list``;
3. anything else (or the runtime API refusing): ``haproxy -c`` on a candidate copy, write, hitless reload.
Files are written in every case, so a restart serves the same as the runtime API did.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, ParamSpec, TypeVar

from sslterm.engine.contract import Capabilities, CertRef, CertSlot, ListenerSpec
from sslterm.errors import ProviderError, UnsafePlan
from sslterm.files import ensure_private_dir, write_atomic
from sslterm.ports import LocalEndpoint
from sslterm.providers.haproxy import state
from sslterm.providers.haproxy.config import render
from sslterm.providers.haproxy.files import FileSet, read_or_none
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions
from sslterm.providers.haproxy.process import Process, check_config
from sslterm.providers.haproxy.runtime import RuntimeAPI
from sslterm.providers.haproxy.version import Version

P = ParamSpec("P")
R = TypeVar("R")


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """The provider boundary: file and data errors become ProviderError, so the engine rolls back and the
    user reads one line, not a traceback."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except OSError as exc:
            raise ProviderError(f"HAProxy files: {exc.strerror or exc} ({exc.filename or ''})",
                                code="haproxy-files") from exc
        except ValueError as exc:  # a damaged state.json
            raise ProviderError(f"HAProxy state is damaged: {exc}", code="haproxy-state") from exc

    return wrapper


class HAProxyProvider:
    kind: ClassVar[str] = "haproxy"

    def __init__(self, name: str, options: HAProxyOptions, layout: Layout, binary: str, version: Version) -> None:
        self.name = name
        self.options = options
        self.layout = layout
        self.binary = binary
        self.version = version
        self.capabilities = Capabilities(hot_swap=version.runtime_replace, hot_add=version.runtime_add,
                                         first_is_default=options.mode == "managed")
        admin = Path(options.socket) if options.socket else layout.admin_socket
        self.runtime = RuntimeAPI(admin)
        self.process = Process(binary, layout.config, layout.pid_file, layout.master_socket, layout.admin_socket)
        self.default_lb_port = options.bind.port if options.bind and options.bind.port else 443
        #: how the last change went live: "runtime", "reload", "start" or "none" (for tests and benchmarks)
        self.last_path = "none"

    # -- contract ---------------------------------------------------------------------------------
    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        http_port = self.options.http_bind.port if self.options.http_bind else None
        if self.options.mode == "attached":
            gone = {x.lb_port for x in self.observe()} - {x.lb_port for x in listeners}
            named = sorted(port for port in gone if self._referenced(self.layout.crt_list(port)))
            if named:  # the operator's bind line names that crt-list: emptying it would break their reload
                raise UnsafePlan(f"{self.name} is attached: TLS on port(s) {named} is configured in "
                                 f"{self.options.config}", hint="remove that bind line from your configuration "
                                 "(sslterm manages only its certificates), then run this again")
        for listener in listeners:
            unsupported = [c.name for c in listener.certificates
                           if c.key_type and c.key_type not in self.capabilities.key_types]
            if unsupported:
                raise UnsafePlan(f"{self.name} cannot serve the key type of {', '.join(unsupported)}",
                                 hint=f"use {' or '.join(self.capabilities.key_types)} keys")
            if listener.lb_port == http_port:
                raise UnsafePlan(f"port {listener.lb_port} is the plain HTTP bind of {self.name}",
                                 hint="choose another --lb-port")

    @translated
    def upload(self, slot: CertSlot) -> CertRef:
        staged = self.layout.staged(slot.served_id)
        if slot.bundle is not None:
            pem = (slot.bundle.certificate_pem() + slot.bundle.key_pem()).decode()
            if read_or_none(staged) != pem:  # staged copies are re-creatable from the store: no fsync
                ensure_private_dir(staged.parent)
                write_atomic(staged, pem.encode(), sync=False)
        elif not staged.exists():
            raise ProviderError(f"{self.name}: certificate {slot.name} ({slot.fingerprint[:16]}) is not staged",
                                code="not-staged")
        return CertRef(slot.served_id, str(staged))

    @translated
    def bind(self, listener: ListenerSpec, refs: Mapping[str, CertRef]) -> None:
        with self._locked():
            current = state.load(self.layout.state)
            wanted = (*(x for x in current if x.lb_port != listener.lb_port), listener)
            self._converge(current, wanted)

    @translated
    def unbind(self, lb_port: int) -> None:
        with self._locked():
            current = state.load(self.layout.state)
            self._converge(current, tuple(x for x in current if x.lb_port != lb_port))

    @translated
    def observe(self) -> tuple[ListenerSpec, ...]:
        return state.load(self.layout.state)

    def address(self, lb_port: int) -> tuple[str, int]:
        host = self.options.bind.host if self.options.bind else "127.0.0.1"
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
        return host, lb_port

    def local_endpoints(self, lb_ports: Iterable[int], *, http: bool = True) -> tuple[LocalEndpoint, ...]:
        """Managed: the TLS bind host on each of ``lb_ports``, and the plain HTTP bind. Attached: none (the
        operator's configuration binds; the local port check still sees what it holds)."""
        if self.options.mode != "managed" or self.options.bind is None:
            return ()
        plain = self.options.http_bind
        found = [LocalEndpoint(plain.host, plain.port, "plain HTTP")] if http and plain and plain.port else []
        return (*found, *(LocalEndpoint(self.options.bind.host, port, "TLS") for port in sorted(set(lb_ports))))

    @translated
    def cleanup(self) -> None:
        with self._locked():
            live = {c.served_id for lst in state.load(self.layout.state) for c in lst.certificates}
            for staged in self.layout.staging.glob("*.pem"):
                if staged.stem not in live:
                    staged.unlink()

    @translated
    def start(self) -> None:
        """Bring a managed HAProxy up on its current state (plain HTTP when nothing is enabled)."""
        if self.options.mode != "managed":  # attached: the socket must answer, the crt-list must exist
            if "Pid:" not in self.runtime.command("show info"):
                raise ProviderError(f"{self.options.socket} is not a HAProxy runtime API", code="haproxy-socket")
            ensure_private_dir(self.layout.root)
            crt_list = self.layout.crt_list(self.default_lb_port)
            if not crt_list.exists():
                write_atomic(crt_list, b"")
            return
        with self._locked():
            current = state.load(self.layout.state)
            self._converge((), current)  # assume nothing on disk: every file is checked

    @translated
    def stop(self, *, keep_files: bool = False) -> None:
        """Managed: stop HAProxy (by its pid) and, unless ``keep_files``, remove its files (`lb remove` keeps
        them until the store has forgotten the load balancer: a failed commit can still start it again).
        Attached: nothing to stop, and the files stay (the operator's configuration may name them)."""
        if self.options.mode == "managed":
            self.process.stop()
            if not keep_files:
                shutil.rmtree(self.layout.root, ignore_errors=True)

    # -- making it live ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        ensure_private_dir(self.layout.root)
        with self.layout.lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one change at a time per load balancer
            for stale in self.layout.root.glob("candidate-*"):  # left by a crash during `haproxy -c`
                shutil.rmtree(stale, ignore_errors=True)
            yield

    def _desired_files(self, current: Sequence[ListenerSpec], wanted: Sequence[ListenerSpec]) -> FileSet:
        """The files for ``wanted``; a certificate served as in ``current`` (same leaf and chain) is kept
        as it is on disk, unread."""
        rendered = render(self.options, wanted, self.layout, self.version)
        files = FileSet(self.layout.certs)
        have = {c.name: c.served_id for lst in current for c in lst.certificates}
        want = {c.name: c.served_id for lst in wanted for c in lst.certificates}
        for port in {x.lb_port for x in current} - {x.lb_port for x in wanted}:
            files.contents[self.layout.crt_list(port)] = None
        for name in have.keys() - want.keys():
            files.contents[self.layout.pem(name)] = None
        if rendered.config is not None:
            files.contents[self.layout.config] = rendered.config
        files.contents.update(rendered.crt_lists)
        for name, served_id in want.items():
            if have.get(name) == served_id:
                files.kept.append(name)
            else:
                files.contents[self.layout.pem(name)] = self.layout.staged(served_id).read_text()
        return files

    def _converge(self, current: tuple[ListenerSpec, ...], wanted: tuple[ListenerSpec, ...]) -> None:
        files = self._desired_files(current, wanted)
        changes = files.changes()
        live = self._live()
        if live and not changes:
            self.last_path = "none"
        elif self._unused_by_operator(changes):  # files no configuration names: nothing to make live
            files.apply()
            self.last_path = "files"
        elif live and self._runtime_possible(changes):
            self._apply_runtime(files, changes)
        else:
            self._apply_reload(files, live)
        state.save(self.layout.state, wanted)

    def alive(self) -> bool:
        return self._live()

    def _referenced(self, path: Path) -> bool:
        """Attached: whether the operator's configuration names ``path`` (unreadable: assume it does)."""
        try:
            return str(path) in Path(self.options.config or "").read_text()
        except OSError:
            return True

    def _unused_by_operator(self, changes: Mapping[Path, str | None]) -> bool:
        """Attached, and the change only removes crt-lists (and their certificates) that the operator's
        configuration no longer names: the bind line was removed, so no reload is needed or possible."""
        return self.options.mode == "attached" and bool(changes) and all(
            content is None and not (path.suffix == ".txt" and self._referenced(path))
            for path, content in changes.items())

    def _live(self) -> bool:
        if self.options.mode == "managed":
            return self.process.running()
        try:
            return "Pid:" in self.runtime.command("show info")
        except ProviderError:
            return False

    def _runtime_possible(self, changes: Mapping[Path, str | None]) -> bool:
        if not self.version.runtime_replace or self.layout.config in changes:
            return False
        for path, content in changes.items():
            if content is None:
                return False
            old = read_or_none(path)
            # a crt-list may only gain lines at its end, and only where 2.2+ can add them
            if path.suffix == ".txt" and (not self.version.runtime_add or old is None or not content.startswith(old)):
                return False
        return True

    def _apply_runtime(self, files: FileSet, changes: Mapping[Path, str | None]) -> None:
        """Certificates HAProxy has loaded get ``set ssl cert``; lines appended to a crt-list are added,
        loading their certificate first (``new ssl cert``) only when HAProxy does not have it yet, as when
        a certificate served on one port is enabled on a second one."""
        appended = {p: (c or "")[len(read_or_none(p) or ""):] for p, c in changes.items() if p.suffix == ".txt"}
        loaded = set(self.runtime.loaded_certificates()[0])
        undo = files.apply()  # persist first: a restart serves the same
        swapped: list[Path] = []
        try:
            for path, content in changes.items():
                if path.suffix == ".pem" and str(path) in loaded:
                    self.runtime.replace(path, content or "")
                    swapped.append(path)
            for crt_list, text in appended.items():
                for line in (ln for ln in text.splitlines() if ln and not ln.startswith("#")):
                    pem = Path(line.split()[0])
                    if str(pem) in loaded:
                        self.runtime.add_line(crt_list, line)
                    else:
                        self.runtime.add(pem, changes.get(pem) or read_or_none(pem) or "", crt_list, line)
                        loaded.add(str(pem))
            self.last_path = "runtime"
        except ProviderError as refused:
            self._runtime_fallback(files, undo, swapped, refused)

    def _runtime_fallback(self, files: FileSet, undo: FileSet, swapped: Sequence[Path], refused: ProviderError) -> None:
        """The runtime API said no: the files are right, so a validated reload makes them live. If that is
        impossible too, the old files and the certificates already swapped in memory are put back."""
        try:
            self._check_candidate(files)
            self._reload_or_start(self._live())
        except ProviderError as exc:
            undo.apply()
            for path in swapped:
                with contextlib.suppress(ProviderError):
                    self.runtime.replace(path, undo.contents.get(path) or "")
            raise ProviderError(f"{refused.message}; and the reload instead failed: {exc.message}",
                                code=exc.code) from exc

    def _apply_reload(self, files: FileSet, live: bool) -> None:
        self._check_candidate(files)
        undo = files.apply()
        try:
            self._reload_or_start(live)
        except ProviderError:
            undo.apply()
            if live:
                with contextlib.suppress(ProviderError):
                    self._reload_or_start(live)
            raise

    def _check_candidate(self, files: FileSet) -> None:
        """``haproxy -c`` on a copy of the new files (paths rewritten), before anything live changes."""
        config_path = Path(self.options.config) if self.options.config else self.layout.config
        with tempfile.TemporaryDirectory(prefix="candidate-", dir=self.layout.root) as tmp:
            root = Path(tmp)
            (root / "certs").mkdir(mode=0o700)
            for path, content in files.contents.items():
                if content is not None:
                    target = root / path.relative_to(self.layout.root)
                    write_atomic(target, self._to_candidate(content, root).encode(), sync=False)
            for path in files.kept_paths():  # unchanged certificates: a hard link, not a copy
                os.link(path, root / "certs" / path.name)
            if self.options.mode == "managed":
                check_config(self.binary, root / "haproxy.cfg")
            else:
                self._check_attached(config_path, root)

    def _to_candidate(self, text: str, candidate: Path) -> str:
        """Point crt-list and certificate paths at the candidate copy; sockets keep their real paths
        (``-c`` binds nothing, and a longer socket path could exceed the 108-byte limit)."""
        for part in ("/crt-list-", "/certs/"):
            text = text.replace(f"{self.layout.root}{part}", f"{candidate}{part}")
        return text

    def _check_attached(self, config_path: Path, candidate: Path) -> None:
        text = self._to_candidate(config_path.read_text(), candidate)
        checked = candidate / "operator.cfg"
        write_atomic(checked, text.encode(), sync=False)
        check_config(self.binary, checked)

    def _reload_or_start(self, live: bool) -> None:
        if self.options.mode == "attached":
            if not self.options.master_socket:
                raise ProviderError(f"{self.name}: this change needs a reload and no --master-socket was given",
                                    code="haproxy-no-reload")
            Process(self.binary, Path(self.options.config or ""), self.layout.pid_file,
                    Path(self.options.master_socket), Path(self.options.socket or "")).reload()
            self.last_path = "reload"
            return
        if live:
            self.process.reload()
            self.last_path = "reload"
        else:
            self.process.start()
            self.last_path = "start"
