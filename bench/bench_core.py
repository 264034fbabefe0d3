"""Benchmark the pure core: version comparisons and model-pattern matches per second."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from bot.catalog import parse_patterns
from bot.versions import parse_affected, parse_version


def rate(label: str, n: int, work: Callable[[], int]) -> None:
    """Run ``work`` (which does ``n`` operations) and print operations per second."""
    start = time.perf_counter()
    done = work()
    elapsed = time.perf_counter() - start
    assert done == n
    print(f"{label:<48} {n / elapsed:>14,.0f} /s  ({n:,} in {elapsed:.3f} s)")


def main() -> None:
    rng = random.Random(7)
    raw = [
        f"V{rng.randint(1, 6)}.{rng.randint(0, 12)}.{rng.randint(0, 900)} build "
        f"{rng.randint(15, 26):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        for _ in range(2_000)
    ]
    versions = [parse_version(t) for t in raw]
    pairs = [(rng.choice(versions), rng.choice(versions)) for _ in range(200_000)]
    rate("parse_version", len(raw), lambda: len([parse_version(t) for t in raw]))
    rate("version comparisons (a < b)", len(pairs), lambda: len([a < b for a, b in pairs]))
    rule = parse_affected("Versions below V5.5.800 (including V5.5.800)")
    rate("range checks (rule.contains)", len(versions) * 50,
         lambda: len([rule.contains(v) for _ in range(50) for v in versions]))

    patterns = [
        p
        for cell in ("DS-2CD3xx1G2", "DS-96xxxNI-Ix", "iDS-77xxNXI-Mx/X", "DS-A71024/48/72R",
                     "DS-2CD3621G2-LIZS(U)", "DS-2CD2121G0-I(W)(S)")
        for p in parse_patterns(cell)
    ]
    models = [
        f"DS-2CD3{rng.randint(10, 99)}1G2-I", f"DS-96{rng.randint(100, 999)}NI-I16",
        "iDS-7716NXI-M4/X", "DS-A71048", "DS-2CD3621G2-LIZSU", "DS-2CD2121G0-IWS",
        "DS-9664NI-I16", "DS-2CD2143G2-I",
    ] * 2_000
    rate("model-pattern matches (pattern.matches)", len(models) * len(patterns),
         lambda: len([p.matches(m) for m in models for p in patterns]))


if __name__ == "__main__":
    main()
