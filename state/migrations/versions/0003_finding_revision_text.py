"""Findings' revision as text: a lifecycle reminder's revision is its item key, which names the
model, so no length bound is safe (PostgreSQL refused keys over 64 characters).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Widen findings.revision to text (PostgreSQL: no table rewrite)."""
    with op.batch_alter_table("findings") as batch:
        batch.alter_column("revision", type_=sa.Text(), existing_type=sa.String(64),
                           existing_nullable=False)


def downgrade() -> None:
    """Narrow it back (fails while a longer revision is stored)."""
    with op.batch_alter_table("findings") as batch:
        batch.alter_column("revision", type_=sa.String(64), existing_type=sa.Text(),
                           existing_nullable=False)
