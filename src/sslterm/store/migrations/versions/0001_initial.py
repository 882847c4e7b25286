"""Initial schema: certificates, load balancers, terminations, audit log.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("sans", sa.JSON, nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("key_type", sa.String(16), nullable=False),
        sa.Column("key_bits", sa.Integer, nullable=False),
        sa.Column("chain", sa.JSON, nullable=False),
        sa.Column("certificate_pem", sa.Text, nullable=False),
        sa.Column("key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "load_balancers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "terminations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("load_balancer_id", sa.Integer, sa.ForeignKey("load_balancers.id"), nullable=False),
        sa.Column("certificate_id", sa.Integer, sa.ForeignKey("certificates.id"), nullable=False),
        sa.Column("lb_port", sa.Integer, nullable=False),
        sa.Column("instance_port", sa.Integer, nullable=False),
        sa.Column("instance_protocol", sa.String(8), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("load_balancer_id", "lb_port", "certificate_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(140), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "terminations", "load_balancers", "certificates"):
        op.drop_table(table)
