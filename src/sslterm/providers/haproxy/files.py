"""The set of files a HAProxy load balancer needs, and writing it so that no crash leaves a configuration
``haproxy -c`` rejects (docs/crash-safety.md).

HAProxy reads three kinds of file, each naming the next: ``haproxy.cfg`` names crt-lists, a crt-list names
certificate files. A file must exist before anything names it, and nothing may name it any more when it is
deleted. So a change is written in phases, each made durable (``fsync`` of the files, then of their
directory) before the next one starts: certificate files, crt-lists, the configuration; then removals in the
reverse order (crt-lists no longer named, then certificate files no longer named). Killed at any point, the
files on disk are the old set, the new set, or a mix in which every name resolves.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from sslterm.files import write_atomic


def read_or_none(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def digest(text: str | None) -> str | None:
    """SHA-256 of a file's text (None for no file): how notes and change marks name a configuration."""
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def sync_dir(directory: Path) -> None:
    """Make the renames and unlinks done in ``directory`` durable (a rename is an entry in its directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_leftover(path: Path) -> bool:
    """A temporary file of :func:`sslterm.files.write_atomic` (``.NAME.XXXXXXXX.tmp``) whose writer died
    before renaming it: it may hold a private key, and nothing will ever rename it."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


BULK_FILES = 32  # above this many files, one os.sync per phase beats an fsync each


@dataclass
class FileSet:
    """Desired contents by path; ``None`` means the file must not exist. ``kept`` names certificate files
    (``kept_dir/NAME.pem``) that are part of the set and known to be right already: they are neither
    read nor written, so a change costs the same with ten certificates or ten thousand."""

    kept_dir: Path
    contents: dict[Path, str | None] = field(default_factory=dict)
    kept: Sequence[str] = ()

    def kept_paths(self) -> list[Path]:
        return [self.kept_dir / f"{name}.pem" for name in self.kept]

    def changes(self) -> dict[Path, str | None]:
        return {p: c for p, c in self.contents.items() if read_or_none(p) != c}

    def apply(self) -> FileSet:
        """Write every change (0600, atomically), phase by phase (see the module's docstring); return the
        FileSet that puts the old contents back (written in the same safe order). A change that fails
        halfway (a full disk) is put back before the error is raised."""
        undo = FileSet(self.kept_dir)
        changes = self.changes()
        bulk = len(changes) > BULK_FILES
        try:
            for phase in self._phases(changes):
                for path in phase:
                    undo.contents[path] = read_or_none(path)
                    _put(path, changes[path], sync=not bulk)
                _flush(phase, bulk=bulk)
        except BaseException:
            undo.apply()
            raise
        return undo

    def _rank(self, path: Path) -> int:
        """0: a certificate file, 1: a crt-list (names certificate files), 2: the configuration (names
        crt-lists)."""
        if path.parent == self.kept_dir:
            return 0
        return 1 if path.suffix == ".txt" else 2

    def _phases(self, changes: Mapping[Path, str | None]) -> Iterator[list[Path]]:
        """Writes, lowest rank first; then removals, highest rank first; one phase per (kind, rank)."""
        writes = sorted((p for p, c in changes.items() if c is not None), key=self._rank)
        removals = sorted((p for p, c in changes.items() if c is None), key=self._rank, reverse=True)
        for _, phase in groupby(writes, key=self._rank):
            yield list(phase)
        for _, phase in groupby(removals, key=self._rank):
            yield list(phase)


def _put(path: Path, content: str | None, *, sync: bool) -> None:
    if content is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, content.encode(), sync=sync)


def _flush(phase: list[Path], *, bulk: bool) -> None:
    """Make one phase durable before the next one names (or stops naming) its files."""
    if bulk:
        os.sync()
        return
    for directory in {p.parent for p in phase}:
        sync_dir(directory)


def entries(directory: Path) -> list[str]:
    """The entries of ``directory``; none when it does not exist."""
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []
