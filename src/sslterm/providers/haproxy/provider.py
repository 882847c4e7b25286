"""The HAProxy provider: managed mode (sslterm writes the configuration and runs HAProxy) and attached
mode (the operator's configuration includes sslterm's crt-lists; sslterm owns those and the certificates).

Here: which files a change needs (written in every case, so a restart serves the same); golive.py makes them
live, cheapest first (runtime API, else a validated hitless reload; docs/haproxy.md).

Crash safety (docs/crash-safety.md): every change runs under the load balancer's lock, between a change mark
(``change.json``, written first) and the notes (``state.json``, written last): files in an order that keeps
them loadable (files.py), and what an interrupted change left (unused files, memory that differs from the
files: survey.py) is swept and made live by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import ClassVar

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
from sslterm.providers.haproxy import attached, state
from sslterm.providers.haproxy.boundary import translated
from sslterm.providers.haproxy.cache import FilesCache
from sslterm.providers.haproxy.config import render
from sslterm.providers.haproxy.diff import replaced_files, replaced_only, with_slot, without_material
from sslterm.providers.haproxy.disk import crt_list_files, port_of_crt_list
from sslterm.providers.haproxy.files import FileSet, digest, entries, read_or_none, sync_dir
from sslterm.providers.haproxy.golive import GoLive
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions
from sslterm.providers.haproxy.process import Process
from sslterm.providers.haproxy.runtime import RuntimeAPI
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
        self.golive = GoLive(name, options, layout, binary, version, self.runtime, self.process)
        self.default_lb_port = options.bind.port if options.bind and options.bind.port else 443
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
            named = sorted(port for port in gone if attached.referenced(self.options, self.layout.crt_list(port)))
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
        return Observed(self._survey().reported(), attached.foreign_ports(self.options, self.layout))

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

    @property
    def last_path(self) -> str:
        """How the last change went live: "runtime", "reload", "start", "files" or "none" (tests, benchmarks)."""
        return self.golive.last_path

    def alive(self) -> bool:
        return self.golive.live()

    # -- what it has now ----------------------------------------------------------------------------
    def _survey(self) -> Survey:
        """The files' listeners; after an interrupted change (a change mark) and while HAProxy runs, what its
        memory holds for what that change touched, too."""
        managed = self.options.mode == "managed"
        found = self._files.look(functools.partial(read_files, self.layout, managed=managed))
        if found.change is None or not self.golive.live():
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
        in_root, in_certs = entries(root), None if self._files.clean else entries(certs)
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
        live = self.golive.live()
        if live and not changes and survey.settled:
            self.golive.last_path = "none"
            if survey.change is not None or survey.stale:
                self._note(wanted, survey, changes, files)
            return
        unused = attached.unused_by_operator(self.options, changes)
        runtime = not unused and live and self.golive.runtime_possible(changes, survey)
        self._begin(survey, wanted, files, changes, reload=live and not (unused or runtime))
        restored = functools.partial(state.end, self.layout.change) if survey.settled else _nothing
        if unused:  # files no configuration names: nothing to make live
            files.apply()
            self.golive.last_path = "files"
        elif runtime:
            self.golive.apply_runtime(files, changes, survey, restored)
        else:
            self.golive.apply_reload(files, live, restored)
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

def _nothing() -> None:
    return None


_fingerprint = attrgetter("fingerprint")
_name = attrgetter("name")
_port = attrgetter("lb_port")
