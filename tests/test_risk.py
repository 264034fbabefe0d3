"""Risk notes never contradict themselves: every stage, fix published or not, severity and KEV.

The exact wordings are pinned in tests/data/matching/advisories.toml; these are the rules every
combination keeps, whatever its wording.
"""

from __future__ import annotations

import itertools
import re
from datetime import date

import pytest

from bot.finding import CveVerdict, Finding
from bot.policy import Promise, Stage, combine, fix_promise, stage_on
from bot.risk import NoteFacts, risk_note

ON = date(2026, 6, 1)
KEV = date(2022, 1, 10)

# (name, covered, launched, discontinued): one model in each stage on ON
MODELS = [
    ("intense", True, date(2025, 4, 1), None),
    ("intense, discontinued within 2 years", True, date(2025, 4, 1), date(2027, 4, 1)),
    ("dynamic", True, date(2021, 3, 15), None),
    ("dynamic until a known date", True, date(2019, 1, 15), date(2027, 3, 1)),
    ("security-only", True, date(2016, 9, 1), date(2025, 6, 30)),
    ("end-of-support", True, date(2014, 1, 1), date(2021, 5, 27)),
    ("not-covered", False, None, None),
    ("unknown, launch unknown", True, None, date(2027, 3, 1)),
    ("unknown, no dates", True, None, None),
]
SCORES: list[tuple[float | None, ...]] = [(9.8,), (5.3,), (None,), (9.8, 5.3), (9.8, None)]
FIXES = [None, "V9.0.0"]
KEVS = [None, KEV]

CASES = list(itertools.product(MODELS, SCORES, FIXES, KEVS))

# what no note may say when a fix is published (it would contradict "Fixed in …")
_NO_FIX_WORDS = (
    "no fix will come",
    "may never be fixed",
    "no fix is promised",
    "No fixed version",
    "whether a fix will come",
    "will fix this",
)
_ACTIONS = ("upgrade", "restrict network access", "isolate or replace", "add the dates")


def _finding(
    model: tuple[str, bool, date | None, date | None],
    scores: tuple[float | None, ...],
    fixed: str | None,
    kev: date | None,
) -> Finding:
    _, covered, launched, discontinued = model
    info = stage_on(covered, launched, discontinued, ON)
    verdicts = tuple(
        CveVerdict(
            f"CVE-2025-{n:04d}",
            "affected",
            fix_promise(info, score, "3.1" if score is not None else None).promise,
            score,
            cvss_version="3.1" if score is not None else None,
            kev_added=kev if n == 0 else None,
        )
        for n, score in enumerate(scores)
    )
    return Finding(
        key="k", fleet="f", group_key="g", firmware="V1.0.0", count=3, site="s", reason="",
        kind="advisory", model="M", item_key="ADV-1", status="affected", stage=info.stage,
        stage_ends=info.ends, stage_since=info.since, stage_next=info.next_stage,
        fix_promised=combine(v.promise for v in verdicts), cves=verdicts, fixed_version=fixed,
    )


@pytest.mark.parametrize(
    ("model", "scores", "fixed", "kev"),
    CASES,
    ids=[f"{m[0]}-{s}-{f}-{'kev' if k else 'nokev'}" for m, s, f, k in CASES],
)
def test_note_is_consistent(
    model: tuple[str, bool, date | None, date | None],
    scores: tuple[float | None, ...],
    fixed: str | None,
    kev: date | None,
) -> None:
    f = _finding(model, scores, fixed, kev)
    note = risk_note(NoteFacts.of([f]))
    lower = note.lower()
    assert note.startswith("Exploited in the wild (CISA KEV since 2022-01-10).") == bool(kev)
    if fixed:  # the fix is said, and nothing denies it
        assert f"Fixed in {fixed}" in note and "upgrade" in lower, note
        assert not any(w in note for w in _NO_FIX_WORDS), note
        if f.fix_promised not in (Promise.YES, Promise.PARTIAL):  # no promise: the fix first
            body = note.removeprefix("Exploited in the wild (CISA KEV since 2022-01-10). ")
            assert body.startswith(f"Fixed in {fixed}: upgrade"), note
    else:
        assert "Fixed in" not in note and "upgrade" not in lower, note
    if f.fix_promised is Promise.YES:
        assert not re.search(r"\bno (further )?fix\b|never|cannot be said", lower), note
    if f.fix_promised is Promise.NO:
        assert "promises a fix" not in note, note
    if f.stage is Stage.INTENSE:  # intense ends, support goes on: never "supports … until <date>:"
        assert not re.search(r"supports this model until \d", note), note
        assert "active fixes until" in note, note
    assert not re.search(r"\)\s*\(CVSS", note), note  # one parenthetical per score
    for c in f.cves:  # a CVE with no score yet is neither promised a fix nor denied one
        if c.promise is Promise.UNKNOWN:
            assert not re.search(rf"not for [^.;]*{c.id}", note), note
    if f.stage is not Stage.NOT_COVERED or fixed:  # the not-covered note has no step
        assert any(a in lower for a in _ACTIONS), note


def test_intense_names_what_follows() -> None:
    dynamic_next = _finding(MODELS[0], (9.8,), "V9.0.0", None)
    security_next = _finding(MODELS[1], (9.8,), "V9.0.0", None)
    assert "then with fixes until discontinuation" in risk_note(NoteFacts.of([dynamic_next]))
    note = risk_note(NoteFacts.of([security_next]))
    assert "(its discontinuation), then for severe issues only until 2032-04-01" in note
