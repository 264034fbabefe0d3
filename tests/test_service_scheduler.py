"""The scheduler: the job plan, hard deadlines, the job book, leader gating, misses and failures.

Time is injected (a fixed clock for bodies and records); waits are on events the jobs set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings, parse
from bot.service.deadline import DeadlineRunner, JobInterrupted, JobStuck, JobTimeout
from bot.service.jobbook import JOBS_KEY, LEADER_KEY, JobBook
from bot.service.jobs import JobSpec, Work, plan_jobs
from bot.service.metrics import Metrics
from bot.service.scheduler import Scheduler
from notifiers.health import DISABLED
from state import Store, StoreError, open_store

T0 = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)  # 08:30 in Berlin
WAIT = 10.0  # seconds an event may take before the test fails (never a timing assertion)

SETTINGS = parse("""
[[sources]]
name = "feed"
kind = "advisory"
format = "feed"
url = "file:///tmp/feed.xml"
every = "30m"

[[sources]]
name = "fast"
kind = "exploited"
format = "kev-json"
url = "file:///tmp/kev.json"
every = "60s"

[[sources]]
name = "off"
kind = "exploited"
format = "kev-json"
url = "file:///tmp/kev2.json"
enabled = false

[schedule]
timezone = "Europe/Berlin"
deliver_every = "30s"
digest_at = "09:00"
reminders_at = "08:00"
jitter = "60s"
""", "t.toml")


@dataclass
class Report:
    """What a delivery pass reports."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


class Calls:
    """Fake job bodies that record their calls and signal them."""

    def __init__(self) -> None:
        self.polled: list[tuple[tuple[str, ...], datetime]] = []
        self.delivered = threading.Event()
        self.polled_event = threading.Event()
        self.fail_poll = False

    def work(self) -> Work:
        def poll(names: object, now: datetime) -> None:
            self.polled.append((tuple(names), now))  # type: ignore[arg-type]
            self.polled_event.set()
            if self.fail_poll:
                raise RuntimeError("feed is down")

        def deliver(now: datetime) -> Report:
            self.delivered.set()
            return Report(sent=2, dead=1)

        return Work(poll=poll, deliver=deliver, digest=lambda now: 0, reminders=lambda now: 0)


class SignalBook(JobBook):
    """A job book that signals each record (tests wait on it, not on the clock)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, "test:1")
        self.events: dict[str, threading.Event] = {}
        self.guard = threading.Lock()

    def event(self, job: str) -> threading.Event:
        with self.guard:
            return self.events.setdefault(job, threading.Event())

    def finished(
        self, job: str, started: datetime, now: datetime, error: str | None, *,
        seconds: float | None = None,
    ) -> None:
        super().finished(job, started, now, error, seconds=seconds)
        self.event(job).set()

    def missed(self, job: str, scheduled: datetime, now: datetime, reason: str) -> None:
        super().missed(job, scheduled, now, reason)
        self.event(job).set()


class FakeLeader:
    """A leader lock whose answers the test scripts."""

    name = "scheduler"

    def __init__(self, answer: bool | StoreError) -> None:
        self.answer = answer
        self.held = False
        self.released = 0

    def acquire(self) -> bool:
        if isinstance(self.answer, StoreError):
            self.held = False
            raise self.answer
        self.held = self.answer
        return self.answer

    def release(self) -> None:
        self.released += 1
        self.held = False


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Store]:
    """A TinyDB store."""
    with open_store(f"tinydb:///{tmp_path / 'state.json'}") as store:
        yield store


def _scheduler(store: Store, specs: list[JobSpec], leader: FakeLeader | None = None,
               metrics: Metrics | None = None) -> tuple[Scheduler, SignalBook, Metrics]:
    book, metrics = SignalBook(store), metrics or Metrics(store)
    return Scheduler(specs, store=store, metrics=metrics, book=book, leader=leader,
                     timezone="Europe/Berlin", clock=lambda: T0), book, metrics


def _ran_once(scheduler: Scheduler, book: SignalBook, job: str) -> None:
    """Start the scheduler, wait for the job's first run to be recorded, stop it."""
    scheduler.start()
    try:
        assert book.event(job).wait(WAIT)
    finally:
        scheduler.stop(WAIT)


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


# --- the plan -----------------------------------------------------------------------------------


def test_plan_has_one_job_per_enabled_source_and_the_fixed_jobs() -> None:
    specs = {s.id: s for s in plan_jobs(SETTINGS, Calls().work(), rand=lambda a, b: b)}
    assert sorted(specs) == ["deliver", "digest", "reminders", "source:fast", "source:feed"]
    feed, fast, deliver = specs["source:feed"], specs["source:fast"], specs["deliver"]
    assert feed.leader_only and specs["digest"].leader_only and specs["reminders"].leader_only
    assert not deliver.leader_only
    assert feed.grace == timedelta(minutes=15) and deliver.grace == timedelta(seconds=15)
    assert specs["digest"].grace == timedelta(hours=12)
    assert feed.deadline == timedelta(minutes=30)
    assert deliver.deadline == timedelta(seconds=60), "deadlines are at least a minute"
    assert specs["digest"].deadline == timedelta(minutes=30)
    assert feed.trigger.jitter == 60 and feed.first_run == timedelta(seconds=60)
    assert fast.trigger.jitter == 30, "jitter is at most half the interval"
    assert fast.first_run == timedelta(seconds=30)
    assert deliver.first_run == timedelta(0) and specs["digest"].first_run is None
    assert feed.trigger.interval == timedelta(minutes=30)


def test_daily_jobs_fire_at_local_times() -> None:
    specs = {s.id: s for s in plan_jobs(SETTINGS, Calls().work())}
    digest = specs["digest"].trigger.get_next_fire_time(None, T0)
    reminders = specs["reminders"].trigger.get_next_fire_time(None, T0)
    assert digest.astimezone(UTC) == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert reminders.astimezone(UTC) == datetime(2026, 3, 2, 7, 0, tzinfo=UTC), "08:00 passed"


def test_source_bodies_poll_only_their_source() -> None:
    calls = Calls()
    specs = {s.id: s for s in plan_jobs(SETTINGS, calls.work())}
    specs["source:feed"].body(T0)
    assert calls.polled == [(("feed",), T0)]


def test_no_sources_still_plans_delivery_digest_and_reminders() -> None:
    assert [s.id for s in plan_jobs(Settings(), Calls().work())] == [
        "deliver", "digest", "reminders"]


# --- deadlines ----------------------------------------------------------------------------------


def test_a_body_returns_its_value_or_raises_its_error() -> None:
    runner = DeadlineRunner()
    assert runner.run("a", lambda: 42, 5) == 42

    def broken() -> None:
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        runner.run("a", broken, 5)
    assert runner.in_flight == 0


def test_a_hung_body_times_out_and_cannot_pile_up() -> None:
    runner, release = DeadlineRunner(max_abandoned=2), threading.Event()
    for _ in range(2):
        with pytest.raises(JobTimeout, match="deadline"):
            runner.run("hung", release.wait, 0.01)
    with pytest.raises(JobStuck, match="2 earlier run"):
        runner.run("hung", release.wait, 0.01)
    assert runner.run("other", lambda: "ok", 5) == "ok", "other jobs are not blocked"
    assert runner.in_flight == 2
    release.set()
    assert runner.wait_idle(WAIT) and runner.in_flight == 0
    assert runner.run("hung", lambda: "again", 5) == "again"


def test_abort_stops_the_waiting_at_once() -> None:
    runner, release, errors = DeadlineRunner(), threading.Event(), []
    started = threading.Event()

    def body() -> None:
        started.set()
        release.wait()

    def wait_for_it() -> None:
        try:
            runner.run("slow", body, 3600)
        except JobInterrupted as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert started.wait(WAIT)
    assert not runner.wait_idle(0.01)
    runner.abort()
    waiter.join(WAIT)
    assert len(errors) == 1 and not waiter.is_alive()
    with pytest.raises(JobInterrupted):
        runner.run("new", lambda: None, 1)
    release.set()


# --- the job book -------------------------------------------------------------------------------


def test_the_book_writes_failures_at_once_and_frequent_successes_now_and_then(tiny: Store) -> None:
    book = JobBook(tiny, "w:1", flush_every=timedelta(minutes=5))
    book.finished("deliver", T0, T0 + timedelta(seconds=2), None)
    record = tiny.meta.get(JOBS_KEY)["deliver"]
    assert record["runs"] == 1 and record["last_ok"] == (T0 + timedelta(seconds=2)).isoformat()
    assert record["last_duration_ms"] == 2000 and record["worker"] == "w:1"
    book.finished("deliver", T0 + timedelta(seconds=30), T0 + timedelta(seconds=31), None)
    assert tiny.meta.get(JOBS_KEY)["deliver"]["runs"] == 1, "an unchanged success waits"
    book.finished("deliver", T0 + timedelta(seconds=60), T0 + timedelta(seconds=61), "Boom: x")
    record = tiny.meta.get(JOBS_KEY)["deliver"]
    assert record["runs"] == 3 and record["failures"] == 1 and record["consecutive_failures"] == 1
    assert record["last_error"] == "Boom: x"
    later = T0 + timedelta(minutes=10)
    book.finished("deliver", later, later, None)
    record = tiny.meta.get(JOBS_KEY)["deliver"]
    assert record["runs"] == 4 and record["consecutive_failures"] == 0
    book.missed("digest", T0, later, "missed its start time by more than the grace")
    assert tiny.meta.get(JOBS_KEY)["digest"]["misses"] == 1


def test_counts_add_up_across_processes_and_restarts(tiny: Store) -> None:
    JobBook(tiny, "a:1").finished("source:nvd", T0, T0, "Timeout")
    JobBook(tiny, "b:2").finished("source:nvd", T0, T0, "Timeout")
    record = tiny.meta.get(JOBS_KEY)["source:nvd"]
    assert record["runs"] == 2 and record["consecutive_failures"] == 2
    assert record["worker"] == "b:2"


def test_the_book_records_the_leader(tiny: Store) -> None:
    book = JobBook(tiny, "w:1")
    book.record_leader(T0, True)
    assert tiny.meta.get(LEADER_KEY) == {"worker": "w:1", "since": T0.isoformat()}
    JobBook(tiny, "other:2").record_leader(T0, False)
    assert tiny.meta.get(LEADER_KEY)["worker"] == "w:1", "only the leader itself clears it"
    book.record_leader(T0, False)
    assert tiny.meta.get(LEADER_KEY) is None


# --- the scheduler ------------------------------------------------------------------------------


def test_jobs_run_and_their_outcomes_are_recorded(tiny: Store) -> None:
    calls = Calls()
    specs = plan_jobs(SETTINGS, calls.work(), rand=lambda a, b: 0.0)
    scheduler, book, metrics = _scheduler(tiny, specs)
    scheduler.start()
    try:
        assert book.event("deliver").wait(WAIT) and book.event("source:feed").wait(WAIT)
    finally:
        assert scheduler.stop(WAIT)
    jobs = tiny.meta.get(JOBS_KEY)
    assert jobs["deliver"]["runs"] >= 1 and jobs["deliver"]["last_ok"] == T0.isoformat()
    assert jobs["source:feed"]["consecutive_failures"] == 0
    assert (("feed",), T0) in calls.polled
    assert _sample(metrics, "firmwatch_job_runs_total", job="deliver", outcome="ok") >= 1
    assert _sample(metrics, "firmwatch_deliveries_total", outcome="sent") >= 2
    assert _sample(metrics, "firmwatch_deliveries_total", outcome="dead") >= 1
    assert _sample(metrics, "firmwatch_cycles_total", outcome="ok") >= 1
    assert _sample(metrics, "firmwatch_scheduler_job_consecutive_failures", job="deliver") == 0
    assert tiny.meta.get(LEADER_KEY) is None, "a stopped scheduler gives up the lead"


def test_a_failing_job_is_logged_counted_and_booked(
    tiny: Store, caplog: pytest.LogCaptureFixture
) -> None:
    calls = Calls()
    calls.fail_poll = True
    specs = [s for s in plan_jobs(SETTINGS, calls.work(), rand=lambda a, b: 0.0)
             if s.id == "source:feed"]
    scheduler, book, metrics = _scheduler(tiny, specs)
    _ran_once(scheduler, book, "source:feed")
    record = tiny.meta.get(JOBS_KEY)["source:feed"]
    assert record["failures"] == 1 and record["last_error"] == "RuntimeError: feed is down"
    assert _sample(metrics, "firmwatch_job_failures_total", job="source:feed") == 1
    assert _sample(metrics, "firmwatch_cycles_total", outcome="failed") == 1
    assert any(r.message == "job failed" and getattr(r, "job", "") == "source:feed"
               for r in caplog.records)


def test_a_job_past_its_deadline_is_a_timeout_and_later_runs_go_on(tiny: Store) -> None:
    release = threading.Event()
    spec = JobSpec(id="hung", kind="digest", trigger=DateTrigger(run_date=datetime.now(UTC)),
                   interval=timedelta(hours=1), deadline=timedelta(milliseconds=20),
                   grace=timedelta(minutes=30), leader_only=False,
                   body=lambda now: release.wait(), first_run=timedelta(0))
    scheduler, book, metrics = _scheduler(tiny, [spec])
    scheduler.start()
    try:
        assert book.event("hung").wait(WAIT)
    finally:
        release.set()
        scheduler.stop(WAIT)
    record = tiny.meta.get(JOBS_KEY)["hung"]
    assert record["last_error"].startswith("JobTimeout: hung: passed its deadline")
    assert _sample(metrics, "firmwatch_job_runs_total", job="hung", outcome="timeout") == 1


def test_a_missed_run_is_logged_counted_and_booked(tiny: Store) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    ran = threading.Event()
    spec = JobSpec(id="late", kind="digest", trigger=DateTrigger(run_date=past),
                   interval=timedelta(hours=1), deadline=timedelta(minutes=1),
                   grace=timedelta(seconds=1), leader_only=False,
                   body=lambda now: ran.set())
    scheduler, book, metrics = _scheduler(tiny, [spec])
    scheduler.start()
    try:
        assert book.event("late").wait(WAIT)
    finally:
        scheduler.stop(WAIT)
    assert not ran.is_set()
    record = tiny.meta.get(JOBS_KEY)["late"]
    assert record["misses"] == 1 and "grace" in record["last_miss_reason"]
    assert _sample(metrics, "firmwatch_job_misses_total", job="late") == 1


def test_only_the_leader_runs_leader_jobs_and_a_standby_takes_over(tiny: Store) -> None:
    leader = FakeLeader(False)
    specs = plan_jobs(SETTINGS, Calls().work())
    scheduler, _, metrics = _scheduler(tiny, specs, leader)
    scheduler.start()
    try:
        assert scheduler.job_ids() == ["deliver"] and not scheduler.leading
        assert _sample(metrics, "firmwatch_scheduler_leader") == 0
        leader.answer = True
        assert scheduler.check_leader()
        assert scheduler.job_ids() == ["deliver", "digest", "reminders", "source:fast",
                                       "source:feed"]
        assert _sample(metrics, "firmwatch_scheduler_leader") == 1
        assert tiny.meta.get(LEADER_KEY)["worker"] == "test:1"
        leader.answer = StoreError("database is down")
        assert not scheduler.check_leader()
        assert scheduler.job_ids() == ["deliver"], "a lost lock removes the leader's jobs"
        assert tiny.meta.get(LEADER_KEY) is None
        leader.answer = True
        assert scheduler.check_leader()
    finally:
        scheduler.stop(WAIT)
    assert leader.released == 1 and not scheduler.leading


def test_stop_abandons_a_run_that_outlives_the_wait(tiny: Store) -> None:
    release, started = threading.Event(), threading.Event()

    def body(now: datetime) -> None:
        started.set()
        release.wait()

    spec = JobSpec(id="slow", kind="deliver", trigger=IntervalTrigger(hours=1),
                   interval=timedelta(hours=1), deadline=timedelta(hours=1),
                   grace=timedelta(minutes=30), leader_only=False, body=body,
                   first_run=timedelta(0))
    scheduler, _, _ = _scheduler(tiny, [spec])
    scheduler.start()
    try:
        assert started.wait(WAIT)
        assert not scheduler.stop(0.05), "the run outlived the wait and was abandoned"
    finally:
        release.set()
    assert scheduler.runner.wait_idle(WAIT)


def test_store_gauges_are_read_at_scrape_time(tiny: Store) -> None:
    metrics = Metrics(tiny)
    assert _sample(metrics, "firmwatch_outbox_entries", status="pending") == 0
    tiny.outbox.enqueue("ops", "k1", {"x": 1}, T0)
    tiny.sources.put_health("nvd", {"consecutive_failures": 3,
                                    "last_success": T0.isoformat()}, T0)
    assert _sample(metrics, "firmwatch_outbox_entries", status="pending") == 1
    assert _sample(metrics, "firmwatch_source_consecutive_failures", source="nvd") == 3
    assert _sample(metrics, "firmwatch_source_last_success_timestamp_seconds",
                   source="nvd") == T0.timestamp()
    assert _sample(metrics, "firmwatch_store_up") == 1


def test_a_disabled_receiver_shows_in_the_metrics(tiny: Store) -> None:
    """Its entries wait as pending: without a gauge, no documented alert would fire."""
    metrics = Metrics(tiny)
    assert _sample(metrics, "firmwatch_receiver_disabled", receiver="pager") == 0
    tiny.meta.put(DISABLED, {"pager": {"reason": "HTTP 410", "since": T0.isoformat()}}, T0)
    assert _sample(metrics, "firmwatch_receiver_disabled", receiver="pager") == 1


def test_a_store_that_does_not_answer_shows_as_down() -> None:
    class Outbox:
        def counts(self) -> None:
            raise StoreError("database is down")

    class Broken:
        outbox = Outbox()

    metrics = Metrics(Broken())  # type: ignore[arg-type]
    assert _sample(metrics, "firmwatch_store_up") == 0
    assert _sample(metrics, "firmwatch_outbox_entries", status="pending") == 0


def test_a_clock_stepped_back_during_a_run_records_no_negative_duration(tiny: Store) -> None:
    """NTP stepping the wall clock back an hour while a cycle ran made the job book say the
    cycle took -3,600,000 ms and put -3600 s into the cycle duration histogram."""
    wall = [T0]

    def poll(names: object, now: datetime) -> None:
        wall[0] = T0 - timedelta(hours=1)  # the clock steps back while the cycle runs

    work = Work(poll=poll, deliver=lambda now: None, digest=lambda now: 0,
                reminders=lambda now: 0)
    specs = [s for s in plan_jobs(SETTINGS, work, rand=lambda a, b: 0.0) if s.id == "source:feed"]
    book, metrics = SignalBook(tiny), Metrics(tiny)
    scheduler = Scheduler(specs, store=tiny, metrics=metrics, book=book,
                          timezone="Europe/Berlin", clock=lambda: wall[0])
    _ran_once(scheduler, book, "source:feed")
    record = tiny.meta.get(JOBS_KEY)["source:feed"]
    assert record["last_run"] == T0.isoformat() and record["last_duration_ms"] >= 0
    assert _sample(metrics, "firmwatch_cycle_duration_seconds_sum") >= 0
    assert _sample(metrics, "firmwatch_cycle_duration_seconds_count") == 1


def _daily_fires(tz: str, at: str, first: datetime, days: int) -> list[datetime]:
    """The digest job's firings from ``first`` on, walked as APScheduler walks a trigger (the
    next after each firing, asked just as the firing runs)."""
    settings = parse(f'[schedule]\ntimezone = "{tz}"\ndigest_at = "{at}"\n', "t.toml")
    trigger = {s.id: s for s in plan_jobs(settings, Calls().work())}["digest"].trigger
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, first)
    for _ in range(days):
        fires.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return fires


# Days before a change to or from summer time in each zone, and the local wall time firings
# inside the skipped hour happen at instead.
DST_DAYS = [
    ("Europe/Berlin", datetime(2026, 3, 27, 12, tzinfo=UTC)),  # Sunday 29 March, 02:00 → 03:00
    ("Europe/Berlin", datetime(2026, 10, 23, 12, tzinfo=UTC)),  # Sunday 25 October, 03:00 → 02:00
    ("America/New_York", datetime(2026, 3, 6, 17, tzinfo=UTC)),  # Sunday 8 March
    ("America/New_York", datetime(2026, 10, 30, 16, tzinfo=UTC)),  # Sunday 1 November
    ("Australia/Sydney", datetime(2026, 4, 2, 1, tzinfo=UTC)),  # Sunday 5 April, 03:00 → 02:00
    ("Australia/Sydney", datetime(2026, 10, 1, 2, tzinfo=UTC)),  # Sunday 4 October, 02:00 → 03:00
]


@pytest.mark.parametrize("at", ["00:00", "00:30", "01:30", "02:30", "03:00", "09:00", "23:30"])
@pytest.mark.parametrize(("tz", "first"), DST_DAYS)
def test_daily_jobs_fire_once_on_every_local_day_across_summer_time_changes(
    tz: str, first: datetime, at: str
) -> None:
    """With digest_at before the change on a spring-forward Sunday (00:30 in Berlin), the
    digest next ran on Tuesday: Monday's digest (and the weekly one) and Monday's reminders
    never ran; at a time in the autumn's repeated hour it ran twice."""
    fires = _daily_fires(tz, at, first, 7)
    zone = ZoneInfo(tz)
    local = [f.astimezone(zone) for f in fires]
    start = first.astimezone(zone).date()
    if local[0].strftime("%H:%M") > at or local[0].date() > start:
        start += timedelta(days=1)  # today's time had passed
    assert [d.date() for d in local] == [start + timedelta(days=n) for n in range(7)]
    for moment in local:  # compared in UTC: times in one zone compare by their wall clocks
        wall = datetime.combine(moment.date(), time.fromisoformat(at), zone)
        assert moment.astimezone(UTC) == wall.astimezone(UTC), "at the time, or after the gap"
    instants = [f.astimezone(UTC) for f in fires]
    assert instants == sorted(set(instants))


@pytest.mark.parametrize("asked", [timedelta(0), timedelta(hours=-3)])
def test_the_daily_trigger_asked_at_its_firing_gives_the_next_day(asked: timedelta) -> None:
    """Asked at the very instant of a firing (or with the clock stepped back), the trigger gave
    that firing again: APScheduler, walking missed firings while each is <= now, never stopped."""
    trigger = {s.id: s for s in plan_jobs(SETTINGS, Calls().work())}["digest"].trigger
    fire = trigger.get_next_fire_time(None, datetime(2026, 3, 20, 12, tzinfo=UTC))
    assert trigger.get_next_fire_time(fire, fire + asked) == fire + timedelta(days=1)
