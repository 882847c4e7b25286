"""Local TCP endpoints: which ones a load balancer listens on, whether two overlap, whether one is free.

Two load balancers on one address:port both start: HAProxy binds with SO_REUSEPORT, so the kernel spreads
the connections between them and clients get either certificate at random. Nothing refuses that but
sslterm, so it compares a new bind with every load balancer in the store (``port-taken``, naming the
owner) and tries the bind itself (``port-in-use``: another program listens there) before anything changes.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sslterm.errors import UnsafePlan

#: hosts meaning every address on the port (``""`` is ``bind :443``)
EVERY_ADDRESS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104


@dataclass(frozen=True)
class LocalEndpoint:
    """A TCP address:port a load balancer listens on, on this machine; ``role`` says which of its binds."""

    host: str
    port: int
    role: str  # "TLS" or "plain HTTP"

    @property
    def everywhere(self) -> bool:
        return self.host in EVERY_ADDRESS

    def __str__(self) -> str:
        if self.host == "":
            return f"*:{self.port}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _same_host(a: str, b: str) -> bool:
    """Equal addresses (``::1`` and ``0:0::1`` are one), or equal names ignoring case."""
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower().rstrip(".") == b.lower().rstrip(".")


def overlaps(a: LocalEndpoint, b: LocalEndpoint) -> bool:
    """Same port, and the same address or either one on every address (0.0.0.0, ::, or no host)."""
    return a.port == b.port and (a.everywhere or b.everywhere or _same_host(a.host, b.host))


def refuse_taken(name: str, wanted: Sequence[LocalEndpoint], others: Mapping[str, Iterable[LocalEndpoint]], *,
                 hint: str) -> None:
    """``port-taken`` when an endpoint of load balancer ``name`` overlaps one of another load balancer in
    the store (``others``: name -> endpoints), or another of its own binds."""
    for i, endpoint in enumerate(wanted):
        for twin in wanted[i + 1:]:
            if overlaps(endpoint, twin):
                raise UnsafePlan(f"{name}: its {endpoint.role} bind {endpoint} and its {twin.role} bind {twin} "
                                 "are the same port", code="port-taken", hint=hint)
        for owner, theirs in others.items():
            clash = next((t for t in theirs if overlaps(endpoint, t)), None)
            if clash is not None:
                raise UnsafePlan(f"{endpoint} ({endpoint.role} of {name}) is taken: load balancer {owner!r} "
                                 f"listens on {clash} ({clash.role})", code="port-taken", hint=hint)


def refuse_in_use(name: str, wanted: Iterable[LocalEndpoint], *, hint: str) -> None:
    """``port-in-use`` when another program on this machine listens where ``name`` would."""
    for endpoint in wanted:
        if in_use(endpoint):
            raise UnsafePlan(f"{endpoint} ({endpoint.role} of {name}) is already in use on this machine: "
                             "another program listens there", code="port-in-use", hint=hint)


def in_use(endpoint: LocalEndpoint) -> bool:
    """True when a TCP socket cannot be bound there because something listens (EADDRINUSE).

    The trial socket sets SO_REUSEADDR, as HAProxy does, and not SO_REUSEPORT: so connections still in
    TIME_WAIT (a port just disabled) do not count, while any listener does, even another HAProxy that
    would share the port with SO_REUSEPORT. Other failures (a privileged port, an address this machine
    does not have, a name that does not resolve) are left to HAProxy, whose alert sslterm reports."""
    host = "0.0.0.0" if endpoint.host == "" else endpoint.host  # noqa: S104
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, endpoint.port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, IndexError, UnicodeError):
        return False
    with contextlib.closing(socket.socket(family, kind, proto)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
