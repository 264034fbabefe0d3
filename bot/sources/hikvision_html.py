"""Format ``hikvision-html``: the vendor's advisory listing page and its detail pages (pure).

:func:`parse_listing` finds every advisory link on the same site (``…/support/cybersecurity/
security-advisory/<slug>/`` under any regional prefix, or ``…/<slug>/index.html``) and returns
them as links to follow, each with a marker (listed date + title), so the runner fetches a detail
page only when it is new or its marker changed, and the listing's next page when it shows its
advisories a page at a time (`bot.sources.paging`). :func:`parse_detail` decodes a detail page and
hands it to the one advisory extractor, :mod:`bot.sources.advisory_text`.

Both refuse a page that looks cut off (:func:`bot.sources.html_text.cut_off`) with a CutOffError:
the first part of a listing would drop the advisories it lost, the first part of a detail page
would replace the advisory with one missing affected rows.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from datetime import date
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.config import SourceSettings
from bot.items import ADVISORY_PATH, Advisory, canonical_url, normalize_text
from bot.netguard import redact_url
from bot.sources.advisory_text import extract_with_warnings
from bot.sources.base import REQUEST_URL, CutOffError, Link, ParseError, ParseResult
from bot.sources.fetcher import FetchResult
from bot.sources.html_text import cut_off, find_date
from bot.sources.paging import next_page, on_site

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (b"\xfe\xff", "utf-16"))
# WHATWG: these labels mean the wider Windows/GBK encodings on the web.
_WEB_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "gb2312": "gbk"}
_ERROR_WORDS = re.compile(
    r"not found|error|denied|forbidden|unavailable|maintenance|\b[45]\d\d\b", re.IGNORECASE
)
_CLIMB = 5  # how far up from a link to look for its listed date


def decode_html(body: bytes, headers: Mapping[str, str] | None = None) -> str:
    """Decode HTML: BOM, else Content-Type charset, else <meta>, else UTF-8; bad bytes → U+FFFD."""
    bom = next((name for mark, name in _BOMS if body.startswith(mark)), None)
    if bom is not None:
        return body.decode(bom, errors="replace")
    charset = "utf-8"
    content_type = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), "")
    if m := _HEADER_CHARSET.search(content_type):
        charset = m[1]
    elif meta := _META_CHARSET.search(body[:4096]):
        charset = meta[1].decode("ascii")
    label = _WEB_ALIASES.get(charset.strip().lower(), charset.strip().lower())
    try:
        if codecs.lookup(label).name.startswith(("utf-16", "utf-32")):  # no BOM: not really
            label = "utf-8"
    except LookupError:
        label = "utf-8"
    return body.decode(label, errors="replace")


def parse_listing(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """Read the advisory listing page into links to follow (ParseError if it is not the listing).

    Links resolve against the ``x-firmwatch-url`` header (where the fetch landed after
    redirects), else the source's configured URL. A cut-off page raises CutOffError.
    """
    html = decode_html(body, headers)
    base = next((v for k, v in headers.items() if k.lower() == REQUEST_URL), "") or source.url
    _refuse_cut_off(html, base)
    tree = LexborHTMLParser(html)
    root = tree.body or tree.root
    found: dict[str, Link] = {}
    for anchor in root.css("a[href]") if root is not None else []:
        url = _advisory_url(anchor.attributes.get("href") or "", base)
        if url is None:
            continue
        title = normalize_text(anchor.text(separator=" ") or anchor.attributes.get("title") or "")
        listed = _listed(anchor, base)
        if (seen := found.get(url)) is not None:
            title = max(seen.title, title, key=len)
            listed = seen.listed or listed
        marker = f"{listed.isoformat() if listed else ''} {title}".strip()
        found[url] = Link(url, title, marker, listed)
    if found:
        return ParseResult(follow=list(found.values()), next_url=_next_page(tree, base))
    page_title = normalize_text(" ".join(n.text(separator=" ") for n in tree.css("title, h1")))
    text = root.text(separator=" ") if root is not None else ""
    shown = redact_url(base)
    if "security advisor" in text.lower() and not _ERROR_WORDS.search(page_title):
        return ParseResult(warnings=[f"{shown}: the advisory listing shows no advisories"])
    raise ParseError(
        f"{shown}: no security-advisory links and the page does not look like the listing"
        f" (page title {page_title[:120]!r}); check the source URL"
    )


def parse_detail(
    body: bytes,
    url: str,
    source: SourceSettings,
    *,
    headers: Mapping[str, str] | None = None,
    link: Link | None = None,
) -> Advisory:
    """Decode an advisory detail page and extract the Advisory (ParseError if it is none,
    CutOffError if the page looks cut off)."""
    return _detail(body, url, source, headers, link)[0]


def parse_detail_result(
    body: bytes,
    url: str,
    source: SourceSettings,
    *,
    headers: Mapping[str, str] | None = None,
    link: Link | None = None,
) -> ParseResult:
    """Like parse_detail, as a ParseResult whose warnings belong in the source's health."""
    advisory, warnings = _detail(body, url, source, headers, link)
    return ParseResult(items=[advisory], warnings=warnings)


def read_detail(page: FetchResult, link: Link, source: SourceSettings) -> ParseResult:
    """The runner's detail parser: a fetched detail page, with the listing link that led to it."""
    return parse_detail_result(page.body, page.url, source, headers=page.headers, link=link)


def _detail(
    body: bytes,
    url: str,
    source: SourceSettings,
    headers: Mapping[str, str] | None,
    link: Link | None,
) -> tuple[Advisory, list[str]]:
    html = decode_html(body, headers)
    _refuse_cut_off(html, url)
    return extract_with_warnings(
        html,
        url,
        source=source.name,
        title=link.title if link is not None and link.title else None,
        published=link.listed if link is not None else None,
    )


def _refuse_cut_off(html: str, url: str) -> None:
    """CutOffError when the page ends before its structure does (see html_text.cut_off)."""
    if (why := cut_off(html)) is not None:
        raise CutOffError(f"the page looks cut off: {redact_url(url)} {why}")


def _advisory_url(href: str, base: str) -> str | None:
    """The canonical URL of an advisory detail link on the listing's site, else None."""
    url = on_site(href, base)
    if url is None or not ADVISORY_PATH.search(urlsplit(url).path):
        return None
    return canonical_url(url)


def _next_page(tree: LexborHTMLParser, base: str) -> str | None:
    """The listing's next page (`bot.sources.paging.next_page`), else None."""
    rel_next = [
        node.attributes.get("href") or ""
        for node in tree.css("link[rel][href], a[rel][href]")
        if "next" in (node.attributes.get("rel") or "").lower().split()
    ]
    hrefs = (a.attributes.get("href") or "" for a in tree.css("a[href]"))
    return next_page(rel_next, hrefs, base)


def _listed(anchor: LexborNode, base: str) -> date | None:
    """The date shown with a link: in the link or the nearest ancestor holding only this link."""
    node: LexborNode | None = anchor
    own = _advisory_url(anchor.attributes.get("href") or "", base)
    for _ in range(_CLIMB):
        if node is None or node.tag in ("body", "html"):
            return None
        links = {_advisory_url(a.attributes.get("href") or "", base) for a in node.css("a[href]")}
        if links - {None, own}:
            return None
        if (day := find_date(normalize_text(node.text(separator=" ")))) is not None:
            return day
        node = node.parent
    return None
