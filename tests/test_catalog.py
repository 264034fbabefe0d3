"""Model numbers, product patterns, LTS families and the lifecycle catalog, driven by data files."""

from __future__ import annotations

import re
import threading
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bot.context as context
from bot.catalog import (
    Catalog,
    CatalogEntry,
    CatalogError,
    Lifecycle,
    ModelError,
    ModelPattern,
    PatternError,
    display_model,
    family_of,
    normalize_model,
    parse_catalog_csv,
    parse_patterns,
)
from bot.context import Context, stage_facts, stage_of, stage_tables
from bot.policy import Stage, promise_class

DATA = Path(__file__).parent / "data" / "catalog"


def _load(name: str) -> dict[str, Any]:
    with (DATA / name).open("rb") as handle:
        return tomllib.load(handle)


def _cases(name: str, table: str, label: str) -> list[Any]:
    rows = _load(name).get(table, [])
    return [pytest.param(row, id=f"{i}:{row.get(label, '')}"[:60]) for i, row in enumerate(rows)]


def _entries(rows: list[dict[str, Any]]) -> list[CatalogEntry]:
    return [
        CatalogEntry(r["pattern"], r.get("launched"), r.get("discontinued"), r["source"])
        for r in rows
    ]


# --- model numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("normalize.toml", "case", "text"))
def test_normalize_model(case: dict[str, Any]) -> None:
    key = normalize_model(case["text"])
    assert key == case["key"]
    assert normalize_model(key) == key
    if "display" in case:
        assert display_model(case["text"]) == case["display"]


@pytest.mark.parametrize("case", _cases("normalize.toml", "error", "text"))
def test_normalize_model_refuses(case: dict[str, Any]) -> None:
    with pytest.raises(ModelError, match=re.escape(case["contains"])):
        normalize_model(case["text"])


# --- product patterns ----------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("patterns.toml", "case", "cell"))
def test_patterns(case: dict[str, Any]) -> None:
    patterns = parse_patterns(case["cell"])
    if "raws" in case:
        assert [p.raw for p in patterns] == case["raws"]
    if "prefixes" in case:
        assert [p.literal_prefix() for p in patterns] == case["prefixes"]
    for model in case.get("matches", []) + case.get("exact", []):
        hits = [p for p in patterns if p.matches(model)]
        assert hits, f"{model} should match {case['cell']!r}"
        assert all(normalize_model(model).startswith(p.literal_prefix()) for p in hits)
    for model in case.get("no_match", []):
        assert not any(p.matches(model) for p in patterns), f"{model} must not match"
    for model in case.get("exact", []):
        assert any(p.matches_exact(model) for p in patterns), f"{model} should match exactly"
    for model in case.get("not_exact", []):
        assert not any(p.matches_exact(model) for p in patterns), f"{model} is not exact"


@pytest.mark.parametrize("case", _cases("pattern_errors.toml", "error", "cell"))
def test_pattern_errors(case: dict[str, Any]) -> None:
    with pytest.raises(PatternError, match=re.escape(case["quote"])):
        parse_patterns(case["cell"])


def test_pattern_is_plain_data() -> None:
    pattern = ModelPattern("DS-2CD3xx1G2")
    assert pattern == ModelPattern("DS-2CD3xx1G2")
    assert hash(pattern) == hash(ModelPattern("DS-2CD3xx1G2"))
    assert pattern.as_model() is None
    assert ModelPattern("ds-2cd3321g2-i(2.8mm)").as_model() == "DS-2CD3321G2-I"
    assert ModelPattern("DS-2CD3621G2-LIZS(U)").as_model() == "DS-2CD3621G2-LIZS(U)"
    with pytest.raises(PatternError, match="'cameras'"):
        ModelPattern("cameras")


def test_matching_a_malformed_model_raises() -> None:
    with pytest.raises(ModelError):
        ModelPattern("DS-2CD3xx1G2").matches("DS-2CD3321G2#")


# Wildcard patterns from the advisories: filling every x with a digit gives a matching model.
_TEMPLATES = [
    "DS-2CD3xx1G2",
    "DS-2CD1xx3G0-I",
    "DS-2CD2xx6G2-IZS(C)",
    "DS-96xxxNI-Ix",
    "DS-96xxNI-Ix",
    "iDS-77xxNXI-Mx/X",
    "DS-76xxNI-Ix/xxP",
    "DS-2CD7xxx",
    "IDS-2CD7xx6G0-IZHS(W)",
    "ds-96xxxni-ix",
]


@given(
    template=st.sampled_from(_TEMPLATES),
    digits=st.lists(st.integers(0, 9), min_size=8, max_size=8),
    suffix=st.sampled_from(["", "-XYZ", "/8P", "(B)", "(2.8mm)"]),
)
def test_filled_wildcards_match(template: str, digits: list[int], suffix: str) -> None:
    pool = iter(digits)
    model = re.sub("x", lambda _: str(next(pool)), template) + suffix
    pattern = ModelPattern(template)
    assert pattern.matches(model)
    assert normalize_model(model).startswith(pattern.literal_prefix())
    if suffix in ("", "(2.8mm)"):
        assert pattern.matches_exact(model)


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9\-/.+_ ]{0,20}", fullmatch=True))
def test_normalize_is_idempotent(text: str) -> None:
    try:
        key = normalize_model(text)
    except ModelError:
        return
    assert normalize_model(key) == key
    try:
        pattern = ModelPattern(key)
    except PatternError:  # no digits, or too short to be read as a pattern
        return
    assert pattern.matches(key)
    if pattern.as_model() is not None:  # not a slash list such as A00/0
        assert pattern.as_model() == key
        assert pattern.matches_exact(key)


# --- families ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("families.toml", "case", "model"))
def test_family_of(case: dict[str, Any]) -> None:
    family = family_of(case["model"])
    assert (family.name, family.covered, family.inferred) == (
        case["name"],
        case["covered"],
        case["inferred"],
    )
    assert family.reason.endswith(".")
    assert case.get("reason", "") in family.reason


# --- lifecycle catalog ---------------------------------------------------------------------


def _lookups() -> list[Any]:
    return [
        pytest.param(cat, look, id=f"{cat['name'][:20]}:{look['model']}")
        for cat in _load("catalog.toml")["catalog"]
        for look in cat.get("lookup", [])
    ]


@pytest.mark.parametrize(("catalog", "look"), _lookups())
def test_catalog_lookup(catalog: dict[str, Any], look: dict[str, Any]) -> None:
    found = Catalog(_entries(catalog.get("entry", []))).lookup(look["model"])
    if look.get("none"):
        assert found is None
        return
    assert found is not None
    assert found.source == look["source"]
    assert found.model == look.get("key", normalize_model(look["model"]))
    if "launched" in look:
        assert found == Lifecycle(
            found.model, look["launched"], look.get("discontinued"), look["source"]
        )


@pytest.mark.parametrize("case", _cases("catalog.toml", "invalid", "name"))
def test_catalog_refuses(case: dict[str, Any]) -> None:
    with pytest.raises(CatalogError) as caught:
        Catalog(_entries(case["entry"]))
    assert len(caught.value.problems) == len(case["problems"])
    for got, expected in zip(caught.value.problems, case["problems"], strict=True):
        assert got.startswith(expected)


def test_catalog_keeps_entries_in_order() -> None:
    entries = _entries(_load("catalog.toml")["catalog"][0]["entry"])
    catalog = Catalog(entries)
    assert catalog.entries() == tuple(entries)
    assert catalog.lookup("DS-2CD3321G2-I") is catalog.lookup("ds-2cd3321g2-i")


@pytest.mark.parametrize("case", _cases("csv.toml", "csv", "name"))
def test_parse_catalog_csv(case: dict[str, Any]) -> None:
    if "errors" in case:
        with pytest.raises(CatalogError) as caught:
            parse_catalog_csv(case["text"], case["source"])
        assert list(caught.value.problems) == case["errors"]
        assert str(caught.value) == "\n".join(case["errors"])
        return
    entries = parse_catalog_csv(case["text"], case["source"])
    assert entries == _entries(case.get("entry", []))
    assert all(isinstance(e.launched, date | None) for e in entries)
    Catalog(entries)


def test_a_catalog_read_again_shares_its_look_ups_and_a_changed_one_does_not() -> None:
    """Each cycle reads the catalog anew: equal entries share the last catalog's look-ups
    (worked out once per model, not once per cycle); changed entries give their own dates."""
    entries = [CatalogEntry("DS-2CD2043G2-I", date(2020, 1, 1), None, "vendor")]
    first = Catalog(entries)
    assert (found := first.lookup("DS-2CD2043G2-I")) is not None
    again = Catalog(list(entries))
    assert again.lookup("DS-2CD2043G2-I") is found, "the look-up made once is shared"
    changed = Catalog([CatalogEntry("DS-2CD2043G2-I", date(2021, 6, 1), None, "vendor")])
    assert (dates := changed.lookup("DS-2CD2043G2-I")) is not None
    assert dates.launched == date(2021, 6, 1)
    back = Catalog(entries)
    assert (dates := back.lookup("DS-2CD2043G2-I")) is not None
    assert dates.launched == date(2020, 1, 1)


def test_stage_facts_are_shared_by_equal_catalogs_on_the_same_date_only() -> None:
    """A model's stage is worked out once per catalog, date and threshold: a catalog read again
    with equal entries (the next cycle) shares it; another date, threshold or catalog does not,
    and each gives its own stage."""
    entries = [CatalogEntry("DS-2CD3026G2-IS", date(2020, 1, 1), date(2024, 1, 1), "vendor")]
    model = "DS-2CD3026G2-IS"
    on = date(2026, 11, 28)
    first = stage_facts(model, ctx := Context(Catalog(entries), on), stage_tables(ctx))
    again = Context(Catalog(list(entries)), on)
    assert stage_facts(model, again, stage_tables(again)) is first
    assert first[0].stage is Stage.SECURITY_ONLY
    earlier = Context(Catalog(entries), date(2023, 6, 1))
    assert stage_facts(model, earlier, stage_tables(earlier))[0].stage is Stage.DYNAMIC
    assert stage_tables(earlier) is not stage_tables(again)
    stricter = Context(Catalog(entries), on, severe_cvss=9.0)
    assert stage_tables(stricter) is not stage_tables(again)
    changed = Context(
        Catalog([CatalogEntry(model, date(2018, 1, 1), date(2020, 6, 1), "vendor")]), on
    )
    assert stage_facts(model, changed, stage_tables(changed))[0].stage is Stage.END_OF_SUPPORT


def test_promise_classes_keep_their_own_numbers_when_threads_share_the_stage_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Slack view and the cycle read equal catalogs and so share the stage tables: a thread
    switch while one numbers a promise class must not give another class the same number (its
    findings would carry the other class's promise)."""
    entries = [CatalogEntry("DS-2CD3026G2-IS", date(2015, 1, 1), date(2018, 1, 1), "vendor")]
    on = date(2026, 11, 28)
    view, cycle = Context(Catalog(entries), on), Context(Catalog(list(entries)), on)
    assert stage_tables(view) is stage_tables(cycle)
    real = promise_class  # what bot.context calls, until the patch below
    paused, go = threading.Event(), threading.Event()

    class Slow(tuple[object, ...]):  # hashed inside setdefault, once len(numbers) is read
        def __hash__(self) -> int:
            if threading.current_thread().name == "view" and not go.is_set():
                paused.set()
                go.wait(5)
            return tuple.__hash__(self)

    monkeypatch.setattr(context, "promise_class", lambda info: Slow(real(info)))
    slack = threading.Thread(name="view", target=stage_of, args=("DS-2CD3026G2-IS", view))
    slack.start()
    assert paused.wait(5)
    other_class = threading.Thread(target=stage_of, args=("DS-2CD3143G2-I", cycle))
    other_class.start()
    other_class.join(0.2)  # it must wait for the view's numbering to end
    go.set()
    slack.join(5)
    other_class.join(5)
    numbers = stage_tables(cycle)[1]
    assert sorted(numbers.values()) == [0, 1]
