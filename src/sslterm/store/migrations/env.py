"""Alembic environment: sslterm hands over its own connection (see sslterm.store.db.migrate)."""

from alembic import context

from sslterm.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
