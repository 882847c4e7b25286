"""The one facade every adapter (CLI, API) uses. Holds no presentation and reads no environment.

Composed, not inherited: a :class:`~sslterm.service.context.Context` (settings, clock, store, vault,
providers) shared by three parts, ``certificates``, ``loadbalancers`` and ``deployments``. The facade
names their use cases for the adapters; a reader follows one call down into exactly one part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from cryptography import x509
from sqlalchemy import Engine

from sslterm.engine.apply import Prober
from sslterm.engine.contract import Provider
from sslterm.engine.probe import probe
from sslterm.service.certificates import IMPORT_FLUSH_EVERY, Added, Certificates, ImportReport, Refused
from sslterm.service.context import SYSTEM_ANCHORS, Context, ProviderFactory, load_anchors, open_store, utcnow
from sslterm.service.deployments import Deployments
from sslterm.service.history import DeploymentView, History
from sslterm.service.loadbalancers import LoadBalancers, merge_settings
from sslterm.service.pages import Page
from sslterm.service.rollout import CertStatus, Outcome
from sslterm.settings import Settings
from sslterm.store.db import Database
from sslterm.store.journal import LEASE_SECONDS
from sslterm.store.schema import LoadBalancerRow
from sslterm.store.secrets import KeyVault


class Service:
    """``Service(settings, clock=..., anchors=..., provider_factory=..., prober=...)``: collaborators are
    injected, so tests use real local services instead of patching. ``engine``: a store engine shared with
    other Services (a server builds one Service per request on one engine; see ``open_store``)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 anchors: Sequence[x509.Certificate] | None = None, warn_days: int = 30,
                 provider_factory: ProviderFactory | None = None, verify_within: float | None = None,
                 prober: Prober = probe, lease_seconds: float = LEASE_SECONDS, engine: Engine | None = None) -> None:
        self.ctx = Context(settings, clock=clock, anchors=anchors, warn_days=warn_days,
                           provider_factory=provider_factory, verify_within=verify_within, prober=prober,
                           lease_seconds=lease_seconds, engine=engine)
        self.deployments = Deployments(self.ctx)
        self.certificates = Certificates(self.ctx, self.deployments)
        self.loadbalancers = LoadBalancers(self.ctx, self.deployments)
        self.history = History(self.ctx)
        # the use cases, by the names the adapters call them
        self.add_certificate = self.certificates.add_certificate
        self.check_certificate = self.certificates.check_certificate
        self.import_bundles = self.certificates.import_bundles
        self.list_certificates = self.certificates.list_certificates
        self.certificates_page = self.certificates.certificates_page
        self.show_certificate = self.certificates.show_certificate
        self.remove_certificate = self.certificates.remove_certificate
        self.server_bundle = self.certificates.server_bundle
        self.expiring = self.certificates.expiring
        self.expiry_dates = self.certificates.expiry_dates
        self.certificate_history = self.certificates.history
        self.rollback_certificate = self.certificates.rollback
        self.check_rollback = self.certificates.check_rollback
        self.audit_log = self.certificates.audit_log
        self.audit_page = self.certificates.audit_page
        self.decrypt_key = self.certificates.decrypt_key
        self.add_load_balancer = self.loadbalancers.add_load_balancer
        self.list_load_balancers = self.loadbalancers.list_load_balancers
        self.load_balancers_page = self.loadbalancers.load_balancers_page
        self.show_load_balancer = self.loadbalancers.show_load_balancer
        self.remove_load_balancer = self.loadbalancers.remove_load_balancer
        self.enable = self.loadbalancers.enable
        self.disable = self.loadbalancers.disable
        self.status = self.deployments.status
        self.apply = self.deployments.apply
        self.deployment_batch = self.history.batch
        self.deployments_page = self.history.page
        self.deployment_counts = self.history.counts

    # -- the wiring, for adapters and tests ----------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.ctx.clock

    @property
    def db(self) -> Database:
        return self.ctx.db

    @property
    def vault(self) -> KeyVault:
        return self.ctx.vault

    @property
    def anchors(self) -> Sequence[x509.Certificate]:
        return self.ctx.anchors

    @property
    def changed_anything(self) -> bool:
        return self.ctx.changed_anything

    def provider(self, lb: LoadBalancerRow) -> Provider:
        return self.ctx.provider(lb)

    def close(self) -> None:
        self.ctx.close()


__all__ = [
    "IMPORT_FLUSH_EVERY",
    "SYSTEM_ANCHORS",
    "Added",
    "CertStatus",
    "DeploymentView",
    "ImportReport",
    "Outcome",
    "Page",
    "ProviderFactory",
    "Refused",
    "Service",
    "load_anchors",
    "merge_settings",
    "open_store",
    "utcnow",
]
