"""Tests for bot.sources.runner and bot.sources.health: polls against a real server on 127.0.0.1.

The parsers here are small test-local ones (the real ones live in their own modules): a body is
lines of ``item KEY``, ``warn TEXT``, ``link URL MARKER`` and ``next URL``, and ``cut WHY`` stands
for a body that ends early (CutOffError); anything else is a ParseError, so HTML error pages,
binary junk and truncated bodies are all "malformed".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.config import NetworkSettings, SourceSettings
from bot.items import Advisory, ExploitSignal
from bot.sources import runner
from bot.sources.base import CutOffError, Link, ParseError, ParseResult
from bot.sources.fetcher import Fetcher, FetchResult
from bot.sources.health import (
    SourceHealth,
    describe,
    record_failure,
    record_success,
)
from bot.sources.runner import Cursor, PollOutcome, poll, poll_all
from tests.httpserver import LocalServer, Route, gzip_bomb

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PARSED: list[str] = []
FETCHED: list[str] = []


def lines_parser(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """The test format; ``crash`` stands for a parser bug."""
    PARSED.append(source.name)
    FETCHED.append(headers["x-firmwatch-url"])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 at byte {exc.start}") from None
    result = ParseResult()
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "item":
            result.items.append(ExploitSignal(key=rest, source=source.name))
        elif word == "warn":
            result.warnings.append(rest)
        elif word == "link":
            url, _, marker = rest.partition(" ")
            result.follow.append(Link(url, marker=marker))
        elif word == "next":
            result.next_url = rest
        elif word == "crash":
            raise TypeError("parser bug")
        elif word == "cut":
            raise CutOffError(f"the page looks cut off: {rest}")
        else:
            raise ParseError(f"unexpected line {line[:30]!r}")
    return result


def detail_parser(page: FetchResult, link: Link, source: SourceSettings) -> ParseResult:
    """A detail page is ``advisory TITLE``."""
    text = page.body.decode("utf-8", "replace")
    if text.startswith("cut "):
        raise CutOffError(f"the page looks cut off: {page.url} {text[4:]}")
    if not text.startswith("advisory "):
        raise ParseError("not an advisory page")
    item = Advisory(key=page.url, title=text[9:], url=page.url, source=source.name)
    return ParseResult(items=[item])


PARSERS = {f: lines_parser for f in ("kev-json", "hikvision-html", "nvd-json", "feed")}


def _source(url: str, name: str = "kev", fmt: str = "kev-json", **extra: Any) -> SourceSettings:
    kind = {"kev-json": "exploited", "hikvision-html": "advisory", "nvd-json": "scores"}[fmt]
    return SourceSettings.model_validate(
        {"name": name, "kind": kind, "format": fmt, "url": url, **extra}
    )


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    network = NetworkSettings(
        allow_hosts=["127.0.0.1"], timeout=timedelta(seconds=1), max_body_mib=1.0
    )
    with Fetcher(network, resolve=lambda h, p: pytest.fail(f"DNS asked about {h}")) as f:
        yield f


def _poll(
    source: SourceSettings,
    fetcher: Fetcher,
    cursor: Cursor | None = None,
    health: SourceHealth | None = None,
    **kw: Any,
) -> PollOutcome:
    kw.setdefault("parsers", PARSERS)
    return poll(source, fetcher, cursor or Cursor(), health or SourceHealth(), NOW, **kw)


def test_ok_then_not_modified(http_server: LocalServer, fetcher: Fetcher) -> None:
    url = http_server.route(
        "/kev", Route(body=b"item CVE-1\nitem CVE-2\nwarn odd date", etag='"1"')
    )
    first = _poll(_source(url), fetcher)
    assert [i.key for i in first.items] == ["CVE-1", "CVE-2"]
    assert (first.unchanged, first.cursor.etag) == (False, '"1"')
    assert first.health.warnings == ["odd date"]
    assert (first.health.last_status, first.health.items_last_poll) == (200, 2)
    PARSED.clear()
    second = _poll(_source(url), fetcher, first.cursor, first.health)
    assert (second.items, second.unchanged, PARSED) == ([], True, [])
    assert second.health.last_status == 304 and second.health.warnings == ["odd date"]
    assert second.cursor == first.cursor
    assert describe(second.health, NOW) == "ok just now, not modified, 1 warning"


FAULTS = [
    ("404", Route(404, b"<html>Not here</html>"), "HTTP 404 Not Found", 404),
    ("500", Route(500), "HTTP 500 Internal Server Error", 500),
    ("timeout", Route(body=b"item late", delay=5), "timed out after 1 s", None),
    ("drip", Route(body=b"item x" * 10, drip=1.0), "timed out after 1 s", None),
    ("over cap", Route(body=b"item " + b"x" * (1 << 20)), "body larger than 1.0 MiB", None),
    ("over cap chunked", Route(body=b"x" * (2 << 20), chunked=True), "body larger than", None),
    (
        "gzip bomb",
        Route(body=gzip_bomb(16 << 20), headers={"Content-Encoding": "gzip"}),
        "body larger than 1.0 MiB",
        None,
    ),
    ("redirect loop", Route(redirect="/feed"), "too many redirects (3)", 302),
    (
        "redirect to private",
        Route(redirect="http://10.255.255.1/x?t=secret"),
        "refused redirect to http://10.255.255.1/x: 10.255.255.1 is a private address",
        None,
    ),
    (
        "redirect to metadata",
        Route(redirect="http://169.254.169.254/latest/meta-data"),
        "the cloud metadata address",
        None,
    ),
    ("non-UTF-8", Route(body=b"item \xff\xfe\xfa"), "not UTF-8 at byte 5", 200),
    (
        "HTML error page",
        Route(
            body=b"<html><body>Service unavailable</body></html>",
            headers={"Content-Type": "text/html"},
        ),
        "cannot read the body as kev-json: unexpected line '<html>",
        200,
    ),
    ("malformed", Route(body=b"item ok\nitem\x00truncated"), "unexpected line", 200),
    (
        "truncated body",
        Route(body=b"item", headers={"Content-Length": "10"}, close=True),
        "broke the HTTP protocol: peer closed connection",
        None,
    ),
]


@pytest.mark.parametrize(("name", "route", "words", "status"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_is_a_health_entry_and_touches_nothing(
    http_server: LocalServer,
    fetcher: Fetcher,
    name: str,
    route: Route,
    words: str,
    status: int | None,
) -> None:
    url = http_server.route("/feed", route)
    cursor = Cursor(
        etag='"old"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT", pages={"https://x/a": "m"}
    )
    before = record_success(SourceHealth(), NOW - timedelta(hours=1), 200, [], 7)
    outcome = _poll(_source(url), fetcher, cursor, before)
    assert outcome.items == [] and outcome.unchanged is False
    assert outcome.cursor is cursor
    health = outcome.health
    assert words in (health.last_error or "") and health.last_error
    assert (health.consecutive_failures, health.last_status) == (1, status)
    assert health.last_success == before.last_success and health.items_last_poll == 7
    assert "secret" not in health.last_error
    if route.delay or route.drip:
        return  # the second poll would only wait again
    again = _poll(_source(url), fetcher, cursor, health)
    assert again.health.consecutive_failures == 2
    assert describe(again.health, NOW).startswith("failing \u00d72 since just now: ")


def test_poll_all_keeps_going_past_bad_sources(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.route("/good", Route(body=b"item CVE-9"))
    http_server.route("/slow", Route(body=b"item late", delay=5))
    http_server.route("/html", Route(body=b"<html>error</html>"))
    http_server.route("/bug", Route(body=b"crash"))
    sources = [
        _source(http_server.url("/slow"), "slow"),
        _source(http_server.url("/missing"), "missing"),
        _source(http_server.url("/html"), "html"),
        _source(http_server.url("/bug"), "bug"),
        _source("http://10.0.0.1/kev.json", "private"),
        _source(http_server.url("/good"), "good"),
        _source(http_server.url("/good"), "off", enabled=False),
    ]
    cursors = {"html": Cursor(etag='"kept"')}
    out = poll_all(sources, fetcher, cursors, {}, NOW, parsers=PARSERS, max_workers=3)
    assert set(out) == {"slow", "missing", "html", "bug", "private", "good"}
    assert [i.key for i in out["good"].items] == ["CVE-9"]
    assert out["good"].health.consecutive_failures == 0
    errors = {n: o.health.last_error for n, o in out.items() if n != "good"}
    assert errors["slow"] == "timed out after 1 s"
    assert errors["missing"] == "HTTP 404 Not Found"
    assert errors["bug"] == "internal error (TypeError): parser bug"
    assert "10.0.0.1 is a private address" in (errors["private"] or "")
    assert out["html"].cursor == Cursor(etag='"kept"')
    assert all(not o.items for n, o in out.items() if n != "good")


def test_listing_follows_new_and_changed_pages_and_retries_failures(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    listing = http_server.route(
        "/list",
        Route(body=b"link /a 2025-05-01\nlink /b 2025-05-02\nlink /c 2025-05-03", etag='"L1"'),
        Route(body=b"link /a 2025-05-01\nlink /b 2025-05-02\nlink /c 2025-05-03", etag='"L1"'),
        Route(body=b"link /a 2025-05-09\nlink /c 2025-05-03", etag='"L2"'),
    )
    http_server.route("/a", Route(body=b"advisory A"))
    http_server.route("/b", Route(body=b"advisory B"))
    http_server.route("/c", Route(500), Route(body=b"advisory C"))
    source = _source(listing, "hik", "hikvision-html")

    def run(cursor: Cursor) -> PollOutcome:
        return _poll(source, fetcher, cursor, detail_parser=detail_parser)

    first = run(Cursor())
    assert sorted(i.title for i in first.items if isinstance(i, Advisory)) == ["A", "B"]
    assert first.health.warnings == [
        f"detail page {http_server.url('/c')}: HTTP 500 Internal Server Error; will retry next poll"
    ]
    assert set(first.cursor.pages) == {http_server.url("/a"), http_server.url("/b")}
    assert first.cursor.etag is None  # so the listing is read again and /c retried

    second = run(first.cursor)
    assert [i.key for i in second.items] == [http_server.url("/c")]
    assert second.cursor.etag == '"L1"' and len(second.cursor.pages) == 3
    assert len(http_server.requests_to("/a")) == 1

    third = run(second.cursor)  # /a changed its marker, /b left the listing
    assert [i.key for i in third.items] == [http_server.url("/a")]
    assert set(third.cursor.pages) == {http_server.url("/a"), http_server.url("/c")}
    assert run(third.cursor).unchanged


def test_unreadable_detail_page_is_a_warning(http_server: LocalServer, fetcher: Fetcher) -> None:
    listing = http_server.route("/list", Route(body=b"link /bad m1\nlink /ok m1"))
    http_server.route("/bad", Route(body=b"<html>login required</html>"))
    http_server.route("/ok", Route(body=b"advisory fine"))
    outcome = _poll(_source(listing, "hik", "hikvision-html"), fetcher, detail_parser=detail_parser)
    assert [i.key for i in outcome.items] == [http_server.url("/ok")]
    assert "cannot be read: not an advisory page" in outcome.health.warnings[0]
    assert list(outcome.cursor.pages) == [http_server.url("/ok")]


def test_listing_without_detail_parser_warns(http_server: LocalServer, fetcher: Fetcher) -> None:
    listing = http_server.route("/list", Route(body=b"link /a m\nlink /b m"))
    outcome = _poll(_source(listing, "hik", "hikvision-html"), fetcher)
    assert outcome.health.warnings == ["no detail parser for 2 linked pages"]
    assert outcome.health.consecutive_failures == 0


@pytest.mark.parametrize(("environ", "spacing"), [({}, 6.0), ({"NVD_KEY": "k-42"}, 0.6)])
def test_nvd_paging_spaced_with_key_header(
    http_server: LocalServer, fetcher: Fetcher, environ: dict[str, str], spacing: float
) -> None:
    http_server.route("/nvd", Route(body=b"item CVE-1\nnext /nvd2?startIndex=1"))
    http_server.route("/nvd2", Route(body=b"item CVE-2\nnext /nvd3?startIndex=2"))
    http_server.route("/nvd3", Route(body=b"item CVE-3"))
    slept: list[float] = []
    extra = {"api_key_env": "NVD_KEY"} if environ else {}
    source = _source(http_server.url("/nvd"), "nvd", "nvd-json", **extra)
    outcome = _poll(source, fetcher, environ=environ, sleep=slept.append)
    assert [i.key for i in outcome.items] == ["CVE-1", "CVE-2", "CVE-3"]
    assert slept == [spacing, spacing]
    keys = [r.headers.get("apikey") for r in http_server.requests]
    assert keys == [environ.get("NVD_KEY")] * 3
    assert outcome.cursor.nvd_last_modified == "2025-06-01T12:00:00.000+00:00"


def test_nvd_missing_key_names_the_variable(http_server: LocalServer, fetcher: Fetcher) -> None:
    source = _source(http_server.url("/nvd"), "nvd", "nvd-json", api_key_env="NVD_API_KEY")
    outcome = _poll(source, fetcher, environ={"OTHER": "hunter2"})
    error = outcome.health.last_error or ""
    assert "environment variable NVD_API_KEY" in error and "hunter2" not in error
    assert http_server.requests == []


def _window(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query)


def test_nvd_incremental_window_on_every_page(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.route(
        "/nvd", Route(body=b"item CVE-1\nnext /nvd?startIndex=1"), Route(body=b"item CVE-2")
    )
    source = _source(http_server.url("/nvd?keywordSearch=hikvision"), "nvd", "nvd-json")
    cursor = Cursor(etag='"e"', nvd_last_modified="2025-05-31T12:00:00.000+00:00")
    FETCHED.clear()
    outcome = _poll(source, fetcher, cursor, sleep=lambda s: None)
    first, second = (_window(r.path) for r in http_server.requests)
    assert [http_server.url(r.path) for r in http_server.requests] == FETCHED
    assert first["lastModStartDate"] == ["2025-05-31T12:00:00.000+00:00"]
    assert first["lastModEndDate"] == ["2025-06-01T12:00:00.000+00:00"]
    assert first["keywordSearch"] == ["hikvision"]
    assert "%2B00:00" in http_server.requests[0].path
    assert second["lastModStartDate"] == first["lastModStartDate"]
    assert second["startIndex"] == ["1"]
    assert "if-none-match" not in http_server.requests[0].headers
    assert outcome.cursor.nvd_last_modified == "2025-06-01T12:00:00.000+00:00"


def test_nvd_window_is_at_most_120_days(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.route("/nvd", Route(body=b"item CVE-1"))
    source = _source(http_server.url("/nvd"), "nvd", "nvd-json")
    cursor = Cursor(nvd_last_modified="2025-01-01T00:00:00+00:00")
    outcome = _poll(source, fetcher, cursor)
    assert _window(http_server.requests[0].path)["lastModEndDate"] == [
        "2025-05-01T00:00:00.000+00:00"
    ]
    assert outcome.cursor.nvd_last_modified == "2025-05-01T00:00:00.000+00:00"


def test_nvd_failed_page_advances_nothing(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.route("/nvd", Route(body=b"item CVE-1\nnext /nvd2"))
    http_server.route("/nvd2", Route(503))
    source = _source(http_server.url("/nvd"), "nvd", "nvd-json")
    cursor = Cursor(nvd_last_modified="2025-05-31T00:00:00.000+00:00")
    outcome = _poll(source, fetcher, cursor, sleep=lambda s: None)
    assert (outcome.items, outcome.cursor) == ([], cursor)
    assert outcome.health.last_error == "HTTP 503 Service Unavailable"


def test_endless_paging_is_a_fault(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.route("/nvd", Route(body=b"item CVE-1\nnext /nvd?startIndex=5"))
    source = _source(http_server.url("/nvd"), "nvd", "nvd-json")
    outcome = _poll(source, fetcher, sleep=lambda s: None)
    assert outcome.health.last_error == "paging does not end after 2 pages"


def test_unknown_format_is_a_fault(http_server: LocalServer, fetcher: Fetcher) -> None:
    outcome = _poll(_source(http_server.url("/f")), fetcher, parsers={})
    assert outcome.health.last_error == "no parser is registered for format 'kev-json'"


def test_file_source_unchanged_on_second_poll(tmp_path: Any, fetcher: Fetcher) -> None:
    feed = tmp_path / "kev.txt"
    feed.write_text("item CVE-5\n")
    first = _poll(_source(feed.as_uri()), fetcher)
    assert [i.key for i in first.items] == ["CVE-5"]
    assert _poll(_source(feed.as_uri()), fetcher, first.cursor).unchanged


def test_cursor_and_health_round_trip() -> None:
    cursor = Cursor('"e"', "Mon, 01 Jan 2024 00:00:00 GMT", {"u": "m"}, "2025-01-01T00:00:00")
    assert Cursor.from_dict(cursor.to_dict()) == cursor
    assert Cursor.from_dict({}) == Cursor()
    health = record_failure(record_success(SourceHealth(), NOW, 200, ["w"], 3), NOW, "boom", 500)
    assert SourceHealth.from_dict(health.to_dict()) == health
    assert SourceHealth.from_dict({}) == SourceHealth()


def test_describe() -> None:
    assert describe(SourceHealth()) == "never polled"
    ok = record_success(SourceHealth(), NOW - timedelta(minutes=3), 200, [], 12)
    assert describe(ok, NOW) == "ok 3 min ago, 12 items"
    assert describe(ok) == "ok 2025-06-01 11:57 UTC, 12 items"
    failing = ok
    for hours in (4, 3, 2, 1):
        failing = record_failure(
            failing, NOW - timedelta(hours=hours), "timed out after 30 s", None
        )
    assert describe(failing, NOW) == "failing \u00d74 since 4 h ago: timed out after 30 s"
    assert describe(record_success(failing, NOW, 200, [], 1), NOW) == "ok just now, 1 item"


def test_health_bounds_warnings_and_error_text() -> None:
    many = [f"warning {i}" for i in range(30)]
    health = record_success(SourceHealth(), NOW, 200, many, 0)
    assert len(health.warnings) == 21 and health.warnings[-1] == "…and 10 more warnings"
    assert len(record_failure(health, NOW, "x" * 5000, None).last_error or "") == 500
    assert dataclasses.is_dataclass(health)


def test_a_parser_bug_is_a_health_entry_in_a_single_poll_too(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    url = http_server.route("/bug", Route(body=b"item CVE-1\ncrash"))
    cursor = Cursor(etag='"kept"')
    outcome = _poll(_source(url), fetcher, cursor)
    assert (outcome.items, outcome.cursor) == ([], cursor)
    assert outcome.health.last_error == "internal error (TypeError): parser bug"
    assert outcome.health.consecutive_failures == 1


def test_a_detail_parser_bug_fails_the_poll_and_keeps_the_cursor(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    def buggy(page: FetchResult, link: Link, source: SourceSettings) -> ParseResult:
        raise AttributeError("'NoneType' object has no attribute 'text'")

    listing = http_server.route("/list", Route(body=b"link /a m1"))
    http_server.route("/a", Route(body=b"advisory A"))
    cursor = Cursor(pages={"https://x/old": "m0"})
    outcome = _poll(_source(listing, "hik", "hikvision-html"), fetcher, cursor, detail_parser=buggy)
    assert (outcome.items, outcome.cursor) == ([], cursor)
    assert outcome.health.last_error == (
        "internal error (AttributeError): 'NoneType' object has no attribute 'text'"
    )


def test_detail_pages_per_poll_are_capped_and_the_rest_read_next_time(
    http_server: LocalServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "MAX_DETAIL_PAGES", 2)
    body = "\n".join(f"link /p{n} m" for n in range(5)).encode()
    listing = http_server.route("/list", Route(body=body, etag='"L"'))
    for n in range(5):
        http_server.route(f"/p{n}", Route(body=f"advisory {n}".encode()))
    source = _source(listing, "hik", "hikvision-html")
    first = _poll(source, fetcher, detail_parser=detail_parser)
    assert [i.key for i in first.items] == [http_server.url("/p0"), http_server.url("/p1")]
    assert first.health.warnings == ["3 more linked pages will be read in the next polls"]
    assert first.cursor.etag is None and len(first.cursor.pages) == 2
    second = _poll(source, fetcher, first.cursor, detail_parser=detail_parser)
    third = _poll(source, fetcher, second.cursor, detail_parser=detail_parser)
    assert [i.key for i in second.items + third.items] == [
        http_server.url(f"/p{n}") for n in (2, 3, 4)
    ]
    assert third.health.warnings == [] and third.cursor.etag == '"L"'
    assert all(len(http_server.requests_to(f"/p{n}")) == 1 for n in range(5))


def test_silently_revised_detail_page_is_found_within_a_week(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    body = b"link /a 2025-05-01\nlink /b 2025-05-02\nlink /c 2025-05-03"
    listing = http_server.route("/list", Route(body=body, etag='"L1"'))
    http_server.route("/a", Route(body=b"advisory A"), Route(body=b"advisory A, revised"))
    http_server.route("/b", Route(body=b"advisory B"))
    http_server.route("/c", Route(body=b"advisory C"))
    source = _source(listing, "hik", "hikvision-html")
    first = _poll(source, fetcher, detail_parser=detail_parser)
    assert len(first.items) == 3 and set(first.cursor.read_on.values()) == {"2025-06-01"}
    soon = poll(
        source,
        fetcher,
        first.cursor,
        first.health,
        NOW + timedelta(days=6),
        parsers=PARSERS,
        detail_parser=detail_parser,
    )
    assert soon.unchanged and soon.items == []  # nothing re-read before a week
    later = poll(
        source,
        fetcher,
        soon.cursor,
        soon.health,
        NOW + timedelta(days=8),
        parsers=PARSERS,
        detail_parser=detail_parser,
    )
    assert later.unchanged  # the listing answered 304 ...
    # ... and two stale pages (of three) were re-read; /a's silent revision is found
    assert [i.title for i in later.items if isinstance(i, Advisory)] == ["A, revised", "B"]
    assert later.cursor.read_on[http_server.url("/c")] == "2025-06-01"
    last = poll(
        source,
        fetcher,
        later.cursor,
        later.health,
        NOW + timedelta(days=8),
        parsers=PARSERS,
        detail_parser=detail_parser,
    )
    assert [i.key for i in last.items] == [http_server.url("/c")]


def test_pages_that_keep_failing_to_re_read_do_not_hold_back_the_other_stale_pages(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    listing = http_server.route("/list", Route(body=b"link /a m\nlink /b m\nlink /c m",
                                               etag='"L1"'))
    http_server.route("/a", Route(body=b"advisory A"), Route(404, b"gone"))
    http_server.route("/b", Route(body=b"advisory B"), Route(body=b"<html>Just a moment</html>"))
    http_server.route("/c", Route(body=b"advisory C"), Route(body=b"advisory C, revised"))
    source = _source(listing, "hik", "hikvision-html")
    outcome = _poll(source, fetcher, detail_parser=detail_parser)
    found: list[str] = []
    for day in (8, 9, 10):  # /a and /b are the stalest pages on every one of these polls
        outcome = poll(source, fetcher, outcome.cursor, outcome.health,
                       NOW + timedelta(days=day), parsers=PARSERS, detail_parser=detail_parser)
        found += [i.title for i in outcome.items if isinstance(i, Advisory)]
        retried = [w for w in outcome.health.warnings if w.startswith("re-reading")]
        assert retried == [f"re-reading {http_server.url('/a')}: HTTP 404 Not Found; will retry"
                           " next poll", f"re-reading {http_server.url('/b')}: not an advisory"
                           " page; will retry next poll"]  # once each, however many polls
    assert found == ["C, revised"]  # /c's silent revision is found on the first of them


def test_a_cut_off_listing_fails_the_poll_and_keeps_the_cursor(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    listing = http_server.route("/list", Route(body=b"link /a m1\ncut it ends before </html>"))
    cursor = Cursor(etag='"L0"', pages={http_server.url("/a"): "m1", http_server.url("/b"): "m0"})
    outcome = _poll(_source(listing, "hik", "hikvision-html"), fetcher, cursor,
                    detail_parser=detail_parser)
    assert (outcome.items, outcome.cursor, outcome.unchanged) == ([], cursor, False)
    assert outcome.health.last_error == (
        "the page looks cut off: it ends before </html>; nothing from this poll was stored;"
        " will retry next poll"
    )
    assert (outcome.health.consecutive_failures, outcome.health.last_status) == (1, 200)


def test_a_cut_off_detail_page_is_stored_from_nothing_and_read_again_next_poll(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    """A cut-off detail page would read as a shorter advisory: nothing of it is stored and it
    is read again next poll (the listing's validators kept), while the other pages are read:
    one broken page does not stop the source's other new advisories."""
    listing = http_server.route("/list", Route(body=b"link /a m2\nlink /b m2", etag='"L2"'))
    http_server.route("/a", Route(body=b"advisory A"))
    cut = Route(body=b"cut inside a table")  # read twice: followed, then re-read as stale
    http_server.route("/b", cut, cut, Route(body=b"advisory B"))
    source = _source(listing, "hik", "hikvision-html")
    cursor = Cursor(etag='"L1"', pages={http_server.url("/b"): "m1"})
    first = _poll(source, fetcher, cursor, detail_parser=detail_parser)
    assert [i.key for i in first.items] == [http_server.url("/a")]
    assert first.health.consecutive_failures == 0
    assert first.cursor.etag == '"L1"' and first.cursor.pages[http_server.url("/b")] == "m1"
    assert any("looks cut off" in w and "nothing of it was stored" in w
               for w in first.health.warnings)
    again = _poll(source, fetcher, first.cursor, first.health, detail_parser=detail_parser)
    assert [i.key for i in again.items] == [http_server.url("/b")]
    assert again.cursor.etag == '"L2"' and again.health.consecutive_failures == 0
    assert http_server.requests_to("/list")[-1].headers["if-none-match"] == '"L1"'


def test_a_cut_off_page_met_when_re_reading_is_a_warning_and_read_again(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    listing = http_server.route("/list", Route(body=b"link /a m1", etag='"L1"'))
    http_server.route("/a", Route(body=b"advisory A"), Route(body=b"cut before </html>"))
    source = _source(listing, "hik", "hikvision-html")
    first = _poll(source, fetcher, detail_parser=detail_parser)
    later = poll(source, fetcher, first.cursor, first.health, NOW + timedelta(days=8),
                 parsers=PARSERS, detail_parser=detail_parser)
    assert later.items == [] and later.health.consecutive_failures == 0
    assert later.cursor.read_on == first.cursor.read_on  # re-read again next poll
    assert any("looks cut off" in w for w in later.health.warnings)


# --- listings and feeds a page at a time --------------------------------------------------------


def test_a_listing_is_read_page_by_page_and_each_page_s_links_followed(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    listing = http_server.route("/list", Route(body=b"link /a m\nnext /list2?page=2", etag='"L"'))
    http_server.route("/list2", Route(body=b"link b m\nnext /list3?page=3"))  # relative to page 2
    http_server.route("/list3", Route(body=b"link /c m"))
    for name in "abc":
        http_server.route(f"/{name}", Route(body=f"advisory {name.upper()}".encode()))
    outcome = _poll(_source(listing, "hik", "hikvision-html"), fetcher, detail_parser=detail_parser)
    assert [i.key for i in outcome.items] == [http_server.url(f"/{n}") for n in "abc"]
    assert outcome.health.warnings == []
    assert len(outcome.cursor.pages) == 3 and outcome.cursor.etag == '"L"'
    again = _poll(_source(listing, "hik", "hikvision-html"), fetcher, outcome.cursor,
                  detail_parser=detail_parser)
    assert again.unchanged and len(http_server.requests_to("/list2")) == 1  # page 1 said 304


def test_a_later_listing_page_that_fails_is_a_warning_and_keeps_what_is_known(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    listing = http_server.route("/list", Route(body=b"link /a m2\nnext /list2", etag='"L2"'))
    http_server.route("/list2", Route(503), Route(body=b"link /b m1"))
    http_server.route("/a", Route(body=b"advisory A"))
    http_server.route("/b", Route(body=b"advisory B"))
    source = _source(listing, "hik", "hikvision-html")
    pages = {http_server.url("/a"): "m1", http_server.url("/b"): "m1"}
    known = Cursor(etag='"L1"', pages=pages, read_on=dict.fromkeys(pages, "2025-06-01"))
    first = _poll(source, fetcher, known, detail_parser=detail_parser)
    assert [i.key for i in first.items] == [http_server.url("/a")]  # page 1 is read
    assert first.health.warnings == [
        f"listing page 2 ({http_server.url('/list2')}): HTTP 503 Service Unavailable; the pages"
        " before it were read; will retry next poll"
    ]
    assert first.health.consecutive_failures == 0
    # /b, listed on the page that failed, keeps its marker (it is not read again as new), and
    # the old validators are kept so that the listing is read again whole next poll.
    assert first.cursor.pages == {http_server.url("/a"): "m2", http_server.url("/b"): "m1"}
    assert first.cursor.etag == '"L1"'
    second = _poll(source, fetcher, first.cursor, detail_parser=detail_parser)
    assert second.items == [] and second.health.warnings == []
    assert second.cursor.etag == '"L2"' and len(http_server.requests_to("/b")) == 0


@pytest.mark.parametrize(
    ("page2", "reads"),
    [
        (b"link /a m\nnext /list", 2),  # back to the first page
        (b"link /a m\nnext /list3", 2),  # "load more" bringing nothing new
        (b"cut it ends before </html>", 2),  # a cut-off later page: a warning, as a failure
    ],
)
def test_listing_paging_ends_where_pages_repeat_or_bring_nothing(
    http_server: LocalServer, fetcher: Fetcher, page2: bytes, reads: int
) -> None:
    listing = http_server.route("/list", Route(body=b"link /a m\nnext /list2"))
    http_server.route("/list2", Route(body=page2))
    http_server.route("/list3", Route(body=b"link /z m"))
    http_server.route("/a", Route(body=b"advisory A"))
    outcome = _poll(_source(listing, "hik", "hikvision-html"), fetcher, detail_parser=detail_parser)
    assert [i.key for i in outcome.items] == [http_server.url("/a")]
    assert outcome.health.consecutive_failures == 0
    assert len(http_server.requests) == reads + 1  # the listing pages and /a
    assert http_server.requests_to("/list3") == []


def test_listing_pages_per_poll_are_capped_with_a_warning(
    http_server: LocalServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "MAX_LISTING_PAGES", 3)
    for n in range(1, 6):
        http_server.route(f"/list{n}", Route(body=f"link /p{n} m\nnext /list{n + 1}".encode()))
        http_server.route(f"/p{n}", Route(body=f"advisory {n}".encode()))
    source = _source(http_server.url("/list1"), "hik", "hikvision-html")
    outcome = _poll(source, fetcher, detail_parser=detail_parser)
    assert [i.key for i in outcome.items] == [http_server.url(f"/p{n}") for n in (1, 2, 3)]
    assert outcome.health.warnings == [
        f"stopped after 3 listing pages: the pages after {http_server.url('/list4')} were not read"
    ]


def test_listing_pages_told_apart_by_their_query(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    listing = http_server.route(
        "/list", Route(body=b"link /a m\nnext ?page=2"), Route(body=b"link /b m\nnext ?page=1")
    )
    http_server.route("/a", Route(body=b"advisory A"))
    http_server.route("/b", Route(body=b"advisory B"))
    outcome = _poll(_source(listing, "hik", "hikvision-html"), fetcher, detail_parser=detail_parser)
    assert [i.key for i in outcome.items] == [http_server.url("/a"), http_server.url("/b")]
    # ?page=1 is not known to be the first page: read, it brings nothing new and paging ends.
    assert [r.path for r in http_server.requests_to("/list")] == [
        "/list", "/list?page=2", "/list?page=1"
    ]
