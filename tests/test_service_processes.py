"""Real processes: `python -m bot run|worker|web` with sources on 127.0.0.1, stopped by SIGTERM.

Each test reads the process's JSON log lines as they come (no sleeping), then checks the exit and
the store: nothing lost, deliveries pending or sent, the job book written.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from state import open_store
from tests.httpserver import LocalServer, Route
from tests.state_helpers import ROOT, T0, clean_pg
from tests.tcprelay import TcpRelay

STOP_WITHIN = 25.0
FEED = (ROOT / "bot" / "samples" / "sources" / "advisories.rss").read_bytes()
TOKEN = "process-test-token-0123456789"
Record = dict[str, Any]


class Proc:
    """A firmwatch process whose stdout JSON lines are read as they arrive."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.popen.stdout, self.lines.put)),
            threading.Thread(target=self._read, args=(self.popen.stderr, self.errors.append)),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, put: Callable[[Any], None]) -> None:
        for line in stream:
            put(line)
        put(None)

    def wait_for(self, predicate: Callable[[Record], bool], timeout: float = 60) -> Record:
        """The first log record (from now on) that matches; fails when the process ends first."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no matching log line within {timeout} s:\n{self.transcript()}")
            if line is None:
                pytest.fail(f"the process ended (exit {self.popen.wait()}):\n{self.transcript()}")
            self.seen.append(line)
            record = _record(line)
            if record is not None and predicate(record):
                return record

    def records(self) -> list[Record]:
        """Every JSON log record read so far."""
        return [r for r in map(_record, self.seen) if r is not None]

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
        """Send ``sig``; the exit code and how long the process took to exit."""
        started = time.monotonic()
        self.popen.send_signal(sig)
        code = self.popen.wait(timeout=STOP_WITHIN + 5)
        elapsed = time.monotonic() - started
        for reader in self._readers:
            reader.join(timeout=10)
        while (line := self.lines.get_nowait() if not self.lines.empty() else None) is not None:
            self.seen.append(line)
        return code, elapsed

    def close(self) -> None:
        """Kill the process if it still runs and release its pipes."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=10)
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()

    def transcript(self) -> str:
        """What the process wrote, for failure messages."""
        return "".join(self.seen[-40:]) + "".join(e for e in self.errors if e)[-4000:]


def _record(line: str) -> Record | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None  # e.g. the console receiver's alert text
    return value if isinstance(value, dict) else None


def _message(text: str, **fields: Any) -> Callable[[Record], bool]:
    return lambda r: r.get("message") == text and all(r.get(k) == v for k, v in fields.items())


def _environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "FIRMWATCH_")) and k not in ("DATABASE_URL", "PORT")}
    env.update(FIRMWATCH_API_TOKEN=TOKEN, **extra)
    return env


def _config(folder: Path, feed_url: str, state_url: str = "tinydb:///state/firmwatch.json",
            timeout: str = "10s") -> Path:
    path = folder / "bot.toml"
    path.write_text(f"""
[state]
url = "{state_url}"
url_env = "FIRMWATCH_TEST_STATE_URL"

[network]
allow_hosts = ["127.0.0.1"]
timeout = "{timeout}"

[[sources]]
name = "advisories"
kind = "advisory"
format = "feed"
url = "{feed_url}"
every = "1h"

[[receivers]]
name = "ops"
type = "console"

[[fleets]]
name = "hq"
receivers = ["ops"]

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.5.0 build 200101"
count = 2

[schedule]
deliver_every = "1s"
jitter = "1s"
leader_retry = "1s"

[web]
host = "127.0.0.1"
""", encoding="utf-8")
    return path


@pytest.fixture
def feed(http_server: LocalServer) -> str:
    """The sample advisory feed served on 127.0.0.1."""
    return http_server.route("/advisories.rss", Route(body=FEED, headers={
        "Content-Type": "application/rss+xml"}))


@pytest.fixture
def spawn() -> Iterator[Callable[..., Proc]]:
    """Start firmwatch processes; any left running are killed at the end."""
    started: list[Proc] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Proc:
        started.append(Proc(*args, cwd=ROOT, env=env or _environ()))
        return started[-1]

    yield start
    for proc in started:
        proc.close()


def _tiny(folder: Path) -> str:
    return f"tinydb:///{folder / 'state' / 'firmwatch.json'}"


def test_web_process_serves_and_stops_on_sigterm(
    tmp_path: Path, feed: str, spawn: Callable[..., Proc]
) -> None:
    config = _config(tmp_path, feed)
    proc = spawn("web", "--config", str(config), "--port", "0")
    port = proc.wait_for(_message("serving HTTP"))["port"]
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    fleets = httpx.get(f"{base}/api/v1/fleets", timeout=10,
                       headers={"Authorization": f"Bearer {TOKEN}"}).json()["fleets"]
    assert [f["name"] for f in fleets] == ["hq"]
    code, elapsed = proc.stop()
    assert code == 0 and elapsed < STOP_WITHIN, proc.transcript()
    records = proc.records()
    assert not any(r.get("logger", "").startswith("firmwatch.scheduler") for r in records)
    assert any(r.get("message") == "firmwatch stopped" for r in records)
    assert TOKEN not in "".join(proc.seen)


def test_run_process_polls_delivers_and_stops_on_sigterm_with_nothing_lost(
    tmp_path: Path, feed: str, http_server: LocalServer, spawn: Callable[..., Proc]
) -> None:
    config = _config(tmp_path, feed)
    with open_store(_tiny(tmp_path)) as store:
        store.outbox.enqueue("ops", "before-start", {"title": "queued earlier"}, T0)
    proc = spawn("run", "--config", str(config), "--port", "0")
    port = proc.wait_for(_message("serving HTTP"))["port"]
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    proc.wait_for(_message("job finished", job="source:advisories"))
    code, elapsed = proc.stop()
    assert code == 0 and elapsed < STOP_WITHIN, proc.transcript()
    assert http_server.requests_to("/advisories.rss")
    with open_store(_tiny(tmp_path)) as store:
        entries = store.outbox.all()
        assert entries and all(e.status in ("pending", "retrying", "sent") for e in entries)
        assert store.outbox.find("ops", "before-start") is not None
        assert store.items.count() > 0
        jobs = store.meta.get("scheduler.jobs")
        assert jobs["source:advisories"]["runs"] >= 1
        assert jobs["source:advisories"]["consecutive_failures"] == 0


def test_worker_process_runs_a_cycle_and_stops_on_sigterm(
    tmp_path: Path, feed: str, spawn: Callable[..., Proc]
) -> None:
    config = _config(tmp_path, feed)
    proc = spawn("worker", "--config", str(config))
    proc.wait_for(_message("job finished", job="source:advisories"))
    code, elapsed = proc.stop()
    assert code == 0 and elapsed < STOP_WITHIN, proc.transcript()
    assert not any(r.get("message") == "serving HTTP" for r in proc.records())
    with open_store(_tiny(tmp_path)) as store:
        assert store.meta.get("scheduler.jobs")["source:advisories"]["runs"] >= 1
        assert all(e.status != "dead" for e in store.outbox.all())
        assert store.meta.get("scheduler.leader") is None


def test_a_worker_whose_poll_hangs_still_exits_on_sigterm(
    tmp_path: Path, http_server: LocalServer, spawn: Callable[..., Proc]
) -> None:
    # The source answers long after the stop budget (and within the fetch timeout): the poll is
    # abandoned at shutdown, and the process must still exit instead of waiting for the fetch.
    hung = http_server.route("/hung.rss", Route(body=FEED, delay=300))
    config = _config(tmp_path, hung, timeout="290s")
    proc = spawn("worker", "--config", str(config),
                 env=_environ(FIRMWATCH_LOG_LEVEL="DEBUG"))
    proc.wait_for(_message("job started", job="source:advisories"))
    code, _ = proc.stop()
    assert code == 0, proc.transcript()
    assert any(r.get("message") == "firmwatch stopped" and r.get("clean") is False
               for r in proc.records()), proc.transcript()
    with open_store(_tiny(tmp_path)) as store:
        assert store.meta.get("scheduler.leader") is None


def test_a_worker_exits_on_sigterm_when_postgresql_stops_answering(
    tmp_path: Path, feed: str, pg_url: str, spawn: Callable[..., Proc]
) -> None:
    # The database keeps its connections open but never answers again (a stalled server, a
    # partition): calls into it block, and the process must still be gone soon after the signal.
    clean_pg(pg_url)
    config = _config(tmp_path, feed)
    target = urlsplit(pg_url)
    with TcpRelay((target.hostname or "127.0.0.1", target.port or 5432)) as relay:
        proc = spawn("worker", "--config", str(config),
                     env=_environ(FIRMWATCH_TEST_STATE_URL=relay.url(pg_url)))
        proc.wait_for(_message("job finished", job="source:advisories"))
        relay.freeze()
        proc.popen.send_signal(signal.SIGTERM)
        code = proc.popen.wait(timeout=STOP_WITHIN + 5)
    assert code != 0, proc.transcript()
    assert any("did not stop within" in line for line in proc.errors), proc.transcript()


def test_two_workers_on_postgresql_elect_one_scheduler_and_the_standby_takes_over(
    tmp_path: Path, feed: str, pg_url: str, spawn: Callable[..., Proc]
) -> None:
    clean_pg(pg_url)
    config = _config(tmp_path, feed)
    env = _environ(FIRMWATCH_TEST_STATE_URL=pg_url)
    workers = [spawn("worker", "--config", str(config), env=env) for _ in range(2)]
    for w in workers:
        w.wait_for(_message("firmwatch started"))
    leading = [w for w in workers
               if any(r.get("message") == "this process now runs the scheduler"
                      for r in w.records())]
    assert len(leading) == 1, "exactly one worker holds the scheduler"
    leader, standby = leading[0], next(w for w in workers if w is not leading[0])
    leader.popen.kill()
    leader.popen.wait(timeout=30)
    standby.wait_for(_message("this process now runs the scheduler"))
    code, elapsed = standby.stop()
    assert code == 0 and elapsed < STOP_WITHIN, standby.transcript()
    with open_store(pg_url) as store:
        keys = [(e.receiver, e.dedupe_key) for e in store.outbox.all()]
        assert len(keys) == len(set(keys)), "no duplicate alerts"
        assert store.meta.get("scheduler.leader") is None


@contextmanager
def _web_behind_relay(
    tmp_path: Path, feed: str, pg_url: str, spawn: Callable[..., Proc]
) -> Iterator[tuple[str, TcpRelay]]:
    """A `web` process whose store is PostgreSQL behind a relay the test can freeze (a stalled
    database, a partition): its base URL and the relay; the process is killed afterwards."""
    clean_pg(pg_url)
    config = _config(tmp_path, feed)
    target = urlsplit(pg_url)
    with TcpRelay((target.hostname or "127.0.0.1", target.port or 5432)) as relay:
        proc = spawn("web", "--config", str(config), "--port", "0",
                     env=_environ(FIRMWATCH_TEST_STATE_URL=relay.url(pg_url)))
        try:
            yield f"http://127.0.0.1:{proc.wait_for(_message('serving HTTP'))['port']}", relay
        finally:
            proc.popen.kill()


def test_readyz_answers_while_postgresql_stops_answering(
    tmp_path: Path, feed: str, pg_url: str, spawn: Callable[..., Proc]
) -> None:
    # A stalled database (or a partition) kept /readyz waiting forever on the pooled connection's
    # ping: the probe timed out instead of saying "not ready", and each probe held one of the
    # server's threads (the /healthz probes queued behind them).
    with _web_behind_relay(tmp_path, feed, pg_url, spawn) as (base, relay):
        assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200  # a pooled connection
        relay.freeze()
        for _ in range(2):  # the second probe finds the first check still hung
            ready = httpx.get(f"{base}/readyz", timeout=60)
            assert ready.status_code == 503, ready.text
            assert "did not answer within" in ready.json()["checks"]["store"]
        assert httpx.get(f"{base}/healthz", timeout=60).status_code == 200


def test_a_scrape_says_the_store_is_down_while_postgresql_stops_answering(
    tmp_path: Path, feed: str, pg_url: str, spawn: Callable[..., Proc]
) -> None:
    # /metrics read the store's figures on the pooled connection, whose ping waited for ever on
    # a stalled database: the scrape hung until Prometheus gave up, instead of store_up 0.
    with _web_behind_relay(tmp_path, feed, pg_url, spawn) as (base, relay):
        assert "firmwatch_store_up 1.0" in httpx.get(f"{base}/metrics", timeout=30).text
        relay.freeze()
        scraped = httpx.get(f"{base}/metrics", timeout=60)
        assert scraped.status_code == 200 and "firmwatch_store_up 0.0" in scraped.text
