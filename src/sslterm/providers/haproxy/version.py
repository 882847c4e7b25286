"""Which HAProxy this is, and what each version can do (see docs/haproxy.md)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

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


def detect(binary: str) -> Version:
    try:
        done = subprocess.run([binary, "-v"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProviderError(f"cannot run HAProxy ({binary}): {exc}", code="haproxy-missing",
                            hint="install it (apt-get install haproxy) or set SSLTERM_HAPROXY") from exc
    version = parse_version(done.stdout + done.stderr)
    if not version.at_least(1, 5):
        raise ProviderError(f"HAProxy {version} is too old; 1.5 or newer is needed", code="haproxy-too-old")
    return version
