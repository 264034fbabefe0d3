"""Source-health notices: the source receivers are told once when a source becomes unhealthy and
once when it recovers (pure).

A source is unhealthy once it has failed ``[policy] source_failures`` polls in a row. What each
receiver was told is remembered per source (``Noticed``: the failing streak's start), so re-running
a cycle tells nobody again; a document's dedupe key also names the streak, so the outbox would drop
a copy anyway. A notice is an alert document of kind ``source`` with no findings and a ``source``
object; the recovery is about the same item (``source:NAME``) with ``"resolved": true``, so a
PagerDuty incident opened by the notice is resolved and a Slack message gets its reply.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.alertdoc import SCHEMA
from bot.sources.health import SourceHealth, unhealthy

KIND = "source"
# receiver -> source name -> what was told: {"since", "failures", "kind", "format", "alert_id"}
Noticed = dict[str, dict[str, dict[str, Any]]]

WHAT = {
    "advisory": "new and revised advisories",
    "firmware": "firmware releases",
    "scores": "CVSS scores",
    "exploited": "CISA KEV listings",
}
_QUERY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#]*)[?#][^\s]*", re.IGNORECASE)


@dataclass(frozen=True)
class SourceView:
    """One configured source: its health now and before this cycle's poll (the same when it
    was not polled); ``watched`` is False once it is disabled or no longer configured."""

    name: str
    kind: str
    format: str
    health: SourceHealth
    before: SourceHealth
    watched: bool = True


def notices(
    sources: Sequence[SourceView],
    receivers: Sequence[str],
    failures: int,
    noticed: Mapping[str, Mapping[str, Mapping[str, Any]]],
    now: datetime,
) -> tuple[list[dict[str, Any]], Noticed]:
    """The documents to enqueue now (a transition each), and what is told afterwards.

    A source still failing below a threshold raised since it was noticed stays noticed: it has
    not recovered. A receiver no longer among ``receivers`` is forgotten without a word.
    """
    docs: list[dict[str, Any]] = []
    after: Noticed = {}
    names = {s.name for s in sources}
    for receiver in dict.fromkeys(receivers):
        was = noticed.get(receiver) or {}
        told: dict[str, dict[str, Any]] = {}
        for s in sources:
            prev = was.get(s.name)
            if s.watched and unhealthy(s.health, failures):
                since = _iso(s.health.failing_since or s.health.last_attempt)
                if prev is not None and prev.get("since") == since:
                    told[s.name] = dict(prev)
                    continue
                doc = failing_document(receiver, s, now)
                docs.append(doc)
                told[s.name] = {
                    "since": since,
                    "failures": s.health.consecutive_failures,
                    "kind": s.kind,
                    "format": s.format,
                    "alert_id": doc["id"],
                }
            elif prev is not None and s.watched and s.health.consecutive_failures:
                told[s.name] = dict(prev)
            elif prev is not None:
                docs.append(recovered_document(receiver, s, prev, now))
        for name, prev in was.items():
            if name not in names:  # removed from bot.toml while it was failing
                gone = SourceView(name, str(prev.get("kind") or ""), str(prev.get("format") or ""),
                                  SourceHealth(), SourceHealth(), watched=False)
                docs.append(recovered_document(receiver, gone, prev, now))
        if told:
            after[receiver] = told
    return docs, after


def untold_warning(name: str, status: str) -> str:
    """The line ``check`` and ``sources`` print for an unhealthy source when no receiver is told."""
    return (
        f"warning: source {name} is unhealthy ({status}); no receiver is told (name receivers"
        " in [policy] source_receivers)"
    )


def failing_document(receiver: str, s: SourceView, now: datetime) -> dict[str, Any]:
    """The notice that ``s`` is unhealthy: since when, how many failures, the last error, and
    what to do."""
    h = s.health
    since = h.failing_since or h.last_attempt or now
    error = scrubbed(h.last_error) or "unknown error"
    what = WHAT.get(s.kind, "items")
    summary = (
        f"Source {s.name} has failed {_polls(h.consecutive_failures)} in a row since"
        f" {_shown(since)}: {error}. Until it recovers firmwatch hears of no {what} from it,"
        f" so alerts may be missing. `firmwatch fetch {s.name}` tries it now and says why it"
        f" fails, `firmwatch sources` shows its health: check its URL, the network and"
        f" [network] allow_hosts, and any API key it needs."
    )
    facts = _facts(s, "failing", since, h.consecutive_failures, h.last_error, h.last_status)
    return _document(receiver, s.name, "failing", f"Source {s.name} is failing", summary, facts,
                     now)


def recovered_document(
    receiver: str, s: SourceView, prev: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The resolution of a notice: ``s`` works again, or is no longer watched."""
    since = _time(prev.get("since")) or s.before.failing_since or now
    n = s.before.consecutive_failures or int(prev.get("failures") or 0)
    error = s.before.last_error or s.health.last_error
    streak = f"{_polls(n, 'failed ')} since {_shown(since)}"
    if s.watched:
        state, title = "recovered", f"Source {s.name} recovered"
        worked = s.health.last_success or s.health.last_attempt or now
        summary = (
            f"Source {s.name} recovered: a poll worked at {_shown(worked)} after {streak}."
            f" firmwatch reads it again."
        )
    else:
        state, title = "not-watched", f"Source {s.name} is no longer watched"
        summary = (
            f"Source {s.name} is no longer watched (disabled or removed from bot.toml) after"
            f" {streak}; nothing more will be said about it."
        )
    facts = _facts(s, state, since, n, error, s.health.last_status if s.watched else None)
    doc = _document(receiver, s.name, state, title, summary, facts, now, since=since)
    return {**doc, "resolved": True, "resolution": state}


def scrubbed(text: str | None) -> str | None:
    """An error as shown to receivers: URLs lose their query and fragment (where keys go)."""
    return _QUERY.sub(r"\1?…", text) if text else text


def _facts(
    s: SourceView,
    state: str,
    since: datetime,
    failures: int,
    error: str | None,
    status: int | None,
) -> dict[str, Any]:
    return {
        "name": s.name,
        "kind": s.kind,
        "format": s.format,
        "state": state,
        "failing_since": _iso(since),
        "failures": failures,
        "last_error": scrubbed(error),
        "last_status": status,
        "last_success": _iso(s.health.last_success),
        "last_attempt": _iso(s.health.last_attempt),
    }


def _document(
    receiver: str,
    name: str,
    state: str,
    title: str,
    summary: str,
    facts: dict[str, Any],
    now: datetime,
    *,
    since: datetime | None = None,
) -> dict[str, Any]:
    key = f"{KIND}:{name}"
    streak = facts["failing_since"] if since is None else _iso(since)
    dedupe = f"{receiver}|{key}|{state}:{streak}"
    return {
        "schema": SCHEMA,
        "id": "fw_" + hashlib.sha256(dedupe.encode()).hexdigest()[:24],
        "dedupe_key": dedupe,
        "kind": KIND,
        "severity": "none",
        "score": None,
        "cvss_version": None,
        "kev": None,
        "receivers": [receiver],
        "digest": None,
        "created_at": now.isoformat(timespec="seconds"),
        "item": {
            "key": key,
            "id": name,
            "kind": KIND,
            "title": title,
            "url": "",
            "revision": streak or "",
        },
        "changes": [],
        "summary": summary,
        "totals": {"fleets": 0, "device_groups": 0, "devices": 0},
        "findings": [],
        "source": facts,
    }


def _polls(n: int, adjective: str = "") -> str:
    return f"{n} {adjective}poll" if n == 1 else f"{n} {adjective}polls"


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
