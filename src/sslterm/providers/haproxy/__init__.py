"""HAProxy 1.5+ provider (see provider.py for how changes go live)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions
from sslterm.providers.haproxy.provider import HAProxyProvider
from sslterm.providers.haproxy.version import detect


def validate_options(raw: Mapping[str, Any]) -> dict[str, Any]:
    return HAProxyOptions.from_mapping(raw).as_mapping()


def create(name: str, options: Mapping[str, Any], state_dir: Path, env: Mapping[str, str]) -> HAProxyProvider:
    binary = env.get("haproxy_binary", "haproxy")
    return HAProxyProvider(name, HAProxyOptions.from_mapping(options), Layout(state_dir), binary, detect(binary))


__all__ = ["HAProxyProvider", "create", "validate_options"]
