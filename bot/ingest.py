"""Ingest: what the sources said, into the store (one copy per item key) and told when a source
is unhealthy.

A copy read under a key the store does not hold is first matched to the stored item it is, if any
(`bot.identity`: a package whose model list grew, an advisory now showing its SN No.), and takes
that item's key. A poll's items are stored one copy per key, as `bot.precedence` chooses among
the stored copy and the copies the sources read; each source's health and cursor are stored with
notes on copies not kept (a source not polled because its server asked to wait keeps them as
they are). Sources that became unhealthy or recovered are told to
``[policy] source_receivers`` (`bot.sourcenotice`) through the outbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.identity import aliases
from bot.items import Item, from_dict, to_json_dict
from bot.precedence import Choice, PassedOver, Standing, choose
from bot.sourcenotice import Noticed, SourceView, notices
from bot.sources.health import SourceHealth, describe, unhealthy, waiting_words, with_warnings
from bot.sources.runner import PollOutcome
from state import Store, StoredItem

NOTICED_KEY = "sources.noticed"  # what the source receivers were told (bot.sourcenotice)


@dataclass
class Ingested:
    """What storing a poll's items did: items new and revised, a line per source, and the sources
    not polled because their server asked to wait (name -> until when, ISO 8601)."""

    changes: Counter[str] = field(default_factory=Counter)
    lines: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)


@dataclass
class Told:
    """Source-health notices: the documents, how many were enqueued, and the unhealthy sources
    nobody is told of (no ``source_receivers``), each with its health in words."""

    docs: list[dict[str, Any]] = field(default_factory=list)
    enqueued: int = 0
    unheard: dict[str, str] = field(default_factory=dict)


def store_outcomes(
    store: Store, outcomes: Mapping[str, PollOutcome], now: datetime, standing: Standing
) -> Ingested:
    """Store one copy per item key, as ``bot.precedence`` chooses among the stored copy and the
    sources' copies, and each source's health and cursor; a copy not stored is a note there."""
    ingested = Ingested()
    copies: dict[str, list[Item]] = {}
    origin: dict[int, str] = {}  # id of a copy -> the source that read it
    for name, outcome in outcomes.items():
        for item in outcome.items:
            copies.setdefault(store_key(item), []).append(item)
            origin[id(item)] = name
    passed: dict[str, list[PassedOver]] = {}
    held = store.items.current_revisions(copies)
    copies = _identified(store, copies, held, origin)
    for key, found in copies.items():
        choice, record = _choice(store, key, found, held.get(key), standing)
        for p in choice.passed_over:
            passed.setdefault(origin[id(p.copy)], []).append(p)
        if record is not None and choice.stored:  # kept as it is: only last_seen moves
            change = store.items.put(key, record.kind, record.revision, record.data, now)
        else:
            kept = choice.kept
            change = store.items.put(key, kept.kind, kept.revision, to_json_dict(kept), now)
        if change != "unchanged":
            ingested.changes[change] += 1
    for name, outcome in outcomes.items():
        if outcome.waiting and outcome.health.not_before:  # health and cursor stay as stored
            ingested.lines[name] = f"{waiting_words(outcome.health)}; not polled"
            ingested.waiting[name] = outcome.health.not_before.isoformat(timespec="seconds")
            continue
        health = with_warnings(outcome.health, [p.note() for p in passed.get(name, [])])
        store.sources.put_health(name, health.to_dict(), now)
        store.sources.put_cursor(name, outcome.cursor.to_dict(), now)
        ingested.lines[name] = _line(outcome, health) + _not_stored(passed.get(name, []))
    return ingested


def _line(outcome: PollOutcome, health: SourceHealth) -> str:
    """The source's line in the cycle's report: unchanged, failed (and until when it waits), or
    how many items it read (with the warning when a snapshot source read none)."""
    if outcome.unchanged:
        return "unchanged"
    if health.consecutive_failures:
        wait = f"; {waiting_words(health)}" if health.not_before else ""
        return f"failed: {health.last_error}{wait}"
    emptied = f"; warning: {outcome.emptied}" if outcome.emptied else ""
    return f"{len(outcome.items)} items{emptied}"


def _identified(
    store: Store, copies: dict[str, list[Item]], held: dict[str, str], origin: dict[int, str]
) -> dict[str, list[Item]]:
    """The copies by the key of the item each is (`bot.identity.aliases`): a copy under a key not
    stored that is a stored item (or another new copy's item) takes that key. ``held`` gains the
    stored revisions of the keys taken; ``origin`` the copies made."""
    unknown = {
        key: found
        for key, found in copies.items()
        if key not in held and found[0].kind in ("advisory", "firmware")
    }
    if not unknown:
        return copies
    kinds = sorted({found[0].kind for found in unknown.values()})
    stored = [s for kind in kinds for s in store.items.all(kind)]
    stored.sort(key=lambda s: s.last_seen, reverse=True)  # the latest seen first
    renamed = aliases(unknown, [from_dict(dict(s.data)) for s in stored])
    if not renamed:
        return copies
    out: dict[str, list[Item]] = {}
    for key, found in copies.items():
        target = renamed.get(key, key)
        for copy in found:
            if target != key:
                moved = replace(copy, key=target)
                origin[id(moved)] = origin[id(copy)]
                copy = moved
            out.setdefault(target, []).append(copy)
    held.update(store.items.current_revisions(set(renamed.values()) - held.keys()))
    return out


def _choice(
    store: Store, key: str, copies: list[Item], held: str | None, standing: Standing
) -> tuple[Choice, StoredItem | None]:
    """The precedence choice for one key; the stored record is read only when a copy differs."""
    if held is not None and all(c.revision == held for c in copies):
        return Choice(copies[0], False, ()), None
    record = None if held is None else store.items.get(key)
    stored = None if record is None else from_dict(dict(record.data))
    earlier: set[str] = set()
    if stored is not None and any(c.source == stored.source for c in copies):
        earlier = {r.revision for r in store.items.revisions(key)} - {stored.revision}
    return choose(stored, copies, standing, earlier), record


def _not_stored(passed: list[PassedOver], shown: int = 3) -> str:
    """The status's note on copies not stored: how many, and the first keys."""
    if not passed:
        return ""
    keys = list(dict.fromkeys(p.copy.key for p in passed))
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return (
        f"; {len(passed)} not stored, another source's copy is kept:"
        f" {', '.join(keys[:shown])}{more} (see `firmwatch sources`)"
    )


def tell_source_health(
    store: Store,
    settings: Settings,
    outcomes: Mapping[str, PollOutcome],
    before: Mapping[str, SourceHealth],
    now: datetime,
) -> Told:
    """Enqueue a notice to ``[policy] source_receivers`` for each source that became unhealthy
    or recovered; without such receivers, name the unhealthy sources instead (``unheard``)."""
    told_now = Told()
    policy = settings.policy
    views = [
        SourceView(
            s.name,
            s.kind,
            s.format,
            outcomes[s.name].health if s.name in outcomes else before.get(s.name, SourceHealth()),
            before.get(s.name, SourceHealth()),
            watched=s.enabled,
        )
        for s in settings.sources
    ]
    if not policy.source_receivers:
        told_now.unheard = {
            v.name: describe(v.health, now)
            for v in views
            if v.watched and unhealthy(v.health, policy.source_failures)
        }
    noticed: Noticed = store.meta.get(NOTICED_KEY) or {}
    docs, told = notices(views, policy.source_receivers, policy.source_failures, noticed, now)
    for doc in docs:
        told_now.docs.append(doc)
        receiver = doc["receivers"][0]
        if store.outbox.enqueue(receiver, doc["dedupe_key"], doc, now, alert_id=doc["id"]):
            told_now.enqueued += 1
    if told != noticed:
        store.meta.put(NOTICED_KEY, told, now)
    return told_now


def store_key(item: Item) -> str:
    """The item's key in the store: NVD records and KEV entries share CVE ids, so they are
    namespaced by kind (``scores:CVE-…``, ``exploited:CVE-…``); advisories and releases are not."""
    return item.key if item.kind in ("advisory", "firmware") else f"{item.kind}:{item.key}"
