"""Names of certificates and load balancers become file names, HAProxy lines and cloud resource names,
so they are held to a small safe alphabet."""

from __future__ import annotations

import re

from sslterm.certs.findings import Finding, error

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")


def name_problem(name: str, what: str = "certificate") -> Finding | None:
    if _NAME.fullmatch(name) and ".." not in name:
        return None
    return error("invalid-name", f"{what} name {name[:80]!r} is not allowed",
                 "use 1-64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit")
