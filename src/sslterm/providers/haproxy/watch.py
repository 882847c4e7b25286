"""Which files of one directory changed since the last look: Linux inotify, read without blocking.

A provider that keeps what it read of ten thousand certificate files between two changes must know that
none of them changed meanwhile, and a ``stat`` of each costs more than the change itself. The kernel tells
instead: every write, truncation, attribute change, rename or removal of an entry of a watched directory is
queued as an event naming it by the time the system call that made it returns. When the queue overflowed,
the directory itself went or was replaced, or inotify is not available (another OS, the per-user limits
reached), :meth:`DirectoryWatch.changed` answers None: "anything may have changed", and the caller reads
everything again, as without a watch. One inotify instance serves the whole process (the per-user limit on
instances is small); each directory is one watch in it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import struct
import threading
import weakref
from pathlib import Path

#: modify, attrib, close_write, moved_from, moved_to, create, delete, delete_self, move_self
_MASK = 0x002 | 0x004 | 0x008 | 0x040 | 0x080 | 0x100 | 0x200 | 0x400 | 0x800
_GONE = 0x400 | 0x800 | 0x8000  # the directory went or was replaced, or the watch was removed
_OVERFLOW = 0x4000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


class _Instance:
    """The process's inotify instance: events read as they come, handed to the watches by descriptor."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self.libc, self.lock, self.pid = libc, threading.Lock(), os.getpid()
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self.watches: dict[int, weakref.WeakSet[DirectoryWatch]] = {}

    def add(self, watch: DirectoryWatch) -> int | None:
        with self.lock:
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(watch.directory), _MASK)
            if wd < 0:
                return None
            self.watches.setdefault(wd, weakref.WeakSet()).add(watch)
            return int(wd)

    def remove(self, watch: DirectoryWatch, wd: int) -> None:
        with self.lock:
            users = self.watches.get(wd)
            if users is not None:
                users.discard(watch)
                if not users:
                    del self.watches[wd]
                    self.libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> None:
        """Hand every queued event to the watches it concerns."""
        with self.lock:
            while True:
                try:
                    data = os.read(self.fd, 1 << 16)
                except BlockingIOError:
                    return
                except OSError:  # the instance is unusable: every watch starts again
                    for watch in [w for ws in self.watches.values() for w in ws]:
                        watch.event("", lost=True)
                    return
                offset = 0
                while offset < len(data):
                    wd, mask, _, length = _EVENT.unpack_from(data, offset)
                    name = data[offset + _EVENT.size:offset + _EVENT.size + length].rstrip(b"\0")
                    offset += _EVENT.size + length
                    users = [w for ws in self.watches.values() for w in ws] if mask & _OVERFLOW \
                        else list(self.watches.get(wd, ()))
                    for watch in users:
                        watch.event(os.fsdecode(name), lost=bool(mask & (_GONE | _OVERFLOW)))


_LIBC = _libc()
_INSTANCE: _Instance | None = None
_CREATING = threading.Lock()


def _instance() -> _Instance | None:
    global _INSTANCE  # one per process (a forked child makes its own), made on first use
    with _CREATING:
        if _LIBC is not None and (_INSTANCE is None or _INSTANCE.pid != os.getpid()):
            made = _Instance(_LIBC)
            _INSTANCE = made if made.fd >= 0 else None
        return _INSTANCE


class DirectoryWatch:
    """Names of entries of ``directory`` touched since the last call of :meth:`changed`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._wd: int | None = None
        self._names: set[str] = set()
        self._lost = False

    @property
    def active(self) -> bool:
        """Events are being collected (the next :meth:`changed` answers with names)."""
        return self._wd is not None

    def event(self, name: str, *, lost: bool) -> None:
        self._names.add(name)
        self._lost = self._lost or lost

    def changed(self) -> set[str] | None:
        """The names touched since the last call; None when that cannot be told (then the watch starts
        again: the next call answers for what happens from now on)."""
        instance = _instance()
        if instance is None or not self.directory.is_dir():
            self._wd = None
            return None
        if self._wd is None:
            self._wd, self._names, self._lost = instance.add(self), set(), False
            return None
        instance.read()
        names, lost = self._names, self._lost
        self._names, self._lost = set(), False
        if lost:
            with contextlib.suppress(OSError):
                instance.remove(self, self._wd)
            self._wd = None
            return None
        return names
