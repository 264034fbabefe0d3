"""Alembic environment: runs on the connection that state.sql.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from state.sql.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations with `firmwatch db upgrade`, which supplies the connection")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
