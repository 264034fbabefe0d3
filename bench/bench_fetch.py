"""Benchmark one poll of an unchanged source (answered 304 by a local server): CPU per poll."""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from bot.config import NetworkSettings, SourceSettings
from bot.sources.base import ParseResult
from bot.sources.fetcher import Fetcher
from bot.sources.health import SourceHealth
from bot.sources.runner import Cursor, poll

POLLS = 200
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def serve(conn: Connection) -> None:
    """Run the tests' LocalServer in this (child) process so its CPU is not counted."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.httpserver import LocalServer, Route

    with LocalServer() as server:
        conn.send(server.route("/kev.json", Route(body=b"{}" * 50_000, etag='"v1"')))
        conn.recv()  # wait until the benchmark is done


def never_called(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """The parser: an unchanged source must not be parsed."""
    raise AssertionError("a 304 was parsed")


def empty(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """The parser for the first (full) poll."""
    return ParseResult()


def measure(label: str, url: str, fetcher: Fetcher) -> None:
    """Poll ``url`` once to get its validators, then time POLLS unchanged polls."""
    source = SourceSettings.model_validate(
        {"name": "kev", "kind": "exploited", "format": "kev-json", "url": url}
    )
    parsers = {"kev-json": never_called}
    first = poll(source, fetcher, Cursor(), SourceHealth(), NOW, parsers={"kev-json": empty})
    cursor, health = first.cursor, first.health
    assert cursor.etag, first.health.last_error

    def once() -> None:
        out = poll(source, fetcher, cursor, health, NOW, parsers=parsers)
        assert out.unchanged, out.health.last_error

    for _ in range(20):  # warm up: connection pool, caches
        once()
    report(label, once)


def report(label: str, once: Callable[[], None]) -> None:
    """Print CPU (process and thread) and wall time per call, averaged over POLLS calls."""
    cpu, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
    for _ in range(POLLS):
        once()
    cpu = (time.process_time() - cpu) / POLLS * 1000
    thread = (time.thread_time() - thread) / POLLS * 1000
    wall = (time.perf_counter() - wall) / POLLS * 1000
    print(
        f"{label:<44} {cpu:6.3f} ms CPU/poll (thread {thread:.3f} ms, wall {wall:.3f} ms;"
        f" {POLLS} polls; target < 5 ms)"
    )


def main() -> None:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(target=serve, args=(child,))
    server.start()
    try:
        url = parent.recv()
        network = NetworkSettings(allow_hosts=["127.0.0.1"], timeout=timedelta(seconds=5))
        with Fetcher(network) as fetcher:
            measure("unchanged http source (304 from 127.0.0.1)", url, fetcher)
            with tempfile.TemporaryDirectory() as tmp:
                feed = Path(tmp) / "kev.json"
                feed.write_bytes(b"{}" * 50_000)
                measure("unchanged file:// source", feed.as_uri(), fetcher)
    finally:
        parent.send("done")
        server.join(timeout=10)


if __name__ == "__main__":
    main()
