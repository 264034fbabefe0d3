"""How many sends run at once: as many as the network waits leave room for, never more."""

from __future__ import annotations

import threading
import time

import pytest

from notifiers.delivery import deliver_due
from notifiers.lanes import TARGET, Lanes, next_lanes
from state import Store
from tests.notifier_helpers import NOW, FakeNotifier, document, settings


@pytest.mark.parametrize(
    ("lanes", "wall", "cpu", "expected"),
    [
        (1, 1.0, 0.8, 1),  # CPU-bound: another lane would only fight over the GIL
        (1, 1.0, 0.45, 1),
        (1, 1.0, 0.35, 2),
        (1, 1.0, 0.01, 16),  # mostly waiting (a 50 ms receiver): straight to the ceiling
        (16, 1.0, 0.3, 16),  # still waiting at the ceiling: stay
        (16, 1.0, 1.0, 12),  # saturated: fewer
        (16, 1.0, 1.9, 8),  # contention: at most half as many per batch
        (3, 1.0, 0.75, 3),  # 2 ms per send, 0.5 ms of it CPU: three lanes keep a core busy
        (4, 0.0, 0.0, 4),  # nothing measured: no change
        (40, 0.0, 0.0, 16),
        (1, 1.0, 0.0, 16),
    ],
)
def test_next_lanes_keeps_the_process_about_target_busy(
    lanes: int, wall: float, cpu: float, expected: int
) -> None:
    assert next_lanes(lanes, 16, wall, cpu) == expected


def test_the_ceiling_of_one_is_one() -> None:
    assert next_lanes(1, 1, 1.0, 0.0) == 1 and next_lanes(5, 0, 1.0, 0.0) == 1


def test_lanes_measure_each_batch_on_the_clocks_given() -> None:
    now = {"wall": 0.0, "cpu": 0.0}
    gauge = Lanes(8, wall=lambda: now["wall"], cpu=lambda: now["cpu"])
    assert gauge.done() == 1  # no batch started: nothing learned
    assert gauge.start() == 1
    now["wall"] += 1.0
    now["cpu"] += 0.05
    assert gauge.done() == 8
    assert gauge.start() == 8
    now["wall"] += 1.0
    now["cpu"] += TARGET * 2
    assert gauge.done() == 4


def test_a_waiting_receiver_is_sent_to_on_several_lanes(store: Store) -> None:
    """Sends that sleep (a slow endpoint) overlap once the first batch has shown the waiting."""
    busy, most = [0], [0]
    lock = threading.Lock()

    def slow(doc: object) -> None:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.02)
        with lock:
            busy[0] -= 1

    slow_one = FakeNotifier("slow", concurrency=8, hook=slow)
    for i in range(40):
        doc = document("slow", f"ITEM-{i}")
        store.outbox.enqueue("slow", doc["dedupe_key"], doc, NOW, alert_id=doc["id"])
    report = deliver_due(store, settings(), NOW, worker="w", notifiers={"slow": slow_one})
    assert report.sent == 40 and len(set(slow_one.ids())) == 40
    assert most[0] > 1
