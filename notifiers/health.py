"""Receivers' health, kept in ``store.meta``: disabled (410, or failing 5 days), paused, failing.

- ``receivers.disabled``: ``{name: {"reason", "since"}}``; the worker leaves their entries
  pending until ``firmwatch outbox enable NAME``.
- ``receivers.paused``: ``{name: until}`` after a ``Retry-After``; the receiver waits as a whole.
- ``receivers.failing``: ``{name: since}``, the first failure since the last success.

A receiver that is disabled is announced to the Slack receivers of the fleets that use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.alertdoc import SCHEMA
from bot.config import Settings
from state import Store
from state.records import from_text, to_text

DISABLED, PAUSED, FAILING = "receivers.disabled", "receivers.paused", "receivers.failing"
FAILING_FOR = timedelta(days=5)


@dataclass
class ReceiverRun:
    """What one delivery pass saw of one receiver."""

    name: str
    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    first_failure: datetime | None = None
    gone: str | None = None
    pause_until: datetime | None = None
    stalled: str | None = None  # why this pass stopped trying it (not kept: the next pass tries)


def disabled(store: Store) -> dict[str, dict[str, str]]:
    """Disabled receivers with their reason and since when."""
    value: dict[str, dict[str, str]] = store.meta.get(DISABLED) or {}
    return value


def paused(store: Store, now: datetime) -> dict[str, datetime]:
    """Receivers waiting for a ``Retry-After`` to pass at ``now``."""
    value: dict[str, str] = store.meta.get(PAUSED) or {}
    return {k: when for k, v in value.items() if (when := from_text(v)) > now}


def unconfigured(store: Store, known: Collection[str]) -> dict[str, str]:
    """Receivers with unsent entries that are not ``known`` (renamed or removed in bot.toml, a
    channel unsubscribed), with what that means: nothing can send their alerts."""
    out = {}
    for name, n in sorted(store.outbox.unsent_by_receiver().items()):
        if name not in known:
            out[name] = (f"no receiver named {name!r} in bot.toml or among the channels"
                         f" subscribed in Slack; its {n} alert{'s wait' if n != 1 else ' waits'}"
                         " until one is")
    return out


def disable(store: Store, name: str, reason: str, now: datetime) -> bool:
    """Switch a receiver off; False when it was off already."""
    off = disabled(store)
    if name in off:
        return False
    store.meta.put(DISABLED, {**off, name: {"reason": reason, "since": to_text(now)}}, now)
    return True


def enable(store: Store, name: str, now: datetime) -> tuple[bool, int]:
    """Switch a receiver back on and make its waiting entries due now with attempts reset."""
    with store.transaction():
        was = False
        for key in (DISABLED, PAUSED, FAILING):
            value = store.meta.get(key) or {}
            if value.pop(name, None) is not None:
                was = was or key == DISABLED
                store.meta.put(key, value, now)
        waiting = store.outbox.all(statuses=("pending", "retrying"), receiver=name)
        for entry in waiting:
            store.outbox.replay(entry.id, now)
    return was, len(waiting)


def apply(store: Store, settings: Settings, runs: list[ReceiverRun], now: datetime) -> list[str]:
    """Record a pass's pauses, failures and disablements; the receivers newly disabled."""
    pauses: dict[str, str] = store.meta.get(PAUSED) or {}
    failing: dict[str, str] = store.meta.get(FAILING) or {}
    before = (dict(pauses), dict(failing))
    newly: list[str] = []
    for run in runs:
        if run.pause_until is not None:
            pauses[run.name] = to_text(run.pause_until)
        if run.sent:
            failing.pop(run.name, None)
        elif run.first_failure is not None:
            failing.setdefault(run.name, to_text(run.first_failure))
        reason = run.gone
        since = failing.get(run.name)
        if reason is None and since and now - from_text(since) >= FAILING_FOR:
            reason = f"every delivery failed for 5 days (since {since[:16].replace('T', ' ')} UTC)"
        if reason and disable(store, run.name, reason, now):
            newly.append(run.name)
            announce(store, settings, run.name, reason, now)
    pauses = {k: v for k, v in pauses.items() if from_text(v) > now}
    if pauses != before[0]:
        store.meta.put(PAUSED, pauses, now)
    if failing != before[1]:
        store.meta.put(FAILING, failing, now)
    return newly


def announce(store: Store, settings: Settings, name: str, reason: str, now: datetime) -> list[str]:
    """Tell the Slack receivers of the fleets that use ``name`` that it was disabled."""
    slack = {r.name for r in settings.receivers if r.type == "slack"} - {name}
    fleets = [tuple(f.receivers) for f in settings.fleets]
    fleets += [f.receivers for f in store.fleets.all()]
    told = sorted({r for receivers in fleets if name in receivers for r in receivers if r in slack})
    for receiver in told:
        doc = notice_document(receiver, name, reason, now)
        store.outbox.enqueue(receiver, doc["dedupe_key"], doc, now, alert_id=doc["id"])
    return told


def notice_document(to: str, name: str, reason: str, now: datetime) -> dict[str, Any]:
    """An alert-shaped notice (kind ``notice``, no findings) that a receiver was disabled."""
    stamp = now.isoformat(timespec="seconds")
    dedupe = f"{to}|notice:disabled:{name}|{stamp}"
    return {
        "schema": SCHEMA,
        "id": "fw_" + hashlib.sha256(dedupe.encode()).hexdigest()[:24],
        "dedupe_key": dedupe,
        "kind": "notice",
        "severity": "none",
        "score": None,
        "cvss_version": None,
        "kev": None,
        "receivers": [to],
        "digest": None,
        "created_at": stamp,
        "item": {
            "key": f"notice:disabled:{name}",
            "id": name,
            "kind": "notice",
            "title": f"Receiver {name} was disabled",
            "url": "",
            "revision": stamp,
        },
        "changes": [],
        "summary": f"firmwatch stopped delivering to {name}: {reason}. Its alerts wait in the"
        f" outbox; fix the endpoint, then run `firmwatch outbox enable {name}`.",
        "totals": {"fleets": 0, "device_groups": 0, "devices": 0},
        "findings": [],
    }
