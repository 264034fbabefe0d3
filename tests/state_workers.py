"""Child processes for the state tests: ``python -m tests.state_workers COMMAND URL ...``.

- ``write URL START``: commit cycles forever (an item, a finding, an outbox entry and a meta value
  per cycle), printing each cycle's number only after its commit returned.
- ``hold URL``: open the store, print ``ready``, keep it open until stdin closes.
- ``claim URL WORKER``: wait for a line on stdin, then claim and mark sent until nothing is due,
  printing every claimed id.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from state import Attempt, FindingData, open_store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def write(url: str, start: int) -> None:
    """Commit numbered cycles until killed."""
    with open_store(url) as store:
        print("ready", flush=True)
        i = start
        while True:
            with store.transaction():
                store.items.put(f"item-{i}", "advisory", f"r{i}", {"n": i, "pad": "x" * 200}, NOW)
                store.findings.put(FindingData("hq", "g1", f"item-{i}", f"r{i}", {"n": i}), NOW)
                store.outbox.enqueue("ops", f"item-{i}", {"n": i}, NOW)
                store.meta.put("last", i, NOW)
            print(i, flush=True)
            i += 1


def hold(url: str) -> None:
    """Keep the store open until stdin closes."""
    with open_store(url):
        print("ready", flush=True)
        sys.stdin.read()


def claim(url: str, worker: str) -> None:
    """Claim entries in small batches and mark them sent, until none is due."""
    with open_store(url) as store:
        print("ready", flush=True)
        sys.stdin.readline()
        while batch := store.outbox.claim(worker, NOW, lease=timedelta(minutes=10), limit=7):
            for entry in batch:
                print(entry.id, flush=True)
                store.outbox.record(entry.id, Attempt("sent", NOW, worker, 200))


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "write":
        write(url, int(rest[0]))
    elif command == "hold":
        hold(url)
    else:
        claim(url, rest[0])
