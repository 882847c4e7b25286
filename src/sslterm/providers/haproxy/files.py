"""The set of files a HAProxy load balancer needs, and writing it with a way back."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from sslterm.files import write_atomic


def read_or_none(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


@dataclass
class FileSet:
    """Desired contents by path; ``None`` means the file must not exist. ``kept`` files are part of the
    set but known to be right already: they are neither read nor written (large certificate sets)."""

    contents: dict[Path, str | None] = field(default_factory=dict)
    kept: set[Path] = field(default_factory=set)

    def full(self) -> dict[Path, str]:
        """Every file of the set with its content (kept ones read from disk), for a candidate copy."""
        out = {p: c for p, c in self.contents.items() if c is not None}
        out.update({p: p.read_text() for p in self.kept if p not in out})
        return out

    def changes(self) -> dict[Path, str | None]:
        return {p: c for p, c in self.contents.items() if read_or_none(p) != c}

    def apply(self) -> FileSet:
        """Write every change (0600, atomically); return the FileSet that puts the old contents back."""
        undo = FileSet()
        for path, content in self.changes().items():
            undo.contents[path] = read_or_none(path)
            if content is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            else:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_atomic(path, content.encode())
        return undo
