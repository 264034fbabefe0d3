"""Tests for bot.versions, driven by tests/data/versions/*.toml, plus hypothesis properties."""

from __future__ import annotations

import datetime
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.versions import (
    AffectedParseError,
    BuildDateRule,
    Version,
    VersionError,
    VersionRange,
    is_customised,
    is_fixed,
    parse_affected,
    parse_fixed,
    parse_version,
    try_parse_version,
)

DATA = Path(__file__).parent / "data" / "versions"


def _load(name: str) -> dict[str, Any]:
    with (DATA / name).open("rb") as fh:
        return tomllib.load(fh)


PARSE = _load("parse.toml")["case"]
ORDER = _load("order.toml")["case"]
AFFECTED = _load("affected.toml")["case"]
FIXED = _load("fixed.toml")
INVALID = _load("invalid.toml")

# --- table-driven -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", PARSE, ids=[c["raw"] for c in PARSE])
def test_parse(case: dict[str, Any]) -> None:
    v = parse_version(case["raw"])
    assert v.raw == case["raw"]
    assert v.numbers == tuple(case["numbers"])
    assert v.suffix == tuple(case["suffix"])
    assert v.build == case.get("build")
    assert str(v) == case["display"]
    assert is_customised(case["raw"]) is case.get("customised", False)
    assert try_parse_version(case["raw"]) == v


@pytest.mark.parametrize("case", ORDER, ids=[f"{c['a']} {c['op']} {c['b']}" for c in ORDER])
def test_order(case: dict[str, Any]) -> None:
    a, b = parse_version(case["a"]), parse_version(case["b"])
    relation = "<" if a < b else ">" if a > b else "="
    assert relation == case["op"]
    assert (a == b) is (case["op"] == "=")
    assert (a <= b, a >= b) == (case["op"] in "<=", case["op"] in ">=")
    if a == b:
        assert hash(a) == hash(b)


@pytest.mark.parametrize("case", AFFECTED, ids=[c["phrase"] for c in AFFECTED])
def test_affected(case: dict[str, Any]) -> None:
    rule = parse_affected(case["phrase"])
    assert rule.describe() == case["describe"]
    for expected, key in ((True, "inside"), (False, "outside"), (None, "undecided")):
        for text in case.get(key, []):
            assert rule.contains(parse_version(text)) is expected, (key, text)


@pytest.mark.parametrize("case", FIXED["cell"], ids=[repr(c["text"]) for c in FIXED["cell"]])
def test_parse_fixed(case: dict[str, Any]) -> None:
    fixed = parse_fixed(case["text"])
    assert (None if fixed is None else str(fixed)) == case.get("display")


@pytest.mark.parametrize(
    "case", FIXED["is_fixed"], ids=[f"{c['device']} vs {c['fixed']}" for c in FIXED["is_fixed"]]
)
def test_is_fixed(case: dict[str, Any]) -> None:
    assert is_fixed(parse_version(case["device"]), parse_version(case["fixed"])) is case["expected"]


@pytest.mark.parametrize("text", INVALID["versions"])
def test_invalid_version(text: str) -> None:
    with pytest.raises(VersionError) as caught:
        parse_version(text)
    assert repr(text) in str(caught.value)
    assert try_parse_version(text) is None


@pytest.mark.parametrize("text", INVALID["phrases"])
def test_invalid_phrase(text: str) -> None:
    with pytest.raises(AffectedParseError) as caught:
        parse_affected(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("text", INVALID["fixed"])
def test_invalid_fixed(text: str) -> None:
    with pytest.raises(VersionError, match="cannot parse firmware version"):
        parse_fixed(text)


def test_error_message_and_none() -> None:
    with pytest.raises(VersionError) as caught:
        parse_version("foo")
    assert str(caught.value) == (
        "cannot parse firmware version 'foo': expected something like V5.5.800 build 210628"
    )
    assert try_parse_version(None) is None


def test_rules_refuse_to_match_everything() -> None:
    with pytest.raises(ValueError, match="needs a lower or an upper bound"):
        VersionRange(None, True, None, True)


# --- properties ---------------------------------------------------------------------------------

FEW = settings(max_examples=80, deadline=None, database=None)
DAYS = [datetime.date(2021, 6, 28), datetime.date(2023, 8, 22), datetime.date(2025, 8, 7)]
any_day = st.dates(datetime.date(1990, 1, 1), datetime.date(2199, 12, 31))
builds = st.none() | st.sampled_from(DAYS) | any_day
# Small numbers collide often, which is where ordering and range bugs live.
numbers = st.lists(st.integers(0, 3) | st.integers(0, 99_999), min_size=1, max_size=4).map(tuple)
suffixes = st.lists(st.integers(0, 9), max_size=2).map(tuple)


@st.composite
def version_texts(
    draw: st.DrawFn, build_days: st.SearchStrategy[datetime.date | None] = builds
) -> tuple[str, tuple[int, ...], tuple[int, ...], Any]:
    """A version string in one of the vendor's spellings, with the fields it should parse to."""
    nums, suffix, build = draw(numbers), draw(suffixes), draw(build_days)
    texts = [f"{n:03d}" if draw(st.booleans()) else str(n) for n in nums]
    text = draw(st.sampled_from(["V", "v", ""])) + ".".join(texts)
    text += "".join(f"-{s}" for s in suffix)
    if build is not None:
        long = f"{build.year:04d}{build.month:02d}{build.day:02d}"
        if not suffix and len(nums) >= 2 and draw(st.booleans()):
            text += "." + long  # HikCentral: 2.6.0.20240511
        else:
            short = long[2:] if 2000 <= build.year <= 2099 else long
            sep = draw(st.sampled_from([" build ", "build", " Build ", "_", " BUILD", "build "]))
            text += sep + short
    return draw(st.sampled_from(["", " "])) + text, nums, suffix, build


versions = version_texts().map(lambda t: parse_version(t[0]))
dated_versions = version_texts(st.sampled_from(DAYS) | any_day).map(lambda t: parse_version(t[0]))


@FEW
@given(version_texts())
def test_parses_every_spelling(case: tuple[str, tuple[int, ...], tuple[int, ...], Any]) -> None:
    text, nums, suffix, build = case
    v = parse_version(text)
    assert (v.numbers, v.suffix, v.build) == (nums, suffix, build)


@FEW
@given(versions)
def test_display_round_trips(v: Version) -> None:
    again = parse_version(str(v))
    assert (again.numbers, again.suffix, again.build) == (v.numbers, v.suffix, v.build)
    assert str(again) == str(v)
    assert Version("padded", (*v.numbers, 0, 0), v.suffix, v.build) == v


@FEW
@given(versions, versions, versions)
def test_order_is_total_and_matches_sort_key(a: Version, b: Version, c: Version) -> None:
    assert [a < b, a == b, a > b].count(True) == 1
    assert (a < b) is (a.sort_key() < b.sort_key())
    assert (a <= b) is (not a > b) and (a >= b) is (not a < b)
    assert (a == b) is (a <= b and b <= a)
    if a == b:
        assert hash(a) == hash(b)
    x, y, z = sorted([a, b, c])
    assert x <= y <= z and x <= z


@st.composite
def ranges(draw: st.DrawFn, bounds: st.SearchStrategy[Version] = versions) -> VersionRange:
    """A non-empty version range, sometimes open at one end."""
    low, high = sorted([draw(bounds), draw(bounds)])
    which = draw(st.sampled_from(["both", "low", "high"]))
    try:
        return VersionRange(
            None if which == "high" else low,
            draw(st.booleans()),
            None if which == "low" else high,
            draw(st.booleans()),
        )
    except ValueError:
        assume(False)
        raise


@FEW
@given(ranges(), versions, versions, versions)
def test_containment_is_monotonic(r: VersionRange, a: Version, b: Version, c: Version) -> None:
    v1, v2, v3 = sorted([a, b, c])
    if r.contains(v1) is True and r.contains(v3) is True:
        # Undecided is allowed: a version without a build beside a bound that has one.
        assert r.contains(v2) is not False
        if v2.build is not None or all(b.build is None for b in (r.low, r.high) if b):
            assert r.contains(v2) is True


@FEW
@given(ranges(dated_versions), dated_versions)
def test_full_precision_containment_is_plain_ordering(r: VersionRange, v: Version) -> None:
    low_ok = r.low is None or (v >= r.low if r.low_inclusive else v > r.low)
    high_ok = r.high is None or (v <= r.high if r.high_inclusive else v < r.high)
    assert r.contains(v) is (low_ok and high_ok)


@FEW
@given(ranges())
def test_description_reads_back_as_the_same_rule(r: VersionRange) -> None:
    assert parse_affected(r.describe()) == r


@FEW
@given(versions, versions)
def test_fixed_is_never_below_fixed(v: Version, fixed: Version) -> None:
    below_fixed = VersionRange(None, False, fixed, False)
    assert is_fixed(v, fixed) is (below_fixed.contains(v) is False)
    if v >= fixed:
        assert is_fixed(v, fixed)
        assert below_fixed.contains(v) is False


@FEW
@given(st.dates(datetime.date(2000, 1, 1), datetime.date(2099, 12, 31)), st.booleans(), versions)
def test_build_date_rule(day: datetime.date, inclusive: bool, v: Version) -> None:
    rule = BuildDateRule(day, inclusive)
    assert parse_affected(rule.describe()) == rule
    expected = None if v.build is None else v.build < day or (inclusive and v.build == day)
    assert rule.contains(v) is expected
