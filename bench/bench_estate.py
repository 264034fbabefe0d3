"""Benchmark whole ``firmwatch check`` cycles at a big customer's scale, store included.

``bench_cycle.py`` times a cycle on the bundled samples; ``bench_evaluate.py`` times evaluation
and routing alone. This runs `bot.pipeline.run_cycle` itself (fleets synced, findings stored and
resolved, routing memory read and written, alerts queued in the outbox) on a store holding an
estate shaped like bench_matching's data: 50,000 device groups in 200 fleets, each fleet sending
to one of 10 receivers, with a route for security-only and end-of-support findings; 300
advisories and 200 firmware releases already ingested (no source is polled: fetching and parsing
have their own benchmarks).

Timed cycles, in order: the first (everything new), an unchanged one, one after a new advisory,
one after every group of the largest fleet moved to other firmware, and an unchanged one again.
Each line gives the wall time, the alerts queued, the open findings and those resolved.

Usage: ``python bench/bench_estate.py [--groups N] [--advisories M] [--releases R]
[--store URL]``; the store defaults to a TinyDB file in a temporary folder (``sqlite:///…`` or an
empty, migrated ``postgresql://…`` also work). Prints the figures; no targets.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_matching, run as a script or not

from bench_matching import (
    TODAY,
    machine_reference,
    make_advisories,
    make_catalog,
    make_groups,
    make_releases,
    model_catalogue,
    peak_rss_mib,
    platforms,
)

from bot.catalog import Catalog
from bot.config import Settings, parse
from bot.fleets import DeviceGroup, Fleet
from bot.items import Item
from bot.pipeline import CycleReport, run_cycle
from bot.sources.fetcher import Fetcher
from state import Store, open_store

RECEIVERS = 10
NOW = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=9)


def settings_text(receivers: int) -> str:
    """bot.toml for the estate: console receivers (the cycle only queues), one planning route."""
    parts = [
        "[state]\nurl = \"tinydb:///unused.json\"\n",
        "[policy]\nsource_receivers = []\n",
    ]
    parts += [f"[[receivers]]\nname = \"team-{n}\"\ntype = \"console\"\n" for n in range(receivers)]
    parts.append("[[receivers]]\nname = \"planning\"\ntype = \"console\"\n")
    parts.append(
        "[[routes]]\nname = \"replacement-planning\"\nreceivers = [\"planning\"]\n"
        "stages = [\"security-only\", \"end-of-support\"]\n"
    )
    return "\n".join(parts)


def fill(store: Store, groups: Sequence[DeviceGroup], items: Sequence[Item],
         catalog: Catalog, now: datetime, receivers: int) -> None:
    """The estate's fleets (each with one team's receiver), groups, catalog and items."""
    with store.transaction():
        store.catalog.put(catalog.entries())
        for n, name in enumerate(sorted({g.fleet for g in groups})):
            store.fleets.put(Fleet(name, receivers=(f"team-{n % receivers}",)))
        store.fleets.put_groups(groups)
        for item in items:
            store.items.put_item(item, now)


def cycle(store: Store, settings: Settings, base: Path, now: datetime, fetcher: Fetcher,
          label: str) -> CycleReport:
    """One timed cycle, printed."""
    start = time.perf_counter()
    report = run_cycle(store, settings, now, fetcher=fetcher, base=base, only=())
    wall = time.perf_counter() - start
    print(f"  {label:<44} {wall:7.2f} s  ({report.enqueued:,} alerts queued, "
          f"{report.findings.get('open', 0):,} open findings, "
          f"{report.findings.get('resolved', 0):,} resolved)", flush=True)
    return report


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=50_000)
    parser.add_argument("--advisories", type=int, default=300)
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--fleets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", help="an empty store (default: a TinyDB file in a temp dir)")
    args = parser.parse_args(argv)

    rng = Random(args.seed)
    plats = platforms(rng)
    specs = model_catalogue(rng)
    groups = [replace(g, fleet=f"fleet-{zlib.crc32(g.fleet.encode()) % args.fleets:03}")
              for g in make_groups(rng, args.groups, specs, plats)]
    groups = list({g.key: g for g in groups}.values())  # fleets merged: keys stay unique
    advisories = make_advisories(rng, args.advisories + 1, specs, plats)
    later = advisories.pop()  # published after the first cycles
    catalog = make_catalog(rng, specs)
    releases = make_releases(rng, specs, plats, args.releases)
    print(f"{len(groups):,} device groups in {len({g.fleet for g in groups})} fleets, "
          f"{len(advisories):,} advisories, {len(releases):,} firmware releases, "
          f"{RECEIVERS} receivers; machine reference workload {machine_reference():.3f} s CPU "
          "(see bench_matching.py)", flush=True)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        settings = parse(settings_text(RECEIVERS), "bench.toml")
        url = args.store or f"tinydb:///{base / 'state.json'}"
        with open_store(url) as store, Fetcher(settings.network) as fetcher:
            start = time.perf_counter()
            fill(store, groups, [*advisories, *releases], catalog, NOW, RECEIVERS)
            print(f"  {'store filled (fleets, groups, items)':<44} "
                  f"{time.perf_counter() - start:7.2f} s", flush=True)
            at = NOW
            steps = ("first cycle (everything new)", "unchanged", "one new advisory",
                     "the largest fleet upgraded", "unchanged again")
            for step, label in enumerate(steps):
                if step == 2:
                    with store.transaction():
                        store.items.put_item(later, at)
                if step == 3:
                    largest = max({g.fleet for g in groups},
                                  key=lambda f: sum(g.fleet == f for g in groups))
                    moved = [g for g in groups if g.fleet == largest]
                    with store.transaction():
                        store.fleets.remove_groups([g.key for g in moved])
                        store.fleets.put_groups(
                            replace(g, firmware="V9.9.9 build 261201") for g in moved)
                start = time.perf_counter()
                report = cycle(store, settings, base, at, fetcher, label)
                figures[f"cycle_{step}_s"] = time.perf_counter() - start
                figures[f"cycle_{step}_alerts"] = float(report.enqueued)
                figures[f"cycle_{step}_resolved"] = float(report.findings.get("resolved", 0))
                at += timedelta(minutes=30)
    figures["peak_rss_mib"] = peak_rss_mib()
    print(f"  {'peak memory (RSS)':<44} {figures['peak_rss_mib']:7,.0f} MiB")
    return figures


if __name__ == "__main__":
    main()
