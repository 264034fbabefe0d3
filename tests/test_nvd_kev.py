"""Tests for the NVD CVE API 2.0 and CISA KEV parsers (cases in tests/data/sources/nvd, kev)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.catalog import normalize_model
from bot.config import SourceSettings
from bot.items import ScoreRecord
from bot.sources import kev_json, nvd_json
from bot.sources.nvd_json import cpe_model
from tests.test_feed import SAMPLES, cases, check_case

NVD = SourceSettings(
    name="nvd", kind="scores", format="nvd-json",
    url="https://services.nvd.nist.gov/rest/json/cves/2.0?keywordSearch=Hikvision",
)


@pytest.mark.parametrize("path", cases("nvd"))
def test_nvd_case(path: Path) -> None:
    check_case(path)


@pytest.mark.parametrize("path", cases("kev"))
def test_kev_case(path: Path) -> None:
    check_case(path)


@pytest.mark.parametrize(
    ("criteria", "model"),
    [
        (r"cpe:2.3:o:hikvision:ds-2df8442ixs-aelwy\(t5\)_firmware:-:*:*:*:*:*:*:*",
         "ds-2df8442ixs-aelwy(t5)"),
        (r"cpe:2.3:h:hikvision:ds-2df8442ixs-aelwy\(t5\):-:*:*:*:*:*:*:*",
         "ds-2df8442ixs-aelwy(t5)"),
        (r"cpe:2.3:o:hikvision:ds-2cd2026g2-iu\/sl_firmware:*:*:*:*:*:*:*:*",
         "ds-2cd2026g2-iu/sl"),
        (r"cpe:2.3:o:hikvision:ds-a71024\/48\/72r_firmware:*:*:*:*:*:*:*:*", "ds-a71024/48/72r"),
        ("cpe:2.3:a:hikvision:hikcentral_professional:2.5.1:*:*:*:*:*:*:*",
         "hikcentral professional"),
        ("cpe:2.3:o:HIKVISION:DS-2CD3321G2-I_firmware:*:*:*:*:*:*:*:*", "DS-2CD3321G2-I"),
        ("cpe:2.3:o:cisco:ios_xe:*:*:*:*:*:*:*:*", None),
        ("cpe:2.3:o:hikvision:*:*:*:*:*:*:*:*:*", None),
        ("cpe:/o:hikvision:ds-2cd2032-i_firmware", None),
        ("not a cpe", None),
    ],
)
def test_cpe_model(criteria: str, model: str | None) -> None:
    assert cpe_model(criteria) == model


def test_cpe_models_normalise_to_catalog_keys() -> None:
    model = cpe_model(r"cpe:2.3:h:hikvision:ds-2df8442ixs-aelwy\(t5\):-:*:*:*:*:*:*:*")
    assert model is not None
    assert normalize_model(model) == "DS-2DF8442IXS-AELWY(T5)"


def test_the_sample_keeps_the_vendor_score_first_and_nvd_beside_it() -> None:
    result = nvd_json.parse((SAMPLES / "nvd.json").read_bytes(), {}, NVD)
    records = {item.key: item for item in result.items if isinstance(item, ScoreRecord)}
    storage = records["CVE-2023-28808"]
    assert [(s.source, s.base_score) for s in storage.scores] == [("vendor", 9.1), ("nvd", 9.8)]
    v4_only = records["CVE-2024-47485"]
    assert v4_only.status == "Awaiting Analysis"
    assert v4_only.cpes == ()
    assert [(s.version, s.source) for s in v4_only.scores] == [("4.0", "vendor")]
    assert records["CVE-2021-36260"].kev_added is not None


def test_paging_walks_to_the_end_and_stops() -> None:
    body = {"resultsPerPage": 2, "startIndex": 0, "totalResults": 5, "vulnerabilities": []}
    seen: list[int] = []
    url: str | None = NVD.url
    while url is not None:
        start = int(url.rsplit("startIndex=", 1)[1]) if "startIndex=" in url else 0
        seen.append(start)
        body["startIndex"] = start
        url = nvd_json.parse(json.dumps(body).encode(), {"x-firmwatch-url": url}, NVD).next_url
    assert seen == [0, 2, 4]


def test_an_empty_page_short_of_the_total_does_not_page_forever() -> None:
    body = {"resultsPerPage": 0, "startIndex": 0, "totalResults": 7, "vulnerabilities": []}
    result = nvd_json.parse(json.dumps(body).encode(), {}, NVD)
    assert result.next_url is None
    assert result.warnings == ["NVD says 7 results but returned none from 0; not paging"]


def test_kev_counts_the_other_vendors_without_warning() -> None:
    signals, warnings, skipped = kev_json.read_catalog((SAMPLES / "kev.json").read_bytes())
    assert [s.key for s in signals] == ["CVE-2021-36260", "CVE-2017-7921"]
    assert warnings == []
    assert skipped == 2


def test_a_large_catalog_keeps_only_hikvision() -> None:
    others = [{"cveID": f"CVE-2020-{n:05d}", "vendorProject": "Other", "product": "x"}
              for n in range(1500)]
    hik = {"cveID": "CVE-2021-36260", "vendorProject": "Hikvision", "dateAdded": "2022-01-10"}
    body = json.dumps({"title": "KEV", "count": 1501, "vulnerabilities": [*others, hik]}).encode()
    source = SourceSettings(name="kev", kind="exploited", format="kev-json", url="file:///k.json")
    result = kev_json.parse(body, {}, source)
    assert [item.key for item in result.items] == ["CVE-2021-36260"]
    assert result.warnings == []
