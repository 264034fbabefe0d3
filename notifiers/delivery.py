"""The delivery worker: send due outbox entries, each receiver on its own, at least once.

One pass claims due entries per receiver with a lease, sends them, and records every attempt (in
small groups, see :mod:`notifiers.recorder`). The receivers run side by side in threads, so a slow
or failing one never delays another, and a pass stops trying a receiver that does not answer or
is overloaded (a timeout, a refused connection, HTTP 429, 502, 503 or 504): the rest of its
entries wait for the next pass rather than each waiting out the timeout. An entry is marked sent
only after its receiver accepted it; a crash between claim and record leaves the entry leased,
and it is sent again (with the same id) once the lease ends. Entries of one item to one receiver
go in order, so a Slack update finds the thread of the item's first message. Alerts about
different items may go out side by side, on as many lanes as pay off (see
:mod:`notifiers.lanes`).
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config import Settings
from bot.slack.subscriptions import with_subscriptions
from notifiers import build_notifiers, health
from notifiers.base import AlertDoc, Notifier, SendResult, Thread
from notifiers.lanes import Lanes
from notifiers.recorder import Pending, Recorder
from notifiers.schedule import attempt_for
from state import Attempt, OutboxEntry, Store, StoreError

ATTEMPT_TIMEOUT = 15.0  # seconds; each notifier enforces it on its own connection
BATCH, MAX_BATCH = 10, 200  # entries claimed per lane; doubles while batches complete
MAX_DEFERRALS = 50  # claims in a row of entries all waiting for older ones (a safety valve)
WAIT_STEP = timedelta(milliseconds=1)  # a waiting entry is due just after what it waits for
LEASE = timedelta(minutes=2)  # no send starts later than ATTEMPT_TIMEOUT + 5 s before it ends
MAX_THREADS = 64  # receivers delivered at once (one thread each)
UNAVAILABLE = frozenset({429, 502, 503, 504})  # statuses that stop a pass trying the receiver
log = logging.getLogger("firmwatch.delivery")


@dataclass
class DeliveryReport:
    """A pass's figures, the receivers newly disabled, and those left waiting (with why)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    disabled: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """``sent 3 · retried 1 · dead 0 · skipped 0``."""
        return (
            f"sent {self.sent} · retried {self.retried} · dead {self.dead} · skipped {self.skipped}"
        )


class WaitingLog:
    """Logs the receivers a long-running delivery job leaves waiting: once per receiver and
    reason (a receiver that cannot be built, is disabled or paused), not on every pass."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def note(self, report: DeliveryReport) -> None:
        """Log what changed since the last pass's report."""
        for name, why in sorted(report.waiting.items()):
            if self._last.get(name) != why:
                log.warning("receiver %s is waiting (its entries stay pending): %s", name, why,
                            extra={"receiver": name, "reason": why})
        for name in sorted(set(self._last) - set(report.waiting)):
            log.info("receiver %s is no longer waiting", name, extra={"receiver": name})
        self._last = dict(report.waiting)


def worker_name() -> str:
    """This process's name in claims and the delivery log: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def thread_key(receiver: str, doc: AlertDoc) -> str:
    """Where the first message about an item to a receiver is remembered (``store.slack``)."""
    item = doc.get("item") or {}
    return f"thread|{receiver}|{item.get('key') or doc.get('id')}"


def deliver_due(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    worker: str,
    notifiers: Mapping[str, Notifier] | None = None,
    environ: Mapping[str, str] = os.environ,
    limit: int = 500,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    receivers: Collection[str] | None = None,
) -> DeliveryReport:
    """One delivery pass: up to ``limit`` due entries per receiver; ``stop`` ends it early.

    ``notifiers`` defaults to one per configured receiver; ``receivers`` narrows the pass.
    Entries claimed but not attempted (``stop``, a pause) are released at once.
    """
    report = DeliveryReport()
    owned: Mapping[str, Notifier] = {}
    settings = with_subscriptions(settings, store)  # channels subscribed in Slack
    if notifiers is None:
        names = set(receivers) if receivers is not None else None
        built, problems = build_notifiers(settings, environ, names)
        report.waiting.update(problems)
        notifiers = owned = built
    if receivers is None:
        known = {r.name for r in settings.receivers} | set(notifiers)
        report.waiting.update(health.unconfigured(store, known))
    off, held = health.disabled(store), health.paused(store, now)
    active: list[str] = []
    for name in notifiers:
        if receivers is not None and name not in receivers:
            continue
        if name in off:
            report.waiting[name] = f"disabled: {off[name].get('reason', '')}"
        elif name in held:
            report.waiting[name] = f"paused until {held[name].isoformat(timespec='seconds')}"
        else:
            active.append(name)
    run = _Pass(store, worker, now, clock, rng or random.Random(), stop or threading.Event(), limit)
    runs: list[health.ReceiverRun] = []
    try:
        if active:
            with ThreadPoolExecutor(min(len(active), MAX_THREADS), "deliver") as pool:
                runs = list(pool.map(lambda n: run.drain(n, notifiers[n]), active))
    finally:
        run.recorder.close()
        for notifier in owned.values():  # built for this pass: release their connections
            close = getattr(notifier, "close", None)
            if callable(close):
                close()
    for r in runs:
        report.sent += r.sent
        report.retried += r.retried
        report.dead += r.dead
        report.skipped += r.skipped
        if r.stalled and not r.gone and not r.pause_until:
            report.waiting[r.name] = f"{r.stalled}; the rest waits for the next pass"
    report.disabled = health.apply(store, settings, runs, run.now())
    return report


class _Pass:
    """The state one pass shares between its receiver threads."""

    def __init__(
        self,
        store: Store,
        worker: str,
        start: datetime,
        clock: Callable[[], float],
        rng: random.Random,
        stop: threading.Event,
        limit: int,
    ) -> None:
        self.store, self.worker, self.start, self.clock = store, worker, start, clock
        self.rng, self.stop, self.limit = rng, stop, limit
        self.t0 = clock()
        self.lock = threading.Lock()
        self.recorder = Recorder(store)
        self.threads: dict[str, Thread] = {}  # first messages posted in this pass, by key

    def now(self) -> datetime:
        """The pass's start plus the time elapsed since (the clock is injected)."""
        return self.start + timedelta(seconds=self.clock() - self.t0)

    def drain(self, name: str, notifier: Notifier) -> health.ReceiverRun:
        """Claim and send one receiver's due entries until none is left, ``limit`` or a halt."""
        run = health.ReceiverRun(name)
        gauge = Lanes(max(1, int(getattr(notifier, "concurrency", 1))))
        batch = BATCH  # entries per lane
        attempted = 0
        unsent, done = self._unsent(name), set[int]()  # done: sent or dead in this pass
        retried: dict[int, datetime] = {}  # failed in this pass: when each is due again
        deferrals = 0  # claims in a row that held only entries waiting for older ones
        while attempted < self.limit and not self._halted(run):
            claimed_at = self.now()
            entries = self.store.outbox.claim(self.worker, claimed_at, lease=LEASE,
                                              limit=min(batch * gauge.now,
                                                        self.limit - attempted),
                                              receivers=[name])
            if not entries:
                break
            go, waiting = _in_item_order(entries, unsent, done, retried, claimed_at)
            self._defer(waiting)
            if not go:  # out of the way now (due later): claim again, a few times at most
                deferrals += 1
                if deferrals > MAX_DEFERRALS:
                    break
                continue
            deferrals = 0
            lanes_at_once = gauge.start()
            cutoff = claimed_at + LEASE - timedelta(seconds=ATTEMPT_TIMEOUT + 5)
            held = {e.id for e in go}
            try:
                lanes = _lanes(go)
                if lanes_at_once == 1 or len(lanes) <= 1:
                    for lane in lanes:
                        self._lane(lane, run, notifier, held, cutoff, done, retried)
                else:
                    with ThreadPoolExecutor(min(lanes_at_once, len(lanes)), name) as pool:
                        futures = [
                            pool.submit(self._lane, lane, run, notifier, held, cutoff, done,
                                        retried)
                            for lane in lanes
                        ]
                    for future in futures:
                        future.result()  # a lane's exception ends the pass, as it would here
            finally:
                gauge.done()
                released = self._release(held)
            attempted += len(go) - released
            if self._halted(run):
                run.skipped += released
            elif released == len(go):
                break  # nothing could start before the cutoff: leave the rest to a later pass
            elif not released:
                batch = min(batch * 2, MAX_BATCH)
        return run

    def _halted(self, run: health.ReceiverRun) -> bool:
        return (self.stop.is_set() or run.gone is not None or run.pause_until is not None
                or run.stalled is not None)

    def _unsent(self, name: str) -> dict[str, list[OutboxEntry]]:
        """Per item, the receiver's entries not sent yet (nor dead) as the pass starts, oldest
        first: what the item's later entries wait for."""
        unsent: dict[str, list[OutboxEntry]] = {}
        for entry in self.store.outbox.all(statuses=("pending", "retrying"), receiver=name):
            unsent.setdefault(_item_of(entry), []).append(entry)  # all() is by id
        return unsent

    def _defer(self, waiting: dict[int, datetime]) -> None:
        """Give back entries waiting for older ones of their item, due when those are."""
        for entry_id, until in waiting.items():
            try:
                self.store.outbox.release(entry_id, self.worker, until=until)
            except StoreError as exc:  # the lease will end by itself
                log.warning("cannot release outbox entry %s: %s", entry_id, exc)

    def _lane(
        self, lane: list[OutboxEntry], run: health.ReceiverRun, notifier: Notifier,
        held: set[int], cutoff: datetime, done: set[int], retried: dict[int, datetime],
    ) -> None:
        for entry in lane:
            if self._halted(run) or self.now() >= cutoff:
                return  # left in ``held``: released, and claimed again later
            attempt = self._deliver(entry, run, notifier)
            with self.lock:
                held.discard(entry.id)
                if attempt.outcome != "retry":
                    done.add(entry.id)
                elif attempt.next_attempt_at is not None:
                    retried[entry.id] = attempt.next_attempt_at
            if attempt.outcome == "retry":
                return  # the item's later alerts wait for this one: released, claimed later

    def _deliver(
        self, entry: OutboxEntry, run: health.ReceiverRun, notifier: Notifier
    ) -> Attempt:
        """Send one entry and record the attempt (sent, retry or dead), returned."""
        doc, thread, key = entry.payload, None, None
        if getattr(notifier, "threaded", False):
            key = thread_key(entry.receiver, doc)
            with self.lock:
                thread = self.threads.get(key)
            if thread is None and (ref := self.store.slack.get(key)) is not None:
                thread = Thread(ref.channel, ref.ts)
        started = self.clock()
        try:
            result = notifier.send(doc, thread=thread)
        except Exception as exc:  # a notifier bug: recorded as a failed attempt, and logged
            log.exception("notifier %s failed on outbox entry %s", entry.receiver, entry.id)
            result = SendResult(ok=False, error=f"the notifier failed: {type(exc).__name__}")
        at = self.now()
        duration = int((self.clock() - started) * 1000)
        refs: list[tuple[str, Thread]] = []
        moved: tuple[tuple[str, Thread], ...] = ()
        if result.ok and result.thread is not None and key is not None:
            alert_id = str(entry.alert_id or doc.get("id") or "")
            refs += [(alert_id, result.thread)] if alert_id else []
            if thread is None:
                refs.append((key, result.thread))
                with self.lock:
                    self.threads.setdefault(key, result.thread)
            elif result.new_thread:  # the old thread's channel refused it: later updates
                moved = ((key, result.thread),)  # reply to the new first message
                with self.lock:
                    self.threads[key] = result.thread
        attempt = attempt_for(result, entry.attempts, at, self.worker, self.rng.uniform, duration)
        self.recorder.add(Pending(entry.id, attempt, tuple(refs), moved))
        if attempt.outcome != "sent":
            log.warning("delivery to %s failed (entry %s, attempt %s): %s", entry.receiver,
                        entry.id, entry.attempts + 1, attempt.error)
        with self.lock:
            self._count(run, result, attempt.outcome, at)
        return attempt

    def _count(
        self, run: health.ReceiverRun, result: SendResult, outcome: str, at: datetime
    ) -> None:
        if outcome == "sent":
            run.sent += 1
            return
        run.retried += outcome == "retry"
        run.dead += outcome == "dead"
        # A payload the receiver answered and refused (a status) says nothing of the receiver:
        # it starts no failing streak. A permanent failure with no answer (the address guard
        # refusing its address, the client failing) is every alert's: it does.
        if not result.permanent or result.disable or result.status is None:
            run.first_failure = run.first_failure or at
        if outcome == "retry" and (result.status is None or result.status in UNAVAILABLE):
            # The receiver did not answer or is overloaded: its other entries would wait out
            # the same timeout one by one. They wait for the next pass instead.
            run.stalled = run.stalled or f"a delivery failed ({result.error or 'no answer'})"
        if result.disable:
            run.gone = result.error or f"HTTP {result.status}: the endpoint is gone"
        if result.retry_after is not None and result.retry_after > 0:
            until = at + timedelta(seconds=math.ceil(result.retry_after))
            run.pause_until = max(run.pause_until or until, until)

    def _release(self, held: set[int]) -> int:
        """Give back claimed entries that were not attempted; how many."""
        count = len(held)
        for entry_id in sorted(held):
            try:
                self.store.outbox.release(entry_id, self.worker)
            except StoreError as exc:  # the lease will end by itself
                log.warning("cannot release outbox entry %s: %s", entry_id, exc)
        held.clear()
        return count


def _lanes(entries: list[OutboxEntry]) -> list[list[OutboxEntry]]:
    """Entries grouped by item, each item's in the order they were made: one item's alerts are
    sent one after another."""
    lanes: dict[str, list[OutboxEntry]] = {}
    for entry in entries:
        lanes.setdefault(_item_of(entry), []).append(entry)
    return [sorted(lane, key=_by_id) for lane in lanes.values()]


def _in_item_order(
    entries: list[OutboxEntry],
    unsent: dict[str, list[OutboxEntry]],
    done: set[int],
    retried: dict[int, datetime],
    now: datetime,
) -> tuple[list[OutboxEntry], dict[int, datetime]]:
    """The claimed entries that may go now, and those that wait (with when they are due
    again): those behind an older unsent entry about the same item that this claim does not
    hold and this pass has not sent (a first alert waiting for its retry). A waiting entry is
    due again when the last it waits for is due (or its lease ends), and a moment after
    ``now`` at the earliest, so that the claims order what it waits for first (``retried``:
    when those that failed in this pass are due again)."""
    claimed = {e.id for e in entries}
    go: list[OutboxEntry] = []
    waiting: dict[int, datetime] = {}
    for e in entries:
        before = [b for b in unsent.get(_item_of(e), ())
                  if b.id < e.id and b.id not in claimed and b.id not in done]
        if not before:
            go.append(e)
            continue
        due = [max(retried.get(b.id, b.next_attempt_at), b.claimed_until or b.next_attempt_at)
               for b in before]
        waiting[e.id] = max([*due, now]) + WAIT_STEP
    return go, waiting


def _item_of(entry: OutboxEntry) -> str:
    item = entry.payload.get("item") or {}
    return str(item.get("key") or entry.id)


def _by_id(entry: OutboxEntry) -> int:
    return entry.id
