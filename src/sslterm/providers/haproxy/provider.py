"""The HAProxy provider: managed mode (sslterm writes the configuration and runs HAProxy) and attached
mode (the operator's configuration includes sslterm's crt-lists; sslterm owns those and the certificates).

How a change is made live, cheapest first (docs/haproxy.md):
1. only certificate contents changed, HAProxy 2.1+: runtime API ``set``/``commit ssl cert`` (no reload);
2. SNI certificates appended to a crt-list, HAProxy 2.2+: ``new ssl cert`` + ``add ssl crt-list``;
3. anything else (or the runtime API refusing): ``haproxy -c`` on a candidate copy, write, hitless reload.
Files are written in every case, so a restart serves the same as the runtime API did.

Crash safety (docs/crash-safety.md): every change runs under the load balancer's lock, between a change mark
(``change.json``, written first) and the notes (``state.json``, written last): files in an order that keeps
them loadable (files.py), and what an interrupted change left (unused files, memory that differs from the
files: survey.py) is swept and made live by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import ClassVar, ParamSpec, TypeVar

from sslterm.engine.contract import (
    TLS_PROFILES,
    Capabilities,
    CertRef,
    CertSlot,
    ListenerSpec,
    Observed,
    Served,
    Timing,
    handshakes,
)
from sslterm.errors import ProviderError, UnsafePlan
from sslterm.files import ensure_private_dir, write_atomic
from sslterm.ports import LocalEndpoint
from sslterm.providers.haproxy import state
from sslterm.providers.haproxy.cache import FilesCache
from sslterm.providers.haproxy.config import render
from sslterm.providers.haproxy.diff import replaced_files, replaced_only, with_slot, without_material
from sslterm.providers.haproxy.disk import crt_list_files, crt_list_lines_after, port_of_crt_list
from sslterm.providers.haproxy.files import FileSet, digest, read_or_none, sync_dir
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions
from sslterm.providers.haproxy.process import Process, check_config
from sslterm.providers.haproxy.runtime import Loaded, RuntimeAPI
from sslterm.providers.haproxy.state import Change, Notes
from sslterm.providers.haproxy.survey import (
    UNSETTLED,
    Survey,
    compare_memory,
    identities,
    master_mark,
    read_files,
)
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
        except (ValueError, KeyError) as exc:  # a damaged state.json or change.json
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
        #: a certificate is replaced in place (runtime API on 2.1+, else a hitless reload with the same
        #: listeners); every TLS profile, redirect, HSTS and HTTPS to the backends can be rendered
        managed = options.mode == "managed"
        #: attached: the operator's configuration decides the listener's settings (sslterm renders only its
        #: crt-lists), so none but the default ones can be asked for
        self.capabilities = Capabilities(rotate_in_place=True, hot_add=version.runtime_add, first_is_default=managed,
                                         redirect_http=managed, hsts=managed, https_to_instances=managed,
                                         tls_profiles=TLS_PROFILES if managed else ("intermediate",))
        self.timing = Timing()  # a reload is live within seconds; the socket answers at once
        self.scope = f"haproxy:{name}"  # staged copies belong to this load balancer alone
        admin = Path(options.socket) if options.socket else layout.admin_socket
        self.runtime = RuntimeAPI(admin)
        self.process = Process(binary, layout.config, layout.pid_file, layout.master_socket, layout.admin_socket)
        self.default_lb_port = options.bind.port if options.bind and options.bind.port else 443
        #: how the last change went live: "runtime", "reload", "start" or "none" (for tests and benchmarks)
        self.last_path = "none"
        #: what this process staged or saw served: a rollback later in the same command may need it staged
        self._kept: set[str] = set()
        #: what the files said last, while they say the same (cache.py)
        self._files = FilesCache(layout, managed=options.mode == "managed")
        #: a survey whose served ids are all in ``_kept`` already (the one this provider's last change made)
        self._merged: Survey | None = None

    # -- contract ---------------------------------------------------------------------------------
    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        http_port = self.options.http_bind.port if self.options.http_bind else None
        if self.options.mode == "attached":
            gone = {x.lb_port for x in self.observe().listeners} - {x.lb_port for x in listeners}
            named = sorted(port for port in gone if self._referenced(self.layout.crt_list(port)))
            if named:  # the operator's bind line names that crt-list: emptying it would break their reload
                raise UnsafePlan(f"{self.name} is attached: TLS on port(s) {named} is configured in "
                                 f"{self.options.config}", hint="remove that bind line from your configuration "
                                 "(sslterm manages only its certificates), then run this again")
        for listener in listeners:
            if listener.lb_port == http_port:
                raise UnsafePlan(f"port {listener.lb_port} is the plain HTTP bind of {self.name}",
                                 hint="choose another --lb-port")

    @translated
    def upload(self, slot: CertSlot) -> CertRef:
        if slot.fingerprint == UNSETTLED:  # putting back an interrupted state: the file as it is on disk
            if not self.layout.pem(slot.name).exists():
                raise ProviderError(f"{self.name}: certificate {slot.name} is not on disk", code="not-staged")
            return CertRef(slot.served_id, str(self.layout.pem(slot.name)), self.scope)
        staged = self.layout.staged(slot.served_id)
        self._kept.add(slot.served_id)
        if staged.exists():  # named by leaf and chain, written atomically: already right, no key unsealed
            return CertRef(slot.served_id, str(staged), self.scope)
        if slot.material is not None:
            bundle = slot.material.bundle()  # staged copies are re-creatable from the store: no fsync
            ensure_private_dir(staged.parent)
            write_atomic(staged, bundle.certificate_pem() + bundle.key_pem(), sync=False)
        else:
            raise ProviderError(f"{self.name}: certificate {slot.name} ({slot.fingerprint[:16]}) is not staged",
                                code="not-staged")
        return CertRef(slot.served_id, str(staged), self.scope)

    @translated
    def rotate(self, ref: CertRef, slot: CertSlot) -> CertRef:
        """The certificate file named after ``slot`` gets its new contents on every listener that serves it
        (the runtime API swaps it in memory; else a reload with the same listeners)."""
        staged = self.upload(slot)

        def wanted(current: tuple[ListenerSpec, ...]) -> tuple[ListenerSpec, ...]:
            return tuple(with_slot(x, slot) for x in current)

        self._change(wanted)
        return staged

    @translated
    def bind(self, listener: ListenerSpec, refs: Mapping[str, CertRef]) -> None:
        def wanted(current: tuple[ListenerSpec, ...]) -> tuple[ListenerSpec, ...]:
            others = tuple(x for x in current if x.lb_port != listener.lb_port)
            return (*others, listener) if listener.certificates else others  # none: put back "no listener"

        self._change(wanted)

    @translated
    def unbind(self, lb_port: int) -> None:
        self._change(lambda current: tuple(x for x in current if x.lb_port != lb_port))

    @translated
    def observe(self) -> Observed:
        """What the files say (what a restart serves), with what HAProxy's memory does not match after an
        interrupted change reported unsettled (survey.py). Every TLS listener of a managed HAProxy is
        sslterm's; an attached one's own binds are the operator's and never touched."""
        return Observed(self._survey().reported(), self._foreign_ports())

    def _foreign_ports(self) -> tuple[int, ...]:
        """Attached: the ports of the operator's TLS binds that name no crt-list of sslterm's (never touched).
        A configuration that cannot be read reports none (``check`` then refuses what needs it)."""
        if self.options.mode != "attached":
            return ()
        try:
            text = Path(self.options.config or "").read_text()
        except OSError:
            return ()
        ports = set()
        for line in text.splitlines():
            found = _BIND.match(line)
            if found and " ssl" in f" {found['rest']}" and str(self.layout.root) not in found["rest"]:
                ports.add(int(found["port"]))
        return tuple(sorted(ports))

    def verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        return handshakes(self, listener, only)

    @translated
    def forget(self, ref: CertRef) -> None:
        """A staged copy goes (the files a listener serves are the configuration's, removed by ``bind``)."""
        path = Path(ref.location)
        if path.parent == self.layout.staging and ref.fingerprint not in self._kept:
            with self._locked():
                path.unlink(missing_ok=True)

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
        """After a command succeeded: staged copies no listener serves go, and a change mark whose change
        turned out live (memory and files agree) is settled."""
        with self._locked():
            survey = self._survey()
            if survey.settled and (survey.change is not None or survey.stale):
                self._note(survey.listeners, survey, {}, FileSet(self.layout.certs))
            self._sweep(survey, survey.served_ids)

    @translated
    def start(self) -> None:
        """Bring a managed HAProxy up on what its files say (plain HTTP when nothing is enabled)."""
        if self.options.mode != "managed":  # attached: the socket must answer, the crt-list must exist
            if "Pid:" not in self.runtime.command("show info"):
                raise ProviderError(f"{self.options.socket} is not a HAProxy runtime API", code="haproxy-socket")
            ensure_private_dir(self.layout.root)
            crt_list = self.layout.crt_list(self.default_lb_port)
            if not crt_list.exists():
                write_atomic(crt_list, b"")
            return
        self._change(lambda current: current)

    @translated
    def stop(self, *, keep_files: bool = False) -> None:
        """Managed: stop HAProxy (by its pid) and, unless ``keep_files``, remove its files (`lb remove` keeps
        them until the store has forgotten the load balancer: a failed commit can still start it again).
        Attached: nothing to stop, and the files stay (the operator's configuration may name them)."""
        if self.options.mode == "managed":
            self.process.stop()
            if not keep_files:
                shutil.rmtree(self.layout.root, ignore_errors=True)

    def alive(self) -> bool:
        return self._live()

    # -- what it has now ----------------------------------------------------------------------------
    def _survey(self) -> Survey:
        """The files' listeners; after an interrupted change (a change mark) and while HAProxy runs, what its
        memory holds for what that change touched, too."""
        managed = self.options.mode == "managed"
        found = self._files.look(functools.partial(read_files, self.layout, managed=managed))
        if found.change is None or not self._live():
            return found
        master = master_mark(self.process.master_state) if managed else None
        return compare_memory(found, self.layout, self.runtime, master)

    def _sweep(self, survey: Survey, keep: Callable[[], AbstractSet[str]]) -> None:
        """Remove what a crash can leave behind, all of it unused (a private key with no certificate that uses
        it is the point): temporary files never renamed, crt-lists the configuration does not name
        (managed), certificate files no crt-list names, staged copies not in ``keep()``. File names are
        compared as strings: this runs after every change. ``certs/`` is not listed again while nothing
        but this provider's own changes touched it since it was last swept (cache.py watches it)."""
        root, certs, staging = self.layout.root, self.layout.certs, self.layout.staging
        in_root, in_certs = _names(root), None if self._files.clean else _names(certs)
        staged, in_staging = self._files.staged()  # served ids of staged copies, other entries
        removed = [Path(d, n) for d, names in ((root, in_root), (certs, in_certs or ()), (staging, in_staging))
                   for n in names if n.startswith(".") and n.endswith(".tmp")]  # files.is_leftover
        lists = [root / n for n in in_root if port_of_crt_list(root / n, root) is not None]
        if self.options.mode == "managed":
            named = {self.layout.crt_list(x.lb_port) for x in survey.listeners}
            removed += [p for p in lists if p not in named]
            lists = [p for p in lists if p in named]
        if in_certs is not None:
            pems = {f for p in lists for f in crt_list_files(read_or_none(p) or "")}
            removed += [certs / n for n in in_certs if n.endswith(".pem") and f"{certs}/{n}" not in pems]
        removed += [staging / f"{served_id}.pem" for served_id in (staged - keep() if staged else ())]
        for path in removed:
            path.unlink(missing_ok=True)
        for directory in {p.parent for p in removed}:
            sync_dir(directory)
        if in_certs is not None:
            self._files.swept()

    # -- making it live ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        ensure_private_dir(self.layout.root)
        with self.layout.lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one change at a time per load balancer
            for stale in self.layout.root.glob("candidate-*"):  # left by a crash during `haproxy -c`
                shutil.rmtree(stale, ignore_errors=True)
            yield

    def _change(self, wanted_of: Callable[[tuple[ListenerSpec, ...]], tuple[ListenerSpec, ...]]) -> None:
        """Under the lock: see what is there, sweep what an interrupted change left (only one can leave an
        unnamed certificate file: its mark says so; a staged copy left by a killed upload goes with the next
        ``cleanup``), then bring the files and HAProxy to ``wanted_of(the listeners the files have)``."""
        with self._locked():
            survey = self._survey()
            if survey is not self._merged:  # a rollback later in this process may need them staged
                self._kept |= survey.served_ids()
                self._merged = survey
            if survey.change is not None:
                self._sweep(survey, lambda: self._kept | {c.served_id for c in survey.notes.slots().values()})
            wanted = tuple(sorted(wanted_of(survey.listeners), key=_port))  # one order: the same files
            self._converge(survey, self._resolve(wanted, survey))

    def _resolve(self, wanted: tuple[ListenerSpec, ...], survey: Survey) -> tuple[ListenerSpec, ...]:
        """An unsettled certificate (a rollback to what observe reported) is the one its file holds."""
        if not any(UNSETTLED in map(_fingerprint, x.certificates) for x in wanted):
            return wanted
        on_disk = {c.name: c for x in survey.listeners for c in x.certificates}

        def real(slot: CertSlot) -> CertSlot:
            if slot.fingerprint != UNSETTLED:
                return slot
            if slot.name not in on_disk:
                raise ProviderError(f"{self.name}: certificate {slot.name} is not on disk", code="not-staged")
            return on_disk[slot.name]

        return tuple(replace(x, certificates=tuple(map(real, x.certificates))) for x in wanted)

    def _desired_files(self, current: Sequence[ListenerSpec], wanted: Sequence[ListenerSpec]) -> FileSet:
        """The files for ``wanted``; a certificate served as in ``current`` (same leaf and chain) is kept
        as it is on disk, unread."""
        rendered = render(self.options, wanted, self.layout, self.version)
        files = FileSet(self.layout.certs)
        replaced = replaced_only(current, wanted)
        if replaced is not None:  # certificates replaced (a rotation): the others are kept, not compared
            return replaced_files(files, self.layout, rendered, wanted, replaced)
        have = {c.name: c.served_id for lst in current for c in lst.certificates}
        want = {c.name: c.served_id for lst in wanted for c in lst.certificates}
        for port in {x.lb_port for x in current} - {x.lb_port for x in wanted}:
            files.contents[self.layout.crt_list(port)] = None
        for name in have.keys() - want.keys():
            files.contents[self.layout.pem(name)] = None
        if rendered.config is not None:
            files.contents[self.layout.config] = rendered.config
        files.contents.update(rendered.crt_lists)
        kept = []
        for name, served_id in want.items():
            if have.get(name) == served_id:
                kept.append(name)
            else:
                files.contents[self.layout.pem(name)] = self.layout.staged(served_id).read_text()
        files.kept = kept
        return files

    def _converge(self, survey: Survey, wanted: tuple[ListenerSpec, ...]) -> None:
        """Write what differs (files.py orders it) and make it live, between a change mark and the notes;
        what an interrupted change left unsettled is made live too, even when its files are right."""
        files = self._desired_files(survey.listeners, wanted)
        changes = files.changes()
        live = self._live()
        if live and not changes and survey.settled:
            self.last_path = "none"
            if survey.change is not None or survey.stale:
                self._note(wanted, survey, changes, files)
            return
        unused = self._unused_by_operator(changes)
        runtime = not unused and live and self._runtime_possible(changes, survey)
        self._begin(survey, wanted, files, changes, reload=live and not (unused or runtime))
        restored = functools.partial(state.end, self.layout.change) if survey.settled else _nothing
        if unused:  # files no configuration names: nothing to make live
            files.apply()
            self.last_path = "files"
        elif runtime:
            self._apply_runtime(files, changes, survey, restored)
        else:
            self._apply_reload(files, live, restored)
        self._note(wanted, survey, changes, files)

    def _begin(self, survey: Survey, wanted: Sequence[ListenerSpec], files: FileSet,
               changes: Mapping[Path, str | None], *, reload: bool) -> None:
        """Mark the change (state.Change) before its first file is written: the listeners and files it
        touches, plus whatever an earlier interrupted change left unsettled."""
        before, after = survey.by_port(), {x.lb_port: x for x in wanted}
        ports = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        paths = {str(p) for p in changes}
        if survey.change is not None and not survey.settled:
            ports |= {*survey.change.ports, *survey.unsettled_ports, *survey.memory_only}
            paths |= set(survey.change.paths)
        if not ports and not paths:
            return  # only starting HAProxy on its files: nothing can be left half-done
        config = digest(files.contents[self.layout.config]) if self.layout.config in files.contents else survey.config
        master = master_mark(self.process.master_state)() if reload and self.options.mode == "managed" else None
        state.begin(self.layout.change, Change(
            tuple(sorted(paths)), tuple(sorted(ports)),
            {p: replace(after[p], certificates=()) for p in sorted(ports) if p in after},
            config, survey.loaded_config, master))

    def _note(self, wanted: Sequence[ListenerSpec], survey: Survey, changes: Mapping[Path, str | None],
              files: FileSet) -> None:
        """The change is live: note the listeners and the identity of their files, then remove the mark."""
        names = set(map(_name, chain.from_iterable(x.certificates for x in wanted)))
        written = {p.stem for p, c in changes.items() if c is not None and p.parent == self.layout.certs}
        known = dict(survey.files)
        for gone in (known.keys() - names) | written:
            known.pop(gone, None)
        config = digest(files.contents[self.layout.config]) if self.layout.config in files.contents else survey.config
        listeners = tuple(sorted(map(without_material, wanted), key=lambda x: x.lb_port))
        notes = Notes(listeners, known | identities(self.layout, names - known.keys(), {}), config)
        state.save(self.layout.state, notes)
        state.end(self.layout.change)
        # what read_files would now read back (the notes describe the files exactly)
        seeded = Survey(listeners, notes, notes.files, config, None, False, loaded_config=config)
        self._files.seed(seeded, written | {p.stem for p in changes if p.parent == self.layout.certs})
        if survey is self._merged:  # and what it serves was seen (that survey) or staged by this process
            self._merged = seeded

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

    def _runtime_possible(self, changes: Mapping[Path, str | None], survey: Survey) -> bool:
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

    def _apply_runtime(self, files: FileSet, changes: Mapping[Path, str | None], survey: Survey,
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
            self._check_candidate(files)
            self._reload_or_start(self._live())
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

    def _apply_reload(self, files: FileSet, live: bool, restored: Callable[[], None]) -> None:
        self._check_candidate(files)
        undo = files.apply()
        try:
            self._reload_or_start(live)
        except ProviderError:
            undo.apply()  # a load that failed left the old worker serving the old files
            if live:
                with contextlib.suppress(ProviderError):
                    self._reload_or_start(live)
                    restored()
            else:
                restored()
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
            for name in _names(self.layout.root):  # crt-lists this change leaves as they are
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


#: a bind line of an operator's configuration: its port, and the rest of the line
_BIND = re.compile(r"\s*bind\s+\S*:(?P<port>[0-9]{1,5})(?:,\S*)?(?P<rest>(?:\s.*)?)$")


def _port(listener: ListenerSpec) -> int:
    return listener.lb_port


def _nothing() -> None:
    return None


_fingerprint = attrgetter("fingerprint")
_name = attrgetter("name")


def _names(directory: Path) -> list[str]:
    """The entries of ``directory``; none when it does not exist."""
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []
