"""Tests for bot.enrich: NVD scores beside the vendor's, KEV marks, and the revisions they make."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from bot.config import SourceSettings
from bot.enrich import enrich, enrich_cve
from bot.items import (
    Advisory,
    CveInfo,
    ExploitSignal,
    ScoreRecord,
    score_vector,
)
from bot.sources import feed, kev_json, nvd_json
from tests.test_feed import SAMPLES

V31_CRIT = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V31_HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"  # 9.1
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 8.6
KEV = ExploitSignal("CVE-2021-36260", "Hikvision", date_added=date(2022, 1, 10),
                    due_date=date(2022, 1, 24))


def _advisory(*cves: CveInfo) -> Advisory:
    return Advisory(key="HSRC-202109-01", title="Command injection", url="https://h.example/a",
                    cves=cves)


def _record(cve: str, *scores: tuple[str, str]) -> ScoreRecord:
    return ScoreRecord(cve, scores=tuple(score_vector(v, who) for v, who in scores))


def test_the_vendor_score_stays_first_and_decides_with_nvd_beside_it() -> None:
    cve = CveInfo("CVE-2023-28808", (score_vector(V31_HIGH),))
    record = _record("CVE-2023-28808", (V31_CRIT, "nvd"), (V31_HIGH, "vendor"))
    [out] = enrich([_advisory(cve)], {cve.id: record}, {})
    scores = out.cves[0].scores
    assert [(s.source, s.base_score) for s in scores] == [("vendor", 9.1), ("nvd", 9.8)]
    assert out.cves[0].score == score_vector(V31_HIGH)


def test_a_cna_score_from_nvd_counts_as_the_vendors_when_the_advisory_has_none() -> None:
    cve = CveInfo("CVE-2024-47485")
    record = _record("CVE-2024-47485", (V31_CRIT, "nvd"), (V40, "vendor"))
    [out] = enrich([_advisory(cve)], {cve.id: record}, {})
    got = [(s.version, s.source) for s in out.cves[0].scores]
    assert got == [("4.0", "vendor"), ("3.1", "nvd")]


def test_the_advisorys_own_score_wins_over_a_different_cna_copy_at_nvd() -> None:
    cve = CveInfo("CVE-2023-28808", (score_vector(V31_HIGH),))
    record = _record("CVE-2023-28808", (V31_CRIT, "vendor"))
    [out] = enrich([_advisory(cve)], {cve.id: record}, {})
    assert out.cves[0].scores == (score_vector(V31_HIGH),)


def test_missing_scores_are_filled_from_nvd() -> None:
    cve = CveInfo("CVE-2021-36260")
    record = _record("CVE-2021-36260", (V31_CRIT, "nvd"))
    [out] = enrich([_advisory(cve)], {cve.id: record}, {})
    assert out.cves[0].score == score_vector(V31_CRIT, "nvd")


def test_kev_marks_the_cve_and_nvds_copy_of_kev_is_the_fallback() -> None:
    listed = enrich_cve(CveInfo("CVE-2021-36260"), None, KEV)
    assert (listed.kev_added, listed.kev_due) == (date(2022, 1, 10), date(2022, 1, 24))
    record = ScoreRecord("CVE-2017-7921", kev_added=date(2022, 3, 25), kev_due=date(2022, 4, 15))
    from_nvd = enrich_cve(CveInfo("CVE-2017-7921"), record, None)
    assert (from_nvd.kev_added, from_nvd.kev_due) == (date(2022, 3, 25), date(2022, 4, 15))


def test_a_kev_listing_makes_a_new_revision() -> None:
    advisory = _advisory(CveInfo("CVE-2021-36260", (score_vector(V31_CRIT),)))
    [listed] = enrich([advisory], {}, {KEV.key: KEV})
    assert listed.key == advisory.key
    assert listed.revision != advisory.revision


def test_a_new_nvd_score_makes_a_new_revision() -> None:
    advisory = _advisory(CveInfo("CVE-2023-28808", (score_vector(V31_HIGH),)))
    [scored] = enrich([advisory], {"CVE-2023-28808": _record("CVE-2023-28808",
                                                             (V31_CRIT, "nvd"))}, {})
    assert scored.revision != advisory.revision


def test_an_enrichment_that_changes_nothing_keeps_the_revision() -> None:
    advisory = _advisory(CveInfo("CVE-2021-36260", (score_vector(V31_CRIT),)))
    [same] = enrich([advisory], {"CVE-2099-0001": _record("CVE-2099-0001")}, {})
    assert same is advisory
    record = _record("CVE-2021-36260", (V31_CRIT, "nvd"))
    once = enrich([advisory], {record.key: record}, {KEV.key: KEV})
    twice = enrich(once, {record.key: record}, {KEV.key: KEV})
    assert twice == once
    assert [a.revision for a in twice] == [a.revision for a in once]


def test_the_source_name_of_a_record_does_not_leak_into_the_revision() -> None:
    advisory = _advisory(CveInfo("CVE-2021-36260"))
    record = _record("CVE-2021-36260", (V31_CRIT, "nvd"))
    [a] = enrich([advisory], {record.key: record}, {})
    [b] = enrich([advisory], {record.key: replace(record, source="nvd-mirror")}, {})
    assert a.revision == b.revision


def test_the_bundled_samples_enrich_together() -> None:
    url = "file:///samples"
    feed_source = SourceSettings(name="feed", kind="advisory", format="feed", url=url)
    nvd_source = SourceSettings(name="nvd", kind="scores", format="nvd-json", url=url)
    kev_source = SourceSettings(name="kev", kind="exploited", format="kev-json", url=url)
    parsed = feed.parse((SAMPLES / "advisories.rss").read_bytes(), {}, feed_source)
    advisories = [a for a in parsed.items if isinstance(a, Advisory)]
    records = nvd_json.parse((SAMPLES / "nvd.json").read_bytes(), {}, nvd_source).items
    scores = {r.key: r for r in records if isinstance(r, ScoreRecord)}
    signals = kev_json.parse((SAMPLES / "kev.json").read_bytes(), {}, kev_source).items
    kev = {s.key: s for s in signals if isinstance(s, ExploitSignal)}
    enriched = {a.key: a for a in enrich(advisories, scores, kev)}
    camera = next(c for c in enriched["HSRC-202109-01"].cves if c.id == "CVE-2021-36260")
    assert camera.kev_added == date(2022, 1, 10)
    assert camera.kev_due == date(2022, 1, 24)
    assert camera.scores[0].source == "vendor"
    assert {s.source for s in camera.scores} == {"vendor", "nvd"}
    assert camera.score is not None and camera.score.source == "vendor"
