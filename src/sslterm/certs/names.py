"""Names of certificates and load balancers become file names, HAProxy lines and cloud resource names,
so they are held to a small safe alphabet."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sslterm.certs.findings import Finding, error, warning
from sslterm.grammar import is_sni_name

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")


def name_problem(name: str, what: str = "certificate") -> Finding | None:
    if _NAME.fullmatch(name) and ".." not in name:
        return None
    return error("invalid-name", f"{what} name {name[:80]!r} is not allowed",
                 "use 1-64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit")


def dns_names(sans: Iterable[str]) -> list[str]:
    """The names a client can send as SNI: DNS names (a wildcard only as the first label), at most 253
    characters of labels of 1-63 letters, digits and hyphens. IP addresses are never sent as SNI, and a
    name no client could send (a label over 63 characters, a space, a control character) is left out."""
    return [name for name in sans if len(name) <= 253 and is_sni_name(name)]


def no_dns_name(sans: Iterable[str], subject: str) -> Finding | None:
    """A certificate no client can ask for by name can only be a listener's default certificate."""
    if dns_names(sans):
        return None
    return warning("no-dns-name", f"{subject} has no DNS name (only IP addresses or a common name); clients "
                   "cannot ask for it by name", "it is served as the default certificate of its listener "
                   "(clients without SNI); a listener has room for one such certificate")
