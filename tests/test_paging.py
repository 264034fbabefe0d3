"""Which links a listing or feed may send a poll to: its own site only (`bot.sources.paging`)."""

from __future__ import annotations

import posixpath

import pytest

from bot.sources.paging import local_path, on_site, same_site


@pytest.mark.parametrize(
    ("host", "home", "same"),
    [
        ("www.hikvision.com", "www.hikvision.com", True),
        ("us.hikvision.com", "www.hikvision.com", True),
        ("evil.example", "www.hikvision.com", False),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.2", "127.0.0.1", False),
        # Under a two-level public suffix the registered domain has three labels: any .com.cn
        # or .co.uk site counted as Hikvision's Chinese (or a British mirror's) own.
        ("www.hikvision.com.cn", "www.hikvision.com.cn", True),
        ("cdn.hikvision.com.cn", "www.hikvision.com.cn", True),
        ("evil.com.cn", "www.hikvision.com.cn", False),
        ("attacker.co.uk", "mirror.example.co.uk", False),
        ("www.example.co.uk", "mirror.example.co.uk", True),
    ],
)
def test_same_site(host: str, home: str, same: bool) -> None:
    assert same_site(host, home) is same


def test_a_local_listing_links_only_below_its_own_folder() -> None:
    """A ``file://`` listing or feed (a local mirror) could send the poll to any local file."""
    base = "file:///srv/mirror/hikvision/listing.html"
    assert on_site("en/advisory/one/index.html", base) == (
        "file:///srv/mirror/hikvision/en/advisory/one/index.html")
    assert on_site("/etc/passwd", base) is None
    assert on_site("../../../etc/shadow", base) is None
    assert on_site("%2e%2e/%2e%2e/%2e%2e/etc/passwd", base) is None  # read as .. when fetched
    assert on_site("file:///home/user/.ssh/id_rsa", base) is None
    assert on_site("https://www.hikvision.com/en/", base) is None



@pytest.mark.parametrize(
    "href",
    ["%252e%252e/%252e%252e/%252e%252e/etc/passwd", "%2e%2e/x.html", "sub/%252e%252e/%2e%2e/x",
     "a%2520b.html", "sub/../page2.html"],
)
def test_a_local_listing_link_is_confined_as_the_fetcher_reads_it(href: str) -> None:
    """The fetcher decoded a file:// path twice and on_site once: a link escaped twice
    (%252e%252e) passed as a name in the folder and was read as .. (/etc/passwd)."""
    base = "file:///srv/mirror/hikvision/listing.html"
    url = on_site(href, base)
    if url is not None:
        assert posixpath.normpath(local_path(url)).startswith("/srv/mirror/hikvision/")


def test_local_paths_are_decoded_once() -> None:
    assert local_path("file:///srv/m/a%2520b%2e.html") == "/srv/m/a%20b..html"


def test_a_listing_at_the_root_follows_its_links() -> None:
    """The folder of /listing.html is /, not // (no link passed)."""
    assert on_site("page2.html", "file:///listing.html") == "file:///page2.html"
