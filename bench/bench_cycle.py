"""Benchmark one whole ``firmwatch check`` cycle on the bundled samples with unchanged sources.

Copies the samples to a temporary folder, runs a first cycle (everything new), then times
further cycles where every source answers "unchanged" (or re-parses a file:// source) and
nothing is alerted. Prints the median and worst of the unchanged cycles.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from bot.commands.demo import demo_settings
from bot.pipeline import run_cycle
from bot.sources.fetcher import Fetcher
from state import open_store


def main(rounds: int = 20) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with resources.as_file(resources.files("bot").joinpath("samples/sources")) as path:
            shutil.copytree(path, root / "sources")
        (root / "catalog.csv").write_bytes(
            resources.files("bot").joinpath("samples/catalog.csv").read_bytes()
        )
        (root / "demo.toml").write_bytes(
            resources.files("bot").joinpath("samples/demo.toml").read_bytes()
        )
        settings = demo_settings(root)  # the demo's sources and fleets, on copies
        now = datetime(2026, 11, 30, tzinfo=UTC)
        with (
            open_store(f"tinydb:///{root / 'state.json'}") as store,
            Fetcher(settings.network) as fetcher,
        ):
            start = time.perf_counter()
            first = run_cycle(store, settings, now, fetcher=fetcher, base=root)
            print(
                f"first cycle (all items new, {len(first.alerts)} alerts): "
                f"{(time.perf_counter() - start) * 1000:.1f} ms"
            )
            times = []
            for i in range(rounds):
                start = time.perf_counter()
                report = run_cycle(
                    store, settings, now + timedelta(hours=i + 1), fetcher=fetcher, base=root
                )
                times.append((time.perf_counter() - start) * 1000)
                assert not report.alerts
            print(
                f"unchanged cycle over {rounds} runs: median {statistics.median(times):.1f} ms,"
                f" max {max(times):.1f} ms"
            )


if __name__ == "__main__":
    main()
