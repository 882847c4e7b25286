"""HAProxy 1.5+ provider (see provider.py for how changes go live)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sslterm.errors import InputError
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions
from sslterm.providers.haproxy.provider import HAProxyProvider
from sslterm.providers.haproxy.version import detect


def validate_options(raw: Mapping[str, Any]) -> dict[str, Any]:
    return HAProxyOptions.from_mapping(raw).as_mapping()


#: HAProxy refuses a unix socket path longer than this (sun_path, 108 bytes, less its own margin)
MAX_SOCKET_PATH = 97
_SAFE_DIR = re.compile(r"/[A-Za-z0-9._/-]+")


def create(name: str, options: Mapping[str, Any], state_dir: Path, env: Mapping[str, str]) -> HAProxyProvider:
    binary = env.get("haproxy_binary", "haproxy")
    layout = Layout(state_dir)
    if not _SAFE_DIR.fullmatch(str(state_dir)):  # the path is written into haproxy.cfg and crt-lists
        raise InputError(f"the data directory {state_dir} has characters HAProxy's configuration cannot hold",
                         code="invalid-path", hint="use an SSLTERM_HOME of letters, digits, '._/-'")
    if len(str(layout.master_socket)) > MAX_SOCKET_PATH:
        raise InputError(f"the path {layout.master_socket} is too long for a unix socket "
                         f"({len(str(layout.master_socket))} > {MAX_SOCKET_PATH} characters)",
                         code="path-too-long", hint="use a shorter load balancer name or SSLTERM_HOME")
    parsed = HAProxyOptions.from_mapping(options)
    version = detect(binary)
    if parsed.mode == "managed" and not version.at_least(1, 9):
        raise InputError(f"managed mode needs HAProxy 1.9 or newer (its master CLI); this is {version}",
                         code="haproxy-too-old", hint="attach to your own configuration instead: --config ...")
    return HAProxyProvider(name, parsed, layout, binary, version)


__all__ = ["HAProxyProvider", "create", "validate_options"]
