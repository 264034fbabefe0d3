"""Which links a listing or feed may send a poll to: its own site only (`bot.sources.paging`)."""

from __future__ import annotations

import pytest

from bot.sources.paging import on_site, same_site


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
