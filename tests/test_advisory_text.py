"""Tests for bot.sources.advisory_text, driven by tests/data/advisories (cases.toml + JSON)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.items import Advisory, revision_of, to_dict
from bot.sources.advisory_text import extract_advisory, extract_with_warnings, find_date
from bot.sources.base import ParseError
from tests.conftest import DATA, case_id, load_cases

ROOT = Path(__file__).parent.parent
CASES = load_cases("advisories/cases.toml")
BY_KEY: dict[str, dict[str, Any]] = {}
SAMPLES = ROOT / "bot" / "samples" / "sources"
PAGES = SAMPLES / "hikvision" / "en" / "support" / "cybersecurity" / "security-advisory"
SITE = "https://www.hikvision.com/en/support/cybersecurity/security-advisory/"


def _expected(case: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "advisories" / case["expected"]).read_text("utf-8"))
    return data


def _run(case: dict[str, Any]) -> tuple[Advisory, list[str]]:
    html = (ROOT / case["input"]).read_text("utf-8")
    return extract_with_warnings(
        html, case["url"], title=case.get("title"), published=case.get("published")
    )


def _shape(adv: Advisory) -> dict[str, Any]:
    """The advisory in the expected-JSON shape (problems compared separately)."""
    return {
        "key": adv.key,
        "vendor_id": adv.vendor_id,
        "title": adv.title,
        "url": adv.url,
        "published": adv.published.isoformat() if adv.published else None,
        "updated": adv.updated.isoformat() if adv.updated else None,
        "summary": adv.summary,
        "cves": [
            {
                "id": c.id,
                "version": c.score.version if c.score else None,
                "score": c.score.base_score if c.score else None,
                "severity": c.score.severity if c.score else None,
                "vector": c.score.vector if c.score else None,
            }
            for c in adv.cves
        ],
        "rows": [
            {"product": r.product, "cve": r.cve, "affected": r.affected, "fixed": r.fixed}
            for r in adv.rows
        ],
    }


def _page(slug: str) -> str:
    return (PAGES / slug / "index.html").read_text("utf-8")


A_SLUG = "command-injection-vulnerability-in-the-web-server-of-some-hikvision-cameras"
B_SLUG = "improper-access-control-vulnerability-in-some-hikvision-nvrs"
D_SLUG = "improper-authorization-vulnerability-in-hikcentral-products"


# --- table-driven cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    adv, warnings = _run(case)
    want = _expected(case)
    got = _shape(adv)
    problems = [r["problem"] for r in want["rows"]]
    want = {k: v for k, v in want.items() if k not in ("warnings", "warning_count")}
    want["rows"] = [{k: v for k, v in r.items() if k != "problem"} for r in want["rows"]]
    assert got == want
    for row, problem in zip(adv.rows, problems, strict=True):
        if problem is None:
            assert row.problem is None, row
        else:
            assert row.problem is not None and problem in row.problem, row
    expected = _expected(case)
    assert len(warnings) == expected["warning_count"], warnings
    for text in expected["warnings"]:
        assert any(text in w for w in warnings), (text, warnings)
    assert all(w.startswith(f"{adv.key}: ") for w in warnings)


def test_flagged_rows_are_never_dropped() -> None:
    """Every product line of the (d) table is present, the unreadable one flagged."""
    adv = extract_advisory(_page(D_SLUG), SITE + D_SLUG + "/")
    assert [r.product for r in adv.rows] == ["HikCentral Professional", "HikCentral Master Lite"]
    assert adv.rows[1].problem and adv.rows[0].problem is None


def test_source_name_is_kept() -> None:
    adv = extract_advisory(_page(A_SLUG), SITE + A_SLUG + "/", source="hikvision")
    assert adv.source == "hikvision"


# --- RSS bodies go through the same extractor -----------------------------------------------------


def _rss_items() -> list[dict[str, str]]:
    tree = ET.parse(SAMPLES / "advisories.rss")
    return [
        {tag: (item.findtext(tag) or "") for tag in ("title", "link", "guid", "description")}
        for item in tree.getroot().iter("item")
    ]


RSS = _rss_items()


def test_rss_sample_has_three_items() -> None:
    assert len(RSS) == 3


@pytest.mark.parametrize("item", RSS, ids=[i["guid"] for i in RSS])
def test_rss_body_matches_its_page(item: dict[str, str]) -> None:
    """An RSS entry body in the page layout yields the same advisory (and revision) as the page."""
    from_feed = extract_advisory(item["description"], item["link"], title=item["title"])
    case = next(c for c in CASES if _expected(c)["key"] == item["guid"])
    from_page, _ = _run(case)
    assert to_dict(from_feed) == to_dict(from_page)
    assert from_feed.revision == from_page.revision


# --- identity and revision ------------------------------------------------------------------------


def _reflow(html: str) -> str:
    """A whitespace-only change: indentation, blank lines, CRLF, doubled spaces in text."""
    html = re.sub(r">\s*<", ">\n      <", html)
    html = re.sub(r"(?<=[a-z,.]) (?=[A-Za-z])", "  ", html)
    return html.replace("\n", "\r\n\n")


@pytest.mark.parametrize("slug", [A_SLUG, B_SLUG, D_SLUG])
def test_whitespace_changes_keep_the_revision(slug: str) -> None:
    url = SITE + slug + "/"
    before = extract_advisory(_page(slug), url)
    after = extract_advisory(_reflow(_page(slug)), url)
    assert _reflow(_page(slug)) != _page(slug)
    assert (after.key, after.revision) == (before.key, before.revision)


def test_tracking_parameters_do_not_change_key_or_revision() -> None:
    plain = extract_advisory(_page(D_SLUG), SITE + D_SLUG + "/")
    tracked = extract_advisory(
        _page(D_SLUG), SITE + D_SLUG + "/?utm_source=newsletter&utm_medium=email&fbclid=x#top"
    )
    assert plain.vendor_id is None
    assert tracked.key == plain.key == SITE + D_SLUG + "/"
    assert tracked.revision == plain.revision


def test_a_new_fixed_version_is_a_new_revision_of_the_same_item() -> None:
    url = SITE + A_SLUG + "/"
    before = extract_advisory(_page(A_SLUG), url)
    revised = _page(A_SLUG).replace("V5.5.800 build 210628", "V5.5.801 build 210901", 1)
    after = extract_advisory(revised, url)
    assert after.key == before.key == "HSRC-202109-01"
    assert after.revision != before.revision
    assert after.rows[0].fixed == "V5.5.801 build 210901"


def test_a_new_score_is_a_new_revision() -> None:
    url = SITE + A_SLUG + "/"
    before = extract_advisory(_page(A_SLUG), url)
    rescored = _page(A_SLUG).replace("/C:H/I:H/A:H", "/C:H/I:H/A:N").replace("9.8", "9.1")
    after = extract_advisory(rescored, url)
    assert after.cves[0].score is not None and after.cves[0].score.base_score == 9.1
    assert revision_of(after) != revision_of(before)


# --- not an advisory ------------------------------------------------------------------------------

NOT_ADVISORIES = {
    "error-page": (DATA / "advisories" / "error_page.html").read_text("utf-8"),
    "empty": "",
    "whitespace": "   \n\t ",
    "plain-text": "Hello, this is a product brochure for a camera.",
    "script-only-cve": "<script>var a = 'CVE-2024-0001 SN No. HSRC-202401-01';</script>",
    "hidden-only": "<div hidden><h1>Security Advisory</h1>CVE-2024-12345</div>",
}


@pytest.mark.parametrize("html", NOT_ADVISORIES.values(), ids=list(NOT_ADVISORIES))
def test_not_an_advisory_raises_parse_error(html: str) -> None:
    with pytest.raises(ParseError, match=r"not an advisory|empty document"):
        extract_advisory(html, "https://www.hikvision.com/en/404/")


def test_a_title_with_advisory_words_is_enough() -> None:
    adv = extract_advisory("<p>Details follow.</p>", "https://x/a", title="Security Advisory")
    assert (adv.title, adv.cves, adv.rows) == ("Security Advisory", (), ())


# --- pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Initial release date: 2024-01-10", date(2024, 1, 10)),
        ("January 10, 2024", date(2024, 1, 10)),
        ("Jan. 10 2024", date(2024, 1, 10)),
        ("2024/01/10", date(2024, 1, 10)),
        ("2024.1.5", date(2024, 1, 5)),
        ("10 Jan 2024", date(2024, 1, 10)),
        ("3rd September 2025", date(2025, 9, 3)),
        ("Sept 3, 2025", date(2025, 9, 3)),
        ("2024年1月10日", date(2024, 1, 10)),
        ("2024-13-45 then 2024-02-29", date(2024, 2, 29)),
        ("Market 12, 2024", None),
        ("no date here", None),
    ],
)
def test_find_date(text: str, day: date | None) -> None:
    assert find_date(text) == day


def test_title_falls_back_to_given_then_head_title() -> None:
    body = "<html><head><title>Head title</title></head><body><p>CVE-2024-20001</p></body></html>"
    assert extract_advisory(body, "https://x.example/a", title="Given").title == "Given"
    assert extract_advisory(body, "https://x.example/a").title == "Head title"


def test_page_date_wins_over_given_published_and_given_is_the_fallback() -> None:
    dated = "<p>CVE-2024-20001</p><p>Published: 2024-02-01</p>"
    undated = "<p>CVE-2024-20001</p>"
    given = date(2024, 3, 1)
    assert extract_advisory(dated, "https://x.example/a", published=given).published == date(
        2024, 2, 1
    )
    assert extract_advisory(undated, "https://x.example/a", published=given).published == given


def test_revision_history_sets_published_and_updated() -> None:
    html = (
        "<h1>Security Advisory - X</h1><p>CVE-2024-20001</p><h3>Revision History</h3>"
        "<p>V1.0 2024-01-10 Initial release</p><p>V1.1 2024-02-03 Updated fixed versions</p>"
    )
    adv = extract_advisory(html, "https://x.example/a")
    assert (adv.published, adv.updated) == (date(2024, 1, 10), date(2024, 2, 3))


def test_summary_is_capped() -> None:
    long = " ".join(["word"] * 600)
    adv = extract_advisory(f"<h3>Summary</h3><p>{long}</p><p>CVE-2024-20001</p>", "https://x/a")
    assert len(adv.summary) <= 1001 and adv.summary.endswith("…")


def test_several_cves_in_one_cell_give_a_row_each() -> None:
    html = (
        "<table><tr><th>Product Name</th><th>CVE ID</th><th>Affected Versions</th></tr>"
        "<tr><td>DS-2CD2xx3G2</td><td>CVE-2024-20001<br>CVE-2024-20002</td>"
        "<td>Versions below V5.7.0</td></tr></table>"
    )
    adv = extract_advisory(html, "https://x.example/a")
    assert [(r.product, r.cve) for r in adv.rows] == [
        ("DS-2CD2xx3G2", "CVE-2024-20001"),
        ("DS-2CD2xx3G2", "CVE-2024-20002"),
    ]


def test_deeply_nested_markup_does_not_recurse_out() -> None:
    nested = "<div>" * 3000 + "<p>CVE-2024-20001</p>" + "</div>" * 3000
    tables = "<table><tr><td>" * 200 + "CVE-2024-20002" + "</td></tr></table>" * 200
    assert extract_advisory(nested, "https://x/a").cves[0].id == "CVE-2024-20001"
    assert extract_advisory(tables, "https://x/b").cves[0].id == "CVE-2024-20002"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<table>", "</table>", "<tr>", "<td rowspan=3>", "<td colspan=0>", "<th>",
                "Product Name", "CVE ID", "Affected Versions", "Fixed Version", "<br>", "、",
                "DS-2CD3xx1G2", "Versions below V5.5.800", "V5.5.800 build 210628",
                "CVE-2024-20001",
                "Base score: 9.8", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:4.0/AV:N",
                "<script>", "<h1>", "Summary", "SN No. HSRC-202401-01", "2024-01-10", "<p>", "x",
            ]
        ),
        max_size=40,
    )
)
def test_any_markup_gives_an_advisory_or_a_parse_error(parts: list[str]) -> None:
    try:
        adv = extract_advisory("".join(parts), "https://x.example/a")
    except ParseError:
        return
    assert adv.key
    for row in adv.rows:
        assert row.problem is None or row.problem.strip()
