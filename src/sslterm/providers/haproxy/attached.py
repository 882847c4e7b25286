"""An attached HAProxy: what the operator's configuration says about sslterm's files and its own TLS binds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions

#: a bind line of an operator's configuration: its port, and the rest of the line
_BIND = re.compile(r"\s*bind\s+\S*:(?P<port>[0-9]{1,5})(?:,\S*)?(?P<rest>(?:\s.*)?)$")


def foreign_ports(options: HAProxyOptions, layout: Layout) -> tuple[int, ...]:
    """Attached: the ports of the operator's TLS binds that name no crt-list of sslterm's (never touched).
    A configuration that cannot be read reports none (``check`` then refuses what needs it)."""
    if options.mode != "attached":
        return ()
    try:
        text = Path(options.config or "").read_text()
    except OSError:
        return ()
    ports = set()
    for line in text.splitlines():
        found = _BIND.match(line)
        if found and " ssl" in f" {found['rest']}" and str(layout.root) not in found["rest"]:
            ports.add(int(found["port"]))
    return tuple(sorted(ports))


def referenced(options: HAProxyOptions, path: Path) -> bool:
    """Attached: whether the operator's configuration names ``path`` (unreadable: assume it does)."""
    try:
        return str(path) in Path(options.config or "").read_text()
    except OSError:
        return True


def unused_by_operator(options: HAProxyOptions, changes: Mapping[Path, str | None]) -> bool:
    """Attached, and the change only removes crt-lists (and their certificates) that the operator's
    configuration no longer names: the bind line was removed, so no reload is needed or possible."""
    return options.mode == "attached" and bool(changes) and all(
        content is None and not (path.suffix == ".txt" and referenced(options, path))
        for path, content in changes.items())
