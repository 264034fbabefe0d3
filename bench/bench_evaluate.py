"""Benchmark a cycle's evaluation and routing as `firmwatch check` runs them, every finding made.

``bench_matching.py`` times matching at fleet scale with advisory findings kept in batches. A cycle
goes further: `bot.evaluate.evaluate` makes every finding (routing reads each one, the store keeps
each one) and `bot.routing.route` groups them into alerts per item and receiver, working out
each alert's material facts. This times those two steps on the same generated data (models,
fleets, advisories, catalog and releases shaped like a real estate; see bench_matching.py) at a
large customer's scale, then routes the same findings again with the first alerts remembered, as
the next unchanged cycle does (nothing is alerted).

With ``--store URL`` (``tinydb:///…``, ``sqlite:///…`` or ``postgresql://…``, which must be empty
and, for PostgreSQL, migrated) it also stores the findings as a cycle does, first into the empty
store, then again unchanged.

Usage: ``python bench/bench_evaluate.py [--groups N] [--advisories M] [--releases R] [--seed S]
[--store URL]``. Prints the figures (wall time, peak RSS); no targets: the issue's targets are
bench_matching's.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from collections.abc import Sequence
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

from bot.context import Context
from bot.evaluate import Knowledge, evaluate
from bot.matching import gc_paused
from bot.pipeline import CycleReport, store_findings
from bot.policy import DEFAULT_SEVERE_CVSS
from bot.routing import FleetRouting, Previous, Routing, route
from state import open_store

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print the figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--advisories", type=int, default=1_000)
    parser.add_argument("--releases", type=int, default=1_500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", help="an empty store to write the findings into, twice")
    args = parser.parse_args(argv)

    rng = Random(args.seed)
    plats = platforms(rng)
    specs = model_catalogue(rng)
    groups = make_groups(rng, args.groups, specs, plats)
    advisories = make_advisories(rng, args.advisories, specs, plats)
    catalog = make_catalog(rng, specs)
    releases = make_releases(rng, specs, plats, args.releases)
    known = Knowledge(advisories=advisories, releases=releases)
    figures: dict[str, float] = {"reference_s": machine_reference()}
    print(f"{len(groups):,} device groups, {len(advisories):,} advisories, {len(releases):,} "
          f"firmware releases; machine reference workload {figures['reference_s']:.3f} s CPU "
          "(see bench_matching.py)")
    gc.collect()

    start = time.perf_counter()
    evaluation = evaluate(known, groups, Context(catalog, TODAY))
    figures["evaluate_s"] = time.perf_counter() - start
    kinds = Counter(f.kind for _, found in evaluation.items for f in found)
    figures["findings"] = float(sum(kinds.values()))
    print(f"  evaluate (index, every finding made)   {figures['evaluate_s']:8.2f} s  "
          f"({sum(kinds.values()):,} findings: "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())) + ")")

    routing = Routing({fleet: FleetRouting(fleet, ("ops",)) for fleet in {g.fleet for g in groups}})
    start = time.perf_counter()
    with gc_paused():  # as run_cycle routes and stores
        alerts = route(evaluation.items, routing, NOW)
    figures["route_s"] = time.perf_counter() - start
    figures["alerts"] = float(len(alerts))
    print(f"  route (first cycle: everything new)    {figures['route_s']:8.2f} s  "
          f"({len(alerts):,} alerts)")

    routing.previous = {(a.receiver, a.item.key): Previous(a.material, a.facts) for a in alerts}
    start = time.perf_counter()
    with gc_paused():
        again = route(evaluation.items, routing, NOW)
    figures["route_again_s"] = time.perf_counter() - start
    print(f"  route (next cycle: nothing changed)    {figures['route_again_s']:8.2f} s  "
          f"({len(again):,} alerts)")
    if args.store:
        with open_store(args.store) as store:
            for name, label, at in (
                ("store_first_s", "store (first cycle: all new)", NOW),
                ("store_again_s", "store (next cycle: unchanged)", NOW + timedelta(hours=1)),
            ):
                report = CycleReport(at, TODAY, dry_run=False)
                start = time.perf_counter()
                with store.transaction(), gc_paused():
                    store_findings(store, evaluation, DEFAULT_SEVERE_CVSS, at, report)
                figures[name] = time.perf_counter() - start
                print(f"  {label:<38} {figures[name]:8.2f} s  "
                      f"({report.findings['open']:,} open findings)")
    figures["peak_rss_mib"] = peak_rss_mib()
    print(f"  peak memory (RSS)                      {figures['peak_rss_mib']:8,.0f} MiB")
    return figures


if __name__ == "__main__":
    main()
