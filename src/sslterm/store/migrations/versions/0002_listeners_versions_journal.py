"""Listeners as their own rows, certificate versions, provider objects, the deployment journal and leases.

- ``listeners``: one row per TLS port of a load balancer, with its settings once (they were copied into
  every termination row); ``terminations`` now joins a listener and a certificate, in order.
- ``certificate_versions``: the versions a certificate had before its current one, with their sealed keys,
  so a rotation can be rolled back (``sslterm cert rollback``).
- ``provider_objects``: what a provider uploaded (a file, an ARN), by scope, so load balancers sharing an
  object never lose it to each other's cleanup.
- ``deployments`` and ``leases``: the journal of changes to load balancers and who may change one now.

Existing stores are upgraded in place: listeners are made from the terminations' settings (those of the
default certificate, position 0, when they differed), and every termination keeps its certificate and order.

Revision ID: 0002
"""

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def _new_tables() -> None:
    op.create_table(
        "listeners",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("load_balancer_id", sa.Integer, sa.ForeignKey("load_balancers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("lb_port", sa.Integer, nullable=False),
        sa.Column("instance_port", sa.Integer, nullable=True),
        sa.Column("instance_protocol", sa.String(8), nullable=False),
        sa.Column("redirect_http", sa.Boolean, nullable=False),
        sa.Column("hsts", sa.Boolean, nullable=False),
        sa.Column("tls_profile", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("load_balancer_id", "lb_port"),
    )
    op.create_table(
        "listener_terminations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("listener_id", sa.Integer, sa.ForeignKey("listeners.id", ondelete="CASCADE"), nullable=False),
        sa.Column("certificate_id", sa.Integer, sa.ForeignKey("certificates.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("listener_id", "certificate_id"),
    )
    op.create_table(
        "certificate_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("certificate_id", sa.Integer, sa.ForeignKey("certificates.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("sans", sa.JSON, nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_type", sa.String(16), nullable=False),
        sa.Column("key_bits", sa.Integer, nullable=False),
        sa.Column("chain", sa.JSON, nullable=False),
        sa.Column("certificate_pem", sa.Text, nullable=False),
        sa.Column("key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "provider_objects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("served_id", sa.String(64), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scope", "served_id"),
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("load_balancer", sa.String(64), nullable=False, index=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("intent", sa.JSON, nullable=False),
        sa.Column("observed", sa.JSON, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("batch", sa.String(36), nullable=False, index=True),
        sa.Column("revert", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "leases",
        sa.Column("load_balancer", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("token", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def _copy_terminations() -> None:
    """One listener per (load balancer, port), its settings from the default certificate's row."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT load_balancer_id, certificate_id, lb_port, instance_port, instance_protocol, options, position, "
        "created_at FROM terminations ORDER BY load_balancer_id, lb_port, position")).mappings().all()
    by_listener: dict[tuple[int, int], list[sa.RowMapping]] = defaultdict(list)
    for row in rows:
        by_listener[row["load_balancer_id"], row["lb_port"]].append(row)
    listeners = sa.table("listeners", *(sa.column(c) for c in (
        "id", "load_balancer_id", "lb_port", "instance_port", "instance_protocol", "redirect_http", "hsts",
        "tls_profile", "created_at")))
    joined = sa.table("listener_terminations", *(sa.column(c) for c in (
        "listener_id", "certificate_id", "position", "created_at")))
    for (lb_id, port), terms in sorted(by_listener.items()):
        first = terms[0]
        options = first["options"] if isinstance(first["options"], dict) else _json(first["options"])
        listener_id = bind.execute(listeners.insert().values(  # ids from the database: its sequence stays right
            load_balancer_id=lb_id, lb_port=port, instance_port=first["instance_port"] or None,
            instance_protocol=first["instance_protocol"], redirect_http=bool(options.get("redirect_http")),
            hsts=bool(options.get("hsts")), tls_profile=str(options.get("tls_profile") or "intermediate"),
            created_at=first["created_at"] or datetime.now(UTC)).returning(listeners.c.id)).scalar_one()
        for position, term in enumerate(terms):
            bind.execute(joined.insert().values(listener_id=listener_id, certificate_id=term["certificate_id"],
                                                position=position, created_at=term["created_at"]))


def _json(text: object) -> dict[str, object]:
    import json

    value = json.loads(str(text)) if text else {}
    return value if isinstance(value, dict) else {}


def upgrade() -> None:
    _new_tables()
    _copy_terminations()
    op.drop_table("terminations")
    op.rename_table("listener_terminations", "terminations")


def downgrade() -> None:
    raise NotImplementedError("sslterm stores are upgraded only; restore a backup to go back")
