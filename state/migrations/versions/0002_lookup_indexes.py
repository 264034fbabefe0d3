"""Indexes for the Slack answers: findings' items by device group (covering), outbox entries
by alert id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-01
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the two indexes."""
    op.create_index("ix_findings_group_key_state_item_key", "findings",
                    ["group_key", "state", "item_key"])
    op.create_index("ix_outbox_alert_id", "outbox", ["alert_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_outbox_alert_id", table_name="outbox")
    op.drop_index("ix_findings_group_key_state_item_key", table_name="findings")
