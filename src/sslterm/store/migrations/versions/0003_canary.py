"""The secret key's canary: one row holding a constant sealed with the store's secret key, so that a
controller given another key is refused (``wrong-secret-key``) before it writes anything. See
``sslterm.store.secrets.check_secret_key``; the row is written on the first change made with a key.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "secret_canary",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="secret_canary_one_row"),
    )


def downgrade() -> None:
    op.drop_table("secret_canary")
