"""State: one Store interface with TinyDB and SQL (PostgreSQL, SQLite) backends.

Open a store with ``open_store(url)``; nothing outside this package knows which backend is in use.
"""

from state.api import Store
from state.errors import SchemaError, StoreCorrupt, StoreError, StoreLocked, UnknownFleet
from state.factory import Upgrade, open_store, upgrade
from state.records import (
    AlertState,
    Attempt,
    Change,
    Delivery,
    Finding,
    FindingData,
    FindingStamp,
    FleetTotals,
    ItemRevision,
    NewEntry,
    OutboxEntry,
    SeverityCount,
    Silence,
    SlackRef,
    SourceState,
    StoredItem,
    finding_key,
)
from state.urls import parse_state_url, redact, resolve_state_url

__all__ = [
    "AlertState",
    "Attempt",
    "Change",
    "Delivery",
    "Finding",
    "FindingData",
    "FindingStamp",
    "FleetTotals",
    "ItemRevision",
    "NewEntry",
    "OutboxEntry",
    "SchemaError",
    "SeverityCount",
    "Silence",
    "SlackRef",
    "SourceState",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreLocked",
    "StoredItem",
    "UnknownFleet",
    "Upgrade",
    "finding_key",
    "open_store",
    "parse_state_url",
    "redact",
    "resolve_state_url",
    "upgrade",
]
