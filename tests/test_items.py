"""Item identity: scores from vectors, canonical URLs, revisions that ignore cosmetics."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import date
from typing import Any

import pytest

from bot.items import (
    Advisory,
    AffectedRow,
    CpeMatch,
    CveInfo,
    CvssScore,
    ExploitSignal,
    FirmwareRelease,
    ScoreError,
    ScoreRecord,
    canonical_url,
    find_cves,
    from_dict,
    pick_score,
    score_vector,
    to_dict,
    to_json_dict,
)

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


@pytest.mark.parametrize(
    ("vector", "version", "score", "severity"),
    [
        (V31, "3.1", 9.8, "Critical"),
        ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "3.0", 8.8, "High"),
        (V40, "4.0", 9.3, "Critical"),
        ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:L/I:N/A:N", "3.1", 2.7, "Low"),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5, "High"),
    ],
)
def test_score_vector(vector: str, version: str, score: float, severity: str) -> None:
    result = score_vector(vector)
    assert (result.version, result.base_score, result.severity) == (version, score, severity)


@pytest.mark.parametrize("vector", ["CVSS:3.1/AV:X", "garbage", "CVSS:4.0/AV:N"])
def test_bad_vector_is_quoted(vector: str) -> None:
    with pytest.raises(ScoreError, match="cannot read CVSS vector"):
        score_vector(vector)


def test_pick_score_prefers_vendor_v3_then_any_v3_then_v4() -> None:
    nvd31 = CvssScore("3.1", 7.5, "High", source="nvd")
    vendor40 = CvssScore("4.0", 8.7, "High", source="vendor")
    vendor31 = CvssScore("3.1", 9.8, "Critical", source="vendor")
    assert pick_score((vendor40, nvd31)) == nvd31
    assert pick_score((nvd31, vendor40, vendor31)) == vendor31
    assert pick_score((vendor40,)) == vendor40
    assert pick_score(()) is None


def test_canonical_url_drops_tracking_and_fragment() -> None:
    assert (
        canonical_url("HTTPS://WWW.Hikvision.com/en/support/x/?utm_source=mail&id=3&fbclid=1#top")
        == "https://www.hikvision.com/en/support/x/?id=3"
    )


def test_find_cves_in_order_without_duplicates() -> None:
    assert find_cves("fixes cve-2021-36260 and CVE-2017-7921; CVE-2021-36260") == (
        "CVE-2021-36260",
        "CVE-2017-7921",
    )


def _advisory() -> Advisory:
    return Advisory(
        key="HSRC-202108-01",
        title="Command injection in the web server",
        url="https://www.hikvision.com/en/support/cybersecurity/security-advisory/x/",
        vendor_id="HSRC-202108-01",
        published=date(2021, 9, 18),
        summary="A command injection  vulnerability.",
        cves=(CveInfo("CVE-2021-36260", (score_vector(V31),)),),
        rows=(AffectedRow("DS-2CD3xx1G2", "CVE-2021-36260", "below V5.5.800", "V5.5.800"),),
        source="hik",
    )


def test_revision_ignores_cosmetic_changes() -> None:
    adv = _advisory()
    cosmetic = replace(
        adv,
        summary="A command   injection\u00a0vulnerability. ",
        url=adv.url + "?utm_campaign=x",
        source="mirror",
    )
    assert cosmetic.revision == adv.revision


@pytest.mark.parametrize(
    "change",
    [
        {"rows": (AffectedRow("DS-2CD3xx1G2", "CVE-2021-36260", "below V5.5.800", "V5.5.801"),)},
        {"cves": (CveInfo("CVE-2021-36260", (score_vector(V40),)),)},
        {"cves": (CveInfo("CVE-2021-36260", (score_vector(V31),), kev_added=date(2022, 1, 10)),)},
    ],
    ids=["new fixed version", "new score", "KEV listing"],
)
def test_revision_changes_when_content_matters(change: dict[str, object]) -> None:
    adv = _advisory()
    assert replace(adv, **change).revision != adv.revision  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "item",
    [
        _advisory(),
        FirmwareRelease(
            key="fw",
            title="IPC firmware",
            models=("DS-2CD3321G2-I",),
            version="V5.7.15 build 250101",
            released=date(2025, 1, 10),
            download_url="https://www.hikvision.com/fw.zip",
            cves=("CVE-2021-36260",),
            security=True,
        ),
        ExploitSignal(key="CVE-2021-36260", date_added=date(2022, 1, 10)),
    ],
)
def test_items_round_trip_through_json(item: Advisory | FirmwareRelease | ExploitSignal) -> None:
    data = to_json_dict(item)
    assert data["revision"] == item.revision
    assert from_dict(data) == item


def _jsonable(value: Any) -> Any:
    """What `to_dict` was defined as, over `dataclasses.asdict`: tuples as lists, dates ISO."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


_ITEMS = [
    _advisory(),
    FirmwareRelease("fw", "IPC firmware", ("DS-2CD3321G2-I",), "V5.7.15", date(2025, 1, 10)),
    ExploitSignal(key="CVE-2021-36260", date_added=date(2022, 1, 10)),
    ScoreRecord(
        "CVE-2021-36260",
        published=date(2021, 9, 22),
        scores=(score_vector(V31), score_vector(V40)),
        kev_added=date(2022, 1, 10),
        cpes=(CpeMatch("cpe:2.3:o:hikvision:ds-2cd2xx6g2_firmware:*:*:*:*:*:*:*:*", True),),
        references=("https://nvd.nist.gov/vuln/detail/CVE-2021-36260",),
    ),
]


@pytest.mark.parametrize("item", _ITEMS, ids=lambda item: item.kind)
def test_to_dict_is_asdict_with_lists_and_iso_dates(item: Any) -> None:
    assert to_dict(item) == _jsonable(asdict(item))


def test_revisions_stay_as_stored() -> None:
    """Revisions are stored with items and findings: the same content keeps its revision."""
    assert _advisory().revision == "60bbce0c9d1895c5"
