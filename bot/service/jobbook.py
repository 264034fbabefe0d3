"""The scheduler's job book: per job, its last run, last success, last error and misses.

Kept in ``store.meta["scheduler.jobs"]`` so ``status`` (CLI, Slack) and ``/metrics`` in any
process can show it. Counts are added as deltas to what is stored, so they survive restarts and
a change of leader. Successful runs of frequent jobs are written at most every ``flush_every``;
failures, misses and changes of outcome are written at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from state import Store, StoreError

log = logging.getLogger(__name__)
JOBS_KEY = "scheduler.jobs"
LEADER_KEY = "scheduler.leader"
ERROR_LIMIT = 500


@dataclass
class _Pending:
    runs: int = 0
    failures: int = 0
    misses: int = 0
    streak: int = 0  # failures in a row since the last success seen here
    reset_streak: bool = False  # a success happened: the stored streak no longer counts
    fields: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None
    flushed: datetime | None = None


class JobBook:
    """Records job outcomes in memory and writes them to the store's meta."""

    def __init__(
        self, store: Store, worker: str, *, flush_every: timedelta = timedelta(minutes=5)
    ) -> None:
        self.store = store
        self.worker = worker
        self.flush_every = flush_every
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def finished(
        self, job: str, started: datetime, now: datetime, error: str | None, *,
        seconds: float | None = None,
    ) -> None:
        """A run ended: ``error`` is None on success, else what went wrong in one line;
        ``seconds`` is how long it took (else ``now - started``: the wall clock may be stepped)."""
        if seconds is None:
            seconds = (now - started).total_seconds()
        with self._lock:
            p = self._pending.setdefault(job, _Pending())
            p.runs += 1
            p.fields.update(last_run=started.isoformat(), worker=self.worker,
                            last_duration_ms=int(max(seconds, 0.0) * 1000))
            outcome = "ok" if error is None else "failed"
            if error is None:
                p.streak, p.reset_streak = 0, True
                p.fields["last_ok"] = now.isoformat()
            else:
                p.failures += 1
                p.streak += 1
                p.fields.update(last_error=error[:ERROR_LIMIT], last_error_at=now.isoformat())
            urgent = error is not None or outcome != p.outcome
            p.outcome = outcome
            due = p.flushed is None or now - p.flushed >= self.flush_every
        if urgent or due:
            self.flush(now, only=job)

    def missed(self, job: str, scheduled: datetime, now: datetime, reason: str) -> None:
        """A run did not happen (missed its time, or the previous one was still running)."""
        with self._lock:
            p = self._pending.setdefault(job, _Pending())
            p.misses += 1
            p.fields.update(last_missed=scheduled.isoformat(), last_miss_reason=reason,
                            worker=self.worker)
        self.flush(now, only=job)

    def flush(self, now: datetime, *, only: str | None = None) -> bool:
        """Write pending records (all, or one job's); False when the store refused."""
        with self._lock:
            jobs = [only] if only is not None else list(self._pending)
            pending = {j: self._pending[j] for j in jobs if j in self._pending}
            if not pending:
                return True
            try:
                with self.store.transaction():
                    # Other workers flush their deltas into the same book: one at a time.
                    stored = self.store.meta.get(JOBS_KEY, for_update=True)
                    book: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
                    for job, p in pending.items():
                        book[job] = _merge(book.get(job), p)
                    self.store.meta.put(JOBS_KEY, book, now)
            except StoreError as exc:
                log.warning("could not write the job book", extra={"error": str(exc)})
                return False
            for p in pending.values():
                p.runs = p.failures = p.misses = p.streak = 0
                p.reset_streak = False
                p.fields = {}
                p.flushed = now
            return True

    def record_leader(self, now: datetime, leading: bool) -> None:
        """Note in the store which worker runs the scheduler (written when leadership changes)."""
        try:
            if leading:
                self.store.meta.put(LEADER_KEY, {"worker": self.worker, "since": now.isoformat()},
                                    now)
            elif (self.store.meta.get(LEADER_KEY) or {}).get("worker") == self.worker:
                self.store.meta.delete(LEADER_KEY)
        except StoreError as exc:
            log.warning("could not record the scheduler leader", extra={"error": str(exc)})


def _merge(old: object, p: _Pending) -> dict[str, Any]:
    record: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
    for key in ("runs", "failures", "misses"):
        record[key] = int(record.get(key) or 0) + getattr(p, key)
    stored_streak = 0 if p.reset_streak else int(record.get("consecutive_failures") or 0)
    record["consecutive_failures"] = stored_streak + p.streak
    record.update(p.fields)
    return record
