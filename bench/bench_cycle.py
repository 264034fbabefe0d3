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

from bot.config import parse
from bot.pipeline import run_cycle
from bot.sources.fetcher import Fetcher
from state import open_store

FLEET = """
[[receivers]]
name = "ops"
type = "console"

[[fleets]]
name = "hq"
receivers = ["ops"]

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.5.0 build 200911"
count = 40
site = "Site A"

[[fleets.devices]]
model = "iDS-7716NXI-M4/X"
firmware = "V4.62.200"
count = 2
site = "Site B"
"""


def main(rounds: int = 20) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with resources.as_file(resources.files("bot").joinpath("samples/sources")) as path:
            shutil.copytree(path, root / "sources")
        s = root / "sources"
        sources = [
            ("hik", "advisory", "hikvision-html", s / "hikvision" / "listing.html"),
            ("fw", "firmware", "firmware-json", s / "firmware.json"),
            ("nvd", "scores", "nvd-json", s / "nvd.json"),
            ("kev", "exploited", "kev-json", s / "kev.json"),
        ]
        text = "\n".join(
            f'[[sources]]\nname = "{n}"\nkind = "{k}"\nformat = "{f}"\nurl = "{p.as_uri()}"\n'
            for n, k, f, p in sources
        )
        settings = parse(text + FLEET, "bench.toml")
        now = datetime(2026, 11, 30, tzinfo=UTC)
        with (
            open_store(f"tinydb:///{root / 'state.json'}") as store,
            Fetcher(settings.network) as fetcher,
        ):
            start = time.perf_counter()
            first = run_cycle(store, settings, now, fetcher=fetcher, base=root)
            print(
                f"first cycle (13 new items, {len(first.alerts)} alerts): "
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
