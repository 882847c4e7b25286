"""HAProxy's runtime API (stats socket), with the guards Debian's 2.6.12 needs (reference/haproxy.md 2.5):

- one certificate transaction at a time: a stale one is aborted first, and the reply to ``set`` must name
  the certificate meant (2.6.12 can silently update another certificate's pending transaction);
- payloads must fit in ``tune.bufsize`` (16 KiB): larger ones are not sent (the caller reloads instead);
- a failed commit leaves the transaction open: it is always aborted.
"""

from __future__ import annotations

import socket
from pathlib import Path

from sslterm.errors import ProviderError

#: command + payload must fit in HAProxy's default tune.bufsize (16384), with room to spare
MAX_COMMAND_BYTES = 16000


class RuntimeAPI:
    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout

    def command(self, line: str, payload: str | None = None) -> str:
        data = line + (f" <<\n{payload}\n" if payload is not None else "") + "\n"
        if len(data.encode()) > MAX_COMMAND_BYTES:
            raise ProviderError(f"runtime API payload of {len(data)} bytes exceeds {MAX_COMMAND_BYTES}",
                                code="haproxy-payload-too-large")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(str(self.path))
                sock.sendall(data.encode())
                sock.shutdown(socket.SHUT_WR)  # the master CLI waits for EOF
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise ProviderError(f"HAProxy runtime API at {self.path}: {exc.strerror or exc}",
                                code="haproxy-socket", retryable=True) from exc
        return b"".join(chunks).decode(errors="replace")

    def loaded_certificates(self) -> tuple[list[str], list[str]]:
        """(certificates loaded, certificates with a pending transaction)."""
        loaded: list[str] = []
        pending: list[str] = []
        target = loaded
        for line in self.command("show ssl cert").splitlines():
            if line.startswith("# transaction"):
                target = pending
            elif line.startswith("# filename"):
                target = loaded
            elif line.strip():
                target.append(line.strip().lstrip("*"))
        return loaded, pending

    def loaded_copy(self, path: Path) -> tuple[str, tuple[str, ...]] | None:
        """What HAProxy has in memory for the certificate file ``path``: the SHA-1 of its leaf (upper-case
        hex) and its chain's subjects; None when it has not loaded that file."""
        sha1, chain = None, []
        for line in self.command(f"show ssl cert {path}").splitlines():
            key, _, value = line.partition(": ")
            if key == "SHA1 FingerPrint":
                sha1 = value.strip().upper()
            elif key == "Chain Subject":
                chain.append(value.strip())
        return (sha1, tuple(chain)) if sha1 else None

    def loaded_crt_list(self, path: Path) -> list[str] | None:
        """The entries HAProxy has in memory for the crt-list ``path``, as it echoes them; None when it has
        not loaded that crt-list."""
        reply = self.command(f"show ssl crt-list {path}")
        if not reply.startswith("# "):
            return None
        return [" ".join(line.split()) for line in reply.splitlines() if line.strip() and not line.startswith("#")]

    def has_certificate(self, path: Path) -> bool:
        """Whether HAProxy has a certificate store for the file ``path`` (what ``loaded_certificates`` lists,
        asked for one file: the reply does not grow with the number of certificates)."""
        return self.command(f"show ssl cert {path}").startswith("Filename:")

    def abort_pending(self) -> None:
        for name in self.loaded_certificates()[1]:
            self.command(f"abort ssl cert {name}")

    def _expect(self, reply: str, wanted: str, what: str, abort: str | None = None) -> None:
        if wanted in reply:
            return
        if abort:
            self.command(f"abort ssl cert {abort}")
        first = reply.strip().splitlines()[0] if reply.strip() else "no reply (payload too large?)"
        raise ProviderError(f"HAProxy refused {what}: {first}", code="haproxy-runtime")

    def replace(self, path: Path, pem: str, *, pending_checked: bool = False, expect_none: bool = False) -> None:
        """set + commit: the next handshake gets the new certificate; nothing is reloaded. A stale
        transaction is aborted first (listing every certificate HAProxy has); with ``expect_none`` (none
        can be open: no change was interrupted), only when HAProxy refuses, and then once more."""
        if expect_none and not pending_checked:
            try:
                self._set_commit(path, pem)
            except ProviderError:
                self.abort_pending()
                self._set_commit(path, pem)
            return
        if not pending_checked:
            self.abort_pending()
        self._set_commit(path, pem)

    def _set_commit(self, path: Path, pem: str) -> None:
        name = str(path)
        reply = self.command(f"set ssl cert {name}", _payload(pem))
        if f"for certificate {name}!" not in reply:
            # 2.6.12 names another certificate when it mixed transactions up: never commit that
            pending = _pending_name(reply)
            if pending:
                self.command(f"abort ssl cert {pending}")
            raise ProviderError(f"HAProxy refused set ssl cert {name}: {reply.strip()[:160] or 'no reply'}",
                                code="haproxy-runtime")
        self._expect(self.command(f"commit ssl cert {name}"), "Success!", f"commit ssl cert {name}", abort=name)

    def add(self, path: Path, pem: str, crt_list: Path, line: str, *, expect_none: bool = False) -> None:
        """new + set + commit + add ssl crt-list: a new SNI certificate, served without a reload (a stale
        transaction aborted first; with ``expect_none``, only when HAProxy refuses, and then once more)."""
        name = str(path)
        if not expect_none:
            self.abort_pending()
        try:
            self._expect(self.command(f"new ssl cert {name}"), "New empty certificate store", f"new ssl cert {name}")
            self.replace(path, pem, pending_checked=True)
        except ProviderError:
            if not expect_none:
                raise
            self.abort_pending()
            if not self.has_certificate(path):
                self._expect(self.command(f"new ssl cert {name}"), "New empty certificate store",
                             f"new ssl cert {name}")
            self.replace(path, pem, pending_checked=True)
        self.add_line(crt_list, line)

    def add_line(self, crt_list: Path, line: str) -> None:
        """``add ssl crt-list`` for a certificate HAProxy has loaded already (served on another port)."""
        self._expect(self.command(f"add ssl crt-list {crt_list}", line), "Success!", f"add ssl crt-list {crt_list}")


def _payload(pem: str) -> str:
    """The payload ends at the first empty line: drop blank lines."""
    return "\n".join(line for line in pem.splitlines() if line.strip())


def _pending_name(reply: str) -> str | None:
    marker = "for certificate "
    if marker not in reply:
        return None
    return reply.split(marker, 1)[1].split("!", 1)[0].strip() or None


class Loaded:
    """Which certificate files HAProxy has loaded: asked file by file when there are few to ask about
    (``expected``), else read from one listing of all of them."""

    def __init__(self, runtime: RuntimeAPI, expected: int) -> None:
        self.runtime = runtime
        self.names: set[str] | None = set(runtime.loaded_certificates()[0]) if expected > 16 else None
        self.added: set[str] = set()

    def __contains__(self, name: object) -> bool:
        if name in self.added or self.names is not None:
            return name in self.added or name in (self.names or ())
        return isinstance(name, str) and self.runtime.has_certificate(Path(name))

    def add(self, name: str) -> None:
        self.added.add(name)
