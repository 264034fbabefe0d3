"""Benchmark matching: 10,000 advisories (1-20 rows) against 1,000,000 device groups.

Prints the time of a full re-evaluation, of one new advisory, and the peak memory.
Targets: full re-evaluation < 10 s; one new advisory < 10 ms.
"""

from __future__ import annotations

import random
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date

from bot.catalog import Catalog, CatalogEntry
from bot.findings import Context, advisory_findings
from bot.items import Advisory, AffectedRow, CveInfo, score_vector
from bot.matching import FleetIndex

GROUPS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ADVISORIES = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
SERIES = [
    "DS-2CD3{a}{b}1G2-I",
    "DS-2CD2{a}{b}3G2-IU",
    "DS-2CD7{a}{b}6G0-IZS",
    "DS-2DF8{a}{b}2IXS-AELW",
    "DS-96{a}{b}4NI-I16",
    "DS-76{a}{b}NI-I2",
    "iDS-77{a}{b}NXI-M4/X",
    "DS-2CD5{a}{b}6G0-IZHS",
]
PATTERNS = [
    "DS-2CD3{a}x1G2",
    "DS-2CD2xx3G2",
    "DS-2CD7{a}x6G0",
    "DS-2DF8{a}{b}2IXS-AELW",
    "DS-96xxxNI-Ix",
    "DS-76xxNI-Ix",
    "iDS-77xxNXI-Mx/X",
    "DS-2CD5{a}{b}6G0-IZHS",
]
VECTOR = score_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    fleet: str
    model: str
    firmware: str | None
    count: int
    site: str


def make_groups(rng: random.Random) -> list[Group]:
    firmwares = [
        f"V5.{rng.randint(4, 8)}.{rng.randint(0, 99)} build 2{rng.randint(0, 5)}0{rng.randint(1, 9)}15"
        for _ in range(300)
    ]
    out = []
    for i in range(GROUPS):
        model = rng.choice(SERIES).format(a=rng.randint(0, 9), b=rng.randint(0, 9))
        out.append(
            Group(
                f"g{i}",
                f"fleet{i % 500}",
                model,
                rng.choice(firmwares),
                rng.randint(1, 50),
                f"site{i % 3000}",
            )
        )
    return out


def make_advisories(rng: random.Random) -> list[Advisory]:
    out = []
    for i in range(ADVISORIES):
        cve = f"CVE-2025-{10000 + i}"
        rows = tuple(
            AffectedRow(
                rng.choice(PATTERNS).format(a=rng.randint(0, 9), b=rng.randint(0, 9)),
                cve,
                f"Versions below V5.{rng.randint(4, 8)}.{rng.randint(0, 99)} (including it)".replace(
                    "(including it)", ""
                ),
                f"V5.{rng.randint(5, 9)}.0",
            )
            for _ in range(rng.randint(1, 20))
        )
        out.append(
            Advisory(
                key=f"HSRC-2025{i:05d}",
                title="t",
                url="u",
                cves=(CveInfo(cve, (VECTOR,)),),
                rows=rows,
            )
        )
    return out


def main() -> None:
    rng = random.Random(1)
    groups = make_groups(rng)
    advisories = make_advisories(rng)
    ctx = Context(
        Catalog(
            [
                CatalogEntry("DS-2CD3xx1G2", date(2020, 1, 1), date(2025, 1, 1), "b"),
                CatalogEntry("DS-96xxxNI-Ix", date(2019, 1, 1), None, "b"),
            ]
        ),
        date(2026, 11, 28),
    )
    start = time.perf_counter()
    index = FleetIndex.build(groups)
    built = time.perf_counter() - start
    print(f"index {GROUPS:,} device groups ({len(index.models):,} models): {built:.2f} s")
    start = time.perf_counter()
    total = sum(len(advisory_findings(a, index, ctx)) for a in advisories)
    full = time.perf_counter() - start
    print(
        f"full re-evaluation of {ADVISORIES:,} advisories: {full:.2f} s, {total:,} findings"
        "  (target < 10 s)"
    )
    fresh = make_advisories(random.Random(2))[:200]
    times = []
    for a in fresh:
        t = time.perf_counter()
        advisory_findings(a, index, ctx)
        times.append((time.perf_counter() - t) * 1000)
    print(
        f"one new advisory: median {statistics.median(times):.2f} ms, "
        f"max {max(times):.2f} ms  (target < 10 ms)"
    )
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
