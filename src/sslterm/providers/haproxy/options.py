"""Options of a HAProxy load balancer (`sslterm lb add NAME --kind haproxy ...`), parsed against the strict
grammars of ``sslterm.grammar`` before anything is created, so no value can add a line to haproxy.cfg."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sslterm import grammar
from sslterm.errors import InputError
from sslterm.grammar import Endpoint

__all__ = ["Endpoint", "HAProxyOptions", "parse_endpoint"]


def parse_endpoint(text: object, what: str, *, need_port: bool = False, any_host: bool = False) -> Endpoint:
    """An address as HAProxy takes it (``sslterm.grammar``), without an IPv6 zone: HAProxy 2.6 cannot
    resolve ``fe80::1%eth0`` (``haproxy -c``: "could not resolve address"), so it is refused up front."""
    return grammar.parse_endpoint(text, what, need_port=need_port, any_host=any_host, allow_zone=False)


def _bind(text: object, what: str, *, need_port: bool = False) -> Endpoint:
    """A bind address: also ``:PORT`` or a bare ``PORT``, every address on that port (``bind :443``)."""
    return parse_endpoint(text, what, need_port=need_port, any_host=True)


def _backends(raw: object) -> tuple[Endpoint, ...]:
    """Each ``--backend``; a lone string is one backend (not a list of its characters)."""
    items: tuple[object, ...] = tuple(raw) if isinstance(raw, list | tuple) else (raw,) if raw else ()
    return tuple(parse_endpoint(b, "--backend") for b in items)


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
        cloud = sorted(k for k in ("name", "region", "cert_store", "target_group") if raw.get(k))
        if cloud:
            raise InputError(f"--{cloud[0].replace('_', '-')} is not an option of haproxy", code="invalid-option",
                             hint="those are for --kind aws-elb / aws-alb")
        foreign = sorted(k for k in (_MANAGED_ONLY if mode == "attached" else _ATTACHED_ONLY) if raw.get(k))
        if foreign:
            names = ", ".join("--" + k.replace("_", "-").removesuffix("s") for k in foreign)
            raise InputError(f"{names} cannot be used in {mode} mode",
                             hint="managed: --bind/--http-bind/--backend; attached: --config/--socket/"
                                  "--master-socket (--bind: the address to probe)")
        if mode == "attached":
            if not raw.get("socket"):
                raise InputError("attached mode needs --socket (the runtime API socket, level admin)")
            return cls(mode, config=grammar.parse_path(raw["config"], "--config"),
                       socket=grammar.parse_path(raw["socket"], "--socket"),
                       master_socket=grammar.parse_path(raw["master_socket"], "--master-socket")
                       if raw.get("master_socket") else None,
                       bind=_bind(raw["bind"], "--bind") if raw.get("bind") else None)
        backends = _backends(raw.get("backends"))
        if not backends:
            raise InputError("a managed HAProxy needs at least one --backend HOST:PORT")
        return cls(
            mode,
            bind=_bind(raw.get("bind") or "0.0.0.0:443", "--bind"),
            http_bind=_bind(raw["http_bind"], "--http-bind", need_port=True)
            if raw.get("http_bind") else None,
            backends=backends,
            backend_ca=grammar.parse_path(raw.get("backend_ca") or cls.backend_ca, "--backend-ca"),
        )

    def as_mapping(self) -> dict[str, Any]:
        if self.mode == "attached":
            return {"mode": "attached", "config": self.config, "socket": self.socket,
                    "master_socket": self.master_socket, "bind": str(self.bind) if self.bind else None}
        return {"mode": "managed", "bind": str(self.bind), "http_bind": str(self.http_bind) if self.http_bind else None,
                "backends": [str(b) for b in self.backends], "backend_ca": self.backend_ca}
