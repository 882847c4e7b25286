"""What the emulator stores: load balancers, terminations, mappings, the request log, and its own records."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from .wire import _Reply

# -- public data ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """One Repose rate limit on ``/v1.0/*``: at most ``value`` requests with ``verb`` per ``unit``."""

    verb: str
    value: int
    unit: Literal["SECOND", "MINUTE", "HOUR", "DAY"] = "SECOND"


#: [docs] general-api-info/limits.rst "Default rate limits".
DEFAULT_RATE_LIMITS: tuple[RateLimit, ...] = (
    RateLimit("GET", 10, "SECOND"), RateLimit("GET", 600, "MINUTE"),
    RateLimit("POST", 5, "SECOND"), RateLimit("POST", 300, "MINUTE"),
    RateLimit("PUT", 10, "SECOND"), RateLimit("PUT", 600, "MINUTE"),
    RateLimit("DELETE", 5, "SECOND"), RateLimit("DELETE", 300, "MINUTE"),
)


@dataclass
class SslTermination:
    """What a PUT stored; ``private_key`` is kept for the tests' own checks and never served or logged."""

    certificate: str
    private_key: str = field(repr=False)
    intermediate_certificate: str | None = None
    enabled: bool = True
    secure_port: int = 443
    secure_traffic_only: bool = False
    cipher_profile: str = "default"
    tls10_enabled: bool = True
    tls11_enabled: bool = True

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"certificate": self.certificate, "enabled": self.enabled,
                                   "secureTrafficOnly": self.secure_traffic_only, "securePort": self.secure_port,
                                   "cipherProfile": self.cipher_profile}
        if self.intermediate_certificate is not None:
            body["intermediateCertificate"] = self.intermediate_certificate
        body["securityProtocols"] = [
            {"securityProtocolName": name, "securityProtocolStatus": "ENABLED" if on else "DISABLED"}
            for name, on in (("TLS_10", self.tls10_enabled), ("TLS_11", self.tls11_enabled))]
        return body


@dataclass
class CertificateMapping:
    id: int
    host_name: str
    certificate: str
    private_key: str = field(repr=False)
    intermediate_certificate: str | None = None

    def as_json(self, *, summary: bool = False) -> dict[str, object]:
        body: dict[str, object] = {"id": self.id, "hostName": self.host_name}
        if not summary:
            body["certificate"] = self.certificate
            if self.intermediate_certificate is not None:
                body["intermediateCertificate"] = self.intermediate_certificate
        return body


@dataclass
class LoadBalancer:
    id: int
    region: str
    name: str
    protocol: str = "HTTP"
    port: int = 80
    algorithm: str = "RANDOM"
    timeout: int = 30
    half_closed: bool = False
    https_redirect: bool = False
    status: str = "ACTIVE"
    #: Ports of the other load balancers sharing this one's virtual IP ("Ports taken" in [atlas]).
    shared_vip_ports: tuple[int, ...] = ()
    nodes: tuple[tuple[str, int], ...] = (("10.1.1.1", 80),)
    ssl_termination: SslTermination | None = None
    certificate_mappings: dict[int, CertificateMapping] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: ``body`` is the parsed JSON with secrets replaced by ``"<redacted>"``."""

    method: str
    path: str
    status: int
    body: object
    at: float
    injected: bool = False

    @property
    def is_write(self) -> bool:
        return self.method not in ("GET", "HEAD") and "/v1.0/" in self.path


@dataclass
class _Injected:
    method: str
    path: re.Pattern[str]
    status: int
    body: object
    headers: dict[str, str]
    times: int


@dataclass
class _Token:
    expires_at: float


@dataclass
class _Pending:
    until: float
    then_status: str
    deferred: list[Callable[[LoadBalancer], None]] = field(default_factory=list)


_Route = Callable[[LoadBalancer, str, bytes], _Reply]
