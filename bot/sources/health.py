"""Per-source health: last success, last error in words, failures in a row, warnings, and the
time a server asked not to be polled before (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

MAX_WARNINGS = 20
MAX_TEXT = 500
TIMES = "\u00d7"  # the multiplication sign: "failing x4" with the real sign


@dataclass(frozen=True)
class SourceHealth:
    """What the last polls of one source did; kept in the store beside the source's cursor."""

    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    last_status: int | None = None
    warnings: list[str] = field(default_factory=list)
    items_last_poll: int = 0
    failing_since: datetime | None = None
    not_before: datetime | None = None  # the server asked (Retry-After) not to be polled before
    items_last_read: int = 0  # items of the last poll that read any (a 304 or 0 items keep it)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (times as ISO 8601)."""
        return {
            "last_attempt": _iso(self.last_attempt),
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "last_status": self.last_status,
            "warnings": list(self.warnings),
            "items_last_poll": self.items_last_poll,
            "failing_since": _iso(self.failing_since),
            "not_before": _iso(self.not_before),
            "items_last_read": self.items_last_read,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceHealth:
        """Rebuild from ``to_dict`` output; missing keys take their defaults (health stored
        before ``items_last_read`` existed takes ``items_last_poll``)."""
        items = int(data.get("items_last_poll") or 0)
        return cls(
            last_attempt=_time(data.get("last_attempt")),
            last_success=_time(data.get("last_success")),
            last_error=data.get("last_error"),
            consecutive_failures=int(data.get("consecutive_failures") or 0),
            last_status=data.get("last_status"),
            warnings=[str(w) for w in data.get("warnings") or []],
            items_last_poll=items,
            failing_since=_time(data.get("failing_since")),
            not_before=_readable_time(data.get("not_before")),
            items_last_read=int(data.get("items_last_read", items) or 0),
        )


def record_success(
    h: SourceHealth, now: datetime, status: int | None, warnings: Sequence[str], items: int
) -> SourceHealth:
    """The health after a poll that worked (a 304 counts), with its parse warnings."""
    read = items if items and status != 304 else h.items_last_read
    return replace(
        h,
        last_attempt=now,
        last_success=now,
        last_error=None,
        consecutive_failures=0,
        last_status=status,
        warnings=_bounded(warnings),
        items_last_poll=items,
        failing_since=None,
        not_before=None,
        items_last_read=read,
    )


def record_failure(
    h: SourceHealth,
    now: datetime,
    error: str,
    status: int | None,
    not_before: datetime | None = None,
) -> SourceHealth:
    """The health after a failed poll; the last good poll's warnings and count are kept.
    ``not_before``: the server asked not to be polled again before then (Retry-After)."""
    return replace(
        h,
        last_attempt=now,
        last_error=_clip(error),
        consecutive_failures=h.consecutive_failures + 1,
        last_status=status,
        failing_since=h.failing_since or now,
        not_before=not_before,
    )


def with_warnings(h: SourceHealth, warnings: Sequence[str]) -> SourceHealth:
    """The health with more warnings, those it does not hold already, still bounded."""
    new = [w for w in dict.fromkeys(_clip(w) for w in warnings) if w not in h.warnings]
    return replace(h, warnings=_bounded([*h.warnings, *new])) if new else h


def waiting(h: SourceHealth, now: datetime) -> bool:
    """Whether the source is not to be polled at ``now``: its server asked to wait until later."""
    return h.not_before is not None and now < h.not_before


def waiting_words(h: SourceHealth) -> str:
    """"waiting until 2026-12-02T10:00:00+00:00 (the server asked)", or nothing."""
    if h.not_before is None:
        return ""
    return f"waiting until {h.not_before.isoformat(timespec='seconds')} (the server asked)"


def unhealthy(h: SourceHealth, failures: int) -> bool:
    """Whether the source has failed at least ``failures`` polls in a row (``[policy]
    source_failures``): the point at which its receivers are told (`bot.sourcenotice`)."""
    return h.consecutive_failures >= failures


def describe(h: SourceHealth, now: datetime | None = None) -> str:
    """One line for ``firmwatch sources``: "ok 3 min ago, 12 items" or "failing (times 4) …",
    ending "; waiting until … (the server asked)" while the server's Retry-After holds."""
    if h.last_attempt is None:
        return "never polled"
    if h.consecutive_failures:
        since = _when(h.failing_since or h.last_attempt, now)
        error = h.last_error or "unknown error"
        wait = f"; {waiting_words(h)}" if now is None or waiting(h, now) else ""
        return f"failing {TIMES}{h.consecutive_failures} since {since}: {error}{wait}"
    what = "not modified" if h.last_status == 304 else _count(h.items_last_poll, "item")
    line = f"ok {_when(h.last_success or h.last_attempt, now)}, {what}"
    return f"{line}, {_count(len(h.warnings), 'warning')}" if h.warnings else line


def _when(moment: datetime, now: datetime | None) -> str:
    if now is None:
        return moment.strftime("%Y-%m-%d %H:%M %Z").strip()
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"  # pragma: no cover - the loop always returns


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _bounded(warnings: Sequence[str]) -> list[str]:
    kept = [_clip(w) for w in warnings[:MAX_WARNINGS]]
    if len(warnings) > MAX_WARNINGS:
        kept.append(f"…and {len(warnings) - MAX_WARNINGS} more warnings")
    return kept


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _readable_time(value: object) -> datetime | None:
    """A stored time, or None when it cannot be read (the source is then simply polled)."""
    try:
        moment = _time(value)
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)
