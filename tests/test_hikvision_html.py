"""Tests for bot.sources.hikvision_html: the listing page, detail pages and body decoding."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import SourceSettings
from bot.sources.base import CutOffError, Link, ParseError
from bot.sources.hikvision_html import (
    decode_html,
    parse_detail,
    parse_detail_result,
    parse_listing,
)
from bot.sources.html_text import cut_off
from tests.conftest import DATA

HIK = Path(__file__).parent.parent / "bot" / "samples" / "sources" / "hikvision"
LISTING = HIK / "listing.html"
ADVISORY_DIR = "en/support/cybersecurity/security-advisory"
SLUGS = [
    "multiple-vulnerabilities-in-some-hikvision-storage-products-and-deepinmind-nvrs",
    "improper-access-control-vulnerability-in-some-hikvision-nvrs",
    "improper-authorization-vulnerability-in-hikcentral-products",
    "command-injection-vulnerability-in-the-web-server-of-some-hikvision-cameras",
]
SITE = "https://www.hikvision.com/en/support/cybersecurity/security-advisory/"


def _source(url: str = SITE) -> SourceSettings:
    return SourceSettings(name="hikvision", kind="advisory", format="hikvision-html", url=url)


def _listing(items: str, url: str = SITE) -> list[Link]:
    page = f"<html><head><title>Security Advisory</title></head><body>{items}</body></html>"
    return parse_listing(page.encode(), {}, _source(url)).follow


# --- the bundled listing --------------------------------------------------------------------------


def test_sample_listing_links_the_four_sample_pages_over_http() -> None:
    base = "http://127.0.0.1:8080/"
    result = parse_listing(LISTING.read_bytes(), {"content-type": "text/html"}, _source(base))
    assert [link.url for link in result.follow] == [
        f"{base}{ADVISORY_DIR}/{slug}/index.html" for slug in SLUGS
    ]
    assert [link.listed for link in result.follow] == [
        date(2025, 9, 2), date(2024, 12, 10), date(2024, 6, 14), date(2021, 9, 18)
    ]  # fmt: skip
    first = result.follow[0]
    assert first.title.startswith("Security Advisory - Multiple Vulnerabilities")
    assert first.marker == f"2025-09-02 {first.title}"
    assert result.warnings == []


def test_sample_listing_links_resolve_to_the_bundled_files() -> None:
    result = parse_listing(LISTING.read_bytes(), {}, _source(LISTING.resolve().as_uri()))
    assert len(result.follow) == 4
    for link in result.follow:
        path = Path(link.url.removeprefix("file://"))
        assert path.is_file(), link.url
        adv = parse_detail(path.read_bytes(), link.url, _source(), link=link)
        assert adv.title == link.title
        assert adv.cves and adv.rows


# --- link finding ---------------------------------------------------------------------------------


def test_regional_prefixes_absolute_and_relative_links() -> None:
    links = _listing(
        '<a href="/en/support/cybersecurity/security-advisory/a-one/">A one</a>'
        '<a href="/us-en/support/cybersecurity/security-advisory/b-two/">B two</a>'
        '<a href="https://www.hikvision.com/uk/support/cybersecurity/security-advisory/c-3/">C</a>'
        '<a href="https://us.hikvision.com/support/cybersecurity/security-advisory/d-4">D</a>'
        '<a href="e-five/?utm_source=x#top">E five</a>'
    )
    assert [link.url for link in links] == [
        SITE + "a-one/",
        "https://www.hikvision.com/us-en/support/cybersecurity/security-advisory/b-two/",
        "https://www.hikvision.com/uk/support/cybersecurity/security-advisory/c-3/",
        "https://us.hikvision.com/support/cybersecurity/security-advisory/d-4",
        SITE + "e-five/",
    ]


def test_other_links_are_ignored() -> None:
    links = _listing(
        '<a href="/en/support/cybersecurity/security-advisory/">the listing itself</a>'
        '<a href="/en/support/cybersecurity/security-advisory/page/2/">page 2</a>'
        '<a href="/en/support/cybersecurity/security-advisory/index.html">index</a>'
        '<a href="/en/support/cybersecurity/">cybersecurity</a>'
        '<a href="/en/products/ds-2cd3/">a product</a>'
        '<a href="https://evil.example/support/cybersecurity/security-advisory/x/">other site</a>'
        '<a href="http://10.0.0.1/support/cybersecurity/security-advisory/x/">an address</a>'
        '<a href="javascript:alert(1)">js</a><a href="mailto:hsrc@example.com">mail</a>'
        '<a href="http://[::1">broken</a><a href="#top">top</a>'
        '<a href="/en/support/cybersecurity/security-advisory/real-one/">Real one</a>'
    )
    assert [link.url for link in links] == [SITE + "real-one/"]


def test_duplicates_collapse_keeping_the_best_title_and_date() -> None:
    links = _listing(
        '<div class="item"><a href="x-adv/?utm_medium=web"><img alt=""></a>'
        '<h3><a href="x-adv/">Security Advisory - X</a></h3><span>2024-05-06</span></div>'
        '<p><a href="x-adv/#more">Read</a></p>'
    )
    assert links == [
        Link(SITE + "x-adv/", "Security Advisory - X", "2024-05-06 Security Advisory - X",
             date(2024, 5, 6))
    ]  # fmt: skip


def test_dates_in_table_layouts_and_other_formats() -> None:
    links = _listing(
        "<table><tr><th>Title</th><th>Date</th></tr>"
        '<tr><td><a href="a/">Advisory A</a></td><td>January 10, 2024</td></tr>'
        '<tr><td><a href="b/">Advisory B</a></td><td>10 Feb 2024</td></tr>'
        '<tr><td><a href="c/">Advisory C</a></td><td>no date</td></tr></table>'
    )
    assert [(link.title, link.listed) for link in links] == [
        ("Advisory A", date(2024, 1, 10)),
        ("Advisory B", date(2024, 2, 10)),
        ("Advisory C", None),
    ]
    assert links[2].marker == "Advisory C"


def test_the_marker_changes_when_the_vendor_revises_an_entry() -> None:
    item = '<div><a href="x/">{title}</a> <span>{day}</span></div>'
    old = _listing(item.format(title="Advisory X", day="2024-01-10"))[0]
    same = _listing("\n  " + item.format(title="Advisory  X", day="2024-01-10") + "  ")[0]
    redated = _listing(item.format(title="Advisory X", day="2024-02-03"))[0]
    retitled = _listing(item.format(title="Advisory X (updated)", day="2024-01-10"))[0]
    assert old.marker == same.marker
    assert len({old.marker, redated.marker, retitled.marker}) == 3


# --- not the listing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        (DATA / "advisories" / "error_page.html").read_bytes(),
        b"<html><head><title>Service Unavailable</title></head><body>503</body></html>",
        b"",
        b"\x00\xff\xfe garbage",
        b"<html><body><h1>Products</h1><a href='/en/products/'>Cameras</a></body></html>",
    ],
    ids=["404-page", "503-page", "empty", "garbage", "other-page"],
)
def test_pages_without_advisory_links_raise(body: bytes) -> None:
    with pytest.raises(ParseError, match="no security-advisory links"):
        parse_listing(body, {}, _source())


def test_an_empty_listing_is_a_warning_not_an_error() -> None:
    body = b"<html><head><title>Security Advisory</title></head><body><h1>Security Advisory</h1>"
    result = parse_listing(body + b"<p>No results.</p></body></html>", {}, _source())
    assert result.follow == [] and result.items == []
    assert result.warnings == [f"{SITE}: the advisory listing shows no advisories"]


# --- decoding -------------------------------------------------------------------------------------

TEXT = "<p>Fixed \u2013 V5.5.800 “build” 210628 — 版本</p>"


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (TEXT.encode(), {}, TEXT),
        (TEXT.encode("gb18030"), {"Content-Type": "text/html; charset=GB18030"}, TEXT),
        (TEXT.encode("gbk"), {"content-type": "text/html;charset=gb2312"}, TEXT),
        (b'<meta charset="windows-1252"><p>\x93x\x94</p>', {}, '<meta charset="windows-1252">'
         "<p>\u201cx\u201d</p>"),
        (b"<meta http-equiv='Content-Type' content='text/html; charset=iso-8859-1'>\xe9", {},
         "<meta http-equiv='Content-Type' content='text/html; charset=iso-8859-1'>\xe9"),
        (b"\xef\xbb\xbf<p>bom</p>", {"Content-Type": "text/html; charset=latin-1"}, "<p>bom</p>"),
        (TEXT.encode("utf-16"), {}, TEXT),
        (b"<p>bad \xff\xfe bytes</p>", {}, "<p>bad \ufffd\ufffd bytes</p>"),
        (b"<p>x</p>", {"Content-Type": "text/html; charset=no-such-codec"}, "<p>x</p>"),
        (b"<meta charset=utf-16><p>x</p>", {}, "<meta charset=utf-16><p>x</p>"),
    ],
    ids=["utf8", "header", "gb2312-means-gbk", "meta", "latin1-means-cp1252", "bom-wins",
         "utf16-bom", "bad-bytes", "unknown-label", "meta-utf16-without-bom"],
)  # fmt: skip
def test_decode_html(body: bytes, headers: dict[str, str], expected: str) -> None:
    assert decode_html(body, headers) == expected


def test_detail_page_in_a_legacy_charset() -> None:
    page = (
        "<html><head><meta charset='windows-1252'></head><body>"
        "<h1>Security Advisory \u2013 Caf\u00e9 Cameras</h1><p>CVE-2024-20001</p></body></html>"
    )
    adv = parse_detail(page.encode("cp1252"), SITE + "cafe/", _source())
    assert adv.title == "Security Advisory \u2013 Caf\u00e9 Cameras"


# --- detail pages ---------------------------------------------------------------------------------


def test_detail_uses_the_link_as_fallback_and_reports_warnings() -> None:
    body = b"<p>CVE-2024-20001</p><table><tr><th>Model</th><th>Affected Versions</th></tr>"
    body += b"<tr><td>DS-2CD2xx3G2</td><td>ask support</td></tr></table>"
    link = Link(SITE + "y/", "Security Advisory - Y", "2024-07-01 Y", date(2024, 7, 1))
    result = parse_detail_result(body, SITE + "y/?utm_source=rss", _source(), link=link)
    (adv,) = result.items
    assert adv.kind == "advisory"
    assert (adv.key, adv.title, adv.published, adv.source) == (
        SITE + "y/", "Security Advisory - Y", date(2024, 7, 1), "hikvision"
    )  # fmt: skip
    assert len(result.warnings) == 2
    assert all(w.startswith(SITE + "y/: ") for w in result.warnings)
    assert "'ask support' kept but flagged" in result.warnings[0]
    assert "CVE-2024-20001: no usable CVSS vector" in result.warnings[1]


def test_detail_error_page_raises() -> None:
    with pytest.raises(ParseError):
        parse_detail((DATA / "advisories" / "error_page.html").read_bytes(), SITE, _source())


# --- cut-off pages --------------------------------------------------------------------------------

NVR_PAGE = HIK / ADVISORY_DIR / SLUGS[1] / "index.html"


def _first_lines(path: Path, count: int) -> bytes:
    return b"".join(path.read_bytes().splitlines(keepends=True)[:count])


def test_a_detail_page_cut_inside_its_table_is_refused() -> None:
    body = _first_lines(NVR_PAGE, 48)  # after the first affected row: no </table>, no </html>
    with pytest.raises(CutOffError) as caught:
        parse_detail(body, SITE + SLUGS[1] + "/?token=s3cret", _source())
    assert str(caught.value) == (
        f"the page looks cut off: {SITE}{SLUGS[1]}/ ends inside a table (no </table>, no </html>)"
    )


def test_a_listing_cut_after_its_first_advisory_is_refused() -> None:
    body = _first_lines(LISTING, 46)
    with pytest.raises(CutOffError, match=r"^the page looks cut off: .* ends without its closing"):
        parse_listing(body, {}, _source())


def test_every_bundled_page_is_whole() -> None:
    pages = [LISTING, *(HIK / ADVISORY_DIR / slug / "index.html" for slug in SLUGS)]
    for page in pages:
        assert cut_off(decode_html(page.read_bytes())) is None, page
    for page in (DATA / "advisories").glob("*.html"):
        assert cut_off(page.read_text(encoding="utf-8")) is None, page


WHOLE = [
    "<html><body><p>x</p></body></html>",
    "<!DOCTYPE html><HTML><BODY><TABLE><TR><TD>x</TD></TR></TABLE></BODY></HTML >\n",
    "<html><body><p>x</p></body></html>\n<script>track()</script><!-- served by cdn-7 -->",
    "<html><body><table><tr><td>never closed, but the page ends</td></tr></body></html>",
    "<p>CVE-2024-20001</p><table><tr><td>a</td></tr></table><p>after",
    "<p>a fragment, cut anywhere but in a table",
    "<title>a <table> in the title</title><p>x</p>",
    "",
]
CUT = [
    ("<html><body><p>x</p></body>", "ends without its closing </html>"),
    ("<html><body><table><tr><td>a</td></tr>", "ends inside a table (no </table>, no </html>)"),
    ("<html><body><table><tr><td>a</td></tr></table><p>x", "ends without its closing </html>"),
    ("<html><body><!-- </body></html>", "ends inside a comment (no </html>)"),
    ('<html><body><script>var s = "</html>";', "ends inside a <script> element (no </html>)"),
    ("<html><body><!-- </html> --><p>x", "ends without its closing </html>"),
    ("<html><body><p>x</p></body></htm", "ends without its closing </html>"),
    ("<p>x</p><table><tr><td>a</td>", "ends inside a table (no </table>)"),
    ("<table><tr><td><table><tr><td>in</td></tr></table>", "ends inside a table (no </table>)"),
]


@pytest.mark.parametrize("html", WHOLE, ids=range(len(WHOLE)))
def test_whole_pages_and_fragments(html: str) -> None:
    assert cut_off(html) is None


@pytest.mark.parametrize(("html", "why"), CUT, ids=range(len(CUT)))
def test_cut_off_pages_and_fragments(html: str, why: str) -> None:
    assert cut_off(html) == why


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_links_or_a_parse_error(body: bytes) -> None:
    try:
        result = parse_listing(body, {}, _source())
    except ParseError:
        return
    assert all(link.url.startswith("https://www.hikvision.com/") for link in result.follow)


# --- listings shown a page at a time ------------------------------------------------------------


ONE = '<a href="/en/support/cybersecurity/security-advisory/one/">One</a>'


@pytest.mark.parametrize(
    ("url", "links", "expected"),
    [
        (SITE, '<link rel="next" href="?page=2">', SITE + "?page=2"),
        (SITE, '<a rel="nofollow next" href="/en/support/cybersecurity/security-advisory/?p=2">'
         "&raquo;</a>", SITE + "?p=2"),
        (SITE, '<a class="active" href="?page=1">1</a><a href="?page=2">2</a>'
         '<a href="?page=3">3</a>', SITE + "?page=2"),
        (SITE + "?page=2", '<a href="?page=1">1</a><a href="?page=3">3</a>', SITE + "?page=3"),
        (SITE + "?page=3", '<a href="?page=1">1</a><a href="?page=3">3</a>', None),  # the last
        (SITE, '<a href="/en/support/other/?page=2">elsewhere on the site</a>', None),
        (SITE, '<a rel="next" href="https://evil.example/list?page=2">other site</a>', None),
        (SITE, '<a rel="next" href="javascript:loadMore()">Load more</a>', None),
        (SITE, '<a href="?page=%C2%B2">odd</a><a href="?page=\uff12">odd</a>', None),
    ],
)
def test_the_listing_names_its_next_page(url: str, links: str, expected: str | None) -> None:
    page = f"<html><head><title>Security Advisory</title></head><body>{ONE}{links}</body></html>"
    result = parse_listing(page.encode(), {}, _source(url))
    assert len(result.follow) == 1 and result.next_url == expected


def test_the_bundled_listing_is_one_page() -> None:
    assert parse_listing(LISTING.read_bytes(), {}, _source()).next_url is None
