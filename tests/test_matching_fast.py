"""The fleet-scale matching paths agree with the plain definition (tests/reference_matching.py).

The index remembers pattern look-ups and buckets groups by version; findings copy shared fields
from a first finding; versions, patterns, stages and releases are looked up through caches. Each
is checked here against the one-by-one definition, on generated data: the same findings (the
definition's order is row by row, group by group; the fast path's row by row, model by model).
"""

from __future__ import annotations

import gc
import random
import re
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.catalog import Catalog, CatalogEntry, ModelPattern, normalize_model
from bot.context import Context, stage_of
from bot.finding import Finding
from bot.findings import advisories_findings, advisory_findings
from bot.fixes import AdvisoryFixes
from bot.items import Advisory, AffectedRow, CveInfo, FirmwareRelease, score_vector
from bot.matching import FleetIndex, match_advisory
from bot.models import _PLAIN_MODEL, PatternError, _compile, _read
from bot.releasefindings import match_release, release_findings
from bot.releaseindex import release_for, release_index
from bot.rows import resolves
from bot.versions import (
    Version,
    VersionError,
    VersionOrder,
    VersionRange,
    _compare_at,
    is_fixed,
    parse_version,
)
from tests import reference_matching as ref
from tests.bench_loader import load_bench

MODELS = [
    "DS-2CD2143G2-I", "DS-2CD2143G2-IS", "DS-2CD2343G2-IU", "DS-2CD2T47G2-L", "DS-2CD2043G2-I",
    "DS-2CD3026G2-IS(C)", "DS-2CD3621G2-LIZSU", "DS-2CD3621G2-LIZS", "DS-2CD3321G2-I",
    "DS-2CD7326G0-IZS", "DS-2CD7526G0-IZHS", "DS-7608NI-I2/8P", "DS-7616NI-K2", "DS-7732NI-I4",
    "DS-96064NI-I16", "DS-9664NI-I16", "iDS-7716NXI-M4/X", "IDS-7716NXI-M4/X",
    "DS-2DF8442IXS-AELW(T5)", "DS-2DE4425IW-DE(T5)", "DS-A71048", "DS-A71072R",
    "DS-2CD1023G0-I(D)", "DS-2CD1023G0-I", "HikCentral Professional", "ds-2cd2143g2-i",
    "DS-2XD8A47G2-L", "DS-2CD2143G2-I (2.8mm)", "DS-7616NI-I2", "DS-71234NI-I2/8P",
    "not a model ☃",
]
PRODUCTS = [
    "DS-2CD2xx3G2", "DS-2CD21x3G2", "DS-2CD2143G2", "DS-2CD2143G2-I", "DS-2CD3621G2-LIZS(U)",
    "DS-76xxNI-Ix", "DS-96xxxNI-Ix", "iDS-77xxNXI-Mx/X", "DS-2CD7xxx", "DS-2CD3xx1G2",
    "DS-2DF8xxxIXS-AELW(T5)", "ds-2cd2x43g2", "DS-2CD2143G2-I, DS-2CD2343G2-IU",
    "DS-2CD1023G0-I including(D)、(E)", "DS-A71024/48/72R", "HikCentral Professional",
    "DS-2CD2xx3G2 cameras", "Some cameras and related", "DS-7608NI-I2/8P", "DS-2CD3026G2-IS(C)",
    "DS-2CD2xx3G2\nDS-2CD21x3G2", "DS-2XD8A47G2", "DS-76xxNI-I", "DS-7xxxxNI-I",
]
FIRMWARE = [
    "V5.5.800 build 210628", "V5.5.800", "V5.5.8", "V5.5.80", "V5.5.800_210628",
    "V5.5.801 build 210901", "V5.7.13 build 230822", "V5.7.13_230822", "V5.7.3", "V5.7.4",
    "V5.7.10", "V4.30.096build221220", "V4.30.000", "V4.30", "V4.31.000", "V2.3.8-6", "V2.3.8-8",
    "V2.3.8", "2.6.0.20240511", "", None, "unknown", "V5.5.0 build 250807", "V5.5.0 build 250806",
    "V5.4.5 build 160928", "V5.10.0", "V5.9.72", "v5.5.800 build 210628", "V4.22.005",
    "V5.5.801", "V5.5.0",
]
AFFECTED = [
    "Versions below V5.5.800 (including V5.5.800)", "below V5.5.800",
    "Versions below V5.5.800 build 210628", "Versions between V4.30.000 and V4.31.000",
    "Versions after V5.5.0 (including V5.5.0) and before V5.7.4\uff08not including V5.7.4\uff09",
    "V4.22.005 and the versions prior to it", "Version V5.5.800", "Version V5.5.800 build 210628",
    "Build date before 250807", "Build date on or before 250807", "V2.X ≤ V2.3.8-6",
    "lessThan V5.7.10",
    "Versions after V5.5.800 build 210628", "Versions between V5.5.0 build 200101 and V5.7.13",
    "Versions below V5.10.0", "V5.X ≤ V5.7.13 build 230822", "whatever the vendor says",
]
FIXED = [
    "V5.5.801 build 210901", "V5.5.800", "V5.7.4", "N/A", "V4.31.005", "V5.7.10 and later", "",
    "V5.5.800 build 210628", "garbage", "V2.3.8-8", "V5.5.0 build 250807",
]
VECTORS = [
    score_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
    score_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"),
    score_vector("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
]
CATALOG = ["DS-2CD2xx3G2", "DS-2CD2143G2-I", "DS-76xxNI-Ix", "DS-96xxxNI-Ix", "iDS-77xxNXI-Mx/X",
           "DS-2CD7xxx", "DS-2CD3621G2-LIZS(U)", "DS-7608NI-I2/8P", "DS-2CD3xx1G2"]
DAYS = [date(2014, 1, 1), date(2019, 6, 1), date(2021, 11, 27), date(2024, 12, 31), None]


Row = tuple[str, str | None, str, str]


@dataclass(frozen=True)
class Group:
    """A device group with the key given (so tests can make two groups share one)."""

    key: str
    fleet: str
    model: str
    firmware: str | None
    count: int
    site: str


groups_st = st.lists(
    st.tuples(st.sampled_from(MODELS), st.sampled_from(FIRMWARE), st.sampled_from("ab"),
              st.integers(1, 3)),
    max_size=40,
)
rows_st = st.lists(
    st.tuples(st.sampled_from(PRODUCTS), st.sampled_from([None, "CVE-1", "CVE-2", "CVE-9"]),
              st.sampled_from(AFFECTED), st.sampled_from(FIXED)),
    min_size=1,
    max_size=6,
)
cves_st = st.lists(
    st.tuples(st.sampled_from(["CVE-1", "CVE-2", "CVE-3"]), st.integers(0, 2),
              st.sampled_from([None, date(2022, 1, 10)])),
    max_size=3,
)
catalog_st = st.lists(
    st.tuples(st.sampled_from(CATALOG), st.sampled_from(DAYS), st.sampled_from(DAYS)), max_size=5
)
releases_st = st.lists(
    st.tuples(st.lists(st.sampled_from(MODELS[:-1] + PRODUCTS[:16]), min_size=1, max_size=3),
              st.sampled_from([f for f in FIRMWARE if f] + ["not a version"])),
    max_size=4,
)


def _groups(raw: list[tuple[str, str | None, str, int]], shared_keys: bool) -> list[Group]:
    out = []
    for i, (model, firmware, site, count) in enumerate(raw):
        key = f"k{i % 3}" if shared_keys else f"k{i}"
        out.append(Group(key, "fleet" if i % 4 else "other", model, firmware, count, site))
    return out


def _advisory(key: str, rows: list[Row],
              cves: list[tuple[str, int, date | None]]) -> Advisory:
    infos = {c: CveInfo(c, (VECTORS[v],), kev_added=k) for c, v, k in cves}
    return Advisory(key=key, title="t", url="u", cves=tuple(infos.values()),
                    rows=tuple(AffectedRow(*r) for r in rows))


def _catalog(raw: list[tuple[str, date | None, date | None]]) -> Catalog:
    entries, seen = [], set()
    for pattern, launched, stop in raw:
        if pattern in seen:
            continue
        seen.add(pattern)
        if launched and stop and stop < launched:
            launched, stop = stop, launched
        entries.append(CatalogEntry(pattern, launched, stop, "test"))
    return Catalog(entries)


def _releases(raw: list[tuple[list[str], str]]) -> list[FirmwareRelease]:
    return [
        FirmwareRelease(key=f"r{i}", title="t", models=tuple(models), version=version,
                        download_url=f"https://example.com/{i}.zip")
        for i, (models, version) in enumerate(raw)
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=groups_st, advisories=st.lists(st.tuples(rows_st, cves_st), min_size=1, max_size=3),
       catalog=catalog_st, releases=releases_st, shared_keys=st.booleans(),
       on=st.sampled_from([date(2020, 1, 1), date(2026, 11, 28)]))
def test_findings_agree_with_the_definition(
    groups: list[tuple[str, str | None, str, int]],
    advisories: list[tuple[list[Row], list[tuple[str, int, date | None]]]],
    catalog: list[tuple[str, date | None, date | None]],
    releases: list[tuple[list[str], str]],
    shared_keys: bool,
    on: date,
) -> None:
    fleet = _groups(groups, shared_keys)
    ctx = Context(_catalog(catalog), on)
    fw = _releases(releases)
    index, plain = FleetIndex.build(fleet), ref.build(fleet)
    for n, (rows, cves) in enumerate(advisories):  # one index: memoised look-ups carry over
        advisory = _advisory(f"A{n}", rows, cves)
        found = advisory_findings(advisory, index, ctx, fw)
        assert same(found, ref.advisory_findings(advisory, plain, ctx, fw))
        assert found.by_status() == Counter(f.status for f in found)
        hits = [(h.entry.group.key, h.cve, h.status, h.reason)
                for h in match_advisory(advisory, index)]
        expected = [(h.entry.group.key, h.cve, h.status, h.reason)
                    for h in ref.match_advisory(advisory, plain)]
        assert hits == expected


def same(found: Iterable[Finding], expected: Iterable[Finding]) -> bool:
    """The same findings, whatever their order (keys are unique within an advisory)."""
    return sorted(found, key=lambda f: f.key) == sorted(expected, key=lambda f: f.key)


def test_bench_data_agrees_with_the_definition() -> None:
    """Realistic data from the benchmark's generator: a hundred advisories, one index."""
    bench = load_bench("bench_matching")

    rng = random.Random(3)
    plats = bench.platforms(rng)
    specs = bench.model_catalogue(rng)
    groups = bench.make_groups(rng, 3_000, specs, plats)
    advisories = bench.make_advisories(rng, 100, specs, plats)
    entries = bench.make_catalog(rng, specs).entries()  # the reference tries entries one by one:
    ctx = Context(Catalog([*entries[:300], *entries[-10:]]), bench.TODAY)  # a smaller catalog
    releases = bench.make_releases(rng, specs, plats, 300)
    index, plain = FleetIndex.build(groups), ref.build(groups)
    total = 0
    for advisory in advisories:
        found = advisory_findings(advisory, index, ctx, releases)
        assert same(found, ref.advisory_findings(advisory, plain, ctx, releases)), advisory.key
        assert len(found) == len(list(found)) and found.by_status() == Counter(
            f.status for f in found
        )
        total += len(found)
    assert total > 100  # the data does touch the fleet
    # A cycle judges many advisories' rows at once: the same findings, chunk by chunk.
    lookup = release_index(releases)
    for advisory, found in zip(
        advisories, advisories_findings(advisories, index, ctx, lookup, chunk=7), strict=True
    ):
        expected = advisory_findings(advisory, index, ctx, releases)
        assert list(found) == list(expected) and found.by_status() == expected.by_status()
    index.clear_caches()  # and forgetting the look-ups changes nothing
    for advisory in advisories[:20]:
        assert same(
            advisory_findings(advisory, index, ctx, releases),
            ref.advisory_findings(advisory, plain, ctx, releases),
        )


version_texts = st.builds(
    lambda nums, suffix, build: "V" + ".".join(map(str, nums))
    + (f"-{suffix}" if suffix is not None else "") + (f" build {build}" if build else ""),
    st.lists(st.integers(0, 12), min_size=1, max_size=4),
    st.none() | st.integers(0, 9),
    st.none() | st.sampled_from(["210628", "210629", "230822", "160928"]),
)


@settings(max_examples=300, deadline=None)
@given(versions=st.lists(version_texts, min_size=1, max_size=25), low=st.none() | version_texts,
       high=st.none() | version_texts, flags=st.tuples(st.booleans(), st.booleans()),
       fixed=st.none() | version_texts)
def test_version_order_span_is_the_range(
    versions: list[str], low: str | None, high: str | None, flags: tuple[bool, bool],
    fixed: str | None,
) -> None:
    """Bisection picks exactly the versions `contains` and `is_fixed` say are affected."""
    if low is None and high is None:
        return
    try:
        rule = VersionRange(_v(low), flags[0], _v(high), flags[1])
    except ValueError:
        return
    parsed = [parse_version(t) for t in versions]
    order = VersionOrder(v.sort_key() for v in parsed)
    start, end, odd = order.span(rule)
    cut = order.first_at_or_past(parse_version(fixed)) if fixed else len(order)
    for v in parsed:
        rank = order.rank(v)
        if rank in odd:
            continue
        expected = rule.contains(v) is True and not (fixed and is_fixed(v, parse_version(fixed)))
        assert (start <= rank < min(end, cut)) == expected, (str(v), rank, start, end, cut)
        assert rule.contains(v) is not None
    for bound in (rule.low, rule.high):
        if bound is not None:
            undecided = [v for v in parsed if _compare_at(v, bound) is None]
            assert {order.rank(v) for v in undecided} <= set(odd)


def _v(text: str | None) -> Version | None:
    return None if text is None else parse_version(text)


pattern_texts = st.sampled_from(
    [*PRODUCTS[:16], "DS-2CD2x4xG2-I", "DS-96xxxNI-I16", "DS-A71024/48/72R", "ds-2xd8a47g2-l",
     "DS-2CDxxxxG2", "DS-2CD2043G2-I/2143G2", "DS-2CD2143G2-I(W)(S)", "DS-2CD2143G2-I(S)",
     "DS-2CD21x3G2-LIZS(U)", "ds-2cd2xx3g2-i(s)", "DS-2CD2(1)43G2-I", "DS-2CD2143G2-I(x)",
     "DS-2CD2143G2-I(1x)", "DS-76xxNI-I", "DS-7xxxxNI-I", "DS-2CD2xx3G2-I"]
).filter(lambda t: _readable(t))


def _readable(text: str) -> bool:
    try:
        ModelPattern(text)
    except ValueError:
        return False
    return True


model_texts = st.sampled_from(MODELS[:-1]) | st.builds(
    lambda a, b, c, tail: f"DS-2CD{a}{b}{c}3G2{tail}",
    st.sampled_from("12X"), st.sampled_from("0145X"), st.sampled_from("0123456789"),
    st.sampled_from(["", "-I", "/SL", "(C)", "-IU(B)", "X", "-I(S)", "-IS", "-I(W)S", "-LIZSU",
                     "-LIZS(U)", "-LIZS(U)/SL", "-I(8)", "-I8", "-i(s)"]),
)


def test_optional_brackets_are_listed_in_full() -> None:
    """An optional bracket group is absent, or its text with or without brackets: listed, so
    matching needs no regex (most bracketed entries used to compile one)."""
    compiled = _compile("DS-2CD2143G2-I(S)")
    assert compiled.listed
    assert set(compiled.heads) == {"DS-2CD2143G2-I", "DS-2CD2143G2-IS", "DS-2CD2143G2-I(S)"}
    wild = _compile("DS-2CD21x3G2-I(S)")
    assert wild.listed and len(wild.heads) == 30
    assert not _compile("DS-2CD2143G2-I(1x)").listed  # a run at a segment end: 1 or more digits


_ENTRY_PARTS = st.sampled_from(
    ["DS-", "iDS-", "ids-", "HIK", "IVMS-", "2CD", "2143", "G2", "-", "--", "-I", "S", "x", "X",
     "(C)", "/SL", ".", "+", "_", " ", "SERIES", "-SERIES-", "\u2013", "\u00b7", "9", "A", "mm",
     "\uff12", "\u0663"]
)


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(_ENTRY_PARTS, min_size=1, max_size=8))
@example(parts=["iDS-", "-", "2CD"])  # "iDS--2CD": the doubled hyphen spans "iDS-"
@example(parts=["DS-", "\uff12", "CD"])  # a full-width digit: "\\d" took it, `_read` folds it
@example(parts=["DS-", "\u0663", "CD"])  # an Arabic-Indic digit: `_read` refuses it
def test_plain_entries_read_in_one_step_as_part_by_part(parts: list[str]) -> None:
    """`_compile` reads a plain model number in one step; what it gives is what reading it
    part by part (`_read`) gives, and any other entry is read part by part."""
    raw = "".join(parts)
    try:
        slow = _read(raw)
    except PatternError as exc:
        with pytest.raises(PatternError, match=re.escape(str(exc))):
            _compile.__wrapped__(raw)
        return
    fast = _compile.__wrapped__(raw)
    assert [getattr(fast, a) for a in _COMPILED] == [getattr(slow, a) for a in _COMPILED]


_COMPILED = ("_body", "counts", "heads", "lengths", "listed", "model", "prefix", "wildcards")


def test_plain_entries_are_those_of_one_model_number() -> None:
    taken = ["DS-2CD2143G2-IS", "iDS-7716NXI-M4", "DS-K1T341AM", "DS-3E0105P-E", "DS-2CD2.1+_9"]
    left = ["DS-2CD2xx3G2", "DS-2CD2143G2-I(S)", "DS-7608NI-I2/8P", "HIKCENTRAL-2", "DS--2CD1",
            "DS-2CD2143G2-", "ds-2cd2143g2", "DS-2CD2143G2 series", "DS-SERIES-2", "IVMS-4200",
            "iDS--2CD1", "DS-\uff12CD2143G2-I", "DS-\u0663CD2143G2-I",
            "DS-CAM", "DS-2CD2143G2."]
    assert [t for t in taken if not _PLAIN_MODEL.fullmatch(t)] == []
    assert [t for t in left if _PLAIN_MODEL.fullmatch(t)] == []


@settings(max_examples=300, deadline=None)
@given(pattern=pattern_texts, model=model_texts)
def test_listed_patterns_match_like_their_regex(pattern: str, model: str) -> None:
    compiled = _compile(pattern)
    key = normalize_model(model)
    assert compiled.matches(key) == (compiled.loose.fullmatch(key) is not None)
    assert compiled.matches_exact(key) == (compiled.exact.fullmatch(key) is not None)
    if compiled.matches(key):
        assert any(key.startswith(h) for h in compiled.heads)


@settings(max_examples=200, deadline=None)
@given(catalog=catalog_st, model=st.sampled_from(MODELS[:-1]))
def test_catalog_lookup_is_the_ranked_scan(
    catalog: list[tuple[str, date | None, date | None]], model: str
) -> None:
    built = _catalog(catalog)
    assert built.lookup(model) == ref.lookup(built, model)


@settings(max_examples=200, deadline=None)
@given(releases=releases_st, model=st.sampled_from(MODELS[:-1]),
       fixed=st.none() | st.sampled_from([f for f in FIRMWARE if f and f != "unknown"]))
def test_release_index_is_the_linear_search(
    releases: list[tuple[list[str], str]], model: str, fixed: str | None
) -> None:
    fw = _releases(releases)
    key = normalize_model(model)
    bound = parse_version(fixed) if fixed else None
    assert release_index(fw).best(key, bound) == ref.release_for(key, bound, fw)
    assert release_for(key, bound, fw) == ref.release_for(key, bound, fw)


@settings(max_examples=200, deadline=None)
@given(groups=groups_st, advisories=st.lists(rows_st, min_size=1, max_size=4),
       releases=releases_st)
def test_advisory_fixes_are_the_row_by_row_definition(
    groups: list[tuple[str, str | None, str, int]],
    advisories: list[list[Row]],
    releases: list[tuple[list[str], str]],
) -> None:
    """What a release resolves, per model and current firmware, as `rows.resolves` says."""
    listed = [_advisory(f"A{n}", rows, []) for n, rows in enumerate(advisories)]
    index = FleetIndex.build(_groups(groups, shared_keys=False))
    fw = _releases(releases)
    fixes = AdvisoryFixes.for_releases(listed, index, fw)
    for release in fw:
        try:
            version = parse_version(release.version)
        except VersionError:
            continue
        for entry in match_release(release, index):
            assert fixes.resolves(version, entry.model, entry.version) == tuple(resolves(
                version, entry.model, listed, entry.version
            ))
            assert fixes.resolves(version, entry.model) == tuple(
                resolves(version, entry.model, listed)
            )


@settings(max_examples=150, deadline=None)
@given(groups=groups_st, advisories=st.lists(rows_st, min_size=1, max_size=4),
       releases=releases_st, catalog=catalog_st)
def test_release_findings_agree_with_the_definition(
    groups: list[tuple[str, str | None, str, int]],
    advisories: list[list[Row]],
    releases: list[tuple[list[str], str]],
    catalog: list[tuple[str, date | None, date | None]],
) -> None:
    """Every "update available" finding, copies of a first one included, field for field."""
    listed = [_advisory(f"A{n}", rows, []) for n, rows in enumerate(advisories)]
    fleet = _groups(groups, shared_keys=False)
    index, plain = FleetIndex.build(fleet), ref.build(fleet)
    ctx = Context(_catalog(catalog), date(2026, 11, 28))
    fw = _releases(releases)
    fixes = AdvisoryFixes.for_releases(listed, index, fw)
    for release in fw:
        expected = ref.release_findings(release, plain, ctx, listed)
        assert same(release_findings(release, index, ctx, listed, fixes), expected)
        assert same(release_findings(release, index, ctx, listed), expected)


def test_release_findings_of_groups_on_one_firmware_are_each_groups_own() -> None:
    """Groups of one model on one firmware get copies of one finding, each with its own fields."""
    fleet = [Group(f"k{i}", fleet, "DS-2CD2143G2-I", "V5.5.800", count, site)
             for i, (fleet, count, site) in enumerate([("a", 1, "s1"), ("b", 5, "s2"),
                                                       ("a", 2, "s3")])]
    fleet.append(Group("k9", "a", "DS-2CD2143G2-I", None, 3, "s1"))
    fleet.append(Group("k8", "b", "DS-2CD2143G2-I", "V5.7.4", 4, "s4"))  # already fixed
    index, plain = FleetIndex.build(fleet), ref.build(fleet)
    ctx = Context(_catalog([]), date(2026, 11, 28))
    advisory = _advisory("A", [("DS-2CD2xx3G2", None, "below V5.5.800", "V5.7.4")], [])
    release = _releases([(["DS-2CD2143G2-I"], "V5.7.10")])[0]
    found = release_findings(release, index, ctx, [advisory])
    assert same(found, ref.release_findings(release, plain, ctx, [advisory]))
    assert sorted((f.fleet, f.count, f.site, f.resolves) for f in found) == [
        ("a", 1, "s1", ("A",)), ("a", 2, "s3", ("A",)), ("a", 3, "s1", ("A",)),
        ("b", 4, "s4", ()), ("b", 5, "s2", ("A",)),
    ]
    assert {f.reason for f in found if f.group_key == "k8"} == {"V5.7.10 is newer than V5.7.4"}


def test_release_index_compares_the_next_cycles_releases_field_by_field_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every advisory asks for the release index; releases read again compare equal, and were
    compared field by field on every call (1.9 s a cycle at 1,000 advisories, 1,500 releases)."""
    first = _releases([([m], "V5.7.13") for m in MODELS[:5]])
    again = _releases([([m], "V5.7.13") for m in MODELS[:5]])  # equal, not the same objects
    made = release_index(first)
    compared: list[int] = []
    eq = FirmwareRelease.__eq__
    def counted(a: FirmwareRelease, b: object) -> bool:
        compared.append(1)
        return eq(a, b)

    monkeypatch.setattr(FirmwareRelease, "__eq__", counted)
    assert release_index(again) is made and compared
    compared.clear()
    for _ in range(3):
        assert release_index(again) is made
    fixed = parse_version("V5.7.13")
    assert not compared and made.best(normalize_model(MODELS[0]), fixed) == again[0]


def test_index_look_ups_follow_a_rebuilt_index() -> None:
    """A memoised look-up never outlives the data: clear_caches re-derives everything."""
    groups = [Group(f"k{i}", "f", m, "V5.5.0", 1, "s") for i, m in enumerate(MODELS[:6])]
    index = FleetIndex.build(groups)
    pattern = ModelPattern("DS-2CD2xx3G2")
    before = [e.group.key for e in index.candidates(pattern)]
    extra = FleetIndex.build([Group("new", "f", "DS-2CD2943G2-I", "V5.5.0", 1, "s")])
    index.by_model.update(extra.by_model)
    index.models = sorted(index.by_model)
    index.clear_caches()
    after = [e.group.key for e in index.candidates(pattern)]
    assert set(after) == {*before, "new"}
    assert after == [e.group.key for e in ref.candidates(index, pattern)]


def test_a_dropped_index_is_freed_by_reference_counting() -> None:
    """A cycle builds an index and drops the last one: with no reference cycles inside, its
    million entries go at once, not at the next full collection (seconds, and memory doubled)."""
    groups = [Group(f"k{i}", "f", m, fw, 1, "s")
              for i, (m, fw) in enumerate(zip(MODELS[:8], [None, "", *FIRMWARE], strict=False))]
    index = FleetIndex.build(groups)
    advisory = _advisory("A", [("DS-2CD2xx3G2", None, "below V5.5.800", "V5.5.801")], [])
    assert advisory_findings(advisory, index, Context(Catalog([]), date(2026, 11, 28)))
    derived = weakref.ref(index._prep())
    gc.disable()
    try:
        del index
        assert derived() is None
    finally:
        gc.enable()


def test_a_dotted_capital_i_still_reads_as_series() -> None:
    """The regexes run on their ASCII cue; non-ASCII text (``SERİES``) still goes through them."""
    assert _compile("DS-2CD2143G2-I SERİES").heads == _compile("DS-2CD2143G2-I").heads


def test_promises_stay_right_when_other_contexts_push_the_stage_tables_out() -> None:
    """A model table keeps promise numbers that only the context's stage tables give meaning to.

    Both used to be cached apart: after `stage_of` for eight other days (as the Slack views
    ask), the stage tables were rebuilt with new numbers while the model table kept the old
    ones, and a model of unknown stage got another class's promise ("no").
    """
    groups = [Group("g1", "f", "DS-2CD2143G2-I", "V5.5.0", 1, "s"),
              Group("g2", "f", "DS-2CD3143G2-I", "V5.5.0", 1, "s")]
    index = FleetIndex.build(groups)
    ctx = Context(Catalog([]), date(2026, 11, 28))
    cves: list[tuple[str, int, date | None]] = [("CVE-2025-0001", 0, None)]
    one = _advisory("A1", [("DS-2CD3143G2-I", None, "below V5.5.800", "V5.5.801")], cves)
    both = _advisory(
        "A2", [("DS-2CD2143G2-I/DS-2CD3143G2-I", None, "below V5.5.800", "V5.5.801")], cves
    )
    fresh = Context(Catalog([]), ctx.on)
    expected = sorted((f.model, str(f.fix_promised)) for f in advisory_findings(both, index, fresh))
    list(advisory_findings(one, index, ctx))  # the model table learns DS-2CD3143G2-I
    for days in range(1, 9):
        stage_of("DS-2CD3143G2-I", Context(ctx.catalog, ctx.on + timedelta(days=days)))
    found = sorted((f.model, str(f.fix_promised)) for f in advisory_findings(both, index, ctx))
    assert found == expected


@settings(max_examples=500, deadline=None)
@given(version=version_texts, fixes=st.lists(version_texts, max_size=12))
def test_what_a_version_fixes_is_a_first_stretch_in_version_order(
    version: str, fixes: list[str]
) -> None:
    """`bot.fixes` bisects sort keys on it: is_fixed compares at each fixed version's own
    precision, which is the same as comparing sort keys."""
    v = parse_version(version)
    ordered = sorted(map(parse_version, fixes), key=Version.sort_key)
    reached = [is_fixed(v, fixed) for fixed in ordered]
    assert reached == [v.sort_key() >= fixed.sort_key() for fixed in ordered]
    assert reached == sorted(reached, reverse=True)


def test_a_row_sharing_a_model_with_another_keeps_its_fixed_version_for_releases() -> None:
    """A release older than the row's fixed version does not fix the row's other models either
    (a row with a model another row also covers used to lose its fixed version there, so any
    release of those models was offered as the fix)."""
    groups = [Group("a", "f", "DS-2CD3026G2-IS", "V5.5.0 build 200101", 1, "HQ"),
              Group("b", "f", "DS-2CD3021G2-I", "V5.5.0 build 200101", 1, "HQ")]
    below = "Versions below V5.5.800 (including V5.5.800)"
    advisory = _advisory("A", [
        ("DS-2CD3xx6G2-IS, DS-2CD3021G2-I", "CVE-1", below, "V5.5.801 build 210901"),
        ("DS-2CD3021G2-I", "CVE-2", below, "V5.5.801 build 210901"),
    ], [])
    ctx = Context(Catalog([]), date(2026, 11, 28))
    for version, offered in (("V5.5.700", None), ("V5.5.900", "https://example.com/0.zip")):
        releases = _releases([(["DS-2CD3026G2-IS"], version)])
        found = advisory_findings(advisory, FleetIndex.build(groups), ctx, releases)
        assert same(found, ref.advisory_findings(advisory, ref.build(groups), ctx, releases))
        assert {f.model: f.download_url for f in found}["DS-2CD3026G2-IS"] == offered


def test_rows_of_one_wording_share_one_plan_and_each_keeps_its_own_findings() -> None:
    """A feed repeats its wordings: rows of one are planned once per index (`Prepared.plans`,
    their reasons shared), and each row's findings are still what the definition gives."""
    groups = [Group(f"k{i}", "f", m, fw, 1, "s")
              for i, (m, fw) in enumerate(zip(MODELS[:9], FIRMWARE, strict=False))]
    index, plain = FleetIndex.build(groups), ref.build(groups)
    ctx = Context(Catalog([]), date(2026, 11, 28))
    wording = ("Versions below V5.5.800 (including V5.5.800)", "V5.5.801")
    first = _advisory("A", [("DS-2CD2xx3G2", None, *wording)], [])
    second = _advisory("B", [("DS-2CD3xx1G2", None, *wording), ("DS-2CD2143G2", None, *wording)],
                       [])
    found = 0
    for advisory in (first, second):
        made = list(advisory_findings(advisory, index, ctx))
        assert same(made, ref.advisory_findings(advisory, plain, ctx))
        found += len(made)
    assert found >= 4
    assert list(index._prep().plans) == [wording]
