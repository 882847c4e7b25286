"""Which HAProxy this is, and what each version can do (see docs/haproxy.md)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from sslterm import childenv
from sslterm.errors import ProviderError

_VERSION = re.compile(rb"version (\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int = 0

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def runtime_replace(self) -> bool:  # set/commit ssl cert
        return self.at_least(2, 1)

    @property
    def runtime_add(self) -> bool:  # new ssl cert + add ssl crt-list
        return self.at_least(2, 2)


def parse_version(output: bytes) -> Version:
    match = _VERSION.search(output)
    if not match:
        raise ProviderError("cannot tell the HAProxy version from `haproxy -v`", code="haproxy-version")
    return Version(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


#: (path, inode, size, mtime) of a binary already asked -> its version
_SEEN: dict[tuple[str, int, int, int], Version] = {}


def detect(binary: str) -> Version:
    """The version of ``binary`` (``haproxy -v``, run with the minimal child environment). Remembered per
    file identity: a command that builds a provider for every load balancer in the store (port checks)
    runs ``haproxy -v`` once, and an upgraded binary (another inode or mtime) is asked again."""
    path = childenv.resolve(binary)
    try:
        st = os.stat(path)
        key: tuple[str, int, int, int] | None = (path, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _SEEN:
        return _SEEN[key]
    version = _ask(binary)
    if key is not None:
        _SEEN[key] = version
    return version


def _ask(binary: str) -> Version:
    try:
        done = childenv.run([binary, "-v"], timeout=10)
    except OSError as exc:
        raise ProviderError(f"cannot run HAProxy ({binary}): {exc}", code="haproxy-missing",
                            hint="install it (apt-get install haproxy) or set SSLTERM_HAPROXY") from exc
    version = parse_version(done.stdout + done.stderr)
    if not version.at_least(1, 5):
        raise ProviderError(f"HAProxy {version} is too old; 1.5 or newer is needed", code="haproxy-too-old")
    return version
