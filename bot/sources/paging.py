"""Finding a listing's or a feed's next page (pure).

A listing that shows its advisories a page at a time says where the next page is: a ``rel="next"``
link (HTML ``<link>``/``<a>``, an Atom or RSS ``atom:link``, RFC 5005), or numbered page links
(``?page=2``) on the listing's own path. Only links on the listing's site are taken: a page
cannot send the poll to another site.
"""

from __future__ import annotations

import ipaddress
import os.path
from collections.abc import Iterable
from urllib.parse import parse_qsl, urljoin, urlsplit
from urllib.request import url2pathname

# Query parameters that number pages on listings seen in the wild (compared in lower case).
_PAGE_PARAMS = ("page", "pageno", "pagenum", "pageindex", "currentpage", "p")


# Second-level labels under a country code that are public suffixes themselves (``.com.cn``,
# ``.co.uk``, ``.gov.au``): a registered domain under them has three labels. A short list of the
# common ones rather than the whole public suffix list: a listing's links are checked against its
# own host, and a miss only makes a same-site link look foreign (the page is not followed).
_SECOND_LEVEL = frozenset(
    {"ac", "co", "com", "edu", "gen", "go", "gob", "gov", "gv", "ltd", "mil", "ne", "net", "or",
     "org", "plc", "sch"}
)


def same_site(host: str | None, home: str | None) -> bool:
    """Same host, or the same registered domain (www.hikvision.com ~ us.hikvision.com;
    www.hikvision.com.cn ~ cdn.hikvision.com.cn, never another .com.cn domain)."""
    if host == home or host is None or home is None:
        return host == home
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    return _registered(host) == _registered(home) and home.count(".") >= 1


def _registered(host: str) -> list[str]:
    """The labels of a host's registered domain: two, or three under a country's public
    second level (``hikvision.com.cn``)."""
    labels = host.lower().rstrip(".").split(".")
    depth = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return labels[-depth:]


def on_site(href: str, base: str) -> str | None:
    """``href`` resolved against ``base`` when it is a web address on its site, or, from a local
    listing (``file://``), a file in the listing's folder or below it."""
    try:
        url = urljoin(base, href.strip())
        parts, home = urlsplit(url), urlsplit(base)
        host, home_host = parts.hostname, home.hostname
    except ValueError:  # a malformed netloc or port in a hostile href
        return None
    if parts.scheme not in ("http", "https", "file") or not same_site(host, home_host):
        return None
    if (parts.scheme == "file") != (home.scheme == "file"):
        return None
    if parts.scheme == "file":
        # Compared as the fetcher opens them (decoded once: %2e%2e is .., %252e%252e is not),
        # with this system's separators (a backslash is one on Windows); at / the folder is /.
        folder = os.path.join(os.path.dirname(os.path.normpath(local_path(base))), "")
        if not os.path.normpath(local_path(url)).startswith(folder):
            return None
    return url


def local_path(url: str) -> str:
    """The local path a ``file://`` URL names, its percent escapes decoded once (the one reading
    both the fetcher opens and :func:`on_site` confines)."""
    return url2pathname(urlsplit(url).path)


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
