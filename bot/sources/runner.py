"""Poll one source, or all of them in threads, without ever raising for a source's faults.

A poll fetches conditionally, parses, follows listing links and API pages, and returns the items
with the source's next cursor and health. A failed poll returns no items and the cursor it was
given, so nothing stored is touched. The runner does not know the store: the caller persists.

A detail page that cannot be fetched or read, or that looks cut off (CutOffError: what it holds
would read as a shorter, wrong advisory), is a warning: nothing of it is stored and it is tried
again next poll, while the source's other pages are read. A cut-off first listing or feed page,
or any cut-off API page, fails the whole poll; a later listing page that cannot be fetched or read
is a warning, and the listing is read again next poll. A listing that links no pages at all, where
the last good poll read some, fails the poll too: it is a layout change or a challenge page, not
a vendor that withdrew every advisory.

A server that refuses with 429 or 503 and a ``Retry-After`` is not polled again before the time it
asked for (at most a day): until then `poll` returns the source ``waiting``, its health and cursor
as they were. A source that lists everything it holds on each poll (SNAPSHOT_FORMATS) and reads
no items, where the last poll that read any read some, is told in a warning (``emptied``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from bot.config import ConfigError, SourceSettings, secret
from bot.items import Item, canonical_url
from bot.netguard import redact_url
from bot.sources.base import REQUEST_URL, CutOffError, Link, Parser, ParseResult
from bot.sources.fetcher import Fetcher, FetchError, FetchResult, retry_after
from bot.sources.health import (
    SourceHealth,
    record_failure,
    record_success,
    waiting,
    with_warnings,
)

log = logging.getLogger(__name__)

DetailParser = Callable[[FetchResult, Link, SourceSettings], ParseResult]
"""Reads one linked detail page; its warnings go into the source's health."""
NVD_SPACING = {False: 6.0, True: 0.6}  # 10 requests per rolling 60 s, 100 with an API key
NVD_WINDOW = timedelta(days=120)  # the longest lastModStartDate..lastModEndDate NVD accepts
MAX_PAGES = 1000  # pages of a paged API (NVD) in one poll
MAX_LISTING_PAGES = 50  # pages of a listing or a paged feed read in one poll
MAX_DETAIL_PAGES = 50  # detail pages read per poll; the rest wait for the next polls
REFRESH_AFTER = timedelta(days=7)  # a detail page unread this long is read again
REFRESH_PER_POLL = 2  # at most this many such re-reads per poll
REFRESH_TRIES = 2 * REFRESH_PER_POLL  # ... trying at most this many (past pages that fail)
WAIT_STATUSES = (429, 503)  # answers whose Retry-After the source waits out
# Formats whose every poll reads all the source holds (not only what changed): a poll of one that
# reads nothing, where an earlier one read items, is worth a warning. NVD reads only changes;
# a Hikvision listing yields items only for pages new or changed (an emptied listing fails).
SNAPSHOT_FORMATS = frozenset({"feed", "kev-json", "firmware-json"})
_EMPTY: Mapping[str, str] = MappingProxyType({})
_WINDOW_KEYS = ("lastModStartDate", "lastModEndDate")
_BUGS = (ArithmeticError, AttributeError, LookupError, OSError, RuntimeError, TypeError, ValueError)
_CUT_OFF = "; nothing from this poll was stored; will retry next poll"


@dataclass(frozen=True)
class Cursor:
    """Where a source's last good poll left off: validators, detail-page markers, NVD time."""

    etag: str | None = None
    last_modified: str | None = None
    pages: dict[str, str] = field(default_factory=dict)
    nvd_last_modified: str | None = None
    read_on: dict[str, str] = field(default_factory=dict)  # detail page → ISO day last read

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "etag": self.etag,
            "last_modified": self.last_modified,
            "pages": dict(self.pages),
            "nvd_last_modified": self.nvd_last_modified,
            "read_on": dict(self.read_on),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cursor:
        """Rebuild from ``to_dict`` output; missing keys take their defaults."""
        return cls(
            etag=data.get("etag"),
            last_modified=data.get("last_modified"),
            pages={str(k): str(v) for k, v in (data.get("pages") or {}).items()},
            nvd_last_modified=data.get("nvd_last_modified"),
            read_on={str(k): str(v) for k, v in (data.get("read_on") or {}).items()},
        )


@dataclass
class PollOutcome:
    """What one poll yielded, and the cursor and health to store for the source."""

    items: list[Item]
    cursor: Cursor
    health: SourceHealth
    unchanged: bool
    waiting: bool = False  # not polled: the server asked to wait (health.not_before)
    emptied: str = ""  # the warning when a snapshot source read no items where it read some


class _Fault(Exception):
    """A source fault that ends the poll: recorded in health, never raised to the caller."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def poll(
    source: SourceSettings,
    fetcher: Fetcher,
    cursor: Cursor,
    health: SourceHealth,
    now: datetime,
    *,
    parsers: Mapping[str, Parser],
    detail_parser: DetailParser | None = None,
    environ: Mapping[str, str] = _EMPTY,
    sleep: Callable[[float], None] = time.sleep,
) -> PollOutcome:
    """Poll one source; a fault becomes a health entry, with no items and the cursor unchanged.
    A source whose server asked to wait until after ``now`` is not fetched (``waiting``)."""
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    if waiting(health, now):
        return PollOutcome([], cursor, health, unchanged=False, waiting=True)
    try:
        outcome = _poll(
            source, fetcher, cursor, health, now, parsers, detail_parser, environ, sleep
        )
        return _refresh(outcome, cursor, fetcher, source, detail_parser, now)
    except _Fault as fault:
        log.info("source %s failed: %s", source.name, fault)
        wait = _not_before(fault, now)
        failed = record_failure(health, now, str(fault), fault.status, wait)
        return PollOutcome([], cursor, failed, unchanged=False)
    except _BUGS as exc:  # a parser bug met by this body: recorded, never raised
        log.exception("source %s: internal error", source.name)
        error = f"internal error ({type(exc).__name__}): {exc}"
        return PollOutcome([], cursor, record_failure(health, now, error, None), unchanged=False)


def poll_all(
    sources: Sequence[SourceSettings],
    fetcher: Fetcher,
    cursors: Mapping[str, Cursor],
    healths: Mapping[str, SourceHealth],
    now: datetime,
    *,
    parsers: Mapping[str, Parser],
    detail_parsers: Mapping[str, DetailParser] | None = None,
    environ: Mapping[str, str] = _EMPTY,
    sleep: Callable[[float], None] = time.sleep,
    max_workers: int = 4,
) -> dict[str, PollOutcome]:
    """Poll every enabled source in threads; one failing or slow source never stops the others.

    ``detail_parsers`` maps a format to the reader of the pages its listings link to.
    """
    enabled = [s for s in sources if s.enabled]
    if not enabled:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(enabled)))) as pool:
        futures = {
            s.name: pool.submit(
                poll,
                s,
                fetcher,
                cursors.get(s.name, Cursor()),
                healths.get(s.name, SourceHealth()),
                now,
                parsers=parsers,
                detail_parser=(detail_parsers or {}).get(s.format),
                environ=environ,
                sleep=sleep,
            )
            for s in enabled
        }
        outcomes = {name: future.result() for name, future in futures.items()}
    return outcomes


def _poll(
    source: SourceSettings,
    fetcher: Fetcher,
    cursor: Cursor,
    health: SourceHealth,
    now: datetime,
    parsers: Mapping[str, Parser],
    detail_parser: DetailParser | None,
    environ: Mapping[str, str],
    sleep: Callable[[float], None],
) -> PollOutcome:
    parser = parsers.get(source.format)
    if parser is None:
        raise _Fault(f"no parser is registered for format {source.format!r}")
    headers = _api_key(source, environ)
    warnings: list[str] = []
    window = _nvd_window(source, cursor, now, warnings)
    url = _with_window(source.url, window)
    if window is None:  # an incremental NVD URL changes every poll: validators would not apply
        first = _get(fetcher, url, headers, cursor.etag, cursor.last_modified)
    else:
        first = _get(fetcher, url, headers)
    if first.not_modified:
        kept = replace(cursor, etag=first.etag, last_modified=first.last_modified)
        return PollOutcome([], kept, record_success(health, now, 304, health.warnings, 0), True)
    parsed = _parse(parser, first, source)
    if source.format == "nvd-json":
        pages_read = _api_pages(parsed, first.url, fetcher, parser, source, headers, window, sleep)
    else:
        pages_read = _listing_pages(parsed, first.url, fetcher, parser, source, headers)
    items, follow, complete = pages_read.items, pages_read.follow, not pages_read.left
    if detail_parser is not None and not follow and cursor.pages:
        raise _Fault(_emptied(first.url, len(cursor.pages)), first.status)
    warnings += pages_read.warnings
    pages, detail_items, notes, left = _follow(
        follow, first.url, fetcher, cursor, source, detail_parser
    )
    warnings += notes
    if not complete:  # pages listed further on were not seen: keep what is known of them
        pages = {**{k: v for k, v in cursor.pages.items() if k not in pages}, **pages}
        left = True
    stamp = (window[1] if window else now).isoformat(timespec="milliseconds")
    nvd = stamp if source.format == "nvd-json" else cursor.nvd_last_modified
    if left:  # keep the old validators so the listing is read (and what is left read) again
        new_cursor = replace(cursor, pages=pages, nvd_last_modified=nvd)
    else:
        new_cursor = Cursor(first.etag, first.last_modified, pages, nvd)
    items += detail_items
    emptied = _emptied_snapshot(source, health) if not items else ""
    warnings += [emptied] if emptied else []
    return PollOutcome(
        items,
        new_cursor,
        record_success(health, now, first.status, warnings, len(items)),
        False,
        emptied=emptied,
    )


@dataclass
class _Pages:
    """What the pages of one poll gave: items, links to follow, warnings; ``left`` when some
    listing pages were not read (they are read again next poll)."""

    items: list[Item]
    follow: list[Link]
    warnings: list[str]
    left: bool = False


def _api_pages(
    parsed: ParseResult,
    base: str,
    fetcher: Fetcher,
    parser: Parser,
    source: SourceSettings,
    headers: Mapping[str, str],
    window: tuple[datetime, datetime] | None,
    sleep: Callable[[float], None],
) -> _Pages:
    """Every page of a paged API (NVD): one that fails, or paging that does not end, fails
    the poll (a window read in part would be taken for the whole)."""
    out = _Pages(list(parsed.items), list(parsed.follow), list(parsed.warnings))
    seen, next_url = {base}, parsed.next_url
    while next_url:
        page_url = _with_window(urljoin(base, next_url), window)
        if page_url in seen or len(seen) >= MAX_PAGES:
            raise _Fault(f"paging does not end after {len(seen)} pages")
        seen.add(page_url)
        sleep(NVD_SPACING[bool(headers)])
        page = _parse(parser, _get(fetcher, page_url, headers), source)
        out.items += page.items
        out.warnings += page.warnings
        out.follow += page.follow
        next_url = page.next_url
    return out


def _listing_pages(
    parsed: ParseResult,
    base: str,
    fetcher: Fetcher,
    parser: Parser,
    source: SourceSettings,
    headers: Mapping[str, str],
) -> _Pages:
    """The first page and the pages after it (a listing's or a paged feed's ``next`` link), up
    to MAX_LISTING_PAGES. A later page that cannot be fetched or read is a warning: what the
    pages before it gave is kept, and the listing is read again next poll. Paging ends where a
    page repeats an earlier one or adds nothing new (a "load more" link that loads the same).
    """
    out = _Pages(list(parsed.items), list(parsed.follow), list(parsed.warnings))
    seen, next_url = {canonical_url(base)}, parsed.next_url
    known = {canonical_url(urljoin(base, link.url)) for link in out.follow}
    keys = {item.key for item in out.items}
    while next_url:
        page_url = urljoin(base, next_url)
        if canonical_url(page_url) in seen:
            break
        if len(seen) >= MAX_LISTING_PAGES:
            out.warnings.append(
                f"stopped after {len(seen)} listing pages: the pages after"
                f" {redact_url(page_url)} were not read"
            )
            break
        seen.add(canonical_url(page_url))
        try:
            page = _parse(parser, _get(fetcher, page_url, headers), source)
        except _Fault as fault:
            out.warnings.append(
                f"listing page {len(seen)} ({redact_url(page_url)}): {fault}; the pages before"
                " it were read; will retry next poll"
            )
            out.left = True
            break
        links = {canonical_url(urljoin(page_url, link.url)) for link in page.follow}
        fresh = [item for item in page.items if item.key not in keys]
        if not (links - known) and not fresh:
            break
        known |= links
        keys |= {item.key for item in fresh}
        out.items += fresh
        out.warnings += page.warnings
        out.follow += [Link(urljoin(page_url, link.url), link.title, link.marker, link.listed)
                       for link in page.follow]
        next_url = page.next_url
    return out


def _follow(
    links: list[Link],
    base: str,
    fetcher: Fetcher,
    cursor: Cursor,
    source: SourceSettings,
    detail_parser: DetailParser | None,
) -> tuple[dict[str, str], list[Item], list[str], bool]:
    """Fetch the detail pages that are new or changed, at most MAX_DETAIL_PAGES per poll.

    Returns the page markers to keep, the items, warnings, and whether pages are left to
    read (failed or deferred): those keep their old marker and are read on a later poll.
    """
    pages: dict[str, str] = {}
    items: list[Item] = []
    warnings: list[str] = []
    fetched = deferred = 0
    left = False
    for link in links:
        url = urljoin(base, link.url)
        key = canonical_url(url)
        old = cursor.pages.get(key)
        if key in pages or (link.marker and old == link.marker):
            pages.setdefault(key, link.marker)
            continue
        if old is not None:
            pages[key] = old  # until this page is read again
        if detail_parser is None:
            warnings.append(f"no detail parser for {len(links)} linked pages")
            return dict(cursor.pages), [], warnings, False
        if fetched >= MAX_DETAIL_PAGES:
            deferred += 1
            continue
        fetched += 1
        try:
            page = fetcher.fetch(url)
            detail = detail_parser(page, link, source)
        except FetchError as exc:
            warnings.append(f"detail page {redact_url(url)}: {exc}; will retry next poll")
            left = True
            continue
        except (ValueError, LookupError, RecursionError) as exc:  # CutOffError among them
            warnings.append(
                f"detail page {redact_url(url)} cannot be read: {exc}; nothing of it was stored;"
                " will retry next poll"
            )
            left = True
            continue
        items += detail.items
        warnings += [_about(page.url, w) for w in detail.warnings]
        pages[key] = link.marker
    if deferred:
        warnings.append(f"{deferred} more linked pages will be read in the next polls")
    return pages, items, warnings, left or bool(deferred)


def _refresh(
    outcome: PollOutcome,
    before: Cursor,
    fetcher: Fetcher,
    source: SourceSettings,
    detail_parser: DetailParser | None,
    now: datetime,
) -> PollOutcome:
    """Re-read a few detail pages not read for REFRESH_AFTER, even when the listing is unchanged.

    A vendor may revise an advisory page without changing what the listing shows; this finds
    such silent revisions within about REFRESH_AFTER, at REFRESH_PER_POLL extra requests a poll.
    A page that cannot be re-read is tried again next poll, and the next stale pages are tried
    in its place (up to REFRESH_TRIES), so pages that keep failing never hold the others back.
    """
    cursor = outcome.cursor
    today = now.date().isoformat()
    known = {**before.read_on, **cursor.read_on}
    read_on = {k: v for k, v in known.items() if k in cursor.pages}
    for key, marker in cursor.pages.items():  # pages this poll read anew
        if key not in before.pages or before.pages[key] != marker:
            read_on[key] = today
    if detail_parser is None:
        return replace(outcome, cursor=replace(cursor, read_on=read_on))
    due = (now - REFRESH_AFTER).date().isoformat()
    stale = sorted((read_on.get(k, ""), k) for k in cursor.pages if read_on.get(k, "") <= due)
    items, warnings = list(outcome.items), []
    done = 0
    for _, key in stale[:REFRESH_TRIES]:  # a page that keeps failing holds no other one back
        if done == REFRESH_PER_POLL:
            break
        try:
            page = fetcher.fetch(key)
            detail = detail_parser(page, Link(key, marker=cursor.pages[key]), source)
        except (FetchError, ValueError, LookupError, RecursionError) as exc:  # cut off too
            warnings.append(f"re-reading {redact_url(key)}: {exc}; will retry next poll")
            continue
        items += detail.items
        read_on[key] = today
        done += 1
    health = with_warnings(outcome.health, warnings)  # a 304 keeps the last ones: no repeats
    return replace(outcome, items=items, cursor=replace(cursor, read_on=read_on), health=health)


def _emptied(url: str, known: int) -> str:
    """Why a listing that links no pages, where the last good poll read some, fails the poll."""
    return (
        f"the listing {redact_url(url)} links no pages, where the last good poll read {known}:"
        " the site may have changed its layout or answered with another page (a challenge,"
        f" an error or a login page){_CUT_OFF}"
    )


def _emptied_snapshot(source: SourceSettings, health: SourceHealth) -> str:
    """The warning for a source that lists everything it holds and read nothing, where the last
    poll that read any read items; else nothing (a source read for changes may read none)."""
    if source.format not in SNAPSHOT_FORMATS or not health.items_last_read:
        return ""
    return (
        f"read no items, where the last poll that read any read {health.items_last_read}:"
        f" a {source.format} source lists all it holds on every poll, so it may have been"
        " emptied, cut short or moved (an empty file, a changed URL or filter); nothing stored"
        " was removed, and this warning goes once it lists items again"
    )


def _not_before(fault: _Fault, now: datetime) -> datetime | None:
    """When the source may be polled again, if the server refused with a Retry-After (429, 503)
    that can be read and lies ahead; at most a day from ``now``, in whole seconds."""
    if fault.status not in WAIT_STATUSES:
        return None
    seconds = retry_after(fault.retry_after, now)
    if not seconds:
        return None
    until = now.astimezone(UTC) + timedelta(seconds=seconds)
    return until.replace(microsecond=0) + timedelta(seconds=1 if until.microsecond else 0)


def _about(url: str, warning: str) -> str:
    """A detail page's warning, led by the page's URL unless it already names it."""
    shown = redact_url(url)
    return warning if warning.startswith((shown, canonical_url(url))) else f"{shown}: {warning}"


def _get(
    fetcher: Fetcher,
    url: str,
    headers: Mapping[str, str],
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    try:
        return fetcher.fetch(url, etag=etag, last_modified=last_modified, headers=headers)
    except FetchError as exc:
        raise _Fault(str(exc), exc.status, exc.retry_after) from None


def _parse(parser: Parser, result: FetchResult, source: SourceSettings) -> ParseResult:
    try:
        return parser(result.body, {**result.headers, REQUEST_URL: result.url}, source)
    except CutOffError as exc:
        raise _Fault(f"{exc}{_CUT_OFF}", result.status) from None
    except (ValueError, LookupError, RecursionError) as exc:  # ParseError is a ValueError
        raise _Fault(f"cannot read the body as {source.format}: {exc}", result.status) from None


def _api_key(source: SourceSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """The NVD ``apiKey`` header when the source names a variable; the error names only it."""
    if not source.api_key_env:
        return {}
    try:
        value = secret(f"sources.{source.name}.api_key_env", source.api_key_env, environ)
    except ConfigError as exc:
        raise _Fault(f"{exc}; set it or remove api_key_env from this source") from None
    return {"apiKey": value}


def _nvd_window(
    source: SourceSettings, cursor: Cursor, now: datetime, warnings: list[str]
) -> tuple[datetime, datetime] | None:
    """The lastModStartDate..lastModEndDate window for an incremental NVD poll (at most 120 d)."""
    if source.format != "nvd-json" or not cursor.nvd_last_modified:
        return None
    try:
        start = datetime.fromisoformat(cursor.nvd_last_modified)
    except ValueError:
        warnings.append(f"ignored unreadable nvd_last_modified {cursor.nvd_last_modified!r}")
        return None
    start = min(start if start.tzinfo else start.replace(tzinfo=UTC), now)
    return start, min(now, start + NVD_WINDOW)


def _with_window(url: str, window: tuple[datetime, datetime] | None) -> str:
    if window is None:
        return url
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _WINDOW_KEYS
    ]
    query += [
        (k, t.isoformat(timespec="milliseconds")) for k, t in zip(_WINDOW_KEYS, window, strict=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe=":")))
