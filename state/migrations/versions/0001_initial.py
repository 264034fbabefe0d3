"""The first schema: sources, items, fleets, findings, outbox, deliveries, people's actions.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from state.sql.types import BigId, JsonType, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "sources",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("health", JsonType, nullable=False),
        sa.Column("cursor", JsonType, nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("name", name="pk_sources"),
    )
    op.create_table(
        "items",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("data", JsonType, nullable=False),
        _when("first_seen"), _when("last_seen"), _when("revised_at"),
        sa.PrimaryKeyConstraint("key", name="pk_items"),
    )
    op.create_index("ix_items_kind", "items", ["kind"])
    op.create_table(
        "item_revisions",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("item_key", sa.Text, nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("data", JsonType, nullable=False),
        _when("seen_at"),
        sa.PrimaryKeyConstraint("id", name="pk_item_revisions"),
        sa.UniqueConstraint("item_key", "revision", name="uq_item_revisions_item_key_revision"),
    )
    op.create_table(
        "fleets",
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("receivers", JsonType, nullable=False),
        sa.Column("tags", JsonType, nullable=False),
        sa.Column("min_severity", sa.String(10), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_fleets"),
    )
    op.create_table(
        "device_groups",
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("fleet", sa.String(80), nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("model_as_written", sa.Text, nullable=False),
        sa.Column("firmware", sa.Text, nullable=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("site", sa.Text, nullable=False),
        sa.Column("tags", JsonType, nullable=False),
        sa.Column("serials", JsonType, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_device_groups"),
        sa.ForeignKeyConstraint(["fleet"], ["fleets.name"], ondelete="CASCADE",
                                name="fk_device_groups_fleet_fleets"),
    )
    op.create_index("ix_device_groups_fleet", "device_groups", ["fleet"])
    op.create_index("ix_device_groups_model", "device_groups", ["model"])
    op.create_table(
        "catalog",
        sa.Column("pattern", sa.Text, nullable=False),
        sa.Column("launched", sa.Date, nullable=True),
        sa.Column("discontinued", sa.Date, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("pattern", name="pk_catalog"),
    )
    op.create_table(
        "findings",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("fleet", sa.String(80), nullable=False),
        sa.Column("group_key", sa.String(32), nullable=False),
        sa.Column("item_key", sa.Text, nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("data", JsonType, nullable=False),
        _when("first_seen"), _when("updated_at"),
        sa.PrimaryKeyConstraint("key", name="pk_findings"),
    )
    op.create_index("ix_findings_item_key", "findings", ["item_key"])
    op.create_index("ix_findings_state", "findings", ["state"])
    op.create_index("ix_findings_fleet_state", "findings", ["fleet", "state"])
    op.create_table(
        "outbox",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("receiver", sa.String(80), nullable=False),
        sa.Column("dedupe_key", sa.Text, nullable=False),
        sa.Column("alert_id", sa.Text, nullable=True),
        sa.Column("payload", JsonType, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _when("next_attempt_at"),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("claimed_by", sa.Text, nullable=True),
        _when("claimed_until", nullable=True),
        _when("created_at"), _when("updated_at"), _when("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("receiver", "dedupe_key", name="uq_outbox_receiver_dedupe_key"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("outbox_id", BigId, nullable=False),
        sa.Column("receiver", sa.String(80), nullable=False),
        sa.Column("dedupe_key", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("worker", sa.Text, nullable=False),
        _when("at"),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
    )
    op.create_index("ix_deliveries_outbox_id", "deliveries", ["outbox_id"])
    op.create_index("ix_deliveries_at", "deliveries", ["at"])
    op.create_table(
        "silences",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("matchers", JsonType, nullable=False),
        _when("starts_at"), _when("ends_at"),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_silences"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])
    op.create_table(
        "alert_states",
        sa.Column("alert_id", sa.Text, nullable=False),
        sa.Column("acked_by", sa.Text, nullable=True),
        _when("acked_at", nullable=True),
        sa.Column("snoozed_by", sa.Text, nullable=True),
        _when("snoozed_until", nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("alert_id", name="pk_alert_states"),
    )
    op.create_table(
        "slack_messages",
        sa.Column("alert_id", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("ts", sa.Text, nullable=False),
        _when("posted_at"),
        sa.PrimaryKeyConstraint("alert_id", name="pk_slack_messages"),
    )
    op.create_index("ix_slack_messages_channel_ts", "slack_messages", ["channel", "ts"])
    op.create_table(
        "meta",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", JsonType, nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )


def downgrade() -> None:
    """Drop every table."""
    for table in ("meta", "slack_messages", "alert_states", "silences", "deliveries", "outbox",
                  "findings", "catalog", "device_groups", "fleets", "item_revisions", "items",
                  "sources"):
        op.drop_table(table)
