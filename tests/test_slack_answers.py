"""What the Slack answers say about a model agrees with the alerts: per-model CVE verdicts, fresh
device counts after a fleet is registered, and models shown as the vendor writes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.catalog import Catalog, CatalogEntry
from bot.fleets import Fleet, make_group
from bot.items import Advisory, AffectedRow, CveInfo, CvssScore, to_json_dict
from bot.modelcard import model_card
from bot.policy import Promise
from bot.slack.fleetviews import open_item_lines
from bot.slack.knowledge import ItemIndex
from bot.slack.lookup import Exposure, advisory_line, card_text
from state.fleetsync import replace_fleet
from tests.slackharness import assert_fits, texts
from tests.slackworld import NOW, PERSON, World, fill, world

NVR = "iDS-7716NXI-M4/X"
ADVISORY = "HSRC-202508-03"  # CVE-2025-39250 (9.8) for other rows; CVE-2025-39251 (5.3) for NVRs


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    with world(tmp_path) as running:
        yield running


def answer(w: World, text: str) -> str:
    (response,) = w.command(text)[2]
    assert_fits(response)
    return texts(response)


def line_of(text: str, advisory: str) -> str:
    found = [line for line in text.split("\n") if f"{advisory}" in line and line.startswith("•")]
    assert found, text
    return found[0]


def alert_finding(w: World, advisory: str, model: str) -> dict[str, Any]:
    """The finding entry of the queued alert document for the advisory and model."""
    for entry in w.store.outbox.all():
        if entry.payload["item"]["id"] != advisory:
            continue
        for f in entry.payload["findings"]:
            if any(g["model"] == model for g in f["device_groups"]):
                return dict(f)
    raise AssertionError(f"no alert for {advisory} and {model}")


def test_lookup_line_says_what_the_alert_for_the_same_model_says(w: World) -> None:
    doc = alert_finding(w, ADVISORY, NVR)
    assert [c["id"] for c in doc["cves"]] == ["CVE-2025-39251"]
    line = line_of(answer(w, f"lookup {NVR}"), ADVISORY)
    assert f"CVSS {doc['score']:.1f} {doc['severity']}" in line, line
    assert f"fix promised: {doc['fix_promised']}" in line, line
    assert f"*{doc['devices']} of your devices affected* (hq)" in line, line
    assert "9.8" not in line and "critical" not in line


def test_lookup_of_a_model_nobody_runs_judges_only_the_rows_naming_it(w: World) -> None:
    line = line_of(answer(w, "lookup iDS-7732NXI-M8/X"), ADVISORY)
    assert "CVSS 5.3 medium" in line, line


def test_fleet_and_home_count_an_advisory_at_its_findings_severity(w: World) -> None:
    assert answer(w, "fleet HQ") == answer(w, "fleet hq")  # as people type it: one fleet
    line = line_of(answer(w, "fleet hq"), ADVISORY)
    assert "CVSS 5.3 medium" in line and "critical" not in line, line
    assert w.event({"type": "app_home_opened", "user": PERSON, "channel": "D0HOME",
                    "tab": "home", "event_ts": "1700000000.1"}) == 200
    assert w.fake.wait(lambda: len(w.fake.api("views.publish")) == 1)
    shown = texts(w.fake.api("views.publish")[0]["view"])
    assert ":red_circle: *critical*: 1 advisory, 1 device group" in shown, shown
    assert ":large_yellow_circle: *medium*: 1 advisory, 1 device group" in shown, shown


def test_a_fleet_registered_after_the_cycle_is_counted_or_said_to_be_unevaluated(
    w: World, tmp_path: Path
) -> None:
    replace_fleet(w.store, Fleet("yard"), [make_group("yard", NVR, "V4.62.200", 3, "Gate")])
    line = line_of(answer(w, f"lookup {NVR}"), ADVISORY)
    assert "*5 of your devices affected* (hq, yard)" in line, line
    shown = answer(w, "fleet yard")
    assert "not evaluated yet" in shown and "firmwatch check" in shown, shown
    assert "<!date^" in shown, shown  # in each reader's timezone, not a raw ISO time
    # `advisory` counts the stored findings: it says which fleets they do not count yet (lookup,
    # judging live, said 5 devices where it said hq's 2, without a word).
    told = answer(w, f"advisory {ADVISORY}")
    assert "Not evaluated yet: yard" in told, told
    assert "Open findings (0" not in shown
    home = answer(w, "fleet hq")
    assert "not evaluated yet" not in home
    fill(tmp_path, w.store, w.settings)  # the next cycle
    assert "Not evaluated yet" not in answer(w, f"advisory {ADVISORY}")
    shown = answer(w, "fleet yard")
    assert "not evaluated yet" not in shown and "Open findings (1" in shown, shown
    assert f"*{ADVISORY}* CVSS 5.3 medium" in shown


def test_models_and_advisories_are_shown_as_written(w: World) -> None:
    with w.store.transaction():
        replace_fleet(w.store, Fleet("vms"), [
            make_group("vms", "HikCentral Professional", "V2.5.0", 1, "DC")])
    assert "HikCentralPROFESSIONAL" not in answer(w, "fleet vms")
    assert "HikCentral Professional" in answer(w, "fleet vms")
    card = answer(w, "lookup HikCentral Professional")
    assert "HikCentralPROFESSIONAL" not in card and "HikCentral Professional" in card
    hit = answer(w, f"advisory {ADVISORY}")
    assert "IDS-7716" not in hit and f"({NVR})" in hit, hit


def test_an_advisory_without_sn_no_is_named_by_its_title() -> None:
    key = "file:///samples/some-advisory/index.html"
    nameless = Advisory(key=key, title="Security Advisory - Some Made-Up Products", url=key,
                        cves=(CveInfo("CVE-2099-0001", (CvssScore("3.1", 7.5, "High"),)),),
                        rows=(AffectedRow(NVR, "", "All versions", ""),))
    index = ItemIndex([to_json_dict(nameless)])
    (line,) = open_item_lines({key: 2}, index)
    assert "file:" not in line and "*Security Advisory - Some Made-Up Products*" in line, line
    card = model_card(NVR, Catalog([]), NOW.date())
    shown = advisory_line(nameless, index.severity[key], card, None, False)
    assert "file:" not in shown and "Some Made-Up Products" in shown, shown


def test_devices_with_a_partial_promise_are_said_to_have_one() -> None:
    """A security-only group with a severe and a mild CVE of one advisory: the card's
    "fix promised" says partial, as the alert does (not "no")."""
    assert Exposure(promises=[Promise.PARTIAL]).promise is Promise.PARTIAL
    assert Exposure(promises=[Promise.PARTIAL, Promise.NO]).promise is Promise.PARTIAL


def test_card_of_a_model_not_launched_yet_says_when_its_stage_starts() -> None:
    """A launch still ahead: the stage starts on it ("from"), it has not been so "since"."""
    catalog = Catalog([CatalogEntry("DS-2CD3321G2-I", date(2027, 1, 10), None, "t")])
    shown = card_text(model_card("DS-2CD3321G2-I", catalog, date(2026, 11, 28)))
    assert "*intense* from 2027-01-10 (not launched yet), dynamic from 2029-01-10" in shown, shown
