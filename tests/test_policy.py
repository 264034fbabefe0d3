"""The LTS policy: stages on dates, stage changes and fix promises, driven by tests/data/policy."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.policy import (
    Promise,
    Stage,
    StageInfo,
    add_years,
    combine,
    fix_promise,
    promise_sentence,
    stage_changes,
    stage_on,
)
from tests.conftest import case_id, load_cases

STAGES = load_cases("policy/stages.toml")
PROMISES = load_cases("policy/promises.toml")


@pytest.mark.parametrize("case", STAGES, ids=case_id)
def test_stage_on(case: dict[str, Any]) -> None:
    info = stage_on(case["covered"], case.get("launched"), case.get("discontinued"), case["on"])
    assert info.stage == Stage(case["stage"])
    assert info.ends == case.get("ends")
    assert (info.next_stage.value if info.next_stage else None) == case.get("next")
    if "reason" in case:
        assert info.reason == case["reason"]


@pytest.mark.parametrize("case", PROMISES, ids=case_id)
def test_fix_promise(case: dict[str, Any]) -> None:
    info = StageInfo(Stage(case["stage"]), None, None, "")
    result = fix_promise(info, case.get("score"), case.get("version"), case.get("threshold", 7.0))
    assert result.promise == Promise(case["promise"])
    assert result.cvss_note == case.get("note")


def test_unknown_launch_but_not_discontinued_still_promises_fixes() -> None:
    info = stage_on(True, None, date(2027, 3, 1), date(2026, 11, 28))
    assert info.stage is Stage.UNKNOWN
    assert fix_promise(info, 4.0, "3.1").promise is Promise.YES
    assert "2027-03-01" in promise_sentence(info)


@pytest.mark.parametrize(
    ("promises", "expected"),
    [
        ([Promise.YES, Promise.YES], Promise.YES),
        ([Promise.NO], Promise.NO),
        ([Promise.YES, Promise.NO], Promise.PARTIAL),
        ([Promise.UNKNOWN, Promise.NO], Promise.UNKNOWN),
        ([Promise.YES, Promise.UNKNOWN], Promise.PARTIAL),
        ([], Promise.UNKNOWN),
        # several device groups' promises (each already folded over its CVEs): partial stays so
        ([Promise.PARTIAL], Promise.PARTIAL),
        ([Promise.PARTIAL, Promise.PARTIAL], Promise.PARTIAL),
        ([Promise.PARTIAL, Promise.NO], Promise.PARTIAL),
        ([Promise.PARTIAL, Promise.YES], Promise.PARTIAL),
    ],
)
def test_combine_per_cve_promises(promises: list[Promise], expected: Promise) -> None:
    assert combine(promises) is expected


@pytest.mark.parametrize(
    ("stage", "launched", "discontinued", "on", "needle"),
    [
        ("intense", date(2025, 1, 1), None, date(2026, 1, 1), "until 2027-01-01"),
        ("dynamic", date(2020, 1, 1), None, date(2026, 1, 1), "no discontinuation date is known"),
        ("dynamic", date(2020, 1, 1), date(2027, 5, 1), date(2026, 1, 1), "until 2027-05-01"),
        ("security-only", date(2018, 1, 1), date(2025, 6, 30), date(2026, 1, 1), "2030-06-30"),
        (
            "end-of-support",
            date(2014, 1, 1),
            date(2021, 11, 27),
            date(2026, 11, 28),
            "Out of support since 2026-11-27",
        ),
    ],
)
def test_promise_sentence(
    stage: str, launched: date, discontinued: date | None, on: date, needle: str
) -> None:
    info = stage_on(True, launched, discontinued, on)
    assert info.stage == Stage(stage)
    assert needle in promise_sentence(info)


def test_not_covered_sentence() -> None:
    info = stage_on(False, None, None, date(2026, 1, 1))
    assert promise_sentence(info) == (
        "This model is outside Hikvision's LTS policy: no fix is promised."
    )


days = st.dates(min_value=date(2005, 1, 1), max_value=date(2040, 12, 31))


@given(launched=days, gap=st.integers(0, 5000), on=days)
def test_stage_on_agrees_with_stage_changes(launched: date, gap: int, on: date) -> None:
    """The stage on any date is the last stage change at or before it."""
    discontinued = date.fromordinal(launched.toordinal() + gap)
    changes = stage_changes(True, launched, discontinued)
    assert [d for d, _ in changes] == sorted(d for d, _ in changes)
    before = [s for d, s in changes if d <= on]
    info = stage_on(True, launched, discontinued, on)
    if before:
        assert info.stage is before[-1]
    later = [(d, s) for d, s in changes if d > on]
    if later and before:
        assert (info.ends, info.next_stage) == later[0]


@given(day=days, years=st.integers(0, 10))
def test_add_years_keeps_month(day: date, years: int) -> None:
    shifted = add_years(day, years)
    assert (shifted.year, shifted.month) == (day.year + years, day.month)
    assert shifted.day in (day.day, 28)
