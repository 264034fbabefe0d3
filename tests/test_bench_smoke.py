"""Keep bench/bench_matching.py from rotting: run it end to end on a tiny fleet (no timings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench_loader import load_bench


def test_matching_benchmark_runs_on_small_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench("bench_matching")
    figures = bench.main(["--groups", "3000", "--advisories", "40", "--new", "5"])
    printed = capsys.readouterr().out
    for label in ("index build", "full re-evaluation", "findings produced", "one new advisory",
                  "candidate look-up", "peak memory"):
        assert label in printed
    assert figures["findings"] > 0
    assert figures["peak_rss_mib"] > 0
    assert {"build_s", "full_s", "new_median_ms", "new_p99_ms", "lookup_first_us"} <= set(figures)


def test_evaluate_benchmark_runs_on_small_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bench = load_bench("bench_evaluate")
    store = f"tinydb:///{tmp_path / 'state.json'}"
    figures = bench.main(["--groups", "2000", "--advisories", "30", "--releases", "200",
                          "--store", store])
    printed = capsys.readouterr().out
    for label in ("evaluate", "route (first cycle", "route (next cycle", "store (first cycle",
                  "store (next cycle", "peak memory"):
        assert label in printed
    assert figures["findings"] > 0 and figures["alerts"] > 0
    assert "0 alerts" in printed.split("route (next cycle")[1].splitlines()[0]


def test_estate_benchmark_runs_whole_cycles_and_unchanged_ones_alert_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bench = load_bench("bench_estate")
    store = f"tinydb:///{tmp_path / 'state.json'}"
    figures = bench.main(["--groups", "3000", "--advisories", "30", "--releases", "60",
                          "--fleets", "20", "--store", store])
    printed = capsys.readouterr().out
    for label in ("store filled", "first cycle", "unchanged", "one new advisory",
                  "the largest fleet upgraded", "unchanged again", "peak memory"):
        assert label in printed
    assert figures["cycle_0_alerts"] > 0
    assert figures["cycle_1_alerts"] == 0 and figures["cycle_4_alerts"] == 0
    assert figures["cycle_3_resolved"] > 0  # its groups left their affected firmware
