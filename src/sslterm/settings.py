"""The one module that reads the environment.

Everything else receives a :class:`Settings` value, so tests build one directly instead of patching.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sslterm.errors import SSLTermError

#: a secret key file larger than this is not a key (a wrong path, most likely): refused before reading it all
MAX_SECRET_KEY_FILE_BYTES = 4096
MAX_DEPLOY_WORKERS = 64


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None = None
    secret_key: str | None = None
    haproxy_binary: str = "haproxy"
    #: Rackspace: RACKSPACE_USERNAME, RACKSPACE_API_KEY (never shown), RACKSPACE_IDENTITY_URL, RACKSPACE_MAX_WAIT
    rackspace_username: str | None = None
    rackspace_api_key: str | None = field(default=None, repr=False)
    rackspace_identity_url: str | None = None
    rackspace_max_wait: str | None = None
    #: how many load balancers one command changes at the same time (SSLTERM_DEPLOY_WORKERS, 1 to 64)
    deploy_workers: int = 8
    #: SSLTERM_API_TOKEN: the bearer token of ``sslterm serve`` (never shown)
    api_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """A store given by URL may be shared by several controllers, which must all seal private keys with
        one secret key: a key file made in this controller's data directory would be its own."""
        if self.database_url and not self.secret_key:
            raise SSLTermError(
                "SSLTERM_DATABASE_URL is set but no secret key (SSLTERM_SECRET_KEY or SSLTERM_SECRET_KEY_FILE)",
                code="secret-key-required",
                hint="give the key every controller of this store uses (a new store: head -c 32 /dev/urandom "
                     "| base64); see docs/shared-store.md")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'sslterm.db'}"

    @property
    def key_file(self) -> Path:
        return self.home / "secret.key"

    def provider_env(self) -> dict[str, str]:
        """What a provider factory receives (``env``): the settings providers read, those that are set. Holds
        credentials: handed to the factory, never stored or shown."""
        values = {"haproxy_binary": self.haproxy_binary, "rackspace_username": self.rackspace_username,
                  "rackspace_api_key": self.rackspace_api_key, "rackspace_identity_url": self.rackspace_identity_url,
                  "rackspace_max_wait": self.rackspace_max_wait}
        return {key: value for key, value in values.items() if value}

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
        secret_key=_secret_key(env),
        haproxy_binary=env.get("SSLTERM_HAPROXY") or "haproxy",
        rackspace_username=env.get("RACKSPACE_USERNAME") or None,
        rackspace_api_key=env.get("RACKSPACE_API_KEY") or None,
        rackspace_identity_url=env.get("RACKSPACE_IDENTITY_URL") or None,
        rackspace_max_wait=env.get("RACKSPACE_MAX_WAIT") or None,
        deploy_workers=_workers(env.get("SSLTERM_DEPLOY_WORKERS") or "8"),
        api_token=env.get("SSLTERM_API_TOKEN") or None,
    )


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_DEPLOY_WORKERS:
        raise SSLTermError(f"SSLTERM_DEPLOY_WORKERS must be a whole number from 1 to {MAX_DEPLOY_WORKERS}",
                           code="bad-setting", hint="unset it for the default (8)")
    return int(text)


def _secret_key(env: Mapping[str, str]) -> str | None:
    """``SSLTERM_SECRET_KEY``, or the content of ``SSLTERM_SECRET_KEY_FILE`` (a mounted secret keeps the key
    out of the environment, which other processes of the same user can read). Not both: they could differ."""
    value, file = env.get("SSLTERM_SECRET_KEY") or None, env.get("SSLTERM_SECRET_KEY_FILE") or None
    if value and file:
        raise SSLTermError("both SSLTERM_SECRET_KEY and SSLTERM_SECRET_KEY_FILE are set", code="secret-key-ambiguous",
                           hint="unset one of them")
    return _read_secret_key_file(_absolute(file)) if file else value


def _read_secret_key_file(path: Path) -> str:
    """The key in ``path`` without its line end. Refused, like the data directory's key file, when other
    users may read it, and when it is empty, too large or not text."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read(MAX_SECRET_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise _bad_key_file(path, f"cannot be read ({exc.strerror})", "check SSLTERM_SECRET_KEY_FILE") from exc
    if mode & 0o077:
        raise _bad_key_file(path, "is readable by other users",
                            f"chmod 600 {path} (a mounted secret: give it mode 0400 or 0600)")
    if len(data) > MAX_SECRET_KEY_FILE_BYTES:
        raise _bad_key_file(path, "is too large to be a secret key", "check SSLTERM_SECRET_KEY_FILE")
    try:
        key = data.rstrip(b"\r\n").decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_key_file(path, "is not text", "write the key as text: head -c 32 /dev/urandom | base64") from None
    if not key:
        raise _bad_key_file(path, "is empty", "write the key every controller of the store uses into it")
    return key


def _bad_key_file(path: Path, problem: str, hint: str) -> SSLTermError:
    return SSLTermError(f"the secret key file {path} {problem}", code="bad-key-file", hint=hint)


def _absolute(home: str) -> Path:
    """The data directory as an absolute path without ``..``: a relative ``SSLTERM_HOME`` (``.demo``) means
    the directory where the command runs, and every path written into HAProxy's configuration must be
    absolute. Symbolic links are kept as given."""
    return Path(os.path.abspath(Path(home).expanduser()))
