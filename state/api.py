"""The one Store interface: repositories over sources, items, fleets, findings and delivery.

Every method is atomic. Outside ``store.transaction()`` each call commits on its own; inside, the
calls commit together when the block ends and are all undone when it raises. Nested blocks are
savepoints: an exception undoes the inner block only if caught outside it. Times are aware UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.catalog import CatalogEntry
from bot.fleets import DeviceGroup, Fleet
from bot.items import Item
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
    Json,
    NewEntry,
    OutboxEntry,
    OutboxStatus,
    SeverityCount,
    Silence,
    SlackRef,
    SourceState,
    StoredItem,
)


class SourceRepo(Protocol):
    """Sources' health and cursors, JSON objects keyed by source name."""

    def get(self, name: str) -> SourceState | None: """The source's state, if any."""
    def all(self) -> list[SourceState]: """Every source's state, by name."""
    def put_health(self, name: str, health: Json, now: datetime) -> None: """Replace health."""
    def put_cursor(self, name: str, cursor: Json, now: datetime) -> None: """Replace cursor."""


class ItemRepo(Protocol):
    """Items (advisories, releases, scores, KEV entries) and their revision history."""

    def put(self, key: str, kind: str, revision: str, data: Json, now: datetime) -> Change:
        """Store a revision: new item, new revision of a known item, or unchanged (last_seen)."""
    def put_item(self, item: Item, now: datetime) -> Change: """``put`` for a bot.items Item."""
    def get(self, key: str) -> StoredItem | None: """The item's current revision."""
    def revisions(self, key: str) -> list[ItemRevision]: """Its history, oldest first."""
    def all(self, kind: str | None = None) -> list[StoredItem]: """Items, by key."""
    def count(self, kind: str | None = None) -> int: """How many items."""
    def current_revisions(self, keys: Iterable[str]) -> dict[str, str]:
        """The current revision of each known key (skip what is already stored)."""


class FleetRepo(Protocol):
    """The fleet registry. Removing a fleet removes its device groups."""

    def get(self, name: str) -> Fleet | None: """One fleet."""
    def all(self) -> list[Fleet]: """Every fleet, by name."""
    def put(self, fleet: Fleet) -> bool: """Add or update a fleet; True when something changed."""
    def remove(self, name: str) -> int | None:
        """Remove a fleet; the number of groups removed with it, None when unknown."""
    def groups(self, fleet: str | None = None) -> list[DeviceGroup]:
        """Device groups (of one fleet), by fleet, model, site, firmware."""
    def group(self, key: str) -> DeviceGroup | None: """One device group by key."""
    def put_groups(self, groups: Iterable[DeviceGroup]) -> int:
        """Add or update groups by key (their fleets must exist); the number changed."""
    def remove_groups(self, keys: Iterable[str]) -> int: """Remove groups; the number removed."""
    def totals(self) -> dict[str, FleetTotals]: """Groups and devices per fleet."""
    def groups_of_model(self, model: str) -> list[DeviceGroup]:
        """Device groups of one normalised model in every fleet, by fleet, model, site, firmware."""
    def model_totals(self, fleet: str | None = None) -> dict[tuple[str, str], FleetTotals]:
        """Groups and devices per (fleet, normalised model), of one fleet or all."""


class CatalogRepo(Protocol):
    """Lifecycle dates learnt from fleet imports, keyed by the entry's pattern (a model)."""

    def put(self, entries: Iterable[CatalogEntry]) -> int: """Add or replace; number changed."""
    def get(self, pattern: str) -> CatalogEntry | None: """One entry."""
    def all(self) -> list[CatalogEntry]: """Every entry, by pattern."""
    def remove(self, pattern: str) -> bool: """Remove one entry."""


class FindingRepo(Protocol):
    """Findings keyed by (fleet, device group, item)."""

    def put(self, finding: FindingData, now: datetime) -> Change:
        """Store a finding; unchanged when revision and state are the same."""
    def put_many(self, findings: Iterable[FindingData], now: datetime) -> dict[str, Change]:
        """``put`` for many findings at once; the change per key."""
    def get(self, key: str) -> Finding | None: """One finding."""
    def for_item(self, item_key: str) -> list[Finding]: """Findings of one item."""
    def for_fleet(
        self, fleet: str, state: str | None = None, limit: int | None = None
    ) -> list[Finding]:
        """Findings of one fleet (in one state), by key; the first ``limit`` when given."""
    def all(self, state: str | None = None, limit: int | None = None) -> list[Finding]:
        """Findings (in one state), by key; the first ``limit`` when given."""
    def set_state(self, key: str, state: str, now: datetime) -> bool:
        """Change a finding's state; False when unknown or already in it."""
    def count(self, state: str | None = None) -> int: """How many findings."""
    def stamps(self) -> dict[str, FindingStamp]:
        """Every finding's item key, revision and state, by key (its data is not read)."""
    def items_by_group(
        self, group_keys: Iterable[str], state: str | None = None
    ) -> dict[str, list[str]]:
        """The item keys of the findings of some device groups (in one state), per group."""
    def item_counts(self, fleet: str | None = None, state: str | None = None) -> dict[str, int]:
        """How many findings each item has (of one fleet, in one state)."""
    def severity_counts(
        self, fleet: str | None = None, state: str | None = None
    ) -> dict[str, dict[str, SeverityCount]]:
        """Per item, its findings (of one fleet, in one state) per severity as their records
        give it (``severity``, "none" when missing), with the highest ``score`` of each."""


class OutboxRepo(Protocol):
    """Alerts to deliver, one entry per (receiver, dedupe key); at-least-once with leases."""

    def enqueue(
        self, receiver: str, dedupe_key: str, payload: Json, now: datetime,
        *, alert_id: str | None = None,
    ) -> int | None:
        """Add an entry due now; its id, or None when (receiver, dedupe_key) exists already."""
    def enqueue_many(self, entries: Sequence[NewEntry], now: datetime) -> list[int | None]:
        """``enqueue`` for each entry, in order, in one write: each one's id, or None when it
        exists already (or came earlier in ``entries``)."""
    def claim(
        self, worker: str, now: datetime, *, lease: timedelta, limit: int = 10,
        receivers: Collection[str] | None = None,
    ) -> list[OutboxEntry]:
        """Lease due entries to ``worker``; no two workers hold the same entry at once."""
    def record(self, entry_id: int, attempt: Attempt) -> OutboxEntry:
        """Log an attempt and set the entry's status (sent is final; the lease ends)."""
    def record_many(self, attempts: Sequence[tuple[int, Attempt]]) -> None:
        """``record`` for each (entry id, attempt), in order, as one unit of work (the worker's
        groups); nothing is read back. An unknown id raises StoreError and records none."""
    def release(self, entry_id: int, worker: str, until: datetime | None = None) -> bool:
        """Give a claimed entry back unattempted (shutdown), not due before ``until`` when
        given (it waits for another); False when not held by worker."""
    def replay(
        self, entry_id: int, now: datetime, only: Collection[OutboxStatus] | None = None
    ) -> OutboxEntry | None:
        """Make an entry (e.g. dead) due again with attempts reset; None when unknown, or when
        ``only`` is given and its status is not among them (it changed since it was listed)."""
    def get(self, entry_id: int) -> OutboxEntry | None: """One entry."""
    def find(self, receiver: str, dedupe_key: str) -> OutboxEntry | None: """By identity."""
    def for_alert(self, alert_id: str) -> list[OutboxEntry]: """Entries of one alert id, by id."""
    def all(
        self, statuses: Collection[OutboxStatus] | None = None, receiver: str | None = None,
        limit: int | None = None,
    ) -> list[OutboxEntry]:
        """Entries by id (filtered)."""
    def counts(self) -> dict[OutboxStatus, int]: """Entries per status (all four keys)."""
    def unsent_by_receiver(self) -> dict[str, int]:
        """Pending and retrying entries per receiver (receivers with none left out)."""
    def next_due(self) -> datetime | None: """When the earliest pending or retrying entry is due."""
    def prune_sent(self, before: datetime) -> int: """Delete entries sent before a time."""


class DeliveryRepo(Protocol):
    """The delivery log (written by ``outbox.record``)."""

    def recent(
        self, outbox_id: int | None = None, receiver: str | None = None, limit: int = 100,
    ) -> list[Delivery]:
        """Newest first."""
    def prune(self, before: datetime) -> int: """Delete log lines older than a time."""


class SilenceRepo(Protocol):
    """Silences; they stop applying by themselves when they end."""

    def add(
        self, matchers: list[Json], *, ends_at: datetime, author: str, comment: str,
        now: datetime, starts_at: datetime | None = None,
    ) -> Silence:
        """Create a silence (starting now unless given)."""
    def get(self, silence_id: int) -> Silence | None: """One silence."""
    def active(self, now: datetime) -> list[Silence]: """Silences in force at ``now``."""
    def all(self) -> list[Silence]: """Every silence, by id."""
    def expire(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False when unknown or already ended."""
    def prune(self, before: datetime) -> int: """Delete silences that ended before a time."""


class AckRepo(Protocol):
    """Acks and snoozes per alert; repeating one changes nothing."""

    def ack(self, alert_id: str, user: str, now: datetime) -> bool:
        """Acknowledge; False when it was acknowledged already."""
    def snooze(self, alert_id: str, user: str, until: datetime, now: datetime) -> bool:
        """Snooze until a time; False when already snoozed at least that long."""
    def get(self, alert_id: str) -> AlertState | None: """The alert's state."""
    def many(self, alert_ids: Iterable[str]) -> dict[str, AlertState]: """States by alert id."""


class SlackRepo(Protocol):
    """The first Slack message of each alert (channel, ts)."""

    def remember(
        self, alert_id: str, channel: str, ts: str, now: datetime, *, replace: bool = False
    ) -> SlackRef:
        """Store the reference unless one exists (``replace``: in any case); the stored one."""
    def get(self, alert_id: str) -> SlackRef | None: """The alert's message."""
    def by_message(self, channel: str, ts: str) -> SlackRef | None: """The alert of a message."""


class MetaRepo(Protocol):
    """Small JSON values by key, e.g. ``last_cycle``."""

    def get(self, key: str, *, for_update: bool = False) -> Any:
        """The value, or None; ``for_update`` inside a transaction: until it ends, other
        transactions that read the key for update wait (a read-modify-write loses nothing)."""
    def prefixed(self, prefix: str) -> dict[str, Any]:
        """Every value whose key starts with ``prefix``, by key (one read for many keys)."""
    def put(self, key: str, value: Any, now: datetime) -> None: """Set a JSON value."""
    def put_many(self, values: Mapping[str, Any], now: datetime) -> None:
        """``put`` for each key and value, in one write."""
    def delete(self, key: str) -> bool: """Remove a key."""


class Leader(Protocol):
    """A named lock at most one handle holds at a time (e.g. who runs the scheduler); never waits.

    PostgreSQL: a session advisory lock on a dedicated connection, freed when the holder dies.
    SQLite: a file lock beside the database. TinyDB: arbitrated inside the one process.
    """

    @property
    def name(self) -> str: """The lock's name."""
    @property
    def held(self) -> bool: """True while this handle holds the lock (as last confirmed)."""
    def acquire(self) -> bool:
        """Take the lock, or confirm it is still held; False when another holder has it.

        Raises StoreError when the database cannot be reached (the lock is then not held)."""
    def release(self) -> None: """Give the lock up (nothing happens when it is not held)."""


class Store(Protocol):
    """firmwatch's durable state; open one with ``state.open_store(url)`` and close it."""

    @property
    def url(self) -> str: """The store URL, password redacted."""
    @property
    def sources(self) -> SourceRepo: """The sources repository."""
    @property
    def items(self) -> ItemRepo: """The items repository."""
    @property
    def fleets(self) -> FleetRepo: """The fleets repository."""
    @property
    def catalog(self) -> CatalogRepo: """The catalog repository."""
    @property
    def findings(self) -> FindingRepo: """The findings repository."""
    @property
    def outbox(self) -> OutboxRepo: """The outbox repository."""
    @property
    def deliveries(self) -> DeliveryRepo: """The deliveries repository."""
    @property
    def silences(self) -> SilenceRepo: """The silences repository."""
    @property
    def acks(self) -> AckRepo: """The acks repository."""
    @property
    def slack(self) -> SlackRepo: """The slack repository."""
    @property
    def meta(self) -> MetaRepo: """The meta repository."""

    def transaction(self) -> AbstractContextManager[None]:
        """A unit of work: everything inside commits together or not at all."""
    def leader(self, name: str) -> Leader:
        """A new handle on the named leader lock (not yet taken); ``close`` releases it."""
    def check(self) -> None:
        """Raise StoreError unless the store answers and its schema is current (readiness)."""
    def close(self) -> None: """Release the store (file lock, connections)."""
    def __enter__(self) -> Store: """Use as a context manager that closes the store."""
    def __exit__(self, *exc: object) -> None: """Close."""
