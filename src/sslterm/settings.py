"""The one module that reads the environment.

Everything else receives a :class:`Settings` value, so tests build one directly instead of patching.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None = None
    secret_key: str | None = None
    haproxy_binary: str = "haproxy"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'sslterm.db'}"

    @property
    def key_file(self) -> Path:
        return self.home / "secret.key"

    def __repr__(self) -> str:  # never show the secret key
        return f"Settings(home={str(self.home)!r}, database_url={'set' if self.database_url else None})"


def from_environment(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    home = env.get("SSLTERM_HOME")
    if not home:
        xdg = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local" / "share")
        home = str(Path(xdg) / "sslterm")
    return Settings(
        home=_absolute(home),
        database_url=env.get("SSLTERM_DATABASE_URL") or None,
        secret_key=env.get("SSLTERM_SECRET_KEY") or None,
        haproxy_binary=env.get("SSLTERM_HAPROXY") or "haproxy",
    )


def _absolute(home: str) -> Path:
    """The data directory as an absolute path without ``..``: a relative ``SSLTERM_HOME`` (``.demo``) means
    the directory where the command runs, and every path written into HAProxy's configuration must be
    absolute. Symbolic links are kept as given."""
    return Path(os.path.abspath(Path(home).expanduser()))
