"""sslterm's notes beside a HAProxy load balancer's files, and the mark of a change under way.

``state.json`` (:class:`Notes`): the listeners as last made live, with what the files cannot tell (each
listener's settings) and, per certificate file, its identity (inode, size, mtime) when sslterm wrote it. It
is a cache of what the files say, never trusted over them: a file whose identity changed is read again.

``change.json`` (:class:`Change`): written and synced before the first file of a change is written, removed
once the change is live and noted. Found later, it means a change was interrupted (a crash, SIGKILL, a power
loss), so HAProxy's memory may differ from its files: only then is memory compared with the files.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import is_
from pathlib import Path
from typing import Generic, TypeVar

from sslterm.engine.contract import CertSlot, ListenerSpec
from sslterm.files import write_atomic
from sslterm.providers.haproxy.files import sync_dir
from sslterm.providers.haproxy.process import MasterState

FileId = tuple[int, int, int]  # inode, size, mtime in ns: a file rewritten by rename gets a new inode


@dataclass(frozen=True)
class Notes:
    listeners: tuple[ListenerSpec, ...] = ()
    files: Mapping[str, FileId] = field(default_factory=dict)  # certificate name -> identity when written
    config: str | None = None  # SHA-256 of haproxy.cfg when noted (None: not noted, as by older releases)

    def slots(self) -> dict[str, CertSlot]:
        return {c.name: c for lst in self.listeners for c in lst.certificates}

    def by_port(self) -> dict[int, ListenerSpec]:
        return {x.lb_port: x for x in self.listeners}


def load(path: Path) -> Notes:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Notes()
    files = {str(k): (int(v[0]), int(v[1]), int(v[2])) for k, v in data.get("files", {}).items()}
    return Notes(tuple(ListenerSpec.from_record(item) for item in data["listeners"]), files, data.get("config"))


def save(path: Path, notes: Notes) -> None:
    """Written atomically and synced; the change mark's removal, just after, syncs the directory. The same
    JSON as ``{"listeners": [x.as_record() ...], "files": {name: [inode, size, mtime]}, "config": ...}``,
    made of pieces kept per certificate and per file identity: a change of one certificate among ten
    thousand re-encodes that one."""
    listeners = []
    for lst in sorted(notes.listeners, key=lambda x: x.lb_port):
        settings = json.dumps(lst.describe(certificates=False), separators=(",", ":"))
        listeners.append(f'{settings[:-1]},"certificates":[{_SLOTS.joined(lst.certificates)}]}}')
    files = _FILES.joined(notes.files.items())
    body = f'{{"listeners":[{",".join(listeners)}],"files":{{{files}}},"config":{json.dumps(notes.config)}}}'
    write_atomic(path, body.encode())


K = TypeVar("K")


class _Pieces(Generic[K]):
    """JSON text by key, made once (up to ``limit`` keys; then started afresh)."""

    def __init__(self, encode: Callable[[K], str], key: Callable[[K], Hashable] | None = None,
                 limit: int = 100_000) -> None:
        self.encode, self.key, self.limit = encode, key, limit
        self.text: dict[Hashable, str] = {}
        self.held: dict[Hashable, K] = {}  # keys made from object ids: the objects stay alive while kept

    def joined(self, items: Iterable[K]) -> str:
        items = list(items)
        keys: list[Hashable] = list(map(self.key, items)) if self.key else items  # type: ignore[assignment]
        found = list(map(self.text.get, keys))
        if None in found:
            if len(self.text) + len(items) > self.limit:
                self.text, self.held = {}, {}
            for i in compress(count(), map(is_, found, repeat(None))):
                found[i] = self.text[keys[i]] = self.encode(items[i])
                self.held[keys[i]] = items[i]
        return ",".join(found)  # type: ignore[arg-type]


def _slot_json(slot: CertSlot) -> str:
    return json.dumps({"name": slot.name, "fingerprint": slot.fingerprint, "sans": list(slot.sans),
                       "key_type": slot.key_type, "chain": list(slot.chain)}, separators=(",", ":"))


def _file_json(item: tuple[str, FileId]) -> str:
    return f"{json.dumps(item[0])}:{json.dumps(list(item[1]), separators=(',', ':'))}"


_SLOTS: _Pieces[CertSlot] = _Pieces(_slot_json, key=id)
_FILES: _Pieces[tuple[str, FileId]] = _Pieces(_file_json)


@dataclass(frozen=True)
class Change:
    """A change being made live: what it touches and what HAProxy had loaded when it began."""

    paths: tuple[str, ...]  # files written or removed (and files found unsettled from an earlier change)
    ports: tuple[int, ...]  # listeners added, changed or removed
    settings: Mapping[int, ListenerSpec]  # the settings of each such listener after the change (no certificates)
    config: str | None  # SHA-256 of haproxy.cfg after the change
    loaded_config: str | None  # SHA-256 of the configuration HAProxy had loaded when it began (None: unknown)
    master: MasterState | None  # the master's pid and reload counts when it began (managed, reloading)


def load_change(path: Path) -> Change | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    master = data.get("master")
    return Change(tuple(data["paths"]), tuple(int(p) for p in data["ports"]),
                  {int(k): ListenerSpec.from_record(v) for k, v in data["settings"].items()}, data.get("config"),
                  data.get("loaded_config"), MasterState(*master) if master else None)


def begin(path: Path, change: Change) -> None:
    """Durable before the first file of the change is: after a crash, its presence is all that tells."""
    master = change.master
    body = {"paths": list(change.paths), "ports": list(change.ports),
            "settings": {str(k): v.as_record() for k, v in change.settings.items()},
            "config": change.config, "loaded_config": change.loaded_config,
            "master": [master.pid, master.reloads, master.failed] if master else None}
    write_atomic(path, json.dumps(body, separators=(",", ":")).encode())
    sync_dir(path.parent)


def end(path: Path) -> None:
    """The change is live and noted (the notes were saved just before, in the same directory)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sync_dir(path.parent)
