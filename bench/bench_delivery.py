"""Benchmark delivery: outbox claim+record cost, worker throughput, Slack pacing per channel.

Run: ``.venv/bin/python bench/bench_delivery.py [--quick]``. The fake Slack Web API runs in a
child process (so its CPU is not counted). ``--quick`` skips the paced Slack run (about 40 s).
"""

from __future__ import annotations

import io
import multiprocessing
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.config import Settings
from notifiers import build_notifiers
from notifiers.console import ConsoleNotifier
from notifiers.delivery import deliver_due
from notifiers.sample import sample_document
from notifiers.slack import ChannelLimiter, SlackNotifier
from state import Attempt, Store, open_store

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOKEN = "xoxb-bench-token"


def serve(conn: Connection) -> None:
    """The fake Slack API in this child process; on request, the (channel, arrival) of posts."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fakeslack import FakeSlack

    with FakeSlack(token=TOKEN) as fake:
        conn.send(fake.url)
        while conn.recv() == "report":
            conn.send([(str(c.body["channel"]), c.at) for c in fake.posts()])


def fill(store: Store, receivers: list[str], alerts: int) -> None:
    """``alerts`` sample-sized documents per receiver, each about its own item."""
    base = sample_document("x", NOW)
    with store.transaction():
        for r in receivers:
            for i in range(alerts):
                doc = {**base, "id": f"fw_{r}_{i}", "dedupe_key": f"{r}|{i}",
                       "item": {**base["item"], "key": f"ITEM-{i}"}}
                store.outbox.enqueue(r, doc["dedupe_key"], doc, NOW, alert_id=doc["id"])


def claim_record(url: str, entries: int) -> float:
    """Microseconds per entry to claim (10 at a time) and record it as sent."""
    with open_store(url) as store:
        fill(store, ["bench"], entries)
        start = time.perf_counter()
        while batch := store.outbox.claim("w", NOW, lease=timedelta(minutes=5), limit=10):
            for e in batch:
                store.outbox.record(e.id, Attempt("sent", NOW, "w", 200))
        return (time.perf_counter() - start) / entries * 1e6


def console_rate(url: str, entries: int) -> float:
    """Deliveries per second through deliver_due to four console receivers."""
    names = [f"console-{i}" for i in range(4)]
    with open_store(url) as store:
        fill(store, names, entries // 4)
        notifiers = {n: ConsoleNotifier(n, io.StringIO()) for n in names}
        start = time.perf_counter()
        report = deliver_due(store, Settings(), NOW, worker="w", notifiers=notifiers,
                             limit=entries)
        assert report.sent == entries, report
        return entries / (time.perf_counter() - start)


def slack_run(url: str, slack_url: str, channels: int, alerts: int, paced: bool) -> float:
    """Seconds to deliver ``alerts`` to ``channels`` Slack receivers (paced or not)."""
    config = Settings.model_validate({
        "network": {"allow_hosts": ["127.0.0.1"]}, "slack": {"api_base_url": slack_url},
        "receivers": [{"name": f"c{i}", "type": "slack", "channel": f"#c{i}"}
                      for i in range(channels)]})
    built, problems = build_notifiers(config, {"SLACK_BOT_TOKEN": TOKEN})
    assert not problems, problems
    if not paced:
        for n in built.values():
            assert isinstance(n, SlackNotifier)
            n.limiter = ChannelLimiter(0)
    with open_store(url) as store:
        fill(store, list(built), alerts // channels)
        start = time.perf_counter()
        report = deliver_due(store, config, NOW, worker="w", notifiers=built, limit=alerts)
        assert report.sent == alerts, report
        return time.perf_counter() - start


def gaps(posts: list[tuple[str, float]]) -> dict[str, float]:
    """The smallest time between two posts to the same channel, per channel."""
    per: dict[str, list[float]] = defaultdict(list)
    for channel, at in posts:
        per[channel].append(at)
    return {c: min(b - a for a, b in zip(sorted(t), sorted(t)[1:], strict=False))
            for c, t in per.items() if len(t) > 1}


def main() -> None:
    """Print the figures."""
    quick = "--quick" in sys.argv
    folder = Path(tempfile.mkdtemp())
    for kind, n in (("tinydb", 1000), ("sqlite", 1000)):
        ext = "json" if kind == "tinydb" else "db"
        us = claim_record(f"{kind}:///{folder}/claim-{kind}.{ext}", n)
        rate = console_rate(f"{kind}:///{folder}/console-{kind}.{ext}", n)
        print(f"{kind:7} claim+record: {us:7.0f} µs per entry ({n} entries);"
              f" deliver_due to 4 console receivers: {rate:6.0f} deliveries/s")
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child,), daemon=True)
    server.start()
    slack_url: Any = parent.recv()
    took = slack_run(f"sqlite:///{folder}/slack-fast.db", slack_url, 5, 500, paced=False)
    print(f"slack (fake API, pacing off): 500 alerts to 5 channels in {took:.2f} s"
          f" = {500 / took:.0f} deliveries/s (sqlite store)")
    if not quick:
        parent.send("report")
        before = len(parent.recv())
        took = slack_run(f"sqlite:///{folder}/slack-paced.db", slack_url, 5, 200, paced=True)
        parent.send("report")
        posts = parent.recv()[before:]
        worst = min(gaps(posts).values())
        print(f"slack (paced): 200 alerts to 5 channels in {took:.1f} s (one a second per"
              f" channel implies ≥ 39 s); smallest gap between two posts to one channel:"
              f" {worst:.3f} s")
    parent.send("stop")
    server.join(timeout=5)


if __name__ == "__main__":
    main()
