"""What a HAProxy load balancer has now: what its files say (what a restart would serve) and, after an
interrupted change, where HAProxy's memory (what it serves now) differs from them.

The files are the truth for listeners and certificates: the configuration's ``bind`` lines name crt-lists
(attached mode: sslterm's non-empty crt-lists), each crt-list names certificate files, and each file's leaf
and chain are read back (:mod:`.disk`), except where ``state.json`` noted that very file (same inode, size
and mtime). Settings come from the notes, or from the change mark when the configuration on disk is the one
that change wrote; a configuration that is neither leaves them unknown.

Memory is compared with the files only when a change mark is found (a change was interrupted): each
certificate file, crt-list and the configuration that change touched, through the runtime API and the
master's reload count. A certificate or a listener that differs is reported *unsettled* by ``observe``:
its fingerprint is :data:`UNSETTLED`, which matches nothing the store holds, so ``status`` says drift and
the next plan re-applies it; a listener HAProxy still serves but the files dropped is reported without
certificates, so the next plan removes it (or re-binds it) and makes that live.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from sslterm.engine.contract import CertSlot, ListenerSpec
from sslterm.errors import ProviderError
from sslterm.providers.haproxy import state
from sslterm.providers.haproxy.disk import (
    config_crt_lists,
    crt_list_files,
    crt_list_lines,
    port_of_crt_list,
    read_pem,
)
from sslterm.providers.haproxy.files import digest, read_or_none
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.process import MasterState
from sslterm.providers.haproxy.runtime import RuntimeAPI
from sslterm.providers.haproxy.state import Change, FileId, Notes

#: the fingerprint ``observe`` reports for a certificate whose copy in HAProxy's memory is not the one in
#: its file (a change was interrupted between the two): equal to no stored fingerprint
UNSETTLED = "unsettled"


def unsettled(slot: CertSlot) -> CertSlot:
    return CertSlot(slot.name, UNSETTLED, slot.sans, chain=slot.chain)


@dataclass(frozen=True)
class Survey:
    listeners: tuple[ListenerSpec, ...]  # as the files say, with real fingerprints, by port
    notes: Notes
    files: Mapping[str, FileId]  # identity of each certificate file the crt-lists name
    config: str | None  # SHA-256 of haproxy.cfg on disk (managed mode)
    change: Change | None  # the mark of an interrupted change
    stale: bool  # the notes do not describe the files
    unsettled_ports: frozenset[int] = frozenset()  # listeners whose memory (or settings) may differ
    unsettled_certs: frozenset[str] = frozenset()  # certificates whose loaded copy differs from the file
    memory_only: Mapping[int, ListenerSpec] = field(default_factory=dict)  # served, but gone from the files
    memory_lines: Mapping[int, list[str] | None] = field(default_factory=dict)  # crt-list entries in memory
    config_unsettled: bool = False  # HAProxy has not loaded the configuration on disk
    loaded_config: str | None = None  # SHA-256 of the configuration HAProxy has loaded, when known

    @property
    def settled(self) -> bool:
        return not (self.unsettled_ports or self.unsettled_certs or self.memory_only or self.config_unsettled)

    def by_port(self) -> dict[int, ListenerSpec]:
        return {x.lb_port: x for x in self.listeners}

    def served_ids(self) -> frozenset[str]:
        return self._served_ids

    @cached_property
    def _served_ids(self) -> frozenset[str]:  # once per survey: a kept one is asked after every change
        return frozenset(c.served_id for x in self.listeners for c in x.certificates)

    def reported(self) -> tuple[ListenerSpec, ...]:
        """What ``observe`` returns: the files' listeners, with what memory does not match marked."""
        out = []
        for lst in self.listeners:
            whole = lst.lb_port in self.unsettled_ports
            if not whole and not self.unsettled_certs:  # as the files say (the usual case)
                out.append(lst)
                continue
            out.append(replace(lst, certificates=tuple(unsettled(c) if whole or c.name in self.unsettled_certs
                                                       else c for c in lst.certificates)))
        out += [replace(spec, certificates=()) for spec in self.memory_only.values()]
        return tuple(sorted(out, key=lambda x: x.lb_port))


class _Reader:
    """Certificate files by name: the noted slot while the file is the one noted, else read back."""

    def __init__(self, layout: Layout, notes: Notes) -> None:
        self.prefix = f"{layout.certs}/"  # strings, not Paths: this runs once per certificate on every observe
        self.noted = notes.slots()
        self.noted_files = notes.files
        self.files: dict[str, FileId] = {}
        self.slots: dict[str, CertSlot | None] = {}
        self.missed = False

    def name_of(self, path: str) -> str | None:
        """The certificate name of a crt-list entry's file, if it is one of sslterm's (``certs/NAME.pem``)."""
        name = path[len(self.prefix):-len(".pem")]
        return name if path.startswith(self.prefix) and path.endswith(".pem") and "/" not in name else None

    def slot(self, name: str) -> CertSlot | None:
        if name not in self.slots:
            self.slots[name] = self._read(name)
        return self.slots[name]

    def _read(self, name: str) -> CertSlot | None:
        path = f"{self.prefix}{name}.pem"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        self.files[name] = (st.st_ino, st.st_size, st.st_mtime_ns)
        noted = self.noted.get(name)
        if noted is not None and self.noted_files.get(name) == self.files[name]:
            return noted
        self.missed = True
        facts = read_pem(Path(path))
        if facts is None:
            return None
        if noted is not None and (noted.fingerprint, noted.chain) == (facts.fingerprint, facts.chain):
            return noted  # the same certificate: keep the names as the store gave them
        return CertSlot(name, facts.fingerprint, facts.sans, chain=facts.chain)


def _attached_lists(layout: Layout) -> dict[int, Path]:
    """Attached mode: sslterm's crt-lists that name at least one certificate."""
    found = {}
    for path in layout.root.glob("crt-list-*.txt"):
        port = port_of_crt_list(path, layout.root)
        if port is not None and crt_list_files(read_or_none(path) or ""):
            found[port] = path
    return found


def _settings(port: int, notes: Notes, change: Change | None, config: str | None,
              managed: bool) -> ListenerSpec | None:
    """A listener's settings: the change's when the configuration on disk is the one it wrote, else the
    notes' when it is the noted one; None when unknown."""
    noted = notes.by_port().get(port)
    if change is not None and port in change.settings and (config == change.config if managed else noted is None):
        return change.settings[port]
    if managed and notes.config is not None and config != notes.config:
        return None
    return noted


def read_files(layout: Layout, *, managed: bool) -> Survey:
    """The listeners as the files say; ``broken`` ports (a missing file, unknown settings) are unsettled."""
    notes = state.load(layout.state)
    change = state.load_change(layout.change)
    config_text = read_or_none(layout.config) if managed else None
    config = digest(config_text)
    lists = config_crt_lists(config_text or "", layout.root) if managed else _attached_lists(layout)
    reader = _Reader(layout, notes)
    listeners, broken = [], set()
    for port, path in sorted(lists.items()):
        text = read_or_none(path)
        named = crt_list_files(text or "")
        names = [reader.name_of(f) for f in named]
        slots = [reader.slot(name) if name else None for name in names]
        settings = _settings(port, notes, change, config, managed)
        if text is None or None in slots or settings is None:
            broken.add(port)
        certificates = tuple(s for s in slots if s is not None)
        listeners.append(replace(settings or ListenerSpec(port), lb_port=port, certificates=certificates))
    stale = reader.missed or tuple(listeners) != notes.listeners or (managed and config != notes.config)
    return Survey(tuple(listeners), notes, reader.files, config, change, stale, unsettled_ports=frozenset(broken),
                  loaded_config=config)


def compare_memory(survey: Survey, layout: Layout, runtime: RuntimeAPI,
                   master: Callable[[], MasterState | None] | None) -> Survey:
    """After an interrupted change: what HAProxy has loaded, for everything that change touched, against the
    files. ``master`` reads the master's reload count (managed mode; None when attached)."""
    change = survey.change
    if change is None:
        return survey
    on_disk = survey.by_port()
    paths = {Path(p) for p in change.paths}
    config_unsettled, loaded = False, survey.config
    if master is not None and layout.config in paths:
        loaded = _loaded_config(change, master())
        config_unsettled = loaded != survey.config
    ports = set(survey.unsettled_ports) | (set(change.ports) & on_disk.keys() if config_unsettled else set())
    lines, memory_only = {}, {}
    touched = set(change.ports) | {port for path in paths if (port := port_of_crt_list(path, layout.root))}
    for port in sorted(touched):
        lines[port] = runtime.loaded_crt_list(layout.crt_list(port))
        if port in on_disk:
            if lines[port] != crt_list_lines(read_or_none(layout.crt_list(port)) or ""):
                ports.add(port)
        elif lines[port]:  # HAProxy still serves a listener the files no longer have
            memory_only[port] = survey.notes.by_port().get(port) or change.settings.get(port) or ListenerSpec(port)
    named = {c.name for x in survey.listeners for c in x.certificates}
    certs = {p.stem for p in paths if p.parent == layout.certs and p.stem in named and _differs(p, runtime)}
    return replace(survey, unsettled_ports=frozenset(ports), unsettled_certs=frozenset(certs),
                   memory_only=memory_only, memory_lines=lines, config_unsettled=config_unsettled,
                   loaded_config=loaded)


def _differs(path: Path, runtime: RuntimeAPI) -> bool:
    """Whether HAProxy's loaded copy of a certificate file is not the file's certificate and chain."""
    facts = read_pem(path)
    return facts is None or runtime.loaded_copy(path) != (facts.sha1, facts.chain_subjects)


def _loaded_config(change: Change, now: MasterState | None) -> str | None:
    """Which configuration HAProxy has loaded: the one it had when the change began while the master has not
    reloaded since; the change's once it has (a reload follows every write of the change); unknown when the
    master does not answer or a reload failed."""
    before = change.master
    if now is None:
        return None
    if before is None:  # it was not running when the change began: started on the change's files
        return change.config
    if now.pid == before.pid and now.reloads == before.reloads:
        return change.loaded_config
    if now.pid == before.pid and now.failed > before.failed:
        return None
    return change.config


def master_mark(read: Callable[[], MasterState]) -> Callable[[], MasterState | None]:
    """``read`` with an unanswering master (re-executing itself for a reload) as None."""

    def mark() -> MasterState | None:
        try:
            return read()
        except ProviderError:
            return None

    return mark


def identities(layout: Layout, names: set[str], known: Mapping[str, FileId]) -> dict[str, FileId]:
    """The identity of each certificate file in ``names``: ``known`` ones as they are, others from ``stat``."""
    out = {}
    for name in names:
        if name in known:
            out[name] = known[name]
        else:
            st = os.stat(layout.pem(name))
            out[name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out
