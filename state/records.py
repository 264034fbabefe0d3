"""The plain records the Store reads and writes (frozen dataclasses; times are aware UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

Json = dict[str, Any]
Change = Literal["new", "revised", "unchanged"]
OutboxStatus = Literal["pending", "retrying", "sent", "dead"]
Outcome = Literal["sent", "retry", "dead"]
OUTBOX_STATUSES: tuple[OutboxStatus, ...] = ("pending", "retrying", "sent", "dead")
_TS = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def utc(value: datetime, what: str = "time") -> datetime:
    """Return ``value`` in UTC; raise ValueError for a naive datetime (its zone is unknown)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got {value.isoformat()})")
    return value.astimezone(UTC)


def to_text(value: datetime, what: str = "time") -> str:
    """A fixed-width UTC timestamp whose text order is time order."""
    return utc(value, what).strftime(_TS)


def from_text(text: str) -> datetime:
    """Read a timestamp written by ``to_text``."""
    return datetime.fromisoformat(text)


def finding_key(fleet: str, group_key: str, item_key: str) -> str:
    """The identity of a finding: fleet, device group, item (fleet names never contain ``|``)."""
    return f"{fleet}|{group_key}|{item_key}"


@dataclass(frozen=True)
class SourceState:
    """A source's health and its cursor (ETag, Last-Modified, last seen ids), as JSON objects."""

    name: str
    health: Json
    cursor: Json
    updated_at: datetime


@dataclass(frozen=True)
class StoredItem:
    """An item's current revision and when it was first and last seen."""

    key: str
    kind: str
    revision: str
    data: Json
    first_seen: datetime
    last_seen: datetime
    revised_at: datetime


@dataclass(frozen=True)
class ItemRevision:
    """One revision in an item's history."""

    key: str
    revision: str
    data: Json
    seen_at: datetime


class FindingStamp(NamedTuple):
    """What a cycle compares a stored finding against: its item, revision and state, no data."""

    item_key: str
    revision: str
    state: str


@dataclass(frozen=True)
class FindingData:
    """What matching says about one device group and one item; ``state`` e.g. open/resolved."""

    fleet: str
    group_key: str
    item_key: str
    revision: str
    data: Json
    state: str = "open"

    @property
    def key(self) -> str:
        """The finding's identity."""
        return finding_key(self.fleet, self.group_key, self.item_key)


@dataclass(frozen=True)
class Finding:
    """A stored finding."""

    key: str
    fleet: str
    group_key: str
    item_key: str
    revision: str
    state: str
    data: Json
    first_seen: datetime
    updated_at: datetime


class NewEntry(NamedTuple):
    """An outbox entry to add (`OutboxRepo.enqueue_many`)."""

    receiver: str
    dedupe_key: str
    payload: Json
    alert_id: str | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """An alert waiting for (or done with) delivery to one receiver."""

    id: int
    receiver: str
    dedupe_key: str
    alert_id: str | None
    payload: Json
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    claimed_by: str | None
    claimed_until: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt; ``next_attempt_at`` is required for ``retry``."""

    outcome: Outcome
    at: datetime
    worker: str
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One line of the delivery log."""

    id: int
    outbox_id: int
    receiver: str
    dedupe_key: str
    attempt: int
    outcome: Outcome
    status_code: int | None
    error: str | None
    worker: str
    at: datetime
    duration_ms: int | None


@dataclass(frozen=True)
class Silence:
    """A silence: Alertmanager-style matchers, a time window, who set it and why."""

    id: int
    matchers: list[Json]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime

    def is_active(self, now: datetime) -> bool:
        """True while ``now`` lies inside the window."""
        return self.starts_at <= utc(now) < self.ends_at


@dataclass(frozen=True)
class AlertState:
    """Who acknowledged or snoozed an alert, and until when."""

    alert_id: str
    acked_by: str | None
    acked_at: datetime | None
    snoozed_by: str | None
    snoozed_until: datetime | None
    updated_at: datetime

    def is_snoozed(self, now: datetime) -> bool:
        """True while the snooze lasts."""
        return self.snoozed_until is not None and utc(now) < self.snoozed_until


@dataclass(frozen=True)
class SlackRef:
    """Where an alert's first Slack message went: updates are threaded under it."""

    alert_id: str
    channel: str
    ts: str
    posted_at: datetime


@dataclass(frozen=True)
class SeverityCount:
    """Findings of one item at one severity (of their worst CVE), and their highest score."""

    findings: int
    score: float | None


@dataclass(frozen=True)
class FleetTotals:
    """A fleet's number of device groups and devices."""

    groups: int
    devices: int


ERROR_LIMIT = 2000


def clip(text: str | None, limit: int = ERROR_LIMIT) -> str | None:
    """An error text cut to a storable length."""
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"
