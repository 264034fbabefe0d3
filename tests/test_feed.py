"""Tests for bot.sources.feed: the cases in tests/data/sources/feed, plus hostile bodies."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.config import SourceSettings
from bot.items import Advisory, FirmwareRelease, Item, to_json_dict
from bot.sources import feed
from bot.sources.base import ParseError

CASES = Path(__file__).parent / "data" / "sources"
SAMPLES = Path(__file__).parents[1] / "bot" / "samples" / "sources"
FORMATS = {"feed": "feed", "firmware_text": "feed", "firmware_json": "firmware-json",
           "nvd_json": "nvd-json", "kev_json": "kev-json"}
KINDS = {"firmware_text": "firmware", "firmware_json": "firmware", "nvd_json": "scores",
         "kev_json": "exploited"}


def check_case(path: Path) -> None:
    """Run one ``*.expected.json`` case (format in tests/data/sources/README.md)."""
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    parser = case["parser"]
    name = case["input"]
    body = (SAMPLES / name.removeprefix("@samples/") if name.startswith("@samples/")
            else path.parent / name).read_bytes()
    source = SourceSettings.model_validate({
        "name": case.get("name", "test"),
        "kind": case.get("kind", KINDS.get(parser, "firmware")),
        "format": FORMATS[parser],
        "url": case.get("url", "https://example.net/source"),
    })
    parse = importlib.import_module(f"bot.sources.{parser}").parse
    if "error" in case:
        with pytest.raises(ParseError) as caught:
            parse(body, case.get("headers", {}), source)
        assert case["error"] in str(caught.value)
        return
    result = parse(body, case.get("headers", {}), source)
    assert [to_json_dict(item) for item in result.items] == case["items"]
    assert len(result.warnings) == len(case["warnings"]), result.warnings
    for got, want in zip(result.warnings, case["warnings"], strict=True):
        for part in [want] if isinstance(want, str) else want:
            assert part in got
    assert result.next_url == case.get("next_url")


def cases(folder: str) -> list[Any]:
    """The case files of one folder as pytest params."""
    paths = sorted((CASES / folder).glob("*.expected.json"))
    return [pytest.param(p, id=p.name.removesuffix(".expected.json")) for p in paths]


@pytest.mark.parametrize("path", cases("feed"))
def test_feed_case(path: Path) -> None:
    check_case(path)


def _settings(kind: str = "firmware") -> SourceSettings:
    return SourceSettings.model_validate(
        {"name": "t", "kind": kind, "format": "feed", "url": "https://example.net/feed.rss"}
    )


def _rss(items: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}<rss version="2.0"><channel>'
        f"<title>t</title><link>https://example.net/</link>{items}</channel></rss>"
    ).encode()


FIRMWARE_ITEM = (
    "<item><title>fw</title><link>https://example.net/fw</link><description>"
    "Applied to: DS-2CD3321G2-I\nVersion: V5.7.15 build 250101</description></item>"
)


def test_a_body_that_names_a_local_file_is_not_opened(tmp_path: Path) -> None:
    secret = tmp_path / "feed.rss"
    secret.write_bytes(_rss(FIRMWARE_ITEM))
    with pytest.raises(ParseError):
        feed.parse(str(secret).encode(), {}, _settings())


def test_a_quadratic_entity_blowup_is_refused_before_parsing() -> None:
    big = "A" * 200_000  # feedparser's loose parser would expand this 100,000 times
    prolog = f'<!DOCTYPE rss [\n<!ENTITY a "{big}">\n]>\n'
    body = _rss(f"<item><title>t</title><description>{'&a;' * 100_000}</description></item>",
                prolog)
    with pytest.raises(ParseError, match="entity-expansion bomb"):
        feed.parse(body, {"content-type": "application/rss+xml"}, _settings())


def test_an_entity_bomb_in_utf16_is_refused_too() -> None:
    prolog = '<!DOCTYPE rss [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    body = _rss(FIRMWARE_ITEM, prolog).replace(b"UTF-8", b"UTF-16").decode().encode("utf-16")
    with pytest.raises(ParseError, match="declares XML entities"):
        feed.parse(body, {}, _settings())


def test_entity_words_inside_entry_text_are_fine() -> None:
    note = '<![CDATA[\nFixes an XXE bug (<!ENTITY x SYSTEM "file:///etc/passwd">)]]>'
    item = FIRMWARE_ITEM.replace("</description>", note + "</description>")
    result = feed.parse(_rss(item), {}, _settings())
    assert len(result.items) == 1


def test_a_feed_with_too_many_entries_is_refused() -> None:
    body = _rss("<item><title>x</title></item>" * (feed.MAX_ENTRIES + 1))
    with pytest.raises(ParseError, match="more than the 5000"):
        feed.parse(body, {}, _settings())


def _titles(items: Sequence[Item]) -> list[str]:
    """The titles of feed items (advisories and firmware releases have one)."""
    return [i.title for i in items if isinstance(i, (Advisory, FirmwareRelease))]


def test_header_names_are_read_in_any_case() -> None:
    body = _rss(FIRMWARE_ITEM).replace(b"UTF-8", b"ISO-8859-1").replace(b"fw<", b"Cam\xe9ra<")
    result = feed.parse(body, {"Content-Type": "application/rss+xml"}, _settings())
    assert _titles(result.items) == ["Caméra"]
    assert result.warnings == []


def test_a_utf8_body_without_declared_encoding_and_without_content_type_is_utf8() -> None:
    body = _rss(FIRMWARE_ITEM.replace("<title>fw", "<title>Caméra")).replace(
        b' encoding="UTF-8"', b""
    )
    result = feed.parse(body, {"etag": '"x"'}, _settings())
    assert _titles(result.items) == ["Caméra"]


def test_relative_links_resolve_against_the_request_url_then_the_configured_url() -> None:
    item = FIRMWARE_ITEM.replace("</item>", '<enclosure url="files/a_V5.7.15_250101.zip"/></item>')
    by_header = feed.parse(_rss(item), {"x-firmwatch-url": "https://mirror.example.org/x/"},
                           _settings())
    by_config = feed.parse(_rss(item), {}, _settings())
    assert isinstance(by_header.items[0], FirmwareRelease)
    assert isinstance(by_config.items[0], FirmwareRelease)
    assert by_header.items[0].download_url == "https://mirror.example.org/x/files/a_V5.7.15_250101.zip"
    assert by_config.items[0].download_url == "https://example.net/files/a_V5.7.15_250101.zip"


def test_a_javascript_link_is_never_taken_as_the_download() -> None:
    item = FIRMWARE_ITEM.replace(
        "</item>", '<enclosure url="javascript:alert(1)//x.zip" type="application/zip"/></item>'
    )
    release = feed.parse(_rss(item), {}, _settings()).items[0]
    assert isinstance(release, FirmwareRelease)
    assert release.download_url is None


ADVISORIES = SAMPLES / "advisories.rss"


def test_advisory_entries_go_through_the_advisory_extractor() -> None:
    body = ADVISORIES.read_bytes()
    result = feed.parse(body, {"content-type": "application/rss+xml"}, _settings("advisory"))
    entries = body.count(b"<item>")
    assert len(result.items) == entries
    assert all(isinstance(item, Advisory) for item in result.items)
    first = result.items[0]
    assert isinstance(first, Advisory)
    assert first.key == "HSRC-202508-03"
    assert "utm_" not in first.url
    assert {c.id for c in first.cves} == {"CVE-2025-39250", "CVE-2025-39251"}
    assert first.source == "t"


def test_an_advisory_entry_that_fails_extraction_is_a_warning_and_the_rest_continue() -> None:
    good = re.search(rb"<item>.*?</item>", ADVISORIES.read_bytes(), re.S)
    assert good is not None
    bad = (b"<item><title>Holiday greetings</title><link>https://example.net/hello</link>"
           b"<description>&lt;p&gt;Happy new year!&lt;/p&gt;</description></item>")
    nolink = b"<item><title>No link</title><description>CVE-2021-36260</description></item>"
    body = _rss((bad + good.group() + nolink).decode())
    result = feed.parse(body, {}, _settings("advisory"))
    assert len(result.items) == 1
    assert any(w.startswith("entry 1 ('Holiday greetings'): skipped:") for w in result.warnings)
    assert any(w.startswith("entry 3 ('No link'): skipped: the entry has no link")
               for w in result.warnings)


def test_the_same_feed_twice_gives_the_same_revisions() -> None:
    body = (SAMPLES / "firmware.rss").read_bytes()
    first = feed.parse(body, {}, _settings())
    again = feed.parse(body.replace(b"<p>", b"<p>  \n "), {}, _settings())
    assert [i.revision for i in first.items] == [i.revision for i in again.items]


def test_deeply_nested_entry_html_does_not_exhaust_the_stack() -> None:
    html = "<div>" * 20_000 + "Applied to: DS-2CD3321G2-I<br>Version: V5.7.15" + "</div>" * 20_000
    result = feed.parse(_rss(f"<item><title>deep</title><description><![CDATA[{html}]]>"
                             "</description></item>"), {}, _settings())
    assert _titles(result.items) == ["deep"]


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ('<atom:link rel="next" href="https://example.net/feed.rss?page=2"/>',
         "https://example.net/feed.rss?page=2"),
        ('<atom:link rel="next" href="feed-2.rss"/>', "https://example.net/feed-2.rss"),
        ('<atom:link rel="next" href="https://evil.example/feed.rss?page=2"/>', None),
        ('<atom:link rel="next" href="javascript:load()"/>', None),
        ('<atom:link rel="self" href="https://example.net/feed.rss"/>', None),
    ],
)
def test_a_paged_feed_names_its_next_page_on_its_own_site(link: str, expected: str | None) -> None:
    body = _rss(link + FIRMWARE_ITEM).replace(
        b'<rss version="2.0">', b'<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
    )
    result = feed.parse(body, {}, _settings())
    assert len(result.items) == 1 and result.next_url == expected
