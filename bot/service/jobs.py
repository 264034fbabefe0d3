"""What the scheduler runs and when: the job plan, built from settings (pure).

One job per enabled source on its ``every`` (plus jitter), delivery of due outbox entries every
``deliver_every``, the digest at ``digest_at`` and lifecycle reminders at ``reminders_at`` in
``[schedule] timezone``, once on every local day (summer time changes included: ``DailyAt``).
Every job has a misfire grace of half its interval and a hard deadline.
Only the leader runs sources, digest and reminders; every worker delivers.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings
from bot.service.daily import DailyAt
from state import Store

if TYPE_CHECKING:
    from bot.sources.fetcher import Fetcher
    from notifiers.delivery import WaitingLog

Kind = Literal["source", "deliver", "digest", "reminders"]
DAY = timedelta(days=1)
MIN_DEADLINE = timedelta(seconds=60)
MAX_DEADLINE = timedelta(hours=1)
DAILY_DEADLINE = timedelta(minutes=30)


@dataclass(frozen=True)
class Work:
    """The bodies of the jobs; the real ones come from :func:`real_work`, tests pass fakes."""

    poll: Callable[[Sequence[str], datetime], object]
    """Run a cycle that polls the named sources (ingest, match, route, enqueue)."""
    deliver: Callable[[datetime], object]
    """Send due outbox entries; may return a report with ``sent``, ``retried``, ``dead``."""
    digest: Callable[[datetime], object]
    """Enqueue the daily (and on Mondays weekly) digests."""
    reminders: Callable[[datetime], object]
    """Re-evaluate lifecycle dates and enqueue stage-change reminders."""


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job."""

    id: str
    kind: Kind
    trigger: Any  # an APScheduler 3 trigger
    interval: timedelta
    deadline: timedelta
    grace: timedelta
    leader_only: bool
    body: Callable[[datetime], object]
    first_run: timedelta | None = None  # after start; None lets the trigger decide
    sources: tuple[str, ...] = ()


def interval_deadline(interval: timedelta) -> timedelta:
    """An interval job's hard deadline: its interval, kept between one minute and one hour."""
    return min(max(interval, MIN_DEADLINE), MAX_DEADLINE)


def grace_for(interval: timedelta) -> timedelta:
    """The misfire grace: about half the interval (at least one second)."""
    return max(interval / 2, timedelta(seconds=1))


def plan_jobs(
    settings: Settings, work: Work, *, rand: Callable[[float, float], float] = random.uniform
) -> list[JobSpec]:
    """The jobs for these settings; ``rand`` staggers the sources' first polls."""
    sched = settings.schedule
    tz = ZoneInfo(sched.timezone)
    specs: list[JobSpec] = []
    for source in settings.sources:
        if not source.enabled:
            continue
        jitter = min(sched.jitter, source.every / 2)
        names = (source.name,)
        specs.append(JobSpec(
            id=f"source:{source.name}", kind="source",
            trigger=IntervalTrigger(seconds=source.every.total_seconds(), timezone=tz,
                                    jitter=int(jitter.total_seconds()) or None),
            interval=source.every, deadline=interval_deadline(source.every),
            grace=grace_for(source.every), leader_only=True,
            body=_bound_poll(work, names),
            first_run=timedelta(seconds=rand(0.0, jitter.total_seconds())), sources=names,
        ))
    every = sched.deliver_every
    specs.append(JobSpec(
        id="deliver", kind="deliver",
        trigger=IntervalTrigger(seconds=every.total_seconds(), timezone=tz), interval=every,
        deadline=interval_deadline(every), grace=grace_for(every), leader_only=False,
        body=work.deliver, first_run=timedelta(0),
    ))
    daily: tuple[tuple[Kind, str, Callable[[datetime], object]], ...] = (
        ("digest", sched.digest_at, work.digest), ("reminders", sched.reminders_at, work.reminders))
    for kind, at, body in daily:
        hour, minute = (int(part) for part in at.split(":"))
        specs.append(JobSpec(
            id=kind, kind=kind,
            trigger=DailyAt(hour, minute, tz), interval=DAY,
            deadline=DAILY_DEADLINE, grace=grace_for(DAY), leader_only=True, body=body,
        ))
    return specs


def _bound_poll(work: Work, names: tuple[str, ...]) -> Callable[[datetime], object]:
    def poll(now: datetime) -> object:
        return work.poll(names, now)

    return poll


def real_work(
    store: Store, settings: Settings, *, fetcher: Fetcher, base: Path, config_name: str,
    environ: Mapping[str, str], worker: str, stop: threading.Event,
) -> Work:
    """The real bodies: :mod:`bot.pipeline` and :mod:`notifiers.delivery`, imported when run."""

    def poll(names: Sequence[str], now: datetime) -> object:
        from bot.pipeline import run_cycle

        return run_cycle(store, settings, now, fetcher=fetcher, base=base,
                         config_name=config_name, only=names, environ=environ)

    waiting: WaitingLog | None = None  # made on the first pass (the imports stay lazy)

    def deliver(now: datetime) -> object:
        nonlocal waiting
        from notifiers.delivery import WaitingLog, deliver_due

        waiting = waiting or WaitingLog()
        report = deliver_due(store, settings, now, worker=worker, environ=environ, stop=stop)
        waiting.note(report)  # the CLI prints the receivers left waiting; a service logs them
        return report

    def digest(now: datetime) -> object:
        from bot.pipeline import run_digest

        return run_digest(store, settings, now)

    def reminders(now: datetime) -> object:
        from bot.pipeline import run_reminders

        return run_reminders(
            store, settings, now, fetcher=fetcher, base=base, config_name=config_name
        )

    return Work(poll=poll, deliver=deliver, digest=digest, reminders=reminders)
