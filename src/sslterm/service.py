"""The one facade every adapter (CLI, API) uses. Holds no presentation and reads no environment.

Its use cases live in ``service_certs`` (certificates) and ``service_lbs`` (load balancers); the wiring
and the store + load balancer transaction they share in ``service_base``.
"""

from __future__ import annotations

from sslterm.service_base import SYSTEM_ANCHORS, ProviderFactory, load_anchors, utcnow
from sslterm.service_certs import IMPORT_FLUSH_EVERY, Added, CertificateOps, ImportReport, Refused
from sslterm.service_lbs import LoadBalancerOps, merge_settings


class Service(CertificateOps, LoadBalancerOps):
    """``Service(settings, clock=..., anchors=..., provider_factory=..., prober=...)``: collaborators are
    injected, so tests use real local services instead of patching."""


__all__ = [
    "IMPORT_FLUSH_EVERY",
    "SYSTEM_ANCHORS",
    "Added",
    "ImportReport",
    "ProviderFactory",
    "Refused",
    "Service",
    "load_anchors",
    "merge_settings",
    "utcnow",
]
