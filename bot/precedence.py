"""Which copy of an item the store keeps when several sources carry it (pure).

Hikvision's advisory pages and a mirror's feed both carry HSRC-202109-01; a firmware index and a
firmware feed may list the same package. Without a rule the copies overwrite each other in the
store, an older copy rolls a revision back, and every overwrite alerts as a revision. The rule
(docs/sources.md, "When two sources carry the same item"):

1. A source's own new copy replaces the copy it stored before (the vendor may correct itself),
   unless it is a revision stored before that is older than the stored copy: a return to an
   earlier revision with an earlier date is a stale copy (a cache or a second server serving an
   old page), and taking it would flip between the two on every poll, each flip a revision.
2. A copy from another source replaces the kept one only when it is newer: by its ``freshness``
   (an advisory's update date, else its release date; a firmware release's date; an NVD record's
   last modification, else its publication; a KEV entry's date added). An undated copy is older
   than any dated one.
3. Equally new copies that differ: the vendor's own pages (``hikvision-html``) before feeds and
   the other formats, and those before copies from a source no longer configured or disabled;
   then the copy already kept stays (the stored one, or its source's new copy); then sources in
   the order ``bot.toml`` lists them. Polling again never flips the choice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from bot.config import SourceSettings
from bot.items import Advisory, ExploitSignal, FirmwareRelease, Item, ScoreRecord

VENDOR_FORMATS = frozenset({"hikvision-html"})  # the vendor's own pages
Why = Literal["older", "vendor", "kept", "first", "earlier", "stale"]
_VENDOR, _CONFIGURED, _UNKNOWN = 2, 1, 0


@dataclass(frozen=True)
class Standing:
    """How much each configured source's copy counts between equally new copies, and its place
    in ``bot.toml``; a source not configured (or disabled) counts least and comes last."""

    ranks: Mapping[str, int]
    places: Mapping[str, int]

    @classmethod
    def of(cls, sources: Iterable[SourceSettings]) -> Standing:
        """The standing of every configured source."""
        listed = list(sources)
        return cls(
            {
                s.name: _VENDOR if s.format in VENDOR_FORMATS else _CONFIGURED
                for s in listed
                if s.enabled
            },
            {s.name: n for n, s in enumerate(listed)},
        )

    def rank(self, source: str) -> int:
        """2 for the vendor's own pages, 1 for another enabled source, 0 for any other name."""
        return self.ranks.get(source, _UNKNOWN)

    def place(self, source: str) -> int:
        """The source's position in ``bot.toml``; unknown names after every listed one."""
        return self.places.get(source, len(self.places))


@dataclass(frozen=True)
class PassedOver:
    """A copy read this cycle that the store does not keep, the copy kept instead, and why."""

    copy: Item
    kept: Item
    why: Why

    def note(self) -> str:
        """The reason in words, for the copy's source's health: names both sources and dates."""
        mine, theirs = describe(self.copy), describe(self.kept)
        other = f"{self.kept.source or 'an unnamed source'}'s copy ({theirs})"
        reason = {
            "older": f"{other} is newer than this one ({mine})",
            "vendor": f"{other} is as new and comes from the vendor's own pages",
            "kept": f"{other} is as new and its source's copy is the one stored",
            "first": f"{other} is as new and its source comes first in the configuration",
            "earlier": f"{other} is as new and was read first",
            "stale": f"this copy ({mine}) is an earlier revision, older than the one stored"
            f" ({theirs}): a cache or a second server may be serving an old page",
        }[self.why]
        return f"{self.copy.key}: this copy is not stored: {reason}"


@dataclass(frozen=True)
class Choice:
    """The copy the store keeps, whether that is the stored copy, and the copies passed over."""

    kept: Item
    stored: bool
    passed_over: tuple[PassedOver, ...]


def choose(
    stored: Item | None,
    copies: Sequence[Item],
    standing: Standing,
    earlier: Collection[str] = (),
) -> Choice:
    """Apply the rule to one item key: its stored copy (if any) and this cycle's copies of it;
    ``earlier`` are the revisions of the item stored before the stored copy.

    ``copies`` must not be empty. Each passed-over copy that differs from the kept one is
    reported, so its source's health can say why it was not stored.
    """
    if not copies:
        raise ValueError("choose needs at least one copy read this cycle")
    own = [c for c in copies if stored is not None and c.source == stored.source]
    held = stored.revision if stored is not None else None
    stale = {id(c) for c in own if stored is not None and _stale(c, stored, earlier)}
    own = [c for c in own if id(c) not in stale]  # a return to an earlier, older revision
    # The stored copy's source speaks for it: its newest copy, the stored content at a tie.
    base = max(own, key=lambda c: (_fresh(c), c.revision == held)) if own else stored
    others = sorted(
        (c for c in copies if c is not base and id(c) not in stale),
        key=lambda c: standing.place(c.source),
    )
    contenders = [base, *others] if base is not None else others
    kept = max(contenders, key=lambda c: (_fresh(c), standing.rank(c.source)))
    passed = tuple(
        PassedOver(c, kept, "stale" if id(c) in stale else _why(c, kept, base, standing))
        for c in copies
        if c is not kept and c.revision != kept.revision
    )
    return Choice(kept, kept is stored, passed)


def _stale(copy: Item, stored: Item, earlier: Collection[str]) -> bool:
    """Whether a copy from the stored copy's source is an earlier revision, older than it."""
    return (
        copy.revision != stored.revision
        and copy.revision in earlier
        and _fresh(copy) < _fresh(stored)
    )


def _why(copy: Item, kept: Item, base: Item | None, standing: Standing) -> Why:
    if _fresh(copy) < _fresh(kept):
        return "older"
    if standing.rank(kept.source) == _VENDOR > standing.rank(copy.source):
        return "vendor"
    if kept is base:
        return "kept"
    return "earlier" if copy.source == kept.source else "first"


def freshness(item: Item) -> datetime | None:
    """How new a copy is: the date its content was last said to change, None when undated."""
    match item:
        case Advisory():
            return _moment(item.updated or item.published)
        case FirmwareRelease():
            return _moment(item.released)
        case ScoreRecord():
            return _parsed(item.last_modified) or _moment(item.published)
        case ExploitSignal():
            return _moment(item.date_added)


def describe(item: Item) -> str:
    """The date ``freshness`` reads, in words: ``updated 2025-01-02``, ``no date``."""
    named: list[tuple[str, date | None]]
    match item:
        case Advisory():
            named = [("updated", item.updated), ("published", item.published)]
        case FirmwareRelease():
            named = [("released", item.released)]
        case ScoreRecord():
            if _parsed(item.last_modified) is not None:
                return f"last modified {item.last_modified}"
            named = [("published", item.published)]
        case ExploitSignal():
            named = [("added", item.date_added)]
    return next((f"{word} {day.isoformat()}" for word, day in named if day), "no date")


def _fresh(item: Item) -> tuple[bool, datetime]:
    """A sortable freshness: every dated copy after every undated one."""
    moment = freshness(item)
    return (moment is not None, moment or datetime.min.replace(tzinfo=UTC))


def _moment(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


def _parsed(text: str | None) -> datetime | None:
    """An NVD ``lastModified`` (UTC without a zone) as an aware time; None when unreadable."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)
