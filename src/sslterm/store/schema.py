"""Tables. Changes to them go through an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class CertificateRow(Base):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    sans: Mapped[list[str]] = mapped_column(JSON)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    key_type: Mapped[str] = mapped_column(String(16))
    key_bits: Mapped[int] = mapped_column(Integer)
    chain: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # [{subject, issuer, fingerprint_sha256}]
    certificate_pem: Mapped[str] = mapped_column(Text)  # leaf then chain; public
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM, see store.secrets
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    terminations: Mapped[list[TerminationRow]] = relationship(back_populates="certificate")
    versions: Mapped[list[CertificateVersionRow]] = relationship(
        back_populates="certificate", cascade="all, delete-orphan", passive_deletes=True,
        order_by="CertificateVersionRow.replaced_at.desc()")


class CertificateVersionRow(Base):
    """A version a certificate had before its current one (the current one is the certificate row itself),
    kept with its sealed key so that a rotation can be rolled back."""

    __tablename__ = "certificate_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    sans: Mapped[list[str]] = mapped_column(JSON)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    key_type: Mapped[str] = mapped_column(String(16))
    key_bits: Mapped[int] = mapped_column(Integer)
    chain: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    certificate_pem: Mapped[str] = mapped_column(Text)
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it became the current version
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime)

    certificate: Mapped[CertificateRow] = relationship(back_populates="versions")


class LoadBalancerRow(Base):
    __tablename__ = "load_balancers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: where its provider's uploads live; load balancers of one scope share them (provider_objects.scope)
    scope: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the controller that runs it (a managed HAProxy); None: any controller changes it (clouds)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)

    listeners: Mapped[list[ListenerRow]] = relationship(
        back_populates="load_balancer", cascade="all, delete-orphan", order_by="ListenerRow.lb_port")

    @property
    def terminations(self) -> list[TerminationRow]:
        """Every certificate on every listener, listener by listener, each in its order."""
        return [t for listener in self.listeners for t in listener.terminations]

    def listener(self, lb_port: int) -> ListenerRow | None:
        return next((x for x in self.listeners if x.lb_port == lb_port), None)


class ListenerRow(Base):
    """One TLS port of a load balancer and its settings; its certificates are its terminations, in order
    (the first is the default certificate)."""

    __tablename__ = "listeners"
    __table_args__ = (UniqueConstraint("load_balancer_id", "lb_port"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    load_balancer_id: Mapped[int] = mapped_column(ForeignKey("load_balancers.id", ondelete="CASCADE"))
    lb_port: Mapped[int] = mapped_column(Integer)
    instance_port: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: each backend's own port
    instance_protocol: Mapped[str] = mapped_column(String(8))
    redirect_http: Mapped[bool] = mapped_column(Boolean)
    hsts: Mapped[bool] = mapped_column(Boolean)
    tls_profile: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    load_balancer: Mapped[LoadBalancerRow] = relationship(back_populates="listeners")
    terminations: Mapped[list[TerminationRow]] = relationship(
        back_populates="listener", cascade="all, delete-orphan", order_by="TerminationRow.position")


class TerminationRow(Base):
    """One certificate on one listener."""

    __tablename__ = "terminations"
    __table_args__ = (UniqueConstraint("listener_id", "certificate_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)  # the lowest is the listener's default certificate
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    listener: Mapped[ListenerRow] = relationship(back_populates="terminations")
    certificate: Mapped[CertificateRow] = relationship(back_populates="terminations")

    @property
    def lb_port(self) -> int:
        return self.listener.lb_port

    @property
    def load_balancer(self) -> LoadBalancerRow:
        return self.listener.load_balancer


class ProviderObjectRow(Base):
    """What a provider uploaded for a certificate (a file, an ARN, a mapping id), in a scope
    (``haproxy:LB``, ``aws:ACCOUNT:REGION:acm``, ...) that load balancers sharing it have in common."""

    __tablename__ = "provider_objects"
    __table_args__ = (UniqueConstraint("scope", "served_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), index=True)
    served_id: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeploymentRow(Base):
    """One apply on one load balancer: intent (the listeners wanted, no key material), what was observed
    before, progress and outcome (``pending``, ``applying``, ``verified``, ``rolled-back``, ``failed``,
    ``needs-attention``)."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    load_balancer: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20))
    intent: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    observed: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    batch: Mapped[str] = mapped_column(String(36), index=True)  # the deployments of one command
    revert: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # how to put the store back if they fail
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LeaseRow(Base):
    """Who may change a load balancer now: an owner until ``expires_at``; ``token`` grows with each new lease
    (a fencing token: a writer holding an older one has lost the lease)."""

    __tablename__ = "leases"

    load_balancer: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditRow(Base):
    """What changed, when, on what. Never key material: names, fingerprints and codes only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(140))
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
