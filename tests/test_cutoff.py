"""Cut-off bodies through the whole cycle: a real server on 127.0.0.1 and a real TinyDB store.

A misbehaving CDN or a half-written file can answer 200 with a matching Content-Length and only
the first part of a page or feed. Such a body fails its source's poll: nothing stored changes, no
finding is resolved, the cursor does not move past it, the next poll reads it again in full, and
the other sources of the cycle go on as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import parse
from bot.pipeline import CycleReport, run_cycle
from bot.sources.fetcher import Fetcher
from state import Store, open_store
from tests.httpserver import LocalServer, Route

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SAMPLES = Path(__file__).parents[1] / "bot" / "samples" / "sources"
HIK = SAMPLES / "hikvision"
ADVISORIES = "/en/support/cybersecurity/security-advisory"
NVR = f"{ADVISORIES}/improper-access-control-vulnerability-in-some-hikvision-nvrs/index.html"
PAGES = [
    f"{ADVISORIES}/{slug}/index.html"
    for slug in (
        "multiple-vulnerabilities-in-some-hikvision-storage-products-and-deepinmind-nvrs",
        "improper-access-control-vulnerability-in-some-hikvision-nvrs",
        "improper-authorization-vulnerability-in-hikcentral-products",
        "command-injection-vulnerability-in-the-web-server-of-some-hikvision-cameras",
    )
]
FLEETS = """
[[receivers]]
name = "ops"
type = "console"

[[fleets]]
name = "hq"
receivers = ["ops"]

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.5.0 build 200911"
count = 40
site = "Site A"

[[fleets.devices]]
model = "DS-7608NI-I2/8P"
firmware = "V4.50.000"
count = 3
site = "Site C"
"""
HTML = {"Content-Type": "text/html; charset=utf-8"}
RSS = {"Content-Type": "application/rss+xml"}


def _lines(path: Path, count: int) -> bytes:
    """The first ``count`` lines of a file: what a cut-off download leaves."""
    return b"".join(path.read_bytes().splitlines(keepends=True)[:count])


@dataclass
class Site:
    """Sources served by a LocalServer, a config naming them and a TinyDB store beside it."""

    server: LocalServer
    root: Path
    sources: str

    def config_text(self) -> str:
        return (
            '[state]\nurl = "tinydb:///state.json"\n'
            '[network]\nallow_hosts = ["127.0.0.1"]\n'
            f"{self.sources}{FLEETS}"
        )

    def store(self) -> Store:
        return open_store(f"tinydb:///{self.root / 'state.json'}")

    def cycle(self, now: datetime) -> CycleReport:
        settings = parse(self.config_text(), "bot.toml")
        with self.store() as store, Fetcher(settings.network) as fetcher:
            return run_cycle(store, settings, now, fetcher=fetcher, base=self.root)

    def cursor(self, name: str) -> dict[str, Any]:
        with self.store() as store:
            state = store.sources.get(name)
        assert state is not None
        return dict(state.cursor)

    def health(self, name: str) -> dict[str, Any]:
        with self.store() as store:
            state = store.sources.get(name)
        assert state is not None
        return dict(state.health)


def _source(name: str, kind: str, fmt: str, url: str) -> str:
    return f'[[sources]]\nname = "{name}"\nkind = "{kind}"\nformat = "{fmt}"\nurl = "{url}"\n\n'


@pytest.fixture
def site(http_server: LocalServer, tmp_path: Path) -> Iterator[Site]:
    """The Hikvision listing and pages, and CISA KEV, on 127.0.0.1."""
    for page in PAGES:
        http_server.route(page, Route(body=(HIK / page.lstrip("/")).read_bytes(), headers=HTML))
    kev = http_server.route("/kev.json", Route(body=(SAMPLES / "kev.json").read_bytes()))
    listing = http_server.url("/listing.html")
    sources = _source("hik", "advisory", "hikvision-html", listing)
    sources += _source("kev", "exploited", "kev-json", kev)
    yield Site(http_server, tmp_path, sources)


def test_a_cut_off_advisory_page_changes_nothing_and_is_read_again_in_full(site: Site) -> None:
    listing = HIK.joinpath("listing.html").read_bytes()
    revised = listing.replace(b"2024-12-10", b"2024-12-11")  # the vendor touched the NVR entry
    site.server.route(
        "/listing.html",
        Route(body=listing, headers=HTML, etag='"L1"'),
        Route(body=revised, headers=HTML, etag='"L2"'),
    )
    first = site.cycle(NOW)
    assert first.sources == {"hik": "4 items", "kev": "2 items"}
    with site.store() as store:
        nvr = store.items.get("HSRC-202412-02")
        assert nvr is not None and len(nvr.data["rows"]) == 4
        open_before = {f.key for f in store.findings.all(state="open")}
    assert any("HSRC-202412-02" in key for key in open_before)

    # The page comes back cut after its first table row: no </table>, no </html>.
    cut = _lines(HIK / NVR.lstrip("/"), 48)
    assert cut.rstrip().endswith(b"</tr>") and b"</table>" not in cut
    site.server.route(NVR, Route(body=cut, headers=HTML), Route(body=(HIK / NVR.lstrip("/"))
                                                                .read_bytes(), headers=HTML))
    second = site.cycle(NOW + timedelta(hours=1))
    assert second.sources["hik"] == "0 items"  # the page is a warning; nothing of it stored
    assert second.sources["kev"] == "2 items"  # the other source is not held up
    assert second.findings["resolved"] == 0 and second.alerts == []
    assert second.items == {"new": 0, "revised": 0}
    with site.store() as store:
        assert [r.revision for r in store.items.revisions("HSRC-202412-02")] == [nvr.revision]
        assert {f.key for f in store.findings.all(state="open")} == open_before
    assert site.cursor("hik")["etag"] == '"L1"'  # not past the listing that led to the cut page
    health = site.health("hik")
    assert health["consecutive_failures"] == 0
    assert any("improper-access-control-vulnerability-in-some-hikvision-nvrs" in w
               and "looks cut off" in w for w in health["warnings"])

    third = site.cycle(NOW + timedelta(hours=2))  # the whole page again: read, nothing resolved
    assert third.sources["hik"] == "1 items"
    assert len(site.server.requests_to(NVR)) == 3
    assert third.findings["resolved"] == 0
    with site.store() as store:
        stored = store.items.get("HSRC-202412-02")
        assert stored is not None and len(stored.data["rows"]) == 4
        assert {f.key for f in store.findings.all(state="open")} == open_before
    assert site.cursor("hik")["etag"] == '"L2"'
    assert site.health("hik")["consecutive_failures"] == 0


def test_a_cut_off_listing_fails_the_poll_and_the_full_one_is_read_next_time(site: Site) -> None:
    listing = HIK.joinpath("listing.html").read_bytes()
    cut = _lines(HIK / "listing.html", 46)  # after the first advisory's entry
    assert b"</html>" not in cut and cut.count(b"advisory-item__title") == 1
    site.server.route(
        "/listing.html",
        Route(body=listing, headers=HTML, etag='"L1"'),
        Route(body=cut, headers=HTML, etag='"L2"'),
        Route(body=listing, headers=HTML, etag='"L2"'),
    )
    assert site.cycle(NOW).sources["hik"] == "4 items"
    before = site.cursor("hik")
    assert len(before["pages"]) == 4

    second = site.cycle(NOW + timedelta(hours=1))
    assert second.sources["hik"].startswith("failed: the page looks cut off: ")
    assert "/listing.html" in second.sources["hik"]
    assert second.sources["kev"] == "2 items"
    assert site.cursor("hik") == before  # no page dropped, the ETag not taken

    third = site.cycle(NOW + timedelta(hours=2))
    assert third.sources["hik"] == "0 items"  # read in full (not "unchanged"), nothing new
    assert site.server.requests_to("/listing.html")[-1].headers["if-none-match"] == '"L1"'
    after = site.cursor("hik")
    assert after["etag"] == '"L2"' and after["pages"] == before["pages"]
    assert site.health("hik")["consecutive_failures"] == 0


def test_a_feed_cut_inside_a_cdata_section_stores_no_junk_advisory(
    http_server: LocalServer, tmp_path: Path
) -> None:
    full = (SAMPLES / "advisories.rss").read_bytes()
    cut = _lines(SAMPLES / "advisories.rss", 130)  # inside the second entry's CDATA body
    assert cut.count(b"<![CDATA[") == 2 and cut.count(b"]]>") == 1
    feed = http_server.route(
        "/advisories.rss",
        Route(body=cut, headers=RSS, etag='"F1"'),
        Route(body=full, headers=RSS, etag='"F2"'),
    )
    kev = http_server.route("/kev.json", Route(body=(SAMPLES / "kev.json").read_bytes()))
    sources = _source("mirror", "advisory", "feed", feed) + _source("kev", "exploited", "kev-json",
                                                                    kev)
    site = Site(http_server, tmp_path, sources)

    first = site.cycle(NOW)
    assert first.sources["mirror"].startswith("failed: the feed looks cut off: ")
    assert first.sources["kev"] == "2 items"
    with site.store() as store:
        assert store.items.count("advisory") == 0
    assert site.cursor("mirror")["etag"] is None

    second = site.cycle(NOW + timedelta(hours=1))
    assert second.sources["mirror"] == f"{full.count(b'<item>')} items"
    assert http_server.requests_to("/advisories.rss")[-1].headers.get("if-none-match") is None
    with site.store() as store:
        keys = {i.key for i in store.items.all("advisory")}
    assert all(key.startswith("HSRC-") for key in keys), keys  # none keyed by its URL
