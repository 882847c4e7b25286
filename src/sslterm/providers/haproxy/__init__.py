"""HAProxy 1.5+ provider (see provider.py for how changes go live)."""

from __future__ import annotations

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


def create(name: str, options: Mapping[str, Any], state_dir: Path, env: Mapping[str, str]) -> HAProxyProvider:
    binary = env.get("haproxy_binary", "haproxy")
    layout = Layout(state_dir)
    if len(str(layout.master_socket)) > MAX_SOCKET_PATH:
        raise InputError(f"the path {layout.master_socket} is too long for a unix socket "
                         f"({len(str(layout.master_socket))} > {MAX_SOCKET_PATH} characters)",
                         code="path-too-long", hint="use a shorter load balancer name or SSLTERM_HOME")
    return HAProxyProvider(name, HAProxyOptions.from_mapping(options), layout, binary, detect(binary))


__all__ = ["HAProxyProvider", "create", "validate_options"]
