"""One cycle: poll the sources, store what they said, re-evaluate, route and fill the outbox.

Network first, then one unit of work: the sources' health and cursors, the items, the findings,
the outbox entries and the memory of what was alerted commit together or not at all. A dry run
takes the same path and rolls the unit of work back, so it shows exactly what a real run would
send. Delivery is not done here (see ``notifiers.delivery``).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.alertdoc import alert_document, digest_document, finding_record
from bot.catalog import Catalog
from bot.config import Settings
from bot.context import Context
from bot.evaluate import Evaluation, Knowledge, evaluate
from bot.finding import Finding, vendor_model
from bot.fleets import DeviceGroup, declared_fleets
from bot.ingest import store_outcomes, tell_source_health
from bot.items import Item, from_dict
from bot.matching import gc_paused
from bot.precedence import Standing
from bot.resolution import resolutions
from bot.routing import Alert, route
from bot.routingsetup import AlertMemory, routing_for
from bot.slack.subscriptions import with_subscriptions
from bot.sources import DETAIL_PARSERS, PARSERS
from bot.sources.fetcher import Fetcher
from bot.sources.health import SourceHealth
from bot.sources.runner import Cursor, PollOutcome, poll_all
from bot.wiring import build_catalog
from state import FindingData, NewEntry, Store
from state.fleetsync import evaluated, sync_declared_fleets, unevaluated

CYCLE_KEY = "cycle.last"
DIGEST_KEY = "digest.pending"
WEEK_KEY = "digest.week"  # the Monday (ISO date) of the week the last digest run was in


class _Rollback(Exception):
    """Raised inside the unit of work to undo a dry run."""


@dataclass
class CycleReport:
    """What one cycle did, for people (`check`), metrics and `status`."""

    started: datetime
    on: date
    dry_run: bool
    sources: dict[str, str] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=lambda: {"new": 0, "revised": 0})
    findings: dict[str, int] = field(default_factory=lambda: {"open": 0, "resolved": 0})
    alerts: list[dict[str, Any]] = field(default_factory=list)
    enqueued: int = 0
    digested: int = 0
    unrouted: Counter[str] = field(default_factory=Counter)  # fleet -> findings nobody hears of
    unheard: dict[str, str] = field(default_factory=dict)  # unhealthy source -> health, untold
    waiting: dict[str, str] = field(default_factory=dict)  # source not polled -> until (ISO)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the alert documents)."""
        return {
            "started": self.started.isoformat(timespec="seconds"),
            "on": self.on.isoformat(),
            "dry_run": self.dry_run,
            "sources": self.sources,
            "items": self.items,
            "findings": self.findings,
            "alerts": len(self.alerts),
            "enqueued": self.enqueued,
            "digested": self.digested,
            "unrouted": dict(self.unrouted),
            "unheard": dict(self.unheard),
            "waiting": dict(self.waiting),
            "seconds": round(self.seconds, 3),
        }


def local_date(settings: Settings, now: datetime) -> date:
    """Today in the schedule's timezone (stage changes happen on local calendar days)."""
    return now.astimezone(ZoneInfo(settings.schedule.timezone)).date()


def run_cycle(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    fetcher: Fetcher,
    base: Path,
    config_name: str = "bot.toml",
    only: Collection[str] | None = None,
    on: date | None = None,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> CycleReport:
    """Run one cycle; sources' faults end up in their health, never as exceptions."""
    clock = time.perf_counter()
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    report = CycleReport(now, on or local_date(settings, now), dry_run)
    outcomes, before = _poll(store, settings, now, fetcher, only, environ)
    catalog = _catalog(store, settings, base, config_name)
    try:
        # A cycle makes millions of objects without reference cycles at a big estate (findings,
        # their records and stamps, routing's facts): the collector would rescan them over and
        # over; it resumes when the cycle ends.
        with store.transaction(), gc_paused():
            one_at_a_time(store)
            sync_declared_fleets(store, declared_fleets(settings.fleets, config_name))
            settings = with_subscriptions(settings, store)
            ingested = store_outcomes(store, outcomes, now, Standing.of(settings.sources))
            report.sources.update(ingested.lines)
            report.waiting = ingested.waiting
            for change, n in ingested.changes.items():
                report.items[change] += n
            told = tell_source_health(store, settings, outcomes, before, now)
            report.alerts += told.docs
            report.enqueued += told.enqueued
            report.unheard = told.unheard
            seen = unevaluated(store)  # before the groups are read: the cycle evaluates these
            groups = store.fleets.groups()
            evaluation = _evaluate(store, settings, catalog, report.on, groups, now)
            resolved = store_findings(
                store, evaluation, settings.policy.severe_cvss, now, report
            )
            memory = AlertMemory(store)
            routing = routing_for(store, settings, memory, now)
            alerts = route(evaluation.items, routing, now, report.unrouted)
            names = [r.name for r in settings.receivers]
            alerts += resolutions(store, names, evaluation, resolved, routing, memory)
            _dispatch(store, settings, alerts, memory, now, report, RegisteredModels(groups))
            report.seconds = time.perf_counter() - clock
            store.meta.put(CYCLE_KEY, report.to_dict(), now)
            evaluated(store, seen, now)
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    report.seconds = time.perf_counter() - clock
    return report


def one_at_a_time(store: Store) -> None:
    """Wait for cycles and digests in progress, then hold them off until this unit of work ends.

    They overlap on PostgreSQL (two sources' jobs at once, a run past its deadline still going
    when the next starts, an old leader finishing as the new one polls); each reads what the
    others store (items, findings, the alerts held for digests) and writes it back: without
    this, one's writes silently undid another's. TinyDB and SQLite already hold the whole store.
    """
    store.meta.get(CYCLE_KEY, for_update=True)


def _poll(
    store: Store,
    settings: Settings,
    now: datetime,
    fetcher: Fetcher,
    only: Collection[str] | None,
    environ: Mapping[str, str] | None,
) -> tuple[dict[str, PollOutcome], dict[str, SourceHealth]]:
    """Poll the sources; their outcomes, and every stored source's health before the poll."""
    sources = [s for s in settings.sources if only is None or s.name in only]
    states = {s.name: s for s in store.sources.all()}
    cursors = {n: Cursor.from_dict(s.cursor or {}) for n, s in states.items()}
    healths = {n: SourceHealth.from_dict(s.health or {}) for n, s in states.items()}
    outcomes = poll_all(
        sources,
        fetcher,
        cursors,
        healths,
        now,
        parsers=PARSERS,
        detail_parsers=DETAIL_PARSERS,
        environ=os.environ if environ is None else environ,
    )
    return outcomes, healths


def _catalog(store: Store, settings: Settings, base: Path, config_name: str) -> Catalog:
    """bot.toml's dates first, then the catalog imported into the store."""
    return build_catalog(settings, base, config_name, store.catalog.all())


def _evaluate(
    store: Store,
    settings: Settings,
    catalog: Catalog,
    on: date,
    groups: Sequence[DeviceGroup],
    now: datetime,
) -> Evaluation:
    items: list[Item] = [from_dict(dict(s.data)) for s in store.items.all()]
    ctx = Context(catalog, on, settings.policy.severe_cvss)
    last = store.meta.get(CYCLE_KEY)  # stage changes after its day and before `on` went unseen
    return evaluate(Knowledge.of(items), groups, ctx, settings.policy.reminder_days,
                    _unseen_since(settings, last, now))


def _unseen_since(settings: Settings, last: Mapping[str, Any] | None, now: datetime) -> date | None:
    """The first day no cycle has looked at: the day after the last cycle's local day (when it
    ran, not the day it was judged on: `check --on` looks at another day, and one in the past
    must not make stage changes told long ago news again), and never after today."""
    if not last:
        return None
    ran = local_date(settings, datetime.fromisoformat(last["started"]))
    return min(ran, local_date(settings, now)) + timedelta(days=1)


def store_findings(
    store: Store, evaluation: Evaluation, severe_cvss: float, now: datetime, report: CycleReport
) -> set[str]:
    """Store this cycle's findings, resolve the open ones it no longer produces; their items.

    A finding stored open at the same item revision is unchanged (the store would keep it as it
    is): its record is not even worked out. At a large estate nearly every finding is so.
    """
    revisions = {header.key: header.revision for header, _ in evaluation.items}
    stored = store.findings.stamps()
    keys: set[str] = set()
    changed: list[FindingData] = []
    for f in evaluation.findings:
        key = f.key  # the store's finding_key: fleet, device group, item
        keys.add(key)
        revision = revisions[f.item_key]
        if stored.get(key) == (f.item_key, revision, "open"):
            continue
        changed.append(
            FindingData(f.fleet, f.group_key, f.item_key, revision, finding_record(f, severe_cvss))
        )
    store.findings.put_many(changed, now)
    items: set[str] = set()
    for key, old in stored.items():
        if old.state == "open" and key not in keys:  # fixed, upgraded, removed, not matching
            store.findings.set_state(key, "resolved", now)
            report.findings["resolved"] += 1
            items.add(old.item_key)
    report.findings["open"] = len(keys)
    return items


def _dispatch(
    store: Store,
    settings: Settings,
    alerts: list[Alert],
    memory: AlertMemory,
    now: datetime,
    report: CycleReport,
    models: RegisteredModels,
) -> None:
    """Enqueue immediate alerts, park digest ones, and remember both.

    An item is listed once per receiver, as it is now: an alert about an item still held for a
    digest replaces it there, and one sent at once takes it out; a resolution of an item the
    receiver has not yet heard of (still held) waits in its place.
    """
    severe = settings.policy.severe_cvss
    pending: dict[str, dict[str, list[dict[str, Any]]]] = store.meta.get(DIGEST_KEY) or {}
    unheld = False
    told: list[Alert] = []
    queued: list[NewEntry] = []
    for alert in alerts:
        periods = pending.get(alert.receiver, {})
        # the receiver's alerts about this item still held for a digest, with their digest
        held_now = [(period, d) for period, held in periods.items() for d in held
                    if d["item"]["key"] == alert.item.key]
        if alert.resolved and not alert.digest:  # waits where the item is held, if it is
            alert = replace(alert, digest=held_now[0][0] if held_now else None)
        replaced = [d for _, d in held_now]
        if replaced and not alert.resolved:
            alert = replace(alert, changes=_since_told(replaced, alert.changes))
        if not alert.digest:
            alert = _unsent(store, alert, memory)
        doc = alert_document(alert, now, severe, models)
        report.alerts.append(doc)
        if held_now:  # listed once per receiver: this alert takes the held one's place
            unheld = True
            for held in periods.values():
                held[:] = [d for d in held if d["item"]["key"] != alert.item.key]
        if alert.digest:
            pending.setdefault(alert.receiver, {}).setdefault(alert.digest, []).append(doc)
            report.digested += 1
        else:
            queued.append(NewEntry(alert.receiver, alert.dedupe_key, doc, alert.id))
        told.append(alert)
    # One write for the cycle's alerts (thousands at a big estate's first cycle), in order.
    report.enqueued += sum(1 for made in store.outbox.enqueue_many(queued, now) if made)
    memory.remember(*told, now=now)
    if report.digested or unheld:
        left = {r: {p: held for p, held in ps.items() if held} for r, ps in pending.items()}
        store.meta.put(DIGEST_KEY, {r: ps for r, ps in left.items() if ps}, now)


def _since_told(
    replaced: Sequence[Mapping[str, Any]], changes: Sequence[str]
) -> tuple[str, ...]:
    """What changed since the receiver last heard of an item whose alert is still held for a
    digest (and is replaced): the held alert's changes, then these; nothing when the held one
    was its first alert of the item (it never heard of what these changed from)."""
    if any(not d["changes"] and not d.get("resolved") for d in replaced):
        return ()
    return tuple(dict.fromkeys([c for d in replaced for c in d["changes"]] + list(changes)))


class RegisteredModels:
    """Findings' models as their device groups' fleets registered them (`alert_document`'s
    ``models``), from the cycle's device groups, read when an alert first asks: an unchanged
    cycle alerts nothing and reads none."""

    def __init__(self, groups: Sequence[DeviceGroup]) -> None:
        self._groups = groups
        self._written: dict[str, str] | None = None  # group key -> model as registered

    def __call__(self, f: Finding) -> str:
        if self._written is None:
            self._written = {g.key: g.model_as_written for g in self._groups}
        return self._written.get(f.group_key) or vendor_model(f)


def _unsent(store: Store, alert: Alert, memory: AlertMemory) -> Alert:
    """The alert with a dedupe key the outbox has not seen, when it follows an earlier alert.

    Routing lets through only facts that differ from the last ones alerted, so a key already in
    the outbox then means the same facts came back (affected, resolved, affected again): news
    to send, not a duplicate to drop. Without an earlier alert (a ticket opened from Slack under
    the key routing would give) the key is kept and the outbox drops the copy.
    """
    if (alert.receiver, alert.item.key) not in memory:
        return alert
    while store.outbox.find(alert.receiver, alert.dedupe_key) is not None:
        alert = replace(alert, occurrence=alert.occurrence + 1)
    return alert


def run_reminders(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    fetcher: Fetcher,
    base: Path,
    config_name: str = "bot.toml",
) -> CycleReport:
    """A cycle that polls nothing: re-evaluates stored items and lifecycle dates on today."""
    return run_cycle(
        store, settings, now, fetcher=fetcher, base=base, config_name=config_name, only=()
    )


def run_digest(store: Store, settings: Settings, now: datetime) -> int:
    """Enqueue one summary per receiver of the alerts digest routes held; weekly ones on Mondays
    (and at the first run after a Monday with no run: alerts held that week wait no more).

    Returns how many digests were enqueued.
    """
    today = local_date(settings, now)
    monday = today - timedelta(days=today.weekday())
    week: str | None = None  # the Monday of the week the last run was in

    def due(period: str, held: list[dict[str, Any]]) -> bool:
        if period == "daily" or today == monday:
            return True
        if week is not None:  # no run since before this Monday: Monday's did not go out
            return date.fromisoformat(week) < monday
        return any(  # before the first run that remembers: held since before Monday
            local_date(settings, datetime.fromisoformat(d["created_at"])) < monday for d in held
        )

    sent = 0
    with store.transaction():
        one_at_a_time(store)
        week = store.meta.get(WEEK_KEY)
        pending: dict[str, dict[str, list[dict[str, Any]]]] = store.meta.get(DIGEST_KEY) or {}
        for receiver, periods in pending.items():
            for period in [p for p, held in periods.items() if due(p, held)]:
                doc = digest_document(receiver, period, periods.pop(period), now, today)
                if store.outbox.enqueue(receiver, doc["dedupe_key"], doc, now, alert_id=doc["id"]):
                    sent += 1
        store.meta.put(DIGEST_KEY, {r: p for r, p in pending.items() if p}, now)
        store.meta.put(WEEK_KEY, max(monday.isoformat(), week or ""), now)
    return sent
