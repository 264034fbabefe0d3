"""Device groups say who wrote them: ``config`` (listed in bot.toml) or ``import`` (a CSV import
or the REST API), so dropping a bot.toml entry removes only what the file put there. Groups
already stored count as imported; bot.toml's next sync claims the ones it lists.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add device_groups.origin, ``import`` for the rows already there."""
    op.add_column("device_groups", sa.Column("origin", sa.String(10), nullable=False,
                                             server_default="import"))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("device_groups") as batch:
        batch.drop_column("origin")
