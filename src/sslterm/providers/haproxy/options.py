"""Options of a HAProxy load balancer (`sslterm lb add NAME --kind haproxy ...`), validated before
they reach a configuration file."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sslterm.errors import InputError

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]+")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    def with_port(self, port: int) -> str:
        return str(Endpoint(self.host, port))


def parse_endpoint(text: str, what: str, *, need_port: bool = False) -> Endpoint:
    """``host[:port]``, ``[v6]:port``; hosts are IP literals or DNS names, nothing else."""
    host, port_text = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.fullmatch(host):
            raise InputError(f"{what}: {text!r} is not a host[:port]", code="invalid-address") from None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InputError(f"{what}: port {port_text!r} is not 1-65535", code="invalid-address")
        port = int(port_text)
    if need_port and port is None:
        raise InputError(f"{what}: {text!r} needs a port", code="invalid-address")
    return Endpoint(host, port)


def _safe_path(value: str, what: str) -> str:
    if not _SAFE_PATH.fullmatch(value):
        raise InputError(f"{what}: {value!r} must be an absolute path of letters, digits, '._/-'",
                         code="invalid-path")
    return value


_MANAGED_ONLY = ("http_bind", "backends", "backend_ca")
_ATTACHED_ONLY = ("socket", "master_socket")


@dataclass(frozen=True)
class HAProxyOptions:
    mode: str  # managed | attached
    bind: Endpoint | None = None  # TLS bind (managed); its port is the default lb port
    http_bind: Endpoint | None = None
    backends: tuple[Endpoint, ...] = ()
    config: str | None = None  # attached: the operator's configuration
    socket: str | None = None  # attached: the runtime API (stats socket, level admin)
    master_socket: str | None = None  # attached: master CLI, for reloads
    backend_ca: str = "/etc/ssl/certs/ca-certificates.crt"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> HAProxyOptions:
        mode = "attached" if raw.get("config") else "managed"
        foreign = sorted(k for k in (_MANAGED_ONLY if mode == "attached" else _ATTACHED_ONLY) if raw.get(k))
        if foreign:
            names = ", ".join("--" + k.replace("_", "-").removesuffix("s") for k in foreign)
            raise InputError(f"{names} cannot be used in {mode} mode",
                             hint="managed: --bind/--http-bind/--backend; attached: --config/--socket/"
                                  "--master-socket (--bind: the address to probe)")
        if mode == "attached":
            if not raw.get("socket"):
                raise InputError("attached mode needs --socket (the runtime API socket, level admin)")
            return cls(mode, config=_safe_path(str(raw["config"]), "--config"),
                       socket=_safe_path(str(raw["socket"]), "--socket"),
                       master_socket=_safe_path(str(raw["master_socket"]), "--master-socket")
                       if raw.get("master_socket") else None,
                       bind=parse_endpoint(str(raw["bind"]), "--bind") if raw.get("bind") else None)
        backends = tuple(parse_endpoint(str(b), "--backend") for b in raw.get("backends") or ())
        if not backends:
            raise InputError("a managed HAProxy needs at least one --backend HOST:PORT")
        return cls(
            mode,
            bind=parse_endpoint(str(raw.get("bind") or "0.0.0.0:443"), "--bind"),
            http_bind=parse_endpoint(str(raw["http_bind"]), "--http-bind", need_port=True)
            if raw.get("http_bind") else None,
            backends=backends,
            backend_ca=_safe_path(str(raw.get("backend_ca") or cls.backend_ca), "--backend-ca"),
        )

    def as_mapping(self) -> dict[str, Any]:
        if self.mode == "attached":
            return {"mode": "attached", "config": self.config, "socket": self.socket,
                    "master_socket": self.master_socket, "bind": str(self.bind) if self.bind else None}
        return {"mode": "managed", "bind": str(self.bind), "http_bind": str(self.http_bind) if self.http_bind else None,
                "backends": [str(b) for b in self.backends], "backend_ca": self.backend_ca}
