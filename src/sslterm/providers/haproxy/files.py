"""The set of files a HAProxy load balancer needs, and writing it with a way back."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from sslterm.files import write_atomic


def read_or_none(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


BULK_FILES = 32  # above this many files, one os.sync beats an fsync each


@dataclass
class FileSet:
    """Desired contents by path; ``None`` means the file must not exist. ``kept`` names certificate files
    (``kept_dir/NAME.pem``) that are part of the set and known to be right already: they are neither
    read nor written, so a change costs the same with ten certificates or ten thousand."""

    kept_dir: Path
    contents: dict[Path, str | None] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)

    def kept_paths(self) -> list[Path]:
        return [self.kept_dir / f"{name}.pem" for name in self.kept]

    def changes(self) -> dict[Path, str | None]:
        return {p: c for p, c in self.contents.items() if read_or_none(p) != c}

    def apply(self) -> FileSet:
        """Write every change (0600, atomically); return the FileSet that puts the old contents back. A few
        files are fsynced one by one; a large batch is written first and flushed with one ``os.sync``."""
        undo = FileSet(self.kept_dir)
        changes = self.changes()
        bulk = len(changes) > BULK_FILES
        try:
            for path, content in changes.items():
                undo.contents[path] = read_or_none(path)
                if content is None:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                else:
                    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    write_atomic(path, content.encode(), sync=not bulk)
        except BaseException:  # a full disk halfway: put back what was already written
            undo.apply()
            raise
        if bulk:
            os.sync()
        return undo
