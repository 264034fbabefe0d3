"""The whole cycle over real-format sample sources (file:// copies) and a TinyDB store."""

from __future__ import annotations

import gc
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import pipeline
from bot.alertdoc import digest_document
from bot.cli import main
from bot.config import Settings, parse
from bot.fleets import parse_fleet_csv
from bot.pipeline import CYCLE_KEY, CycleReport, run_cycle, run_digest
from bot.slack.alerts import ticket_dedupe_key
from bot.slack.subscriptions import subscribe
from bot.sources.fetcher import Fetcher
from notifiers.console import render_text
from notifiers.slackblocks import build_message
from state import Store, open_store
from state.fleetsync import import_fleets

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
FLEETS = """
[[receivers]]
name = "ops"
type = "console"

[[receivers]]
name = "planning"
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
model = "DS-2CD3321G2-I"
firmware = "V5.7.13 build 230822"
count = 5
site = "Site B"

[[fleets.devices]]
model = "iDS-7716NXI-M4/X"
firmware = "V4.62.200"
count = 2
site = "Site B"

[[fleets.devices]]
model = "DS-7608NI-I2/8P"
count = 3
site = "Site C"

[[catalog]]
model = "DS-2CD3xx1G2"
launched = 2021-03-15
discontinued = 2024-06-30

[[catalog]]
model = "iDS-77xxNXI-Mx/X"
launched = 2023-01-10
"""


@dataclass
class World:
    """A config on copies of the bundled samples, and helpers to run cycles on it."""

    root: Path
    fleets: str = FLEETS
    extra: str = ""
    lead: str = ""  # sources listed before the others

    @property
    def sources(self) -> Path:
        return self.root / "sources"

    def config(self) -> Settings:
        s = self.sources
        text = f"""
[state]
url = "tinydb:///state.json"
{self.lead}
{_source("hik", "advisory", "hikvision-html", s / "hikvision" / "listing.html")}
{_source("fw", "firmware", "firmware-json", s / "firmware.json")}
{_source("nvd", "scores", "nvd-json", s / "nvd.json")}
{_source("kev", "exploited", "kev-json", s / "kev.json")}
{self.fleets}
{self.extra}
"""
        (self.root / "bot.toml").write_text(text, encoding="utf-8")
        return parse(text, "bot.toml")

    def store(self) -> Store:
        return open_store(f"tinydb:///{self.root / 'state.json'}")

    def cycle(self, now: datetime = NOW, **kw: Any) -> CycleReport:
        settings = self.config()
        with self.store() as store, Fetcher(settings.network) as fetcher:
            return run_cycle(store, settings, now, fetcher=fetcher, base=self.root, **kw)


def planning_route(digest: str) -> str:
    """The README's replacement-planning route, collecting into a ``digest``."""
    return f"""
[[routes]]
name = "replacement-planning"
receivers = ["planning"]
stages = ["security-only", "end-of-support"]
digest = "{digest}"
"""


def _source(name: str, kind: str, fmt: str, path: Path) -> str:
    return "\n".join(
        [
            "[[sources]]",
            f'name = "{name}"',
            f'kind = "{kind}"',
            f'format = "{fmt}"',
            f'url = "{path.as_uri()}"',
            "",
        ]
    )


def sample_world(root: Path) -> World:
    """A World on copies of the bundled sample sources under ``root``."""
    samples = resources.files("bot").joinpath("samples/sources")
    with resources.as_file(samples) as path:
        shutil.copytree(path, root / "sources")
    return World(root)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return sample_world(tmp_path)


def _alerts(report: CycleReport, kind: str | None = None) -> dict[str, dict[str, Any]]:
    return {d["item"]["id"]: d for d in report.alerts if kind is None or d["kind"] == kind}


def test_first_cycle_alerts_exactly_the_affected_groups(world: World) -> None:
    report = world.cycle()
    assert report.sources == {
        "fw": "3 items",
        "hik": "4 items",
        "kev": "2 items",
        "nvd": "4 items",
    }
    alerts = _alerts(report)
    assert set(alerts) == {
        "HSRC-202109-01", "HSRC-202508-03", "HSRC-202412-02", "Firmware V5.9.72 build 260713"
    }
    # DS-76xxNI-I is the I-series: it names the NVR with two disks too, whose firmware the
    # fleet does not record: possibly affected, with the reason.
    (i_series,) = alerts["HSRC-202412-02"]["findings"]
    assert [g["site"] for g in i_series["device_groups"]] == ["Site C"]
    assert i_series["cves"][0]["status"] == "possibly-affected"
    assert "firmware version not known" in i_series["reason"]
    cmd = alerts["HSRC-202109-01"]
    assert cmd["kind"] == "advisory" and cmd["severity"] == "critical" and cmd["score"] == 9.8
    assert cmd["kev"] == "2022-01-10"
    (finding,) = cmd["findings"]
    assert finding["device_groups"] == [
        {
            "model": "DS-2CD3321G2-I",
            "firmware": "V5.5.0 build 200911",
            "count": 40,
            "site": "Site A",
            "reason": "firmware V5.5.0 build 200911 is in V5.5.800 and earlier",
        }
    ]
    assert finding["stage"] == "security-only" and finding["fix_promised"] == "yes"
    assert (
        finding["cves"][0]["id"] == "CVE-2021-36260" and finding["cves"][0]["kev"] == "2022-01-10"
    )
    assert finding["fixed_version"] == "V5.5.800 build 210628"
    assert finding["risk_note"].startswith("Exploited in the wild (CISA KEV since 2022-01-10).")
    assert "2029-06-30" in finding["risk_note"]
    nvr = alerts["HSRC-202508-03"]["findings"][0]
    assert [c["id"] for c in nvr["cves"]] == ["CVE-2025-39251"]
    assert nvr["stage"] == "dynamic" and nvr["fixed_version"] == "V4.62.210 build 250812"
    update = alerts["Firmware V5.9.72 build 260713"]["findings"]
    assert {g["site"] for f in update for g in f["device_groups"]} == {"Site A", "Site B"}
    resolves = {f["device_groups"][0]["site"]: f["resolves"] for f in update}
    assert "HSRC-202109-01" in resolves["Site A"]  # V5.5.0 is exposed: the update fixes it
    assert "HSRC-202109-01" not in resolves["Site B"]  # V5.7.13 is past V5.5.800 already
    assert report.enqueued == 4 and report.items == {"new": 13, "revised": 0}


def test_a_second_cycle_alerts_nothing(world: World) -> None:
    first = world.cycle()
    second = world.cycle(NOW + timedelta(hours=1))
    assert first.enqueued == 4
    assert second.alerts == [] and second.enqueued == 0
    # NVD records and KEV entries of the same CVE must not overwrite each other every poll.
    assert second.items == {"new": 0, "revised": 0}
    assert second.findings == {"open": first.findings["open"], "resolved": 0}


def test_an_unchanged_cycle_does_not_rework_stored_findings(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Findings stored open at the same revision are left as they are, records not worked out."""
    first = world.cycle()
    with world.store() as store:
        before = {f.key: (f.data, f.updated_at) for f in store.findings.all()}

    def unexpected(*args: object) -> None:
        raise AssertionError("an unchanged finding's record was worked out again")

    monkeypatch.setattr("bot.pipeline.finding_record", unexpected)
    second = world.cycle(NOW + timedelta(hours=1))
    assert second.findings == {"open": first.findings["open"], "resolved": 0}
    with world.store() as store:
        assert {f.key: (f.data, f.updated_at) for f in store.findings.all()} == before
        assert set(store.findings.stamps()) == set(before)


def test_the_collector_is_paused_for_the_cycle_and_resumed_after(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storing and routing make millions of objects at a big estate: the cyclic collector
    rescanning them made an unchanged cycle at 100,000 device groups 12.6 s instead of 8.5 s."""
    seen: list[bool] = []
    real = pipeline.store_findings

    def spy(*args: Any) -> set[str]:
        seen.append(gc.isenabled())
        return real(*args)

    monkeypatch.setattr(pipeline, "store_findings", spy)
    assert gc.isenabled()
    world.cycle()
    assert seen == [False] and gc.isenabled()


def test_dry_run_stores_nothing_but_reports_the_same_alerts(world: World) -> None:
    dry = world.cycle(dry_run=True)
    with world.store() as store:
        assert store.items.count() == 0 and store.outbox.counts()["pending"] == 0
        assert store.meta.get(CYCLE_KEY) is None
    real = world.cycle()
    assert [d["dedupe_key"] for d in dry.alerts] == [d["dedupe_key"] for d in real.alerts]


def test_kev_listing_escalates_with_what_changed(world: World) -> None:
    kev = world.sources / "kev.json"
    data = json.loads(kev.read_text())
    listed = [v for v in data["vulnerabilities"] if v["cveID"] != "CVE-2025-39251"]
    new = dict(listed[1], cveID="CVE-2025-39251", dateAdded="2026-11-29", dueDate="2026-12-20")
    kev.write_text(json.dumps({**data, "vulnerabilities": [*listed, new]}))
    world.cycle()  # first listing already in place: an ordinary advisory alert with a KEV badge
    data["vulnerabilities"] = listed
    kev.write_text(json.dumps(data))
    # Start over without the listing, then add it: the existing alert escalates.
    shutil.rmtree(world.root / "sources")
    world.root.joinpath("state.json").unlink()
    samples = resources.files("bot").joinpath("samples/sources")
    with resources.as_file(samples) as path:
        shutil.copytree(path, world.sources)
    world.cycle()
    data = json.loads(kev.read_text())
    data["vulnerabilities"].append(new)
    kev.write_text(json.dumps(data))
    report = world.cycle(NOW + timedelta(days=1))
    (escalated,) = report.alerts
    assert escalated["kind"] == "exploited" and escalated["item"]["id"] == "HSRC-202508-03"
    assert "listed in CISA KEV on 2026-11-29" in escalated["changes"]
    assert escalated["findings"][0]["risk_note"].startswith("Exploited in the wild")


def test_upgrading_a_fleet_resolves_its_findings(world: World) -> None:
    world.cycle()
    world.fleets = FLEETS.replace('firmware = "V4.62.200"', 'firmware = "V4.62.210 build 250812"')
    report = world.cycle(NOW + timedelta(hours=1))
    assert report.findings["resolved"] == 1
    (done,) = report.alerts  # the receiver hears that the advisory no longer affects it
    assert done["resolved"] is True and done["item"]["id"] == "HSRC-202508-03"
    assert done["receivers"] == ["ops"] and done["findings"] == []
    assert world.cycle(NOW + timedelta(hours=2)).alerts == []  # said once
    world.fleets = FLEETS  # downgraded again: affected again, a new alert
    (again,) = world.cycle(NOW + timedelta(hours=3)).alerts
    assert again["item"]["id"] == "HSRC-202508-03" and "resolved" not in again
    with world.store() as store:
        assert store.findings.all(state="resolved") == []
        world.fleets = FLEETS.replace('firmware = "V4.62.200"', 'firmware = "V4.62.215"')
    world.cycle(NOW + timedelta(hours=4))
    with world.store() as store:
        (resolved,) = store.findings.all(state="resolved")
        advisory = store.items.get(resolved.item_key)
    assert advisory is not None and advisory.data["vendor_id"] == "HSRC-202508-03"


def test_the_same_firmware_written_another_way_alerts_nothing(world: World) -> None:
    """A fleet rewritten with each version spelled differently (as another export writes it) is
    the same devices: nothing is resolved or alerted again, and no group is counted twice."""
    first = world.cycle()
    world.fleets = FLEETS.replace('"V5.5.0 build 200911"', '"V5.5.0build200911"').replace(
        '"V5.7.13 build 230822"', '"V5.7.13_230822"')
    report = world.cycle(NOW + timedelta(hours=1))
    assert report.alerts == [] and report.findings == {"open": first.findings["open"],
                                                       "resolved": 0}
    with world.store() as store:
        assert store.fleets.totals()["hq"].devices == 50


LAB = """
[[fleets]]
name = "lab"
receivers = ["ops"]

[[fleets.devices]]
model = "iDS-7716NXI-M4/X"
firmware = "V4.62.200"
count = 1
site = "Lab"
"""


def test_a_model_written_with_its_lens_after_a_space_is_told_of_its_firmware(world: World) -> None:
    """An inventory writes "DS-2CD3321G2-I 2.8mm": the devices are DS-2CD3321G2-I, named by the
    firmware release for that model (the lens glued on, they were a model nothing names)."""
    site_a = 'model = "DS-2CD3321G2-I"\nfirmware = "V5.5.0 build 200911"'
    world.fleets = FLEETS.replace(site_a, site_a.replace('-I"', '-I 2.8mm"'))
    update = _alerts(world.cycle())["Firmware V5.9.72 build 260713"]["findings"]
    groups = {g["site"]: g["model"] for f in update for g in f["device_groups"]}
    assert groups == {"Site A": "DS-2CD3321G2-I 2.8mm", "Site B": "DS-2CD3321G2-I"}


def test_an_imported_device_bot_toml_stops_listing_is_not_told_as_no_longer_affected(
    world: World,
) -> None:
    """The CMDB registered the lab's NVR; bot.toml listed it too for a while. When the file stops
    listing it, the devices are still there: no "no longer affected", nothing alerted."""
    world.fleets = FLEETS + LAB
    with world.store() as store:
        import_fleets(store, parse_fleet_csv(
            "fleet,model,firmware,count,site\nlab,iDS-7716NXI-M4/X,V4.62.200,1,Lab\n", "cmdb"))
    (first,) = [a for a in world.cycle().alerts if a["item"]["id"] == "HSRC-202508-03"]
    assert first["totals"]["devices"] == 3
    world.fleets = FLEETS + LAB.split("[[fleets.devices]]")[0]
    report = world.cycle(NOW + timedelta(hours=1))
    assert report.alerts == [] and report.findings["resolved"] == 0
    with world.store() as store:
        assert [g.origin for g in store.fleets.groups("lab")] == ["import"]


def test_a_resolution_does_not_say_nothing_is_affected_when_the_rest_is_below_a_threshold(
    world: World,
) -> None:
    world.fleets = FLEETS + LAB
    (first,) = [a for a in world.cycle().alerts if a["item"]["id"] == "HSRC-202508-03"]
    assert first["severity"] == "medium" and len(first["findings"]) == 2
    # The lab upgrades; hq, still affected, now only wants high and critical advisories.
    picky = FLEETS.replace('receivers = ["ops"]', 'receivers = ["ops"]\nmin_severity = "high"', 1)
    world.fleets = picky + LAB.replace('"V4.62.200"', '"V4.62.215"')
    (done,) = world.cycle(NOW + timedelta(hours=1)).alerts
    assert done["resolved"] is True and done["item"]["id"] == "HSRC-202508-03"
    assert done["changes"] == [
        "the device groups still affected are below this receiver's severity threshold"
    ]


def test_a_resolution_below_a_threshold_neither_says_fixed_nor_that_nothing_is_affected(
    world: World,
) -> None:
    """The on-call engineer read "Resolved: HSRC-202508-03 no longer affects any device of this
    receiver's fleets" (resolution "fixed") above "the device groups still affected are below
    this receiver's severity threshold": hq's two NVRs were still affected."""
    world.fleets = FLEETS + LAB
    world.cycle()
    picky = FLEETS.replace('receivers = ["ops"]', 'receivers = ["ops"]\nmin_severity = "high"', 1)
    world.fleets = picky + LAB.replace('"V4.62.200"', '"V4.62.215"')
    (done,) = world.cycle(NOW + timedelta(hours=1)).alerts
    assert done["resolved"] is True and done["resolution"] == "below-threshold"
    assert "no longer affects" not in done["summary"]
    assert "below this receiver's severity threshold" in done["summary"]
    world.fleets = picky.replace('"V4.62.200"', '"V4.62.215"') + LAB.replace(
        '"V4.62.200"', '"V4.62.215"'
    )
    assert world.cycle(NOW + timedelta(hours=2)).alerts == []  # told once already


def test_affected_again_after_a_resolution_is_enqueued_again(world: World) -> None:
    first = _alerts(world.cycle())["HSRC-202508-03"]
    upgraded = FLEETS.replace('firmware = "V4.62.200"', 'firmware = "V4.62.210 build 250812"')
    keys = [first["dedupe_key"]]
    for hour in (1, 2, 3, 4):  # upgraded, downgraded, upgraded, downgraded: each one is news
        world.fleets = upgraded if hour % 2 else FLEETS
        report = world.cycle(NOW + timedelta(hours=hour))
        (doc,) = report.alerts
        assert report.enqueued == 1 and doc.get("resolved", False) == bool(hour % 2)
        keys.append(doc["dedupe_key"])
    assert len(set(keys)) == 5
    with world.store() as store:
        entries = [e for e in store.outbox.all(receiver="ops", statuses=["pending"])
                   if e.payload["item"]["id"] == "HSRC-202508-03"]
    assert sorted(e.dedupe_key for e in entries) == sorted(keys)
    assert len({e.alert_id for e in entries}) == 5


def test_a_ticket_opened_from_slack_is_not_sent_again_when_a_route_adds_its_receiver(
    world: World,
) -> None:
    alert = _alerts(world.cycle())["HSRC-202109-01"]
    key = ticket_dedupe_key(alert["dedupe_key"], "ops", "planning")
    with world.store() as store:  # what the Open ticket button does
        assert store.outbox.enqueue("planning", key, alert, NOW, alert_id="fw_ticket") is not None
    world.extra = '[[routes]]\nname = "all"\nreceivers = ["planning"]\n'
    world.cycle(NOW + timedelta(hours=1))
    with world.store() as store:
        to_planning = [e.dedupe_key for e in store.outbox.all(receiver="planning")
                       if e.payload["item"]["id"] == "HSRC-202109-01"]
    assert to_planning == [key]


def test_a_failing_source_leaves_the_others_and_the_stored_items(world: World) -> None:
    world.cycle()
    (world.sources / "firmware.json").write_text("{not json")
    report = world.cycle(NOW + timedelta(hours=1))
    assert report.sources["fw"].startswith("failed: cannot read the body as firmware-json")
    assert report.sources["hik"] == "unchanged"
    with world.store() as store:
        assert store.items.count("firmware") == 3
    assert report.alerts == []


def test_silences_hide_until_they_expire(world: World) -> None:
    with world.store() as store:
        store.silences.add(
            [{"name": "advisory", "value": "HSRC-202109-01"}],
            ends_at=NOW + timedelta(days=1),
            author="U1",
            comment="replacing these next week",
            now=NOW,
        )
    report = world.cycle()
    assert "HSRC-202109-01" not in _alerts(report)
    later = world.cycle(NOW + timedelta(days=2))
    assert set(_alerts(later)) == {"HSRC-202109-01"}


def test_acked_alert_is_not_repeated_for_a_device_count_change(world: World) -> None:
    first = _alerts(world.cycle())["HSRC-202109-01"]
    with world.store() as store:
        store.acks.ack(first["id"], "U1", NOW)
    world.fleets = FLEETS.replace("count = 40", "count = 41")
    report = world.cycle(NOW + timedelta(hours=1))
    assert "HSRC-202109-01" not in _alerts(report)


def test_a_snooze_that_ends_with_nothing_changed_reminds_once(world: World) -> None:
    """A snooze holds an alert for a while, it does not close it: when it ends and the devices
    are still affected, the receiver hears of the item again, once (as PagerDuty and Opsgenie
    re-notify a snoozed incident)."""
    first = _alerts(world.cycle())["HSRC-202109-01"]
    with world.store() as store:
        store.acks.snooze(first["id"], "U1", NOW + timedelta(days=7), NOW)
    assert "HSRC-202109-01" not in _alerts(world.cycle(NOW + timedelta(days=6)))
    reminder = _alerts(world.cycle(NOW + timedelta(days=7, hours=1)))["HSRC-202109-01"]
    assert reminder["changes"] == ["snoozed until 2026-12-07: nothing has changed since"]
    assert reminder["id"] != first["id"] and reminder["findings"] == first["findings"]
    assert "HSRC-202109-01" not in _alerts(world.cycle(NOW + timedelta(days=7, hours=2)))
    assert "HSRC-202109-01" not in _alerts(world.cycle(NOW + timedelta(days=9)))


def test_a_snooze_reminder_names_the_day_it_ended_in_the_schedules_timezone(
    world: World,
) -> None:
    """A Sydney team snoozed an alert until 01:00 on 8 December (their time): the reminder said
    "snoozed until 2026-12-07", the day in UTC."""
    world.extra = '[schedule]\ntimezone = "Australia/Sydney"\n'
    first = _alerts(world.cycle())["HSRC-202109-01"]
    until = datetime(2026, 12, 7, 14, tzinfo=UTC)  # 2026-12-08 01:00 in Sydney
    with world.store() as store:
        store.acks.snooze(first["id"], "U1", until, NOW)
    reminder = _alerts(world.cycle(until + timedelta(hours=1)))["HSRC-202109-01"]
    assert reminder["changes"] == ["snoozed until 2026-12-08: nothing has changed since"]


def test_an_acknowledged_alert_whose_snooze_ends_stays_quiet(world: World) -> None:
    first = _alerts(world.cycle())["HSRC-202109-01"]
    with world.store() as store:
        store.acks.snooze(first["id"], "U1", NOW + timedelta(days=7), NOW)
        store.acks.ack(first["id"], "U2", NOW)
    assert "HSRC-202109-01" not in _alerts(world.cycle(NOW + timedelta(days=8)))


def test_a_stage_change_on_a_day_no_cycle_ran_is_told_by_the_next_cycle(world: World) -> None:
    # DS-2CD3321G2-I (discontinued 2024-06-30) leaves security-only on 2029-06-30, a day the
    # service was down: the next cycle says so, once.
    def lifecycle(day: date) -> list[dict[str, Any]]:
        report = world.cycle(datetime.combine(day, time(9), UTC))
        return [d for d in report.alerts if d["kind"] == "lifecycle"]

    (week,) = lifecycle(date(2029, 6, 28))
    assert week["item"]["key"].endswith(":2029-06-30:7d")
    (missed,) = lifecycle(date(2029, 7, 2))
    assert missed["item"]["key"].endswith(":end-of-support:2029-06-30:0d")
    assert missed["findings"][0]["reason"] == "entered end-of-support on 2029-06-30"
    assert lifecycle(date(2029, 7, 3)) == []


def test_a_cycle_judged_on_another_day_does_not_move_the_days_the_next_one_looks_back_on(
    world: World,
) -> None:
    """`check --on 2024-01-01` (how things stood then) made the next cycle announce every stage
    change since as news: "entered security-only on 2024-06-30" in December 2026. A change on a
    day no cycle ran is still told, once."""

    def lifecycle(report: CycleReport) -> list[str]:
        return [f["reason"] for d in report.alerts if d["kind"] == "lifecycle"
                for f in d["findings"]]

    world.cycle()
    world.cycle(NOW + timedelta(hours=1), on=date(2024, 1, 1))
    assert lifecycle(world.cycle(NOW + timedelta(days=1))) == []
    # DS-2CD3321G2-I leaves security-only on 2029-06-30, a day the service was down
    world.cycle(datetime(2029, 6, 28, 9, tzinfo=UTC))
    world.cycle(datetime(2029, 6, 28, 10, tzinfo=UTC), on=date(2020, 1, 1))
    assert lifecycle(world.cycle(datetime(2029, 7, 2, 9, tzinfo=UTC))) == [
        "entered end-of-support on 2029-06-30"]
    assert lifecycle(world.cycle(datetime(2029, 7, 3, 9, tzinfo=UTC))) == []


def test_routes_thresholds_and_digests(world: World) -> None:
    world.extra = planning_route("daily")
    report = world.cycle(on=date(2026, 11, 30))
    to_planning = [d for d in report.alerts if d["receivers"] == ["planning"]]
    assert {d["item"]["id"] for d in to_planning} == {
        "HSRC-202109-01",
        "Firmware V5.9.72 build 260713",
    }
    assert all(d["digest"] == "daily" for d in to_planning) and report.digested == 2
    settings = world.config()
    with world.store() as store:
        assert store.outbox.all(receiver="planning") == []
        assert run_digest(store, settings, NOW + timedelta(days=1)) == 1
        (entry,) = store.outbox.all(receiver="planning")
        assert entry.payload["kind"] == "digest" and len(entry.payload["alerts"]) == 2
        assert run_digest(store, settings, NOW + timedelta(days=1)) == 0


def test_a_route_for_models_of_unknown_stage_hears_of_them_alone(world: World) -> None:
    """Models the catalog has no dates for (their promise unknown) can go to the people who keep
    the catalog: ``stages = ["unknown"]`` was refused by config check."""
    world.extra = """
[[routes]]
name = "catalog-gaps"
receivers = ["planning"]
stages = ["unknown"]
"""
    report = world.cycle(on=date(2026, 11, 30))
    to_planning = [d for d in report.alerts if "planning" in d["receivers"]]
    assert {d["item"]["id"] for d in to_planning} == {"HSRC-202412-02"}
    (finding,) = to_planning[0]["findings"]
    assert finding["stage"] == "unknown" and finding["device_groups"][0]["site"] == "Site C"


def test_a_digest_counts_each_device_once_and_says_what_each_finding_is_about(
    world: World,
) -> None:
    """The planning channel's digest said "85 device(s) in 1 fleet(s)" for hq's 45 cameras:
    the 40 at Site A were counted once for the advisory and again for the firmware update; and
    its findings ("hq · affected · …") did not say which advisory or release each was about."""
    world.extra = planning_route("daily")
    world.cycle(on=date(2026, 11, 30))
    with world.store() as store:
        assert run_digest(store, world.config(), NOW + timedelta(days=1)) == 1
        (entry,) = store.outbox.all(receiver="planning")
    digest = entry.payload
    assert digest["totals"] == {"fleets": 1, "device_groups": 2, "devices": 45}
    about = {f["item"]["id"] for f in digest["findings"]}
    assert about == {"HSRC-202109-01", "Firmware V5.9.72 build 260713"}
    message = build_message(digest)
    overview = [b for b in message["blocks"] if "fields" in b]
    (stage,) = overview[0]["fields"]
    assert "45 devices in 1 fleet" in stage["text"] and "85" not in stage["text"]
    sections = [b["text"]["text"] for b in message["blocks"] if b.get("text", {}).get("text")]
    heads = [s.splitlines()[0] for s in sections if s.startswith("*hq*")]
    assert len(heads) == 3
    assert all(" · affected · " not in h or "HSRC-202109-01" in h for h in heads)
    assert all(" · update-available · " not in h or "Firmware V5.9.72" in h for h in heads)
    text = render_text(digest)
    assert "Fleet hq: affected" in text and "HSRC-202109-01" in text.split("Fleet hq:")[1]
    one = digest_document("planning", "daily", [digest_doc_of(digest, 0)], NOW)
    assert one["item"]["title"].endswith(": 1 alert")


def digest_doc_of(digest: dict[str, Any], at: int) -> dict[str, Any]:
    """An alert document made of one finding of a digest (for a digest of one alert)."""
    finding = dict(digest["findings"][at])
    finding.pop("item", None)
    return {**digest, "kind": "advisory", "findings": [finding], "alerts": None}


def test_a_receiver_told_of_an_item_at_once_and_by_a_digest_route_is_told_once(
    world: World,
) -> None:
    # ops hears of hq's findings at once and of the warehouse's through a daily digest route:
    # one alert per item, at once, listing both; later cycles (and digests) repeat nothing.
    world.extra = """
[[fleets]]
name = "wh"

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.5.0 build 200911"
count = 3
site = "Warehouse"

[[routes]]
name = "warehouses"
receivers = ["ops"]
fleets = ["wh"]
digest = "daily"
"""
    first = world.cycle()
    (cmd,) = [d for d in first.alerts if d["item"]["id"] == "HSRC-202109-01"]
    assert cmd["digest"] is None and {f["fleet"] for f in cmd["findings"]} == {"hq", "wh"}
    assert first.digested == 0
    settings = world.config()
    for hours in (1, 2, 25, 26):
        with world.store() as store:
            run_digest(store, settings, NOW + timedelta(hours=hours))
        report = world.cycle(NOW + timedelta(hours=hours))
        assert report.alerts == [], hours
    with world.store() as store:
        assert len(store.outbox.all(receiver="ops")) == first.enqueued


def test_a_digest_lists_an_item_revised_before_it_is_sent_once_as_it_is_now(
    world: World,
) -> None:
    world.extra = planning_route("daily")
    assert world.cycle(on=date(2026, 11, 30)).digested == 2
    world.fleets = FLEETS.replace("count = 40", "count = 41")
    revised = world.cycle(NOW + timedelta(hours=1), on=date(2026, 11, 30))
    again = [d for d in revised.alerts if d["receivers"] == ["planning"]]
    assert {d["item"]["id"] for d in again} == {"HSRC-202109-01", "Firmware V5.9.72 build 260713"}
    with world.store() as store:
        assert run_digest(store, world.config(), NOW + timedelta(days=1)) == 1
        (entry,) = store.outbox.all(receiver="planning")
    digest = entry.payload  # each item once, as the revision left it
    assert sorted(digest["alerts"]) == sorted(d["id"] for d in again)
    assert digest["item"]["title"].endswith(": 2 alerts")
    counts = [g["count"] for f in digest["findings"] for g in f["device_groups"]]
    assert 41 in counts and 40 not in counts


WEEKLY = planning_route("weekly")


def test_a_weekly_digest_missed_on_monday_goes_out_at_the_next_digest(world: World) -> None:
    world.extra = WEEKLY
    friday = datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert world.cycle(friday).digested == 2
    settings = world.config()
    with world.store() as store:
        assert run_digest(store, settings, friday + timedelta(days=1)) == 0  # Saturday
        # Monday 2026-11-30: the service was down at digest time
        assert run_digest(store, settings, friday + timedelta(days=4)) == 1  # Tuesday
        (entry,) = store.outbox.all(receiver="planning")
        assert entry.payload["item"]["title"] == "Weekly digest for 2026-12-01: 2 alerts"
    world.fleets = FLEETS.replace("count = 40", "count = 41")
    assert world.cycle(friday + timedelta(days=4, hours=1)).digested == 2
    with world.store() as store:  # held since Tuesday: waits for next Monday
        assert run_digest(store, settings, friday + timedelta(days=5)) == 0
        assert run_digest(store, settings, friday + timedelta(days=10)) == 1


def test_a_weekly_digest_whose_monday_run_failed_goes_out_with_alerts_held_that_monday(
    world: World,
) -> None:
    """Alerts held on Monday morning, and Monday's digest run failed: Tuesday's run took the
    week as done (nothing held since before Monday) and they waited a week more."""
    world.extra = WEEKLY
    saturday = datetime(2026, 11, 28, 9, tzinfo=UTC)
    settings = world.config()
    with world.store() as store:
        assert run_digest(store, settings, saturday) == 0
    assert world.cycle(NOW - timedelta(hours=1)).digested == 2  # Monday 08:00
    with world.store() as store:  # Monday's run at 09:00 failed; Tuesday's:
        assert run_digest(store, settings, NOW + timedelta(days=1)) == 1
        assert run_digest(store, settings, NOW + timedelta(days=2)) == 0


def test_a_digest_is_titled_with_its_local_day(world: World) -> None:
    world.extra = WEEKLY + '[schedule]\ntimezone = "Pacific/Auckland"\n'
    sunday_evening = datetime(2026, 11, 29, 6, tzinfo=UTC)  # 19:00 in Auckland
    assert world.cycle(sunday_evening).digested == 2
    with world.store() as store:  # 09:00 on Monday in Auckland is 20:00 on Sunday in UTC
        assert run_digest(store, world.config(), datetime(2026, 11, 29, 20, tzinfo=UTC)) == 1
        (entry,) = store.outbox.all(receiver="planning")
    assert entry.payload["item"]["title"] == "Weekly digest for 2026-11-30: 2 alerts"


def test_an_item_resolved_before_its_digest_went_out_is_listed_resolved_in_the_digest(
    world: World,
) -> None:
    world.extra = planning_route("weekly")
    assert world.cycle(on=date(2026, 11, 30)).digested == 2
    world.fleets = FLEETS.replace("V5.5.0 build 200911", "V5.9.72 build 260713")  # upgraded
    report = world.cycle(NOW + timedelta(hours=1), on=date(2026, 11, 30))
    held = {d["item"]["id"]: d for d in report.alerts if d["receivers"] == ["planning"]}
    resolved = held.pop("HSRC-202109-01")
    assert resolved["resolved"] and resolved["digest"] == "weekly"
    # Site B can still take the update Site A took: held as it is now (planning never heard
    # of Site A's devices: nothing "changed" for it).
    ((update, changes),) = [(d["totals"]["devices"], d["changes"]) for d in held.values()]
    assert (update, changes) == (5, [])
    with world.store() as store:
        assert store.outbox.all(receiver="planning") == []  # nothing told before the digest
        assert run_digest(store, world.config(), NOW + timedelta(days=7)) == 1
        (entry,) = store.outbox.all(receiver="planning")
    keys = entry.payload["summary"].split("; ")
    assert len(keys) == 2 and entry.payload["alerts"][-1] == resolved["id"]
    assert sum("HSRC-202109-01" in k for k in keys) == 1  # listed once, as it is now
    assert any(k.startswith("Resolved: HSRC-202109-01") for k in keys)


def test_check_json_cli(world: World) -> None:
    world.config()
    out = io.StringIO()
    code = main(["check", "--config", str(world.root / "bot.toml"), "--dry-run", "--json"], out=out)
    assert code == 0
    alerts = json.loads(out.getvalue())
    assert {a["kind"] for a in alerts} == {"advisory", "firmware"}
    for a in alerts:
        assert {"kind", "item", "receivers", "dedupe_key", "findings"} <= a.keys()
        assert {"key", "id", "title", "url", "revision"} <= a["item"].keys()
        for f in a["findings"]:
            assert {
                "fleet",
                "device_groups",
                "stage",
                "fix_promised",
                "severity",
                "score",
                "cvss_version",
                "cves",
                "fixed_version",
                "download_url",
                "update_available",
                "resolves",
                "risk_note",
            } <= f.keys()
    assert not (world.root / "state.json").exists() or _empty(world)


def _empty(world: World) -> bool:
    with world.store() as store:
        return store.items.count() == 0


MODELS = [
    "DS-2CD3321G2-I",
    "DS-2CD3621G2-LIZS(U)",
    "iDS-7716NXI-M4/X",
    "DS-7608NI-I2",
    "DS-9664NI-I8",
]
FIRMWARE = [None, "V5.5.0 build 200911", "V5.7.13", "V4.30.100", "V4.62.200", "V4.62.215", "junk"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(MODELS), st.sampled_from(FIRMWARE), st.integers(1, 50)),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 800),
)
def test_rerunning_a_cycle_never_alerts_again(
    groups: list[tuple[str, str | None, int]], days: int
) -> None:
    devices = "\n".join(
        f'[[fleets.devices]]\nmodel = "{m}"\n'
        + (f'firmware = "{fw}"\n' if fw else "")
        + f'count = {n}\nsite = "S{i}"\n'
        for i, (m, fw, n) in enumerate(groups)
    )
    head = FLEETS.split("[[fleets.devices]]")[0]
    with tempfile.TemporaryDirectory() as tmp:
        samples = resources.files("bot").joinpath("samples/sources")
        with resources.as_file(samples) as path:
            shutil.copytree(path, Path(tmp) / "sources")
        world = World(Path(tmp), fleets=head + devices)
        when = NOW + timedelta(days=days)
        world.cycle(when)
        assert world.cycle(when + timedelta(minutes=5)).alerts == []


def test_check_delivers_what_it_enqueued(world: World) -> None:
    world.config()
    out = io.StringIO()
    assert main(["check", "--config", str(world.root / "bot.toml")], out=out) == 0
    text = out.getvalue()
    assert "alerts: 4 enqueued" in text and "delivery: sent 4 · retried 0 · dead 0" in text
    assert text.index("alerts: 4 enqueued") < text.index("[CRITICAL]")  # report, then delivery
    with world.store() as store:
        assert store.outbox.counts()["sent"] == 4
    again = io.StringIO()
    assert main(["check", "--config", str(world.root / "bot.toml")], out=again) == 0
    assert "alerts: 0 enqueued" in again.getvalue() and "delivery:" not in again.getvalue()


def test_a_channel_subscribed_in_slack_gets_the_fleets_alerts(world: World) -> None:
    world.cycle()  # the fleet must exist before a channel subscribes to it
    with world.store() as store:
        assert subscribe(store, "hq", "C0123ABCD", NOW)
    report = world.cycle(NOW + timedelta(hours=1))
    assert {d["receivers"][0] for d in report.alerts} == {"slack:C0123ABCD"}
    assert len(report.alerts) == 4  # the channel hears about everything open, once


def test_check_counts_digest_alerts_apart_and_names_their_receivers(world: World) -> None:
    world.extra = planning_route("daily")
    world.config()
    for flags in (["--dry-run"], []):
        out = io.StringIO()
        assert main(["check", "--config", str(world.root / "bot.toml"), *flags], out=out) == 0
        text = out.getvalue()
        verb = "would be sent" if flags else "enqueued"
        assert f"alerts: 4 {verb}, 2 held for digests" in text
        assert "→ planning (held for the daily digest): [critical] HSRC-202109-01" in text
        assert "→ ops: [critical] HSRC-202109-01" in text


def test_check_says_which_fleets_findings_go_to_no_receiver(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.fleets = FLEETS + LAB.replace('receivers = ["ops"]\n', "")  # as a CSV import leaves it
    world.config()
    config = str(world.root / "bot.toml")
    out = io.StringIO()
    assert main(["check", "--config", config, "--dry-run"], out=out) == 0
    warning = ("fleet lab: 1 finding goes to no receiver (give the fleet receivers in"
               " [[fleets]] or add a [[routes]] entry that takes it)")
    assert warning in out.getvalue()
    assert "fleet hq" not in out.getvalue()
    out = io.StringIO()
    assert main(["check", "--config", config, "--dry-run", "--json"], out=out) == 0
    json.loads(out.getvalue())  # stdout stays one JSON array; the warning goes to stderr
    assert warning in capsys.readouterr().err
    world.extra = '[[routes]]\nname = "all"\nreceivers = ["planning"]\n'
    world.config()
    out = io.StringIO()
    assert main(["check", "--config", config, "--dry-run"], out=out) == 0
    assert "no receiver" not in out.getvalue()


def test_check_refuses_an_unknown_source(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.config()
    out = io.StringIO()
    code = main(["check", "--config", str(world.root / "bot.toml"), "--source", "hikk"], out=out)
    assert code == 2 and out.getvalue() == ""
    assert "--source: no [[sources]] entry is named 'hikk' (configured: hik, fw, nvd, kev)" in (
        capsys.readouterr().err
    )


MIXED = FLEETS.split("[[fleets.devices]]")[0] + "".join(
    f'[[fleets.devices]]\nmodel = "{model}"\n'
    + (f'firmware = "{firmware}"\n' if firmware else "")
    + f'count = {count}\nsite = "{site}"\n\n'
    for model, firmware, count, site in [
        ("DS-2CD3321G2-I", "V5.4.0", 40, "Site A"),
        ("DS-2CD3321G2-I", "V5.5.800 build 210101", 5, "Site B"),
        ("DS-2CD3321G2-I", "latest", 2, "Site C"),
        ("DS-2CD3321G2-I", None, 2, "Site D"),
        ("DS-2CD3321G2-I", "garbage!!", 1, "Site E"),
        ("DS-2CD3621G2-LIZS(2.8mm)", "V5.5.0 build 200911", 3, "Site B"),
        ("iDS-7716NXI-M4/X", "V4.62.200", 2, "Site B"),
        ("HikCentral Professional", "V2.0.0", 1, "HQ"),
    ]
)


def _check_json(world: World) -> list[dict[str, Any]]:
    world.config()
    out = io.StringIO()
    args = ["check", "--config", str(world.root / "bot.toml"), "--dry-run", "--json"]
    assert main([*args, "--on", "2026-11-30"], out=out) == 0
    alerts: list[dict[str, Any]] = json.loads(out.getvalue())
    return alerts


def _reasons(doc: dict[str, Any]) -> dict[tuple[str, str | None], tuple[str, str]]:
    """Each device group's site and firmware, with its entry's status and its own reason."""
    return {
        (g["site"], g["firmware"]): (f["status"], g["reason"])
        for f in doc["findings"]
        for g in f["device_groups"]
    }


def test_check_json_reasons_are_true_of_every_device_group_listed(world: World) -> None:
    world.fleets = MIXED
    alerts = {a["item"]["id"]: a for a in _check_json(world)}
    cmd = alerts["HSRC-202109-01"]
    assert _reasons(cmd) == {
        ("Site A", "V5.4.0"): ("affected", "firmware V5.4.0 is in V5.5.800 and earlier"),
        ("Site B", "V5.5.800 build 210101"): (
            "affected", "firmware V5.5.800 build 210101 is in V5.5.800 and earlier"
        ),
        ("Site B", "V5.5.0 build 200911"): (
            "affected", "firmware V5.5.0 build 200911 is in V5.5.800 and earlier"
        ),
        ("Site C", "latest"): (
            "possibly-affected", "firmware 'latest' could not be read as a version"
        ),
        ("Site D", None): ("possibly-affected", "firmware version not known"),
        ("Site E", "garbage!!"): (
            "possibly-affected", "firmware 'garbage!!' could not be read as a version"
        ),
    }
    for doc in alerts.values():
        for f in doc["findings"]:
            own = {g["reason"] for g in f["device_groups"]}
            if own != {f["reason"]}:  # then it quotes no group's firmware nor reason
                assert not any(r in f["reason"] or r in f["risk_note"] for r in own)
                assert not any(g["firmware"] and g["firmware"] in f["reason"]
                               for g in f["device_groups"])
    update = alerts["Firmware V5.9.72 build 260713"]
    assert _reasons(update)["Site C", "latest"] == (
        "update-available",
        "V5.9.72 build 260713 is available; the devices' firmware 'latest' could not be read as"
        " a version",
    )
    assert _reasons(update)["Site D", None] == (
        "update-available", "V5.9.72 build 260713 is available; the devices' firmware is not known"
    )


def test_check_json_shows_models_as_registered_and_keeps_dedupe_keys(world: World) -> None:
    world.fleets = MIXED
    alerts = _check_json(world)
    shown = {g["model"] for a in alerts for f in a["findings"] for g in f["device_groups"]}
    assert shown == {
        "DS-2CD3321G2-I", "DS-2CD3621G2-LIZS(2.8mm)", "iDS-7716NXI-M4/X", "HikCentral Professional"
    }
    # The normalised key is the identity: spelling a model otherwise changes no dedupe key.
    world.fleets = MIXED.replace("iDS-7716NXI-M4/X", "ids-7716nxi-m4/x").replace(
        "HikCentral Professional", "HIKCENTRAL  professional"
    )
    again = _check_json(world)
    assert sorted(a["dedupe_key"] for a in again) == sorted(a["dedupe_key"] for a in alerts)
    shown = {g["model"] for a in again for f in a["findings"] for g in f["device_groups"]}
    assert {"ids-7716nxi-m4/x", "HIKCENTRAL professional"} <= shown


CMD_PAGE = (
    "hikvision/en/support/cybersecurity/security-advisory/"
    "command-injection-vulnerability-in-the-web-server-of-some-hikvision-cameras/index.html"
)
CMD_ROW = (
    "<td>Versions below V5.5.800 (including V5.5.800)</td>\n"
    "            <td>V5.5.800 build 210628</td>"
)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _relist(world: World, old: str, new: str) -> None:
    """Change the listing's date of HSRC-202109-01's page: the page is read again."""
    date_of = '<p class="advisory-item__date">{}'
    _edit(world.sources / "hikvision" / "listing.html", date_of.format(old), date_of.format(new))


def _fixed_version(world: World, key: str) -> tuple[str, str]:
    """The stored copy's source and its first row's fixed version."""
    with world.store() as store:
        stored = store.items.get(key)
    assert stored is not None
    return stored.data["source"], stored.data["rows"][0]["fixed"]


def _warnings(world: World, source: str) -> list[str]:
    with world.store() as store:
        state = store.sources.get(source)
    assert state is not None
    return list(state.health["warnings"])


@pytest.mark.parametrize("feed_first", [False, True], ids=["pages-first", "feed-first"])
def test_a_mirror_feed_never_rolls_back_the_vendors_revision(
    world: World, feed_first: bool
) -> None:
    """The audit's repro: the vendor revises HSRC-202109-01 without changing its dates; the
    mirror feed still carries the old copy. One alert, never rolled back, never sent again."""
    feed = _source("advrss", "advisory", "feed", world.sources / "advisories.rss")
    if feed_first:
        world.lead = feed
    else:
        world.extra = feed
    first = world.cycle()
    assert set(_alerts(first)) == {
        "HSRC-202109-01", "HSRC-202508-03", "HSRC-202412-02", "Firmware V5.9.72 build 260713"
    }
    # The feed's copies differ from the pages' (their URLs): as new, the vendor's pages win.
    assert first.items == {"new": 13, "revised": 0}
    assert first.sources["advrss"].startswith("3 items; 3 not stored, another source's copy is")
    assert _fixed_version(world, "HSRC-202109-01") == ("hik", "V5.5.800 build 210628")

    # The vendor revises the page (dates unchanged) and the listing shows a new date.
    _edit(
        world.sources / CMD_PAGE,
        CMD_ROW,
        CMD_ROW.replace("V5.5.800 (including V5.5.800)", "V5.7.13 (including V5.7.13)").replace(
            "V5.5.800 build 210628", "V5.7.14 build 240101"
        ),
    )
    _relist(world, "2021-09-18", "2026-11-30")
    revised = world.cycle(NOW + timedelta(hours=1))
    (alert,) = revised.alerts
    assert alert["item"]["id"] == "HSRC-202109-01" and revised.items == {"new": 0, "revised": 1}
    assert any("V5.7.14 build 240101" in c for c in alert["changes"])
    assert _fixed_version(world, "HSRC-202109-01") == ("hik", "V5.7.14 build 240101")

    # Only the feed's lastBuildDate changes: its old copy is read again and not stored.
    _edit(
        world.sources / "advisories.rss",
        "<lastBuildDate>Tue, 02 Sep 2025 09:05:00 +0800",
        "<lastBuildDate>Mon, 30 Nov 2026 18:00:00 +0800",
    )
    mirror = world.cycle(NOW + timedelta(hours=2))
    assert mirror.alerts == [] and mirror.items == {"new": 0, "revised": 0}
    assert "HSRC-202109-01" in mirror.sources["advrss"]
    assert _fixed_version(world, "HSRC-202109-01") == ("hik", "V5.7.14 build 240101")
    assert (
        "HSRC-202109-01: this copy is not stored: hik's copy (published 2021-09-18) is as new"
        " and comes from the vendor's own pages"
    ) in _warnings(world, "advrss")

    # The listing is read again later (a new date on it): the page is unchanged, no alert.
    _relist(world, "2026-11-30", "2026-12-01")
    later = world.cycle(NOW + timedelta(hours=3))
    assert later.alerts == [] and later.items == {"new": 0, "revised": 0}
    assert _fixed_version(world, "HSRC-202109-01") == ("hik", "V5.7.14 build 240101")
    with world.store() as store:
        assert len(store.items.revisions("HSRC-202109-01")) == 2


def test_a_newer_copy_from_a_mirror_replaces_and_an_older_page_does_not_roll_it_back(
    world: World,
) -> None:
    world.extra = _source("advrss", "advisory", "feed", world.sources / "advisories.rss")
    world.cycle()
    # The mirror carries a revision of 2026-11-29 the vendor's page does not show yet.
    rss = world.sources / "advisories.rss"
    feed_row = CMD_ROW.replace("\n            ", "\n      ")
    _edit(rss, feed_row, feed_row.replace("V5.5.800 build 210628", "V5.7.14 build 240101"))
    _edit(
        rss,
        "<tr><td>V1.0</td><td>2021-09-18</td><td>Initial release</td></tr>",
        "<tr><td>V1.0</td><td>2021-09-18</td><td>Initial release</td></tr>\n"
        "      <tr><td>V1.1</td><td>2026-11-29</td><td>Updated fixed versions</td></tr>",
    )
    newer = world.cycle(NOW + timedelta(hours=1))
    (alert,) = newer.alerts
    assert alert["item"]["id"] == "HSRC-202109-01" and newer.items["revised"] == 1
    assert _fixed_version(world, "HSRC-202109-01") == ("advrss", "V5.7.14 build 240101")
    # The vendor's older page is read again: it does not roll the mirror's revision back.
    _relist(world, "2021-09-18", "2026-11-30")
    again = world.cycle(NOW + timedelta(hours=2))
    assert again.alerts == [] and again.items == {"new": 0, "revised": 0}
    assert _fixed_version(world, "HSRC-202109-01") == ("advrss", "V5.7.14 build 240101")
    assert again.sources["hik"] == (
        "1 items; 1 not stored, another source's copy is kept: HSRC-202109-01"
        " (see `firmwatch sources`)"
    )
    assert (
        "HSRC-202109-01: this copy is not stored: advrss's copy (updated 2026-11-29) is newer"
        " than this one (published 2021-09-18)"
    ) in _warnings(world, "hik")


FIRMWARE_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Firmware mirror</title><link>https://example.net/</link>
<description>A mirror</description><lastBuildDate>{built}</lastBuildDate>
<item>
  <title>DS-2CD3xx1G2 Network Camera Firmware V5.9.72</title>
  <link>https://example.net/fw/v5-9-72/</link>
  <enclosure url="https://example.net/fw/IPC_G2_EN_STD_V5.9.72_260713.zip" type="application/zip"/>
  <description><![CDATA[
<p>Applied to: DS-2CD3321G2-I, DS-2CD3121G2-I, DS-2CD3021G2-IS</p>
<p>Version: V5.9.72 build 260713</p>
<p>Release date: 2026-07-13</p>
]]></description>
</item>
</channel></rss>
"""


def test_an_older_copy_of_a_firmware_release_from_another_source_is_not_stored(
    world: World,
) -> None:
    feed = world.sources / "fw.rss"
    feed.write_text(FIRMWARE_FEED.format(built="Mon, 30 Nov 2026 08:00:00 +0000"))
    world.extra = _source("fwrss", "firmware", "feed", feed)
    first = world.cycle()
    with world.store() as store:
        (stored,) = [i for i in store.items.all("firmware") if "V5.9.72" in i.key]
    # The index says 2026-07-20 and names a CVE; the mirror's copy (2026-07-13) is older.
    assert stored.data["source"] == "fw" and stored.data["cves"] == ["CVE-2024-47485"]
    assert first.items == {"new": 13, "revised": 0}
    assert "not stored" in first.sources["fwrss"]
    feed.write_text(FIRMWARE_FEED.format(built="Mon, 30 Nov 2026 10:00:00 +0000"))
    again = world.cycle(NOW + timedelta(hours=1))
    assert again.alerts == [] and again.items == {"new": 0, "revised": 0}
    with world.store() as store:
        assert len(store.items.revisions(stored.key)) == 1


def test_check_delivers_what_earlier_runs_left_due(world: World) -> None:
    """A setup that runs only `check` (from cron, no worker): alerts left due by an earlier run
    (queued with --no-deliver here; a receiver that did not answer, a crash) go out with the
    next check, though it queues nothing new; a check with nothing due says nothing of it."""
    world.config()
    config = ["check", "--config", str(world.root / "bot.toml")]
    assert main([*config, "--no-deliver"], out=io.StringIO()) == 0
    with world.store() as store:
        assert store.outbox.counts()["pending"] == 4
    later = io.StringIO()
    assert main(config, out=later) == 0
    assert "alerts: 0 enqueued" in later.getvalue()
    assert "delivery: sent 4 · retried 0 · dead 0" in later.getvalue()
    with world.store() as store:
        assert store.outbox.counts()["sent"] == 4
    quiet = io.StringIO()
    assert main(config, out=quiet) == 0
    assert "delivery:" not in quiet.getvalue()


def test_a_dry_run_on_a_new_setup_creates_no_store(world: World) -> None:
    """`check --dry-run` stores nothing: before any cycle it leaves no state file behind."""
    world.config()
    out = io.StringIO()
    assert main(["check", "--config", str(world.root / "bot.toml"), "--dry-run"], out=out) == 0
    assert "alerts: 4 would be sent" in out.getvalue()
    assert not (world.root / "state.json").exists()


def test_a_reminder_for_one_device_reads_in_the_singular(world: World) -> None:
    """The lab's one recorder was told "1 device in lab change support stage" and "1
    DS-96064NI-I16 at Lab enter security-only on 2027-03-01"."""
    world.fleets = FLEETS + """
[[fleets]]
name = "lab"
receivers = ["ops"]

[[fleets.devices]]
model = "DS-96064NI-I16"
firmware = "V4.30.100 build 240101"
count = 1
site = "Lab"

[[catalog]]
model = "DS-96064NI-I16"
launched = 2019-01-15
discontinued = 2027-03-01
"""
    day = datetime(2027, 2, 22, 9, tzinfo=UTC)
    (reminder,) = [d for d in world.cycle(day).alerts if d["kind"] == "lifecycle"]
    assert reminder["summary"] == (
        "1 device in lab: DS-96064NI-I16 enters security-only on 2027-03-01"
    )
    (finding,) = reminder["findings"]
    assert finding["risk_note"].startswith(
        "1 DS-96064NI-I16 at Lab enters security-only on 2027-03-01:"
    )
    (entered,) = [
        d for d in world.cycle(day + timedelta(days=7)).alerts if d["kind"] == "lifecycle"
    ]
    assert entered["findings"][0]["risk_note"].startswith(
        "1 DS-96064NI-I16 at Lab entered security-only on 2027-03-01:"
    )


def test_a_reason_quoting_an_open_range_reads_as_english(world: World) -> None:
    """The PTZ camera's reason read "firmware V5.6.0 is in below V5.6.820"."""
    world.fleets = FLEETS + """
[[fleets]]
name = "ptz"
receivers = ["ops"]

[[fleets.devices]]
model = "DS-2DF8442IXS-AELWY(T5)"
firmware = "V5.6.0"
count = 2
site = "Gate"
"""
    cmd = _alerts(world.cycle())["HSRC-202109-01"]
    (ptz,) = [f for f in cmd["findings"] if f["fleet"] == "ptz"]
    assert ptz["reason"] == "firmware V5.6.0 is below V5.6.820"
    assert ptz["device_groups"][0]["reason"] == "firmware V5.6.0 is below V5.6.820"


def test_an_update_installed_everywhere_is_resolved_in_words_that_fit_an_update(
    world: World,
) -> None:
    """Once hq ran V5.9.72 everywhere, the update's resolution said "Firmware V5.9.72 build
    260713 no longer affects any device" and "no device group … is affected any more", as if
    the release were a vulnerability."""
    world.cycle()
    world.fleets = FLEETS.replace('"V5.5.0 build 200911"', '"V5.9.72 build 260713"').replace(
        '"V5.7.13 build 230822"', '"V5.9.72 build 260713"'
    )
    done = _alerts(world.cycle(NOW + timedelta(hours=1)))
    update = done["Firmware V5.9.72 build 260713"]
    assert update["resolved"] is True and update["resolution"] == "upgraded"
    assert "affect" not in update["summary"] and "affected" not in " ".join(update["changes"])
    assert update["summary"] == (
        "Resolved: no device of this receiver's fleets needs Firmware V5.9.72 build 260713"
        " any more"
    )
    advisory = done["HSRC-202109-01"]  # the advisory's own resolution keeps its words
    assert advisory["resolution"] == "fixed" and "no longer affects" in advisory["summary"]
