"""How a HAProxy change goes live once its files are decided (provider.py decides them): the runtime API when
only certificate contents changed or crt-list entries were appended (HAProxy 2.1+ / 2.2+), else ``haproxy -c``
on a candidate copy of the files and a hitless reload (or a start); the runtime API refusing falls back to the
reload, and a reload that fails puts the old files back. ``last_path`` says which way the last change went."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sslterm.errors import ProviderError
from sslterm.files import write_atomic
from sslterm.providers.haproxy.disk import crt_list_lines_after, port_of_crt_list
from sslterm.providers.haproxy.files import FileSet, entries, read_or_none
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions
from sslterm.providers.haproxy.process import Process, check_config
from sslterm.providers.haproxy.runtime import Loaded, RuntimeAPI
from sslterm.providers.haproxy.survey import Survey
from sslterm.providers.haproxy.version import Version


class GoLive:
    def __init__(self, name: str, options: HAProxyOptions, layout: Layout, binary: str, version: Version,
                 runtime: RuntimeAPI, process: Process) -> None:
        self.name, self.options, self.layout, self.binary, self.version = name, options, layout, binary, version
        self.runtime, self.process = runtime, process
        #: how the last change went live: "runtime", "reload", "start", "files" or "none"
        self.last_path = "none"

    def live(self) -> bool:
        if self.options.mode == "managed":
            return self.process.running()
        try:
            return "Pid:" in self.runtime.command("show info")
        except ProviderError:
            return False

    def _crt_list_appends(self, changes: Mapping[Path, str | None],
                          survey: Survey) -> dict[Path, tuple[list[str] | None, list[str]]]:
        """Per crt-list to make live: (the entries HAProxy has, None when unknown; the entries wanted). What
        HAProxy has is the old file, except for a crt-list an interrupted change left unsettled."""
        ports = {port_of_crt_list(p, self.layout.root) for p in changes if p.suffix == ".txt"}
        out: dict[Path, tuple[list[str] | None, list[str]]] = {}
        for port in (ports | survey.unsettled_ports) - {None}:
            assert port is not None
            path = self.layout.crt_list(port)
            on_disk = read_or_none(path) or ""
            old, new = crt_list_lines_after(on_disk, changes[path] or "" if path in changes else on_disk)
            base = survey.memory_lines.get(port) if port in survey.unsettled_ports else old
            out[path] = (base, new)
        return out

    def runtime_possible(self, changes: Mapping[Path, str | None], survey: Survey) -> bool:
        """Only certificate contents changed or entries appended to crt-lists HAProxy has loaded, and HAProxy
        can take both through its runtime API; nothing an interrupted change left needs a reload."""
        if not self.version.runtime_replace or self.layout.config in changes:
            return False
        if survey.config_unsettled or survey.memory_only or any(c is None for c in changes.values()):
            return False
        for base, new in self._crt_list_appends(changes, survey).values():
            if base is None or new[:len(base)] != base:
                return False
            if len(new) > len(base) and not self.version.runtime_add:
                return False
        return True

    def apply_runtime(self, files: FileSet, changes: Mapping[Path, str | None], survey: Survey,
                       restored: Callable[[], None]) -> None:
        """Certificates HAProxy has loaded get ``set ssl cert`` (changed files, and files whose loaded copy
        an interrupted change left old); entries missing from a crt-list in memory are added, loading their
        certificate first (``new ssl cert``) only when HAProxy does not have it yet, as when a certificate
        served on one port is enabled on a second one."""
        appends = self._crt_list_appends(changes, survey)
        pushes = [p for p, c in changes.items() if p.suffix == ".pem" and c is not None]
        pushes += [self.layout.pem(n) for n in sorted(survey.unsettled_certs) if self.layout.pem(n) not in changes]
        loaded = Loaded(self.runtime, len(pushes) + sum(len(new) - len(base or ()) for base, new in appends.values()))
        undo = files.apply()  # persist first: a restart serves the same
        quiet = survey.change is None  # no change was interrupted: no stale transaction is expected
        swapped: list[Path] = []
        added = False
        try:
            for path in (p for p in pushes if str(p) in loaded):
                self.runtime.replace(path, changes.get(path) or read_or_none(path) or "", expect_none=quiet)
                swapped.append(path)
            for crt_list, (base, new) in appends.items():
                for line in new[len(base or ()):]:
                    pem = Path(line.split()[0])
                    added = True
                    if str(pem) in loaded:
                        self.runtime.add_line(crt_list, line)
                    else:
                        self.runtime.add(pem, changes.get(pem) or read_or_none(pem) or "", crt_list, line,
                                         expect_none=quiet)
                        loaded.add(str(pem))
            self.last_path = "runtime"
        except ProviderError as refused:
            self._runtime_fallback(files, undo, swapped, refused, _nothing if added else restored)

    def _runtime_fallback(self, files: FileSet, undo: FileSet, swapped: Sequence[Path], refused: ProviderError,
                          restored: Callable[[], None]) -> None:
        """The runtime API said no: the files are right, so a validated reload makes them live. If that is
        impossible too, the old files and the certificates already swapped in memory are put back."""
        try:
            self.check_candidate(files)
            self.reload_or_start(self.live())
        except ProviderError as exc:
            undo.apply()
            back = True
            for path in (p for p in swapped if p in undo.contents):
                try:
                    self.runtime.replace(path, undo.contents.get(path) or "")
                except ProviderError:
                    back = False
            if back:
                restored()
            raise ProviderError(f"{refused.message}; and the reload instead failed: {exc.message}",
                                code=exc.code) from exc

    def apply_reload(self, files: FileSet, live: bool, restored: Callable[[], None]) -> None:
        self.check_candidate(files)
        undo = files.apply()
        try:
            self.reload_or_start(live)
        except ProviderError:
            undo.apply()  # a load that failed left the old worker serving the old files
            if live:
                with contextlib.suppress(ProviderError):
                    self.reload_or_start(live)
                    restored()
            else:
                restored()
            raise

    def check_candidate(self, files: FileSet) -> None:
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
            for name in entries(self.layout.root):  # crt-lists this change leaves as they are
                path = self.layout.root / name
                if path not in files.contents and port_of_crt_list(path, self.layout.root) is not None:
                    write_atomic(root / name, self._to_candidate(path.read_text(), root).encode(), sync=False)
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

    def reload_or_start(self, live: bool) -> None:
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


def _nothing() -> None:
    return None
