"""Tables. Changes to them go through an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
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


class LoadBalancerRow(Base):
    __tablename__ = "load_balancers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    terminations: Mapped[list[TerminationRow]] = relationship(
        back_populates="load_balancer", cascade="all, delete-orphan"
    )


class TerminationRow(Base):
    """One certificate on one TLS listener of a load balancer."""

    __tablename__ = "terminations"
    __table_args__ = (UniqueConstraint("load_balancer_id", "lb_port", "certificate_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    load_balancer_id: Mapped[int] = mapped_column(ForeignKey("load_balancers.id"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    lb_port: Mapped[int] = mapped_column(Integer)
    instance_port: Mapped[int] = mapped_column(Integer)
    instance_protocol: Mapped[str] = mapped_column(String(8))
    options: Mapped[dict[str, object]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer, default=0)  # 0 = default certificate of the listener
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    load_balancer: Mapped[LoadBalancerRow] = relationship(back_populates="terminations")
    certificate: Mapped[CertificateRow] = relationship(back_populates="terminations")


class AuditRow(Base):
    """What changed, when, on what. Never key material: names, fingerprints and codes only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(140))
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
