"""Record delivery attempts in small groups: one commit per group instead of one per send.

A commit costs an fsync (SQLite, PostgreSQL) or a file rewrite (TinyDB), several milliseconds, so
recording each send on its own caps a receiver at a few dozen deliveries a second. Attempts are
kept in memory for at most ``every`` seconds (or ``size`` of them), then committed together with
the Slack message references they carry. A crash in between leaves those entries leased: they are
sent again, with the same id, after the lease ends; nothing is lost.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from notifiers.base import Thread
from state import Attempt, Store, StoreError

BACKLOG = 4  # groups queued before a sender stops to commit them itself
log = logging.getLogger("firmwatch.delivery")


@dataclass(frozen=True)
class Pending:
    """An attempt to record, with the Slack references to remember (key → message) and those
    that replace what is remembered (an item's thread started anew)."""

    entry_id: int
    attempt: Attempt
    refs: tuple[tuple[str, Thread], ...] = ()
    moved: tuple[tuple[str, Thread], ...] = ()


class Recorder:
    """Collects attempts from the sending threads; commits when full, on a timer and on close."""

    def __init__(self, store: Store, *, size: int = 100, every: float = 0.25) -> None:
        self.store = store
        self.size = size
        self._pending: list[Pending] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._done = threading.Event()
        self._wake = threading.Event()
        self._every = every
        self._timer = threading.Thread(target=self._tick, name="deliver-recorder", daemon=True)
        self._timer.start()

    def add(self, item: Pending) -> None:
        """Queue an attempt. A full group wakes the recorder's thread, which commits it while
        the senders wait on the network; a sender commits itself only when far behind."""
        with self._lock:
            self._pending.append(item)
            waiting = len(self._pending)
        if waiting >= self.size * BACKLOG:
            self.flush()
        elif waiting >= self.size:
            self._wake.set()

    def flush(self) -> int:
        """Commit what is queued, in one transaction; how many attempts were recorded."""
        with self._flushing:
            with self._lock:
                items, self._pending = self._pending, []
            if not items:
                return 0
            try:
                with self.store.transaction():
                    for item in items:
                        for key, ref in item.refs:
                            self.store.slack.remember(key, ref.channel, ref.ts, item.attempt.at)
                        for key, ref in item.moved:
                            self.store.slack.remember(key, ref.channel, ref.ts, item.attempt.at,
                                                      replace=True)
                    self.store.outbox.record_many([(i.entry_id, i.attempt) for i in items])
            except StoreError:
                with self._lock:  # keep them for the next try; the leases still hold
                    self._pending[:0] = items
                raise
            return len(items)

    def close(self) -> None:
        """Stop the timer and commit the rest."""
        self._done.set()
        self._wake.set()
        self._timer.join()
        self.flush()

    def _tick(self) -> None:
        while True:
            self._wake.wait(self._every)
            self._wake.clear()
            if self._done.is_set():
                return
            try:
                self.flush()
            except StoreError as exc:  # retried on the next tick and on close
                log.warning("cannot record delivery attempts yet: %s", exc)

