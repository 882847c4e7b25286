"""Small, careful file I/O: bounded reads and atomic 0600 writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from sslterm.certs.findings import error
from sslterm.errors import CertificateError, InputError

#: No certificate, key, chain or PKCS#12 file is anywhere near this; refuse before reading.
MAX_INPUT_BYTES = 1024 * 1024
MAX_PASSPHRASE_BYTES = 64 * 1024


def read_limited(path: Path, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a small input file, refusing one over ``limit`` without reading it whole."""
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size > limit:
                raise CertificateError([error("too-large", f"{path}: larger than {limit // 1024} KiB",
                                              "give the certificate, key or chain file itself")])
            data = handle.read(limit + 1)  # a pipe or /proc file may lie about its size
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", code="unreadable-file") from exc
    if len(data) > limit:
        raise CertificateError([error("too-large", f"{path}: larger than {limit // 1024} KiB")])
    return data


def read_passphrase(path: Path) -> bytes:
    """A passphrase file's content without its trailing newline."""
    return passphrase(read_limited(path, limit=MAX_PASSPHRASE_BYTES))


def passphrase(data: bytes) -> bytes:
    """A passphrase as given (a file's content, an API field) without its trailing newline."""
    return data.rstrip(b"\r\n")


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents ``0700`` (``mkdir(parents=True)`` would make the parents
    ``0755``); an existing ``path`` is tightened to ``0700`` too."""
    missing = []
    level = path
    while not level.exists():
        missing.append(level)
        level = level.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and ``0600`` unless it exists (a database file, before SQLite opens it)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, sync: bool = True) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never a part.
    ``sync=False`` leaves the flush to the caller (one ``os.sync`` after many files)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
