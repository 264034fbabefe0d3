"""Benchmark the state layer: fleet CSV import, one poll cycle's commit, memory held.

Run: ``.venv/bin/python bench/bench_state.py``. PostgreSQL figures need a server at
$FIRMWATCH_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres); a throwaway
database is created and dropped.
"""

from __future__ import annotations

import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bot.fleets import parse_fleet_csv
from state import Store, open_store, upgrade
from state.fleetsync import import_fleets

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("FIRMWATCH_TEST_POSTGRES_URL",
                       "postgresql://postgres@127.0.0.1:5432/postgres")
GROUPS, ITEMS, CYCLE_ITEMS = 100_000, 10_000, 100
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SERIES = ["DS-2CD3{0}21G2-I", "DS-2CD2{0}43G2-IU", "DS-2CD7{0}26G0-IZS", "DS-96{0}64NI-I16",
          "iDS-77{0}6NXI-M4/X", "DS-2DF8{0}42IXS-AELW"]


def fleet_csv(rows: int) -> str:
    """A fleet CSV of ``rows`` distinct device groups; a third of the models carry dates."""
    models = [s.format(d) for s in SERIES for d in range(10)] * 10
    models = [f"{m}({i})" if i else m for i, m in enumerate(models[:600])]
    lines = ["fleet,model,firmware,count,site,launched,discontinued"]
    for i in range(rows):
        m = i % len(models)
        dates = f"20{10 + m % 12}-0{1 + m % 9}-15,20{23 + m % 7}-12-31" if m % 3 == 0 else ","
        firmware = f"V5.{i % 9}.{i % 97} build 2{i % 5}0{1 + i % 9}15"
        lines.append(f"fleet-{i % 100},{models[m]},{firmware},{1 + i % 40},site-{i // 100},{dates}")
    return "\n".join(lines) + "\n"


def item_data(i: int) -> dict[str, Any]:
    """An advisory-sized JSON object (about 1.5 kB)."""
    return {"key": f"adv-{i}", "title": f"Security advisory {i}", "url": f"https://ex.com/{i}",
            "summary": "A vulnerability in the web interface. " * 10,
            "cves": [{"id": f"CVE-2025-{i:05d}", "score": 8.8, "vector": "CVSS:3.1/AV:N"}],
            "rows": [{"product": "DS-2CD3xx1G2", "affected": "Versions below V5.5.800",
                      "fixed": "V5.5.800"}] * 5}


def timed(label: str, work: Callable[[], object]) -> float:
    """Run ``work`` once and print its wall time."""
    start = time.perf_counter()
    work()
    took = time.perf_counter() - start
    print(f"  {label:<58} {took:8.3f} s", flush=True)
    return took


def add_items(store: Store, first: int, n: int) -> None:
    """One unit of work that stores ``n`` new items."""
    with store.transaction():
        for i in range(first, first + n):
            store.items.put(f"adv-{i}", "advisory", f"r{i}", item_data(i), NOW)


def bench_backend(launcher: Launcher, name: str, url: str, text: str) -> None:
    """Import, seed items, and time cycles on one backend."""
    print(f"{name}:")
    parsed: list[Any] = []
    timed("parse + validate 100,000-line fleet CSV",
          lambda: parsed.append(parse_fleet_csv(text, "fleets.csv")))
    with open_store(url) as store:
        timed("import 100,000 device groups (one unit of work)",
              lambda: import_fleets(store, parsed[0]))
        timed("import the same file again (nothing changes)",
              lambda: import_fleets(store, parsed[0]))
        timed(f"seed {ITEMS:,} items (one unit of work)", lambda: add_items(store, 0, ITEMS))
        runs = [timed(f"cycle: commit {CYCLE_ITEMS} new items (warm, run {k + 1})",
                      partial(add_items, store, ITEMS + k * CYCLE_ITEMS, CYCLE_ITEMS))
                for k in range(3)]
        print(f"  {'cycle median':<58} {statistics.median(runs):8.3f} s")
    with open_store(url) as store:
        timed(f"cycle: commit {CYCLE_ITEMS} new items (first after reopening)",
              lambda: add_items(store, ITEMS + 10 * CYCLE_ITEMS, CYCLE_ITEMS))
    print(f"  peak memory, process holding 100,000 device groups: {hold(launcher, url)}")


# ru_maxrss survives fork and exec on Linux, so a child of this (large) process would report our
# peak. Children are started by a small launcher process, begun before anything grows.
LAUNCHER = """
import subprocess, sys
for line in sys.stdin:
    done = subprocess.run(line.rstrip("\\n").split("\\t"), capture_output=True, text=True)
    print((done.stdout or done.stderr).strip().replace("\\n", " "), flush=True)
"""


class Launcher:
    """A small process that runs commands for us and returns their first line of output."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, *argv: str) -> str:
        """Run one command; its output."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\t".join(argv) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        """Stop the launcher."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()


def hold(launcher: Launcher, url: str) -> str:
    """Peak RSS of a fresh process that opens the store and lists every device group."""
    out = launcher.run(sys.executable, str(Path(__file__).resolve()), "--hold", url).split()
    return (f"{int(out[1]) / 1024:.0f} MiB ({out[0]} groups listed; the interpreter with"
            f" firmwatch imported: {int(out[2]) / 1024:.0f} MiB)")


def hold_main(url: str) -> None:
    """The child of ``hold``: print group count, peak RSS and the RSS before opening (KiB)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open_store(url) as store:
        groups = store.fleets.groups()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(len(groups), peak, before)


@contextmanager
def pg_database() -> Iterator[str | None]:
    """A throwaway PostgreSQL database URL, or None when no server answers."""
    try:
        admin = psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"postgresql: skipped ({str(exc).strip().splitlines()[0]})")
        yield None
        return
    name = f"firmwatch_bench_{secrets.token_hex(4)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = ADMIN.rsplit("/", 1)[0] + "/" + name
            upgrade(url)
            yield url
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    """Every figure, every backend."""
    launcher = Launcher()
    text = fleet_csv(GROUPS)
    print(f"fleet CSV: {GROUPS:,} lines, {len(text) / 1e6:.1f} MB; cycle items ~1.5 kB each")
    with tempfile.TemporaryDirectory() as tmp:
        bench_backend(launcher, "tinydb", f"tinydb:///{tmp}/state.json", text)
        size = Path(tmp, "state.json").stat().st_size
        print(f"  state file size: {size / 1e6:.1f} MB")
        bench_backend(launcher, "sqlite", f"sqlite:///{tmp}/state.db", text)
    with pg_database() as url:
        if url is not None:
            bench_backend(launcher, "postgresql", url, text)
    launcher.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--hold"]:
        hold_main(sys.argv[2])
    else:
        main()
