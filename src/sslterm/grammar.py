"""Strict grammars for every value that reaches a load balancer's configuration.

A configuration file is text its load balancer parses: a newline, a ``#``, a quote or a space inside a
value could start a new line, a comment or another keyword. So a value is parsed against a small grammar
before it is written anywhere, and anything else is refused with a stable code (``InputError``, exit 2):

    host        an IPv4 address (dotted quad), an IPv6 address (with a zone of ``[A-Za-z0-9_.-]`` where
                the caller allows one), or an RFC 1123 host name whose last label is not all digits
    port        1-65535, ASCII digits
    endpoint    ``host``, ``host:port``, ``[IPv6]``, ``[IPv6]:port``, and where the caller allows every
                address, ``:port`` or a bare ``port`` (host ``""``, as in HAProxy's ``bind :443``)
    path        absolute, of ``A-Z a-z 0-9 . _ / -``, no ``..`` component
    SNI name    a host name, optionally ``*.`` in front (never an address: clients send no SNI for one)

The grammars are narrower than the standards on purpose: every shared provider (HAProxy today, the clouds
next) can hold what they accept. Pure: no I/O, no name resolution. Error messages quote the value with
``shown`` so a control character in it never reaches a terminal raw.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from sslterm.errors import InputError

MAX_HOST_NAME = 253
MAX_PATH = 4096
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_SNI_NAME = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_ZONE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_PORT = re.compile(r"[0-9]{1,5}")
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")

ADDRESS_HINT = ("use HOST:PORT or [IPv6]:PORT (a bind may also be :PORT, every address); a host is an IPv4 or "
                "IPv6 address or a DNS name of letters, digits, '-' and '.'")
PATH_HINT = "use an absolute path of letters, digits and '._/-', without '..'"


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``host[:port]``. Host ``""`` means every address (``:443``); ``str`` gives it back in the
    form configurations take (IPv6 in brackets)."""

    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    def with_port(self, port: int) -> str:
        return str(Endpoint(self.host, port))


def shown(value: object, limit: int = 80) -> str:
    """``value`` for a message: quoted, control and non-printable characters escaped (``repr``), cut to
    ``limit`` characters, so a newline or a terminal escape in a refused value is never printed raw."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _refuse(what: str, value: object, problem: str, *, code: str = "invalid-address",
            hint: str = ADDRESS_HINT) -> InputError:
    return InputError(f"{what}: {shown(value)} {problem}", code=code, hint=hint)


def is_host_name(text: object) -> bool:
    """An RFC 1123 host name (letters, digits, '-', dot-separated labels), not mistakable for an address:
    its last label is not all digits (so ``28447`` or ``1.2.3`` is refused, not looked up)."""
    return (isinstance(text, str) and len(text) <= MAX_HOST_NAME and _HOST_NAME.fullmatch(text) is not None
            and not text.rsplit(".", 1)[-1].isdigit())


def is_sni_name(text: object) -> bool:
    """A name a TLS client may send as SNI and a crt-list may filter on: a host name, or ``*.`` + one."""
    return isinstance(text, str) and _SNI_NAME.fullmatch(text) is not None and is_host_name(text.removeprefix("*."))


def _is_ipv4(text: str) -> bool:
    if not _IPV4.fullmatch(text):
        return False
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_ipv6(text: str, allow_zone: bool) -> bool:
    address, percent, zone = text.partition("%")
    if percent and not (allow_zone and _ZONE.fullmatch(zone)):
        return False
    if not _IPV6.fullmatch(address) or ":" not in address:
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def parse_host(text: object, what: str, *, allow_zone: bool = True) -> str:
    """An IPv4 or IPv6 address or a host name, returned as given; anything else is ``invalid-address``."""
    if isinstance(text, str) and (_is_ipv4(text) or _is_ipv6(text, allow_zone) or is_host_name(text)):
        return text
    if isinstance(text, str) and not allow_zone and "%" in text and _is_ipv6(text, True):
        raise _refuse(what, text, "has an IPv6 zone, which this load balancer cannot use",
                      hint="give the address without its %zone")
    raise _refuse(what, text, "is not an IPv4 or IPv6 address or a host name")


def parse_port(value: object, what: str) -> int:
    """1-65535, as an int or ASCII digits (never a bool, a sign, spaces or other scripts' digits)."""
    if isinstance(value, str) and _PORT.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    raise _refuse(what, value, "is not a port (1-65535)")


def _split(text: str, what: str) -> tuple[str, str | None]:
    """``(host, port text or None)``; a bare port is ``("", port)``."""
    if text.startswith("["):
        inner, bracket, rest = text[1:].partition("]")
        if not bracket or ":" not in inner or (rest and not rest.startswith(":")):
            raise _refuse(what, text, "is not an address ([IPv6] or [IPv6]:PORT)")
        return inner, rest[1:] if rest else None
    if _PORT.fullmatch(text):
        return "", text
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None  # a host name, an IPv4 or an IPv6 address without a port


def parse_endpoint(text: object, what: str, *, need_port: bool = False, any_host: bool = False,
                   allow_zone: bool = True) -> Endpoint:
    """``host[:port]`` or ``[IPv6][:port]``; with ``any_host``, also ``:port`` or a bare ``port`` (host
    ``""``: every address). Anything else is ``invalid-address``, before it can reach a file."""
    if not isinstance(text, str) or not text:
        raise _refuse(what, text, "is not an address")
    host, port_text = _split(text, what)
    part = f"{what} {shown(text)}"  # a part is refused with the whole value in front, for context
    port = parse_port(port_text, part) if port_text is not None else None
    if host:
        host = parse_host(host, part if host != text else what, allow_zone=allow_zone)
    elif not any_host or port is None:
        raise _refuse(what, text, "needs a host")
    if need_port and port is None:
        raise _refuse(what, text, "needs a port")
    return Endpoint(host, port)


def parse_path(text: object, what: str) -> str:
    """An absolute path of ``A-Z a-z 0-9 . _ / -`` with no ``..`` component; anything else is
    ``invalid-path``."""
    if isinstance(text, str) and len(text) <= MAX_PATH and _PATH.fullmatch(text) and text != "/" \
            and ".." not in text.split("/"):
        return text
    raise _refuse(what, text, "is not an absolute path of letters, digits and '._/-'", code="invalid-path",
                  hint=PATH_HINT)
