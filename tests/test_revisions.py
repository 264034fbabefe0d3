"""Items revised under a running setup, cycle after cycle: what each receiver is told again."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.pipeline import run_digest
from tests.test_pipeline import (
    FLEETS,
    NOW,
    World,
    _alerts,
    _edit,
    _relist,
    planning_route,
    sample_world,
)

NVR_PAGE = (
    "hikvision/en/support/cybersecurity/security-advisory/"
    "multiple-vulnerabilities-in-some-hikvision-storage-products-and-deepinmind-nvrs/index.html"
)
# A storage array on a build the advisory's rows name for both of its CVEs.
STORAGE = """
[[receivers]]
name = "ops"
type = "console"

[[fleets]]
name = "dc"
receivers = ["ops"]

[[fleets.devices]]
model = "DS-A71024"
firmware = "V1.1.5 build 250101"
count = 6
site = "DC"
"""


@pytest.fixture
def world(tmp_path: Path) -> World:
    return sample_world(tmp_path)


def _list_in_kev(world: World, cve: str, day: str) -> None:
    kev = world.sources / "kev.json"
    data = json.loads(kev.read_text())
    entry = dict(data["vulnerabilities"][1], cveID=cve, dateAdded=day, dueDate="2026-12-31")
    data["vulnerabilities"].append(entry)
    kev.write_text(json.dumps(data))


def _storage_alert(report_alerts: list[dict[str, Any]]) -> dict[str, Any]:
    (doc,) = [d for d in report_alerts if d["item"]["id"] == "HSRC-202508-03"
              and d["findings"][0]["fleet"] == "dc"]
    return doc


def test_a_second_cve_of_an_advisory_listed_in_kev_escalates_the_alert(world: World) -> None:
    """An advisory whose CVEs affect the devices, one already exploited: the other one newly
    listed in KEV is worse news, told as an escalation naming it."""
    world.fleets = STORAGE
    _list_in_kev(world, "CVE-2025-39250", "2026-10-01")
    first = _storage_alert(world.cycle().alerts)
    assert [(c["id"], c["kev"]) for c in first["findings"][0]["cves"]] == [
        ("CVE-2025-39250", "2026-10-01"), ("CVE-2025-39251", None)]
    _list_in_kev(world, "CVE-2025-39251", "2026-11-29")
    (escalated,) = world.cycle(NOW + timedelta(hours=1)).alerts
    assert escalated["kind"] == "exploited"
    assert escalated["changes"] == ["CVE-2025-39251 listed in CISA KEV on 2026-11-29"]
    assert world.cycle(NOW + timedelta(hours=2)).alerts == []  # said once


def test_a_cve_the_vendor_takes_off_the_devices_is_said(world: World) -> None:
    """The vendor corrects the advisory: CVE-2025-39250 (9.8) no longer names the storage array,
    CVE-2025-39251 (5.3) still does. The alert's severity falls from critical to medium and
    the update says why; a CVE that a silence hides, by contrast, is not news."""
    world.fleets = STORAGE
    first = _storage_alert(world.cycle().alerts)
    assert first["severity"] == "critical"
    _edit(world.sources / NVR_PAGE, "<td>DS-A71024/48/72R</td>", "<td>DS-A71048</td>")
    _relist(world, "2025-09-02", "2026-11-30")
    (revised,) = world.cycle(NOW + timedelta(hours=1)).alerts
    assert revised["severity"] == "medium"
    assert revised["changes"] == ["CVE-2025-39250 no longer applies"]

    _edit(world.sources / NVR_PAGE, "<td>DS-A71048</td>", "<td>DS-A71024/48/72R</td>")
    _relist(world, "2026-11-30", "2026-12-01")
    (again,) = world.cycle(NOW + timedelta(hours=2)).alerts
    assert again["changes"] == ["CVE-2025-39250 added"] and again["severity"] == "critical"
    with world.store() as store:
        store.silences.add([{"name": "cve", "value": "CVE-2025-39250"}],
                           ends_at=NOW + timedelta(days=30), author="U1", comment="accepted",
                           now=NOW)
    assert world.cycle(NOW + timedelta(hours=3)).alerts == []
    # A device group the silence leaves alone is news, and still not the silenced CVE.
    world.fleets = STORAGE + STORAGE.split("[[fleets]]")[1].replace('"dc"', '"dc2"').replace(
        '"DC"', '"DC2"').join(["[[fleets]]", ""])
    (dc2,) = world.cycle(NOW + timedelta(hours=4)).alerts
    assert dc2["changes"] == ["1 more device group affected: DS-A71024 at DC2 (dc2)"]


def test_devices_no_longer_affected_while_others_still_are_are_told(world: World) -> None:
    """Two NVR groups share the alert; one is upgraded past the fix: the receiver hears that one
    group is no longer affected (the other still is, so the item is not resolved)."""
    site_d = FLEETS.replace("[[catalog]]", (
        '[[fleets.devices]]\nmodel = "iDS-7716NXI-M4/X"\nfirmware = "V4.50.000"\ncount = 4\n'
        'site = "Site D"\n\n[[catalog]]'), 1)
    world.fleets = site_d
    first = _alerts(world.cycle())["HSRC-202508-03"]
    assert first["totals"]["devices"] == 6
    world.fleets = site_d.replace('"V4.50.000"', '"V4.62.210 build 250812"')
    report = world.cycle(NOW + timedelta(hours=1))
    (partly,) = report.alerts
    assert report.findings["resolved"] == 1
    assert partly["item"]["id"] == "HSRC-202508-03" and "resolved" not in partly
    assert partly["changes"] == ["1 device group no longer affected: iDS-7716NXI-M4/X at Site D"]
    assert partly["totals"]["devices"] == 2
    # The remaining group moves to other affected firmware: both halves are said.
    world.fleets = site_d.replace('"V4.50.000"', '"V4.62.210 build 250812"').replace(
        'firmware = "V4.62.200"', 'firmware = "V4.62.100"')
    (moved,) = world.cycle(NOW + timedelta(hours=2)).alerts
    assert moved["changes"] == ["1 more device group affected: iDS-7716NXI-M4/X at Site B",
                                "1 device group no longer affected: iDS-7716NXI-M4/X at Site B"]
    assert world.cycle(NOW + timedelta(hours=3)).alerts == []


HIKCENTRAL = "improper-authorization-vulnerability-in-hikcentral-products/index.html"


def test_an_advisory_without_an_sn_no_keeps_its_identity_when_its_link_gains_a_query(
    world: World,
) -> None:
    """The HikCentral advisory shows no SN No.: its page is its identity. The listing's link to
    it gains a query string (a language parameter): the same advisory, not a second one."""
    world.fleets = FLEETS.replace("[[catalog]]", (
        '[[fleets.devices]]\nmodel = "HikCentral Professional"\nfirmware = "2.5.0.20230101"\n'
        'count = 1\nsite = "HQ"\n\n[[catalog]]'), 1)
    first = world.cycle()
    (hikcentral,) = [d for d in first.alerts if "hikcentral" in d["item"]["key"]]
    assert hikcentral["item"]["key"].endswith(HIKCENTRAL)
    listing = world.sources / "hikvision" / "listing.html"
    _edit(listing, f'{HIKCENTRAL}"', f'{HIKCENTRAL}?lang=en"')
    _edit(listing, f'{HIKCENTRAL}"', f'{HIKCENTRAL}?lang=en"')
    _relist(world, "2024-06-14", "2026-11-30")
    report = world.cycle(NOW + timedelta(hours=1))
    assert report.alerts == [] and report.items["new"] == 0
    with world.store() as store:
        assert store.items.count("advisory") == 4
        assert store.findings.count("open") == first.findings["open"]


def test_a_digest_says_what_changed_in_the_items_it_lists_again(world: World) -> None:
    """planning hears of security-only models through a daily digest. An item it was told of in
    one digest is revised: the next digest says what changed, as an immediate alert would. An
    item revised before its first digest went out is news as it is: nothing 'changed' for a
    receiver that never heard of it."""
    world.extra = planning_route("daily")
    day = date(2026, 11, 30)
    assert world.cycle(on=day).digested == 2
    with world.store() as store:
        assert run_digest(store, world.config(), NOW + timedelta(hours=1)) == 1
    world.fleets = FLEETS.replace("count = 40", "count = 41")
    world.cycle(NOW + timedelta(hours=2), on=day)
    world.fleets = FLEETS.replace("count = 40", "count = 42")
    world.cycle(NOW + timedelta(hours=3), on=day)  # revised again before the digest
    with world.store() as store:
        assert run_digest(store, world.config(), NOW + timedelta(days=1)) == 1
        second = max(store.outbox.all(receiver="planning"), key=lambda e: e.id).payload
    assert sorted(second["changes"]) == [
        "Firmware V5.9.72 build 260713: device count: 40 → 41 (DS-2CD3321G2-I at Site A)",
        "Firmware V5.9.72 build 260713: device count: 41 → 42 (DS-2CD3321G2-I at Site A)",
        "HSRC-202109-01: device count: 40 → 41 (DS-2CD3321G2-I at Site A)",
        "HSRC-202109-01: device count: 41 → 42 (DS-2CD3321G2-I at Site A)",
    ]

    # A new receiver's first digest: revised before it went out, still its first news.
    world.extra = planning_route("daily").replace('"planning"]', '"planning", "late"]') + (
        '[[receivers]]\nname = "late"\ntype = "console"\n')
    assert world.cycle(NOW + timedelta(days=1, hours=1), on=day).digested == 2
    world.fleets = FLEETS.replace("count = 40", "count = 43")
    world.cycle(NOW + timedelta(days=1, hours=2), on=day)
    with world.store() as store:
        assert run_digest(store, world.config(), NOW + timedelta(days=2)) == 2
        (first,) = store.outbox.all(receiver="late")
    assert first.payload["changes"] == []


def test_an_unscored_cve_passes_a_threshold_until_its_score_falls_below_it(world: World) -> None:
    """A fleet that hears only of high and above, with the critical CVE silenced: the other CVE
    has no score yet, so it may be severe and is told; scored 5.3 later, it is below the
    threshold and nothing more is sent about it."""
    world.fleets = STORAGE.replace('receivers = ["ops"]',
                                   'receivers = ["ops"]\nmin_severity = "high"')
    scored = ("<p><strong>CVE-2025-39251:</strong></p>\n      <p>Base score: 5.3</p>\n"
              "      <p>Vector: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N</p>")
    _edit(world.sources / NVR_PAGE, scored, "<p><strong>CVE-2025-39251:</strong></p>")
    with world.store() as store:
        store.silences.add([{"name": "cve", "value": "CVE-2025-39250"}],
                           ends_at=NOW + timedelta(days=30), author="U1", comment="accepted",
                           now=NOW)
    first = _storage_alert(world.cycle().alerts)
    assert [(c["id"], c["score"]) for c in first["findings"][0]["cves"]] == [
        ("CVE-2025-39251", None)]
    _edit(world.sources / NVR_PAGE, "<p><strong>CVE-2025-39251:</strong></p>", scored)
    _relist(world, "2025-09-02", "2026-11-30")
    assert world.cycle(NOW + timedelta(hours=1)).alerts == []
    with world.store() as store:  # still open: the score only put it below the threshold
        assert store.findings.count("open") == 1
