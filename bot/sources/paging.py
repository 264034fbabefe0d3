"""Finding a listing's or a feed's next page (pure).

A listing that shows its advisories a page at a time says where the next page is: a ``rel="next"``
link (HTML ``<link>``/``<a>``, an Atom or RSS ``atom:link``, RFC 5005), or numbered page links
(``?page=2``) on the listing's own path. Only links on the listing's site are taken: a page
cannot send the poll to another site.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import parse_qsl, urljoin, urlsplit

# Query parameters that number pages on listings seen in the wild (compared in lower case).
_PAGE_PARAMS = ("page", "pageno", "pagenum", "pageindex", "currentpage", "p")


def same_site(host: str | None, home: str | None) -> bool:
    """Same host, or the same registered domain (www.hikvision.com ~ us.hikvision.com)."""
    if host == home or host is None or home is None:
        return host == home
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    return host.split(".")[-2:] == home.split(".")[-2:] and home.count(".") >= 1


def on_site(href: str, base: str) -> str | None:
    """``href`` resolved against ``base`` when it is a web (or file) address on its site."""
    try:
        url = urljoin(base, href.strip())
        parts, home = urlsplit(url), urlsplit(base)
        host, home_host = parts.hostname, home.hostname
    except ValueError:  # a malformed netloc or port in a hostile href
        return None
    if parts.scheme not in ("http", "https", "file") or not same_site(host, home_host):
        return None
    return url


def next_page(rel_next: Iterable[str], hrefs: Iterable[str], base: str) -> str | None:
    """The next page after ``base``: the first ``rel="next"`` link on the site, else a link on
    the listing's own path numbering the page after this one (``?page=N+1``), else None."""
    for href in rel_next:
        if (url := on_site(href, base)) is not None and url != base:
            return url
    param, number = _page_of(base)
    path = urlsplit(base).path
    for href in hrefs:
        url = on_site(href, base)
        if url is None or urlsplit(url).path != path:
            continue
        found, page = _page_of(url)
        if page == number + 1 and (param is None or found == param):
            return url
    return None


def _page_of(url: str) -> tuple[str | None, int]:
    """The query parameter numbering ``url``'s page and its number (no parameter: page 1)."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key.lower() in _PAGE_PARAMS and value.isascii() and value.isdigit():
            return key, int(value)
    return None, 1
