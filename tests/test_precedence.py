"""Which copy of an item the store keeps, driven by tests/data/precedence/cases.toml."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import parse
from bot.items import (
    Advisory,
    AffectedRow,
    ExploitSignal,
    FirmwareRelease,
    Item,
    ScoreRecord,
    from_dict,
    to_json_dict,
)
from bot.precedence import Choice, PassedOver, Standing, choose, describe, freshness
from tests.conftest import case_id, load_cases

CASES = load_cases("precedence/cases.toml")
SOURCES = [
    ("mirror", "advisory", "feed"),
    ("hik", "advisory", "hikvision-html"),
    ("mirror2", "advisory", "feed"),
    ("index", "firmware", "firmware-json"),
    ("nvd", "scores", "nvd-json"),
    ("nvd2", "scores", "nvd-json"),
    ("kev", "exploited", "kev-json"),
    ("kev2", "exploited", "kev-json"),
    ("off", "advisory", "feed"),
]


def _standing() -> Standing:
    text = "\n".join(
        f'[[sources]]\nname = "{name}"\nkind = "{kind}"\nformat = "{fmt}"\n'
        f'url = "file:///srv/{name}"\n' + ("enabled = false\n" if name == "off" else "")
        for name, kind, fmt in SOURCES
    )
    return Standing.of(parse(text, "bot.toml").sources)


STANDING = _standing()


def _copy(kind: str, spec: dict[str, Any]) -> Item:
    """One copy of the item ``K-1``; its content label decides its revision."""
    source, content = spec["source"], spec["content"]
    if kind == "firmware":
        return FirmwareRelease(
            "K-1", f"Firmware {content}", ("DS-2CD3321G2-I",), "V5.9.72",
            released=spec.get("released"), notes_url=f"https://example.net/{content}",
            source=source,
        )  # fmt: skip
    if kind == "scores":
        return ScoreRecord("K-1", last_modified=spec.get("last_modified"),
                           description=content, source=source)  # fmt: skip
    if kind == "exploited":
        return ExploitSignal("K-1", name=content, date_added=spec.get("added"), source=source)
    return Advisory(
        "K-1", "An advisory", "https://example.net/a/", published=spec.get("published"),
        updated=spec.get("updated"), rows=(AffectedRow("DS-2CD3xx1G2", None, "below V5", content),),
        source=source,
    )  # fmt: skip


def _run(case: dict[str, Any]) -> tuple[Item | None, list[Item], Choice]:
    kind = case.get("kind", "advisory")
    stored = _copy(kind, case["stored"]) if "stored" in case else None
    copies = [_copy(kind, c) for c in case["copies"]]
    earlier = {_copy(kind, c).revision for c in case.get("earlier", [])}
    return stored, copies, choose(stored, copies, STANDING, earlier)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_choose(case: dict[str, Any]) -> None:
    stored, copies, choice = _run(case)
    expected = stored if case["kept"] == "stored" else copies[case["kept"]]
    assert choice.kept is expected and choice.stored == (case["kept"] == "stored")
    assert [f"{copies.index(p.copy)}:{p.why}" for p in choice.passed_over] == case["passed"]
    assert all(p.kept is choice.kept for p in choice.passed_over)


def test_a_copy_stored_again_is_read_back_with_its_source_and_dates() -> None:
    """The pipeline reads the stored copy back with from_dict: the rule sees the same copy."""
    for case in CASES:
        stored, copies, _ = _run(case)
        for item in [c for c in [stored, *copies] if c is not None]:
            back = from_dict(to_json_dict(item))
            assert (back.source, back.revision, freshness(back)) == (
                item.source, item.revision, freshness(item)
            )  # fmt: skip


def test_notes_name_the_key_both_sources_and_dates() -> None:
    older = _copy("advisory", {"source": "mirror", "content": "a", "published": date(2021, 9, 18)})
    newer = _copy(
        "advisory",
        {"source": "hik", "content": "b", "published": date(2021, 9, 18),
         "updated": date(2025, 1, 2)},
    )  # fmt: skip
    assert PassedOver(older, newer, "older").note() == (
        "K-1: this copy is not stored: hik's copy (updated 2025-01-02) is newer than this one"
        " (published 2021-09-18)"
    )
    same = _copy("advisory", {"source": "hik", "content": "b", "published": date(2021, 9, 18)})
    assert PassedOver(older, same, "vendor").note() == (
        "K-1: this copy is not stored: hik's copy (published 2021-09-18) is as new and comes"
        " from the vendor's own pages"
    )
    assert PassedOver(same, older, "first").note().endswith(
        "mirror's copy (published 2021-09-18) is as new and its source comes first in the"
        " configuration"
    )


def test_dates_in_words_and_in_time() -> None:
    undated = _copy("advisory", {"source": "hik", "content": "a"})
    assert describe(undated) == "no date" and freshness(undated) is None
    record = _copy("scores", {"source": "nvd", "content": "a", "last_modified": "not a time"})
    assert describe(record) == "no date" and freshness(record) is None
    record = _copy("scores", {"source": "nvd", "content": "a",
                              "last_modified": "2026-01-02T10:00:00.000"})  # fmt: skip
    assert describe(record) == "last modified 2026-01-02T10:00:00.000"
    assert freshness(record) == datetime(2026, 1, 2, 10, tzinfo=UTC)
    release = _copy("firmware", {"source": "index", "content": "a", "released": date(2026, 7, 20)})
    assert describe(release) == "released 2026-07-20"
    signal = _copy("exploited", {"source": "kev", "content": "a", "added": date(2022, 1, 10)})
    assert describe(signal) == "added 2022-01-10"


def test_standing_by_format_and_place() -> None:
    assert [STANDING.rank(n) for n in ("hik", "mirror", "index", "off", "gone")] == [2, 1, 1, 0, 0]
    assert STANDING.place("mirror") < STANDING.place("hik") < STANDING.place("gone")


def test_choose_needs_a_copy() -> None:
    with pytest.raises(ValueError, match="at least one copy"):
        choose(None, [], STANDING)


_DATES = st.one_of(st.none(), st.sampled_from([date(2021, 9, 18), date(2025, 1, 2)]))
_COPY = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["hik", "mirror", "mirror2", "gone"]),
        "content": st.sampled_from("abc"),
        "published": _DATES,
        "updated": _DATES,
    }
)


@given(st.one_of(st.none(), _COPY), st.lists(_COPY, min_size=1, max_size=5), st.randoms())
def test_polling_again_never_flips_and_never_rolls_back(
    stored_spec: dict[str, Any] | None, specs: list[dict[str, Any]], rnd: random.Random
) -> None:
    stored = _copy("advisory", stored_spec) if stored_spec else None
    copies = [_copy("advisory", s) for s in specs]
    kept = choose(stored, copies, STANDING).kept
    # Stored, then the same copies read again (in any order): the same copy stays.
    again = from_dict(to_json_dict(kept))
    shuffled = rnd.sample(copies, len(copies))
    assert choose(again, shuffled, STANDING).kept.revision == kept.revision
    # No copy from another source than the stored copy's is newer than the one kept.
    others = [c for c in copies if stored is None or c.source != stored.source]
    assert all(_key(c) <= _key(kept) for c in others)


def _key(item: Item) -> tuple[bool, datetime]:
    moment = freshness(item)
    return (moment is not None, moment or datetime.min.replace(tzinfo=UTC))
