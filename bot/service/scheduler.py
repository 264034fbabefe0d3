"""The scheduler: APScheduler 3 in a background thread, leader election, deadlines, the job book.

Every job is coalesced, runs one instance at a time and has a misfire grace of about half its
interval. Its body runs under a hard deadline (:mod:`bot.service.deadline`). Outcomes arrive
through APScheduler's event listeners and are logged, counted in metrics and written to the job
book. With several workers only the holder of the store's ``scheduler`` leader lock runs the
leader-only jobs; ``check_leader`` is called periodically so a standby takes over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.service.deadline import DeadlineRunner, JobInterrupted, JobTimeout
from bot.service.jobbook import JobBook
from bot.service.jobs import JobSpec
from bot.service.metrics import Metrics
from state import Store, StoreError
from state.api import Leader

log = logging.getLogger("firmwatch.scheduler")
Clock = Callable[[], datetime]
LEADER_LOCK = "scheduler"
ABORT_WAIT = 2.0  # seconds for interrupted runs to be recorded after the abort


def utc_now() -> datetime:
    """The real clock (aware UTC)."""
    return datetime.now(UTC)


class Scheduler:
    """Runs the planned jobs; leader-only jobs only while holding the leader lock."""

    def __init__(
        self, specs: list[JobSpec], *, store: Store, metrics: Metrics, book: JobBook,
        leader: Leader | None = None, timezone: str = "UTC", clock: Clock = utc_now,
        runner: DeadlineRunner | None = None,
    ) -> None:
        self.specs = {s.id: s for s in specs}
        self.store = store
        self.metrics = metrics
        self.book = book
        self.leader = leader
        self.clock = clock
        self.runner = runner or DeadlineRunner()
        self.tz = ZoneInfo(timezone)
        self.leading = False
        self._starts: dict[str, tuple[datetime, float]] = {}  # wall clock, monotonic seconds
        self._lock = threading.Lock()
        self._active = 0  # runs started and not yet fully recorded
        self._idle = threading.Condition()
        self._aps = BackgroundScheduler(
            timezone=self.tz, executors={"default": ThreadPoolExecutor(len(specs) + 2)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._aps.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
                               | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    def start(self) -> None:
        """Start the jobs every worker runs, then try to become the leader."""
        self._aps.start()
        for spec in self.specs.values():
            if not spec.leader_only:
                self._add(spec)
        self.check_leader()

    def check_leader(self) -> bool:
        """Take or confirm the leader lock; add or remove the leader-only jobs to match."""
        with self._lock:
            if self.leader is None:
                want = True
            else:
                try:
                    want = self.leader.acquire()
                except StoreError as exc:
                    log.warning("cannot reach the store for the scheduler lock",
                                extra={"error": str(exc)})
                    want = False
            if want != self.leading:
                for spec in self.specs.values():
                    if spec.leader_only:
                        self._add(spec) if want else self._remove(spec)
                self.leading = want
                self.metrics.leader.set(1 if want else 0)
                self.book.record_leader(self.clock(), want)
                if want:
                    log.info("this process now runs the scheduler",
                             extra={"jobs": sorted(self.specs)})
                else:
                    log.warning("this process no longer runs the scheduler (lock lost)")
            return want

    def job_ids(self) -> list[str]:
        """The jobs scheduled right now."""
        return sorted(job.id for job in self._aps.get_jobs())

    def halt(self) -> None:
        """Start no more runs (runs in progress go on)."""
        if self._aps.running:
            self._aps.shutdown(wait=False)

    def stop(self, wait: float) -> bool:
        """Start no more runs; wait up to ``wait`` s for running ones; False if some were left."""
        self.halt()
        with self._idle:
            idle = self._idle.wait_for(lambda: self._active == 0, timeout=max(wait, 0.0))
        if not idle:
            log.warning("jobs still running at shutdown were abandoned",
                        extra={"running": self.runner.in_flight})
        self.runner.abort()  # waiters give up at once; their runs are recorded as interrupted
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=ABORT_WAIT)
        self.book.flush(self.clock())
        with self._lock:
            if self.leading:
                if self.leader is not None:
                    self.leader.release()
                self.book.record_leader(self.clock(), False)
            self.leading = False
            self.metrics.leader.set(0)
        return idle

    def _add(self, spec: JobSpec) -> None:
        extra = {}
        if spec.first_run is not None:
            extra["next_run_time"] = datetime.now(self.tz) + spec.first_run
        self._aps.add_job(
            partial(self._execute, spec), trigger=spec.trigger, id=spec.id, name=spec.id,
            coalesce=True, max_instances=1, replace_existing=True,
            misfire_grace_time=max(1, int(spec.grace.total_seconds())), **extra,
        )

    def _remove(self, spec: JobSpec) -> None:
        if self._aps.get_job(spec.id) is not None:
            self._aps.remove_job(spec.id)

    def _execute(self, spec: JobSpec) -> object:
        with self._idle:
            self._active += 1
        started = self.clock()
        self._starts[spec.id] = started, time.monotonic()
        log.debug("job started", extra={"job": spec.id})
        return self.runner.run(spec.id, partial(spec.body, started),
                               spec.deadline.total_seconds())

    def _on_event(self, event: JobEvent) -> None:
        try:
            self._record(event)
        finally:
            if event.code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR):
                with self._idle:
                    self._active -= 1
                    self._idle.notify_all()

    def _record(self, event: JobEvent) -> None:
        # Metrics and logs first, the job book last: the book is what tests and `status` wait on.
        job, now = event.job_id, self.clock()
        spec = self.specs.get(job)
        if event.code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
            times = getattr(event, "scheduled_run_times", None) or [
                getattr(event, "scheduled_run_time", now)]
            reason = ("the previous run was still going" if event.code == EVENT_JOB_MAX_INSTANCES
                      else "missed its start time by more than the grace")
            self.metrics.job_misses.labels(job).inc(len(times))
            log.warning("job run skipped", extra={"job": job, "reason": reason,
                                                  "scheduled": times[-1].isoformat()})
            self.book.missed(job, times[-1], now, reason)
            return
        # How long it took on the monotonic clock: the wall clock may be stepped meanwhile.
        started, began = self._starts.pop(job, (now, time.monotonic()))
        seconds = time.monotonic() - began
        error: BaseException | None = getattr(event, "exception", None)
        if error is None:
            result = getattr(event, "retval", None)
            self.metrics.job_runs.labels(job, "ok").inc()
            if spec is not None:
                self._observe(spec, started, seconds, result, ok=True)
            quiet = spec is not None and spec.kind == "deliver" and not _did_something(result)
            log.log(logging.DEBUG if quiet else logging.INFO, "job finished",
                    extra={"job": job, "seconds": round(seconds, 3), "result": _summary(result)})
            self.book.finished(job, started, now, None, seconds=seconds)
            return
        if isinstance(error, JobInterrupted):
            self.metrics.job_runs.labels(job, "interrupted").inc()
            log.warning("job interrupted by shutdown", extra={"job": job})
            return
        outcome = "timeout" if isinstance(error, JobTimeout) else "failed"
        text = f"{type(error).__name__}: {error}"
        self.metrics.job_runs.labels(job, outcome).inc()
        self.metrics.job_failures.labels(job).inc()
        if spec is not None:
            self._observe(spec, started, seconds, None, ok=False)
        log.error("job failed", extra={"job": job, "outcome": outcome, "error": text},
                  exc_info=None if isinstance(error, JobTimeout) else error)
        self.book.finished(job, started, now, text, seconds=seconds)

    def _observe(
        self, spec: JobSpec, started: datetime, seconds: float, result: object, *, ok: bool
    ) -> None:
        if spec.kind == "source":
            self.metrics.cycles.labels("ok" if ok else "failed").inc()
            if ok:
                self.metrics.cycle_seconds.observe(seconds)
                self._count_source_failures(spec, started)
        elif spec.kind == "deliver" and ok:
            for outcome, attribute in (("sent", "sent"), ("retry", "retried"), ("dead", "dead")):
                count = getattr(result, attribute, 0)
                if isinstance(count, int) and count > 0:
                    self.metrics.deliveries.labels(outcome).inc(count)

    def _count_source_failures(self, spec: JobSpec, started: datetime) -> None:
        for name in spec.sources:
            try:
                state = self.store.sources.get(name)
            except StoreError:
                return
            health = state.health if state else {}
            attempt = health.get("last_attempt")
            if int(health.get("consecutive_failures") or 0) and isinstance(attempt, str) and (
                    _same_time(attempt, started)):
                self.metrics.source_failures.labels(name).inc()


def _did_something(result: object) -> bool:
    return any(isinstance(n, int) and n > 0
               for n in (getattr(result, a, 0) for a in ("sent", "retried", "dead")))


def _summary(result: object) -> object:
    """A short, log-friendly view of a job's result."""
    for method in ("to_dict", "describe"):
        render = getattr(result, method, None)
        if callable(render):
            summary: object = render()
            return summary
    return result if isinstance(result, int | float) or result is None else str(result)[:200]


def _same_time(text: str, moment: datetime) -> bool:
    try:
        return abs(datetime.fromisoformat(text) - moment).total_seconds() < 1
    except (TypeError, ValueError):
        return False
