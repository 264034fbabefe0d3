"""Advisory → findings → risk notes, from tests/data/matching, plus matching properties."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.catalog import Catalog, CatalogEntry, normalize_model
from bot.context import Context
from bot.findings import advisory_findings
from bot.items import Advisory, AffectedRow, CveInfo, FirmwareRelease, score_vector
from bot.matching import FleetIndex, match_advisory
from bot.risk import NoteFacts, risk_note
from tests.conftest import case_id, load_cases

VECTORS = {
    "V98": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "V53": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
    "V40": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    "V469": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N",
}


@dataclass(frozen=True)
class Group:
    """A device group as the tests write it."""

    fleet: str
    model: str
    firmware: str | None
    count: int
    site: str

    @property
    def key(self) -> str:
        return f"{self.model}|{self.firmware}|{self.site}"


def _date(value: Any) -> date | None:
    return value if isinstance(value, date) else None


def _advisory(case: dict[str, Any]) -> Advisory:
    cves = tuple(
        CveInfo(
            c[0],
            (score_vector(VECTORS[c[1]]),) if c[1] else (),  # "": no score yet
            kev_added=_date(c[2]) if len(c) > 2 else None,
        )
        for c in case["cves"]
    )
    rows = tuple(AffectedRow(*r) for r in case["rows"])
    return Advisory(key="ADV-1", title="t", url="https://example.com/a", cves=cves, rows=rows)


def _releases(case: dict[str, Any]) -> list[FirmwareRelease]:
    """The case's firmware packages: [model, version, download URL] each."""
    return [
        FirmwareRelease(f"fw-{at}", "t", (model,), version, download_url=url)
        for at, (model, version, url) in enumerate(case.get("releases", []))
    ]


def _context(case: dict[str, Any]) -> Context:
    entries = [CatalogEntry(m, _date(la), _date(d), "test") for m, la, d in case["catalog"]]
    return Context(Catalog(entries), case["on"])


@pytest.mark.parametrize("case", load_cases("matching/advisories.toml"), ids=case_id)
def test_advisory_findings_and_notes(case: dict[str, Any]) -> None:
    groups = [Group(*g) for g in case["groups"]]
    findings = advisory_findings(
        _advisory(case), FleetIndex.build(groups), _context(case), _releases(case)
    )
    got = {(f.model, f.site): f for f in findings}
    expected = case.get("expect", [])
    keys = set()
    for exp in expected:
        site = exp.get("site") or next(
            g.site for g in groups if normalize_model(g.model) == exp["model"]
        )
        keys.add((exp["model"], site))
        finding = got.get((exp["model"], site))
        assert finding is not None, f"no finding for {exp['model']} at {site}"
        assert finding.status == exp["status"]
        assert finding.stage.value == exp["stage"]
        if "fix_promised" in exp:
            assert finding.fix_promised.value == exp["fix_promised"]
        if "fixed_version" in exp:
            assert finding.fixed_version == (exp["fixed_version"] or None)  # "": none
        if "download_url" in exp:
            assert finding.download_url == (exp["download_url"] or None)  # "": none
            assert finding.update_available == (exp.get("update_available") or None)
        if "note" in exp:
            assert risk_note(NoteFacts.of([finding])) == exp["note"]
    assert set(got) == keys, "unexpected findings"


def _v(major: int, minor: int, patch: int) -> str:
    return f"V{major}.{minor}.{patch}"


versions = st.tuples(st.integers(4, 6), st.integers(0, 12), st.integers(0, 900))


@given(firmware=versions, fixed=versions)
def test_at_or_past_fixed_is_never_affected(
    firmware: tuple[int, int, int], fixed: tuple[int, int, int]
) -> None:
    advisory = Advisory(
        key="A",
        title="t",
        url="u",
        cves=(CveInfo("CVE-2024-1"),),
        rows=(AffectedRow("DS-2CD3xx1G2", "CVE-2024-1", "below V9.0.0", _v(*fixed)),),
    )
    index = FleetIndex.build([Group("f", "DS-2CD3321G2-I", _v(*firmware), 1, "s")])
    hits = match_advisory(advisory, index)
    assert bool(hits) == (firmware < fixed)


@given(a=versions, b=versions, high=versions)
def test_matching_is_monotonic_in_firmware(
    a: tuple[int, int, int], b: tuple[int, int, int], high: tuple[int, int, int]
) -> None:
    low, up = sorted([a, b])
    advisory = Advisory(
        key="A",
        title="t",
        url="u",
        cves=(CveInfo("CVE-2024-1"),),
        rows=(AffectedRow("DS-2CD3xx1G2", None, f"below {_v(*high)} (including {_v(*high)})", ""),),
    )

    def affected(v: tuple[int, int, int]) -> bool:
        index = FleetIndex.build([Group("f", "DS-2CD3321G2-I", _v(*v), 1, "s")])
        return bool(match_advisory(advisory, index))

    if affected(up):
        assert affected(low)
