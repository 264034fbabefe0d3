"""The SQL tables (the migrations under state/migrations create exactly these)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from state.sql.types import BigId, JsonType, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _when(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, UTCDateTime(), nullable=nullable)


sources = Table(
    "sources", metadata,
    Column("name", String(200), primary_key=True),
    Column("health", JsonType, nullable=False),
    Column("cursor", JsonType, nullable=False),
    _when("updated_at"),
)

items = Table(
    "items", metadata,
    Column("key", Text, primary_key=True),
    Column("kind", String(20), nullable=False, index=True),
    Column("revision", String(64), nullable=False),
    Column("data", JsonType, nullable=False),
    _when("first_seen"), _when("last_seen"), _when("revised_at"),
)

item_revisions = Table(
    "item_revisions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_key", Text, nullable=False),
    Column("revision", String(64), nullable=False),
    Column("data", JsonType, nullable=False),
    _when("seen_at"),
    UniqueConstraint("item_key", "revision"),
)

fleets = Table(
    "fleets", metadata,
    Column("name", String(80), primary_key=True),
    Column("description", Text, nullable=False),
    Column("receivers", JsonType, nullable=False),
    Column("tags", JsonType, nullable=False),
    Column("min_severity", String(10), nullable=False),
    Column("origin", String(10), nullable=False),
)

device_groups = Table(
    "device_groups", metadata,
    Column("key", String(32), primary_key=True),
    Column("fleet", String(80), ForeignKey("fleets.name", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("model", Text, nullable=False, index=True),
    Column("model_as_written", Text, nullable=False),
    Column("firmware", Text, nullable=True),
    Column("count", Integer, nullable=False),
    Column("site", Text, nullable=False),
    Column("tags", JsonType, nullable=False),
    Column("serials", JsonType, nullable=False),
    Column("origin", String(10), nullable=False, server_default="import"),  # 0004
)

catalog = Table(
    "catalog", metadata,
    Column("pattern", Text, primary_key=True),
    Column("launched", Date, nullable=True),
    Column("discontinued", Date, nullable=True),
    Column("source", Text, nullable=False),
)

findings = Table(
    "findings", metadata,
    Column("key", Text, primary_key=True),
    Column("fleet", String(80), nullable=False),
    Column("group_key", String(32), nullable=False),
    Column("item_key", Text, nullable=False, index=True),
    Column("revision", Text, nullable=False),  # a reminder's is its item key (0003)
    Column("state", String(20), nullable=False, index=True),
    Column("data", JsonType, nullable=False),
    _when("first_seen"), _when("updated_at"),
    Index(None, "fleet", "state"),
    Index(None, "group_key", "state", "item_key"),  # covers items_by_group: no table reads
)

outbox = Table(
    "outbox", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("receiver", String(80), nullable=False),
    Column("dedupe_key", Text, nullable=False),
    Column("alert_id", Text, nullable=True, index=True),
    Column("payload", JsonType, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    _when("next_attempt_at"),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("claimed_by", Text, nullable=True),
    _when("claimed_until", nullable=True),
    _when("created_at"), _when("updated_at"), _when("sent_at", nullable=True),
    UniqueConstraint("receiver", "dedupe_key"),
    Index(None, "status", "next_attempt_at"),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("outbox_id", BigId, nullable=False, index=True),
    Column("receiver", String(80), nullable=False),
    Column("dedupe_key", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("worker", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("duration_ms", Integer, nullable=True),
)

silences = Table(
    "silences", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("matchers", JsonType, nullable=False),
    _when("starts_at"),
    Column("ends_at", UTCDateTime(), nullable=False, index=True),
    Column("author", Text, nullable=False),
    Column("comment", Text, nullable=False),
    _when("created_at"),
)

alert_states = Table(
    "alert_states", metadata,
    Column("alert_id", Text, primary_key=True),
    Column("acked_by", Text, nullable=True),
    _when("acked_at", nullable=True),
    Column("snoozed_by", Text, nullable=True),
    _when("snoozed_until", nullable=True),
    _when("updated_at"),
)

slack_messages = Table(
    "slack_messages", metadata,
    Column("alert_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("ts", Text, nullable=False),
    _when("posted_at"),
    Index(None, "channel", "ts"),
)

meta = Table(
    "meta", metadata,
    Column("key", Text, primary_key=True),  # 0005
    Column("value", JsonType, nullable=True),
    _when("updated_at"),
)
