"""RSS 0.9x/1.0/2.0 and Atom feeds → advisories or firmware releases (format ``feed``, pure).

feedparser gets the body as a byte stream (a bare ``bytes`` or ``str`` argument may be taken
for a path or URL and opened) with the response's Content-Type, and with its HTML sanitiser
and relative-URI rewriting turned off: entry bodies are reduced to text here by a real HTML
parser, and the sanitiser was half of feedparser's cost per entry.

Hostile bodies: a DOCTYPE that declares entities is refused before parsing, because expat
stops an entity bomb but feedparser then re-reads the body with its loose parser, which
expands the "safe" entities it kept without any limit (a 0.5 MB quadratic-blowup body ran for
minutes). Feeds never need entity declarations; the refusal names the reason.

Cut-off bodies: feedparser reads what it can of a feed that ends early and only sets its bozo
flag, so a feed cut inside an entry would yield that entry's first part as an item of its own.
A feed whose root element (``<rss>``, ``<rdf:RDF>``, ``<feed>``) is never closed, or whose XML
the strict parser found ending inside a tag, a CDATA section or a character, raises CutOffError.
Other bozo problems (a wrong declared encoding, an undefined entity, a stray ``&``, junk after
the root) lose no entry: the feed is read, with a warning.
"""

from __future__ import annotations

import io
import re
import time
import xml.sax
from collections.abc import Mapping
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from html import escape
from typing import Any
from urllib.parse import urljoin
from xml.parsers.expat import errors as expat_errors

import feedparser
from selectolax.lexbor import LexborHTMLParser

from bot.config import SourceSettings
from bot.items import Item, normalize_text
from bot.sources.advisory_text import extract_with_warnings
from bot.sources.base import REQUEST_URL, CutOffError, ParseError, ParseResult
from bot.sources.firmware_text import FirmwareTextError, read_package
from bot.sources.html_text import PageText, html_to_text
from bot.sources.paging import next_page

MAX_ENTRIES = 5000  # about 4 s of feedparser; a 5 MiB body of bare <item>s would take minutes
_MARKUP = re.compile(rb"(?P<comment><!--)|(?P<pi><\?)|(?P<element><[A-Za-z_])")
_HTML_PAGE = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_TAG = re.compile(r"<[A-Za-z/!]")
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_ENDS_EARLY = frozenset(  # expat's errors for a body that ends inside something
    {
        expat_errors.XML_ERROR_NO_ELEMENTS,  # "no element found": inside an element
        expat_errors.XML_ERROR_UNCLOSED_TOKEN,
        expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
        expat_errors.XML_ERROR_PARTIAL_CHAR,
    }
)


def parse(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """Parse an RSS or Atom feed; entries become advisories or firmware releases by source kind.

    Relative links resolve against the ``x-firmwatch-url`` header (the URL the runner fetched),
    else ``content-location``, else the source's configured URL.
    """
    if source.kind not in ("advisory", "firmware"):
        raise ParseError(f"a feed carries advisory or firmware items, not {source.kind!r}")
    _refuse_hostile(body)
    lower = {k.lower(): v for k, v in headers.items()}
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=_feed_headers(lower),
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    entries: list[Any] = list(parsed.entries)
    problem = parsed.get("bozo_exception") if parsed.bozo else None
    if not entries:
        return ParseResult(warnings=_empty_feed(body, parsed, problem))
    if (why := _cut_off(body, problem)) is not None:
        read = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} before the cut"
        raise CutOffError(f"the feed looks cut off: {why}; {read}, none stored")
    result = ParseResult()
    if problem is not None:
        read = f"{len(entries)} entr{'y was' if len(entries) == 1 else 'ies were'} read anyway"
        result.warnings.append(f"the feed is not clean ({_describe(problem)}); {read}")
    base = lower.get(REQUEST_URL) or lower.get("content-location") or source.url
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        name = f"entry {number} ({_entry_name(entry)})"
        try:
            item, notes = _read_entry(entry, base, source)
        except ValueError as exc:
            result.warnings.append(f"{name}: skipped: {exc}")
            continue
        result.warnings.extend(f"{name}: {note}" for note in notes)
        if item.key in seen:
            result.warnings.append(
                f"{name}: same key as entry {seen[item.key]} ({item.key!r}); kept the first"
            )
            continue
        seen[item.key] = number
        result.items.append(item)
    links = parsed.feed.get("links", []) if parsed.get("feed") else []
    rel_next = [str(link.get("href") or "") for link in links if link.get("rel") == "next"]
    result.next_url = next_page(rel_next, (), base)  # RFC 5005: the feed continues there
    return result


def _refuse_hostile(body: bytes) -> None:
    """Refuse entity declarations (expansion bombs) and bodies with too many entries.

    The prolog ends at the root element; markup-like text in comments and processing
    instructions before it does not end it early.
    """
    text = body.replace(b"\x00", b"") if b"\x00" in body[:4] else body  # UTF-16/32
    if b"<!ENTITY" in text[: _prolog_end(text)]:
        raise ParseError(
            "the body declares XML entities (<!ENTITY …> in its DOCTYPE), which feeds never need"
            " and which can be an entity-expansion bomb; refused without parsing"
        )
    count = text.count(b"<item") + text.count(b"<entry")
    if count > MAX_ENTRIES:
        raise ParseError(
            f"the feed has about {count} entries, more than the {MAX_ENTRIES} firmwatch reads"
            " from one body; ask the publisher for a shorter feed or a paged one"
        )


def _prolog_end(text: bytes) -> int:
    """Where the root element starts; linear, and an unclosed comment ends the scan."""
    pos = 0
    while (m := _MARKUP.search(text, pos)) is not None:
        if m.lastgroup == "element":
            return m.start()
        closing = b"-->" if m.lastgroup == "comment" else b"?>"
        end = text.find(closing, m.end())
        if end == -1:
            return len(text)
        pos = end + len(closing)
    return len(text)


def _cut_off(body: bytes, problem: BaseException | None) -> str | None:
    """Why a feed looks cut off, else None: its root element is never closed, or the strict
    XML parser met the end of the body inside an element, tag, CDATA section or character."""
    text = body.replace(b"\x00", b"") if b"\x00" in body[:4] else body  # UTF-16/32
    strict = isinstance(problem, xml.sax.SAXParseException)
    parser_says = f" ({_describe(problem)})" if problem is not None and strict else ""
    root = _ROOT.match(text, _prolog_end(text))
    if root is not None:
        name = root[1]
        start_end = text.find(b">", root.end())
        self_closed = start_end > 0 and text[start_end - 1 : start_end] == b"/"
        end_tag = re.compile(rb"</" + re.escape(name) + rb"\s*>")
        if not self_closed and end_tag.search(text, root.end()) is None:
            return f"it ends before </{name.decode('ascii', 'replace')}>{parser_says}"
    if isinstance(problem, xml.sax.SAXParseException) and problem.getMessage() in _ENDS_EARLY:
        return f"the XML ends early{parser_says}"
    return None


def _feed_headers(lower: Mapping[str, str]) -> dict[str, str]:
    """The headers feedparser uses; none at all when there is no Content-Type.

    With headers but no Content-Type, feedparser would decode undeclared bodies as latin-1.
    """
    if "content-type" not in lower:
        return {}
    return {k: lower[k] for k in ("content-type", "content-language") if k in lower}


def _empty_feed(body: bytes, parsed: Any, problem: BaseException | None) -> list[str]:
    """Warnings for a valid feed without entries; ParseError when the body is no feed at all."""
    if not body.strip():
        raise ParseError("the body is empty; expected an RSS or Atom feed")
    if _HTML_PAGE.match(body[:4096]):
        node = LexborHTMLParser(body[:65536]).css_first("title")
        title = normalize_text(node.text()) if node is not None else ""
        named = f" titled {title[:80]!r}" if title else ""
        raise ParseError(
            f"expected an RSS or Atom feed but got an HTML page{named};"
            " check the source's URL (an error or login page?)"
        )
    if isinstance(problem, xml.sax.SAXException):
        raise ParseError(f"the body is not a readable feed: malformed XML ({_describe(problem)})")
    if not parsed.get("version"):
        raise ParseError("the body is not an RSS or Atom feed (no <rss>, <rdf:RDF> or <feed>)")
    warnings = ["the feed is valid but has no entries"]
    if problem is not None:
        warnings.append(f"the feed is not clean ({_describe(problem)})")
    return warnings


def _describe(problem: BaseException) -> str:
    text = normalize_text(str(problem)) or "no details"
    return f"{type(problem).__name__}: {text}"


def _entry_name(entry: Any) -> str:
    title = normalize_text(str(entry.get("title", "")))[:80]
    return repr(title) if title else str(entry.get("link") or entry.get("id") or "untitled")


def _read_entry(entry: Any, base: str, source: SourceSettings) -> tuple[Item, list[str]]:
    """One entry → an Advisory (advisory sources) or a FirmwareRelease (firmware sources)."""
    title = _title(entry)
    url = _link(entry, base)
    published = _published(entry)
    body, is_html = _body(entry)
    if source.kind == "advisory":
        if not url:
            raise ValueError("the entry has no link, so the advisory has no URL")
        html = body if is_html else "<br>".join(escape(line) for line in body.splitlines())
        advisory, notes = extract_with_warnings(
            html, url, source=source.name, title=title, published=published
        )
        return advisory, notes
    page = html_to_text(body, url or base) if is_html else _plain(body)
    links = [*_entry_links(entry, base), *page.links]
    try:
        release, notes = read_package(
            page.lines, links, title=title, source=source.name, published=published
        )
    except FirmwareTextError as exc:
        raise ValueError(str(exc)) from None
    return release, notes


def _title(entry: Any) -> str:
    detail = entry.get("title_detail") or {}
    title = str(entry.get("title", ""))
    if "html" in str(detail.get("type", "")) and _TAG.search(title):
        return " ".join(html_to_text(title).lines)
    return normalize_text(title)


def _link(entry: Any, base: str) -> str:
    link = str(entry.get("link") or "")
    if not link and re.match(r"^https?://", str(entry.get("id") or "")):
        link = str(entry["id"])
    return urljoin(base, link.strip()) if link else ""


def _body(entry: Any) -> tuple[str, bool]:
    """The entry's richest body (content, else summary) and whether it is HTML."""
    candidates = [*entry.get("content", []), entry.get("summary_detail") or {}]
    for detail in candidates:
        value = str(detail.get("value") or "")
        if value.strip():
            kind = str(detail.get("type", ""))
            return value, "html" in kind and _TAG.search(value) is not None
    return "", False


def _plain(text: str) -> PageText:
    lines = (normalize_text(line) for line in text.splitlines())
    return PageText(tuple(line for line in lines if line), ())


def _entry_links(entry: Any, base: str) -> list[tuple[str, str]]:
    """Enclosures first, then the entry's other links, as (url, label)."""
    links = [(urljoin(base, str(link.get("href", ""))), str(link.get("rel", "")),
              str(link.get("title", ""))) for link in entry.get("links", []) if link.get("href")]
    enclosures = [(url, "enclosure") for url, rel, _ in links if rel == "enclosure"]
    return enclosures + [(url, title) for url, rel, title in links if rel != "enclosure"]


def _published(entry: Any) -> date | None:
    """The entry's date as the publisher wrote it (not shifted to UTC), else feedparser's."""
    for key in ("published", "updated"):
        raw = str(entry.get(key) or "").strip()
        if not raw:
            continue
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
        except ValueError:
            pass
        try:
            return parsedate_to_datetime(raw).date()
        except (TypeError, ValueError, IndexError):
            pass
        parsed: time.struct_time | None = entry.get(f"{key}_parsed")
        if parsed is not None:
            return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
    return None
