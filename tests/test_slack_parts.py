"""The Slack app's parts on their own: Block Kit limits, the cache, subscriptions, admins."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.catalog import CatalogEntry
from bot.config import Settings
from bot.items import Advisory, AffectedRow, CveInfo, CvssScore, FirmwareRelease, to_json_dict
from bot.slack import blocks, subscriptions
from bot.slack.knowledge import Cache, ItemIndex
from bot.slack.permissions import Admins
from state import Store
from tests.slackharness import FakeSlack
from tests.state_helpers import T0


@pytest.mark.parametrize(("text", "limit", "want"), [
    ("short", 10, "short"), ("exactly10!", 10, "exactly10!"), ("a bit too long", 10, "a bit too…"),
])
def test_clip(text: str, limit: int, want: str) -> None:
    assert blocks.clip(text, limit) == want


def test_escaping_and_links() -> None:
    assert blocks.esc("<@U1> & <!channel>") == "&lt;@U1&gt; &amp; &lt;!channel&gt;"
    assert blocks.link("https://x.example/a", "A|B <c>") == "<https://x.example/a|A¦B &lt;c&gt;>"
    assert blocks.link("file:///etc/passwd", "local") == "local"
    assert blocks.link("https://x.example/a b", "spaced") == "spaced"
    assert blocks.who("U012ABC") == "<@U012ABC>" and blocks.who("alice <x>") == "alice &lt;x&gt;"


def test_moments_are_shown_in_the_readers_timezone() -> None:
    """Slack formats ``<!date^…>`` in each reader's timezone; the fallback is UTC."""
    moment = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=13)))  # Auckland
    assert blocks.when(moment) == (
        "<!date^1796034600^{date_short_pretty} {time}|2026-11-30 10:30 UTC>")


def test_long_lists_end_with_how_many_more() -> None:
    lines = [f"• line {i:04d} " + "x" * 50 for i in range(200)]
    text = blocks.fit_lines(lines, 3000, "more fleets")
    assert len(text) <= 3000 and text.endswith("more fleets")
    shown = text.count("• line")
    assert f"…and {200 - shown} more fleets" in text
    assert blocks.fit_lines(["a", "b"]) == "a\nb"


def test_too_many_blocks_are_cut_with_a_note() -> None:
    many = [blocks.section(str(i)) for i in range(80)]
    fitted = blocks.fit(many)
    assert len(fitted) == 50 and "31 more blocks" in fitted[-1]["elements"][0]["text"]
    assert blocks.fit(many[:50]) == many[:50]
    assert len(blocks.fit(many, blocks.HOME_BLOCKS)) == 80
    message = blocks.Answer("t" * 5000, many, share=True).message()
    assert len(message["text"]) == 3000 and message["response_type"] == "in_channel"


def _advisory(key: str, product: str, cve: str, score: float) -> Advisory:
    return Advisory(key=key, title=f"Advisory {key}", url=f"https://example.com/{key}",
                    vendor_id=key, cves=(CveInfo(cve, (CvssScore("3.1", score, "High"),)),),
                    rows=(AffectedRow(product, cve, "Versions below V5.5.800", "V5.5.800"),))


def test_the_item_index_finds_advisories_and_releases_by_model() -> None:
    items = [
        to_json_dict(_advisory("HSRC-1", "DS-2CD3xx1G2", "CVE-2021-0001", 9.8)),
        to_json_dict(_advisory("HSRC-2", "DS-2CD2xx1G0", "CVE-2021-0002", 5.0)),
        to_json_dict(_advisory("HSRC-3", "DS-2CD3321G2-I, DS-2CD3021G2-IS", "CVE-2021-0001", 7)),
        to_json_dict(FirmwareRelease("fw-1", "old", ("DS-2CD3321G2-I",), "V5.7.1 build 230101")),
        to_json_dict(FirmwareRelease("fw-2", "new", ("DS-2CD3321G2-I",), "V5.10.0 build 250101")),
        to_json_dict(FirmwareRelease("fw-3", "other", ("DS-2CD3321G2-IU",), "V9.0.0")),
    ]
    index = ItemIndex(items)
    assert sorted(a.key for a in index.naming("DS-2CD3321G2-I")) == ["HSRC-1", "HSRC-3"]
    assert [a.key for a in index.naming("DS-2CD2121G0-I")] == ["HSRC-2"]
    assert index.naming("DS-7608NI-I2") == []
    release = index.latest_release("DS-2CD3321G2-I")
    assert release is not None and release.key == "fw-2", "5.10.0 > 5.7.1"
    assert [a.key for a in index.find("cve-2021-0001")] == ["HSRC-1", "HSRC-3"]
    assert [a.key for a in index.find("HSRC-2")] == ["HSRC-2"] and index.find("nope") == []
    assert index.severity["HSRC-1"].score == 9.8 and index.severity["HSRC-2"].severity == "high"


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_rebuilds_when_a_cycle_ran_or_the_ttl_passed(store: Store) -> None:
    ticks = Ticks()
    cache = Cache(store, Settings(), {"FIRMWATCH_CONFIG": "/nonexistent/bot.toml"},
                  ttl=600, catalog_ttl=60, check_every=5, background=False, monotonic=ticks)
    first = cache.index()
    assert first.advisories == {}
    store.items.put_item(_advisory("HSRC-1", "DS-2CD3xx1G2", "CVE-2021-0001", 9.8), T0)
    assert cache.index() is first, "checked at most every 5 s"
    ticks.now = 5
    second = cache.index()
    assert list(second.advisories) == ["HSRC-1"], "the item count changed"
    ticks.now = 10
    store.meta.put("cycle.last", {"started": "2026-03-01T13:00:00+00:00"}, T0)
    third = cache.index()
    assert third is not second, "a new cycle ran"
    ticks.now = 20
    assert cache.index() is third
    ticks.now = 700
    assert cache.index() is not third, "the ttl passed"
    store.catalog.put([CatalogEntry("DS-2CD3321G2-I", T0.date(), None, "fleets.csv line 2")])
    assert cache.catalog().lookup("DS-2CD3321G2-I") is not None
    store.catalog.remove("DS-2CD3321G2-I")
    assert cache.catalog().lookup("DS-2CD3321G2-I") is not None
    ticks.now += 60
    assert cache.catalog().lookup("DS-2CD3321G2-I") is None


def test_the_cache_serves_the_old_index_while_the_ttl_rebuild_runs(store: Store) -> None:
    ticks = Ticks()
    store.items.put_item(_advisory("HSRC-1", "DS-2CD3xx1G2", "CVE-2021-0001", 9.8), T0)
    cache = Cache(store, Settings(), {}, ttl=600, check_every=5, monotonic=ticks)
    first = cache.index()
    ticks.now = 700  # nothing is known to have changed: the ttl passed
    assert cache.index() is first, "served while the new one is built"
    for thread in threading.enumerate():
        if thread.name == "firmwatch-slack-cache":
            thread.join(timeout=30)
    assert cache.index() is not first and list(cache.index().advisories) == ["HSRC-1"]



def test_answers_after_a_cycle_see_its_items_while_the_ttl_rebuild_runs(store: Store) -> None:
    """A cycle that ended while the ttl's background rebuild ran was not seen until that
    rebuild ended (and then only at the next check): the just-alerted advisory was 'not stored';
    the older rebuild, ending last, does not replace the newer index either."""
    ticks, gate = Ticks(), threading.Event()

    class HeldRebuild(Cache):
        """The second build (the ttl's) waits for the gate and reads the store before the cycle."""

        builds = 0

        def _build_index(self) -> ItemIndex:
            self.builds += 1
            if self.builds == 2:
                gate.wait(30)
                return ItemIndex([])
            return super()._build_index()

    cache = HeldRebuild(store, Settings(), {}, ttl=600, check_every=5, monotonic=ticks)
    first = cache.index()
    ticks.now = 700
    assert cache.index() is first  # the ttl's rebuild runs in the background, held
    store.items.put_item(_advisory("HSRC-1", "DS-2CD3xx1G2", "CVE-2021-0001", 9.8), T0)
    store.meta.put("cycle.last", {"started": "2026-03-01T13:00:00+00:00"}, T0)
    ticks.now = 710
    try:
        assert [a.vendor_id for a in cache.index().find("HSRC-1")] == ["HSRC-1"]
    finally:
        gate.set()
        for thread in threading.enumerate():
            if thread.name == "firmwatch-slack-cache":
                thread.join(timeout=30)
    ticks.now = 720
    assert [a.vendor_id for a in cache.index().find("HSRC-1")] == ["HSRC-1"]

def test_answers_after_a_cycle_stored_items_see_them(store: Store) -> None:
    """The first answer after a cycle stored a new advisory names it: the operator who reads
    its alert and asks `/firmware advisory HSRC-…` must not be told no such advisory is stored."""
    ticks = Ticks()
    cache = Cache(store, Settings(), {}, check_every=5, monotonic=ticks)
    assert cache.index().advisories == {}
    store.items.put_item(_advisory("HSRC-1", "DS-2CD3xx1G2", "CVE-2021-0001", 9.8), T0)
    store.meta.put("cycle.last", {"started": "2026-03-01T13:00:00+00:00"}, T0)
    ticks.now = 5
    assert [a.vendor_id for a in cache.index().find("HSRC-1")] == ["HSRC-1"]
    assert [a.key for a in cache.index().naming("DS-2CD3321G2-I")] == ["HSRC-1"]


def test_subscriptions_ignore_bad_data_and_refuse_bad_channels(store: Store) -> None:
    store.meta.put(subscriptions.SUBSCRIPTIONS_KEY,
                   {"hq": ["C1AAAA", "not a channel", 5], "b": "C2BBBB", "c": []}, T0)
    assert subscriptions.subscriptions(store) == {"hq": ["C1AAAA"]}
    assert subscriptions.fleet_receivers(store) == {"hq": ["slack:C1AAAA"]}
    assert subscriptions.fleets_of(store, "C1AAAA") == ["hq"]
    with pytest.raises(ValueError, match="not a channel ID"):
        subscriptions.subscribe(store, "hq", "D0DIRECT", T0)
    store.meta.put(subscriptions.SUBSCRIPTIONS_KEY, "garbage", T0)
    assert subscriptions.subscribed_receivers(store) == []
    assert subscriptions.subscribe(store, "hq", "C1AAAA", T0 + timedelta(seconds=1))
    assert subscriptions.subscriptions(store) == {"hq": ["C1AAAA"]}


def test_admin_groups_are_cached_for_a_while(tmp_path: Path) -> None:
    fake = FakeSlack(groups={"S0ADMINS": ["U1"]})
    ticks = Ticks()
    try:
        client = WebClient(token="xoxb-1", base_url=fake.api_url)
        admins = Admins(["U0BOSS", "S0ADMINS", "S0GONE"], client, ttl=60, retry=10,
                        monotonic=ticks)
        assert admins.allows("U0BOSS") and admins.allows("U1") and not admins.allows("U2")
        assert len(fake.api("usergroups.users.list")) == 2  # S0ADMINS, then S0GONE for U2
        fake.groups["S0ADMINS"] = ["U2"]
        assert admins.allows("U1") and not admins.allows("U2"), "still the cached members"
        ticks.now = 61
        assert admins.allows("U2") and not admins.allows("U1")
        assert admins.users == {"U0BOSS"} and admins.groups == ("S0ADMINS", "S0GONE")
    finally:
        fake.close()
