"""Meta keys as text: the routing memory keys meta by receiver and item key, and a firmware
release's item key lists the models its package applies to, so no length bound is safe
(PostgreSQL refused keys over 200 characters, failing every cycle that alerted such a package).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Widen meta.key to text (PostgreSQL: no table rewrite)."""
    with op.batch_alter_table("meta") as batch:
        batch.alter_column("key", type_=sa.Text(), existing_type=sa.String(200),
                           existing_nullable=False)


def downgrade() -> None:
    """Narrow it back (fails while a longer key is stored)."""
    with op.batch_alter_table("meta") as batch:
        batch.alter_column("key", type_=sa.String(200), existing_type=sa.Text(),
                           existing_nullable=False)
