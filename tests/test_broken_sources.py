"""Sources that break the ways real sites do, through whole cycles on 127.0.0.1.

Each case serves the bundled samples, breaks one source for a cycle or more, and checks what the
operator is told, that nothing stored is lost or falsely resolved, that no alert is repeated and
that the source recovers by itself once it is healthy again.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.httpserver import LocalServer, Route
from tests.test_cutoff import HIK, HTML, NOW, NVR, PAGES, SAMPLES, Site, _source

JS_LISTING = (
    b"<!DOCTYPE html><html><head><title>Security Advisory | Hikvision</title></head><body>"
    b"<h1>Security Advisory</h1><p>The Hikvision Security Response Center publishes security"
    b' advisories here.</p><div id="app" data-src="/api/advisories"></div></body></html>'
)
NOTICES = '[policy]\nsource_receivers = ["ops"]\nsource_failures = 2\n'


@pytest.fixture
def site(http_server: LocalServer, tmp_path: Path) -> Iterator[Site]:
    """The Hikvision listing and pages, and CISA KEV, on 127.0.0.1; ops hears of source health."""
    for page in PAGES:
        http_server.route(page, Route(body=(HIK / page.lstrip("/")).read_bytes(), headers=HTML))
    kev = http_server.route("/kev.json", Route(body=(SAMPLES / "kev.json").read_bytes()))
    listing = http_server.route(
        "/listing.html", Route(body=HIK.joinpath("listing.html").read_bytes(), headers=HTML)
    )
    sources = NOTICES + _source("hik", "advisory", "hikvision-html", listing)
    sources += _source("kev", "exploited", "kev-json", kev)
    yield Site(http_server, tmp_path, sources)


def test_a_listing_that_stops_linking_advisories_fails_and_recovers_without_rereading(
    site: Site,
) -> None:
    listing = HIK.joinpath("listing.html").read_bytes()
    site.server.route(
        "/listing.html",
        Route(body=listing, headers=HTML),
        Route(body=JS_LISTING, headers=HTML),  # the site moved its list into a script
        Route(body=JS_LISTING, headers=HTML),
        Route(body=listing, headers=HTML),
    )
    assert site.cycle(NOW).sources["hik"] == "4 items"
    before = site.cursor("hik")
    with site.store() as store:
        open_before = {f.key for f in store.findings.all(state="open")}

    second = site.cycle(NOW + timedelta(hours=1))
    assert second.sources["hik"].startswith("failed: the listing http://127.0.0.1:")
    assert "links no pages, where the last good poll read 4" in second.sources["hik"]
    assert second.findings["resolved"] == 0 and second.alerts == []
    assert site.cursor("hik") == before  # the pages read are not forgotten

    third = site.cycle(NOW + timedelta(hours=2))
    assert [(d["kind"], d["item"]["key"]) for d in third.alerts] == [("source", "source:hik")]

    fourth = site.cycle(NOW + timedelta(hours=3))
    assert fourth.sources["hik"] == "0 items"  # nothing re-read: every page is known
    assert [d["kind"] for d in fourth.alerts] == ["source"] and fourth.alerts[0]["resolved"]
    assert all(len(site.server.requests_to(page)) == 1 for page in PAGES)
    with site.store() as store:
        assert {f.key for f in store.findings.all(state="open")} == open_before


def test_a_catalog_served_gzip_d_under_another_type_is_read(site: Site) -> None:
    kev = (SAMPLES / "kev.json").read_bytes()
    packed = gzip.compress(kev)
    site.server.route(
        "/kev.json",
        Route(body=kev),
        Route(body=packed, headers={"Content-Type": "application/octet-stream"}),
        Route(body=packed, headers={"Content-Type": "text/html"}, gzip=True),  # gzip'd twice
    )
    assert site.cycle(NOW).sources["kev"] == "2 items"
    for hour in (1, 2):
        report = site.cycle(NOW + timedelta(hours=hour))
        assert report.sources["kev"] == "2 items"
        assert report.items == {"new": 0, "revised": 0} and report.alerts == []
    assert site.health("kev")["consecutive_failures"] == 0


def test_a_page_served_by_two_servers_at_two_revisions_alerts_its_revision_once(
    site: Site,
) -> None:
    """A second server (a CDN edge, a cache) keeps serving the page as it was before its revision:
    each poll that met the old copy stored it back, and the next one the new copy, each flip a
    revision that alerted again (four alerts in four cycles)."""
    listing = HIK.joinpath("listing.html").read_bytes()
    page = HIK.joinpath(NVR.lstrip("/")).read_bytes()
    revised_listing = listing.replace(b"2024-12-10", b"2024-12-20")
    revised = page.replace(b"V4.76.010 build241203", b"V4.76.012 build241220").replace(
        b"<tr><td>V1.0</td><td>2024-12-10</td><td>Initial release</td></tr>",
        b"<tr><td>V1.0</td><td>2024-12-10</td><td>Initial release</td></tr>"
        b"<tr><td>V1.1</td><td>2024-12-20</td><td>Fixed version updated</td></tr>",
    )
    old, new = Route(body=page, headers=HTML), Route(body=revised, headers=HTML)
    site.server.route(NVR, old, new, old, new, old)
    old_listing, new_listing = Route(body=listing, headers=HTML), Route(body=revised_listing,
                                                                        headers=HTML)
    site.server.route("/listing.html", old_listing, new_listing, old_listing, new_listing,
                      old_listing)
    site.cycle(NOW)
    (revision,) = site.cycle(NOW + timedelta(hours=1)).alerts
    assert revision["item"]["id"] == "HSRC-202412-02"
    assert any("V4.76.012" in c for c in revision["changes"])
    for hours in (2, 3, 4):
        report = site.cycle(NOW + timedelta(hours=hours))
        assert report.alerts == [], hours
    warnings = " ".join(site.health("hik")["warnings"])
    assert "an earlier revision, older than the one stored" in warnings
    with site.store() as store:
        stored = store.items.get("HSRC-202412-02")
        assert stored is not None and "V4.76.012" in str(stored.data)
