"""Load balancers get a scope (where their provider's uploads live, shared by the load balancers that can use
the same objects: ``haproxy:LB``, ``aws:ACCOUNT:REGION:acm``) and an owner (the controller that runs a
managed HAProxy; NULL: any controller may change it). Existing HAProxy load balancers get ``haproxy:NAME``
and no owner: the first controller to change one after the upgrade records itself.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("load_balancers") as batch:
        batch.add_column(sa.Column("scope", sa.String(200), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True))
    op.execute("UPDATE load_balancers SET scope = 'haproxy:' || name WHERE kind = 'haproxy'")
    op.create_index("ix_provider_objects_scope", "provider_objects", ["scope"])


def downgrade() -> None:
    op.drop_index("ix_provider_objects_scope", "provider_objects")
    with op.batch_alter_table("load_balancers") as batch:
        batch.drop_column("owner")
        batch.drop_column("scope")
