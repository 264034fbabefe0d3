"""``firmwatch findings``: the stored findings as a work list, after real cycles on the samples."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import timedelta
from pathlib import Path

import pytest

from bot import cli
from notifiers.console import ConsoleNotifier
from tests.test_pipeline import FLEETS, NOW, World, sample_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    found = sample_world(tmp_path)
    found.cycle()
    return found


def findings(world: World, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["findings", "--config", str(world.root / "bot.toml"), *argv], out=out,
                    err=err)
    return code, out.getvalue(), err.getvalue()


TITLE = "Security Advisory - Command Injection Vulnerability in the Web Server of Some"


def _titled(tmp_path: Path, lead: str) -> World:
    """The sample world with HSRC-202109-01's page title led by ``lead`` (hostile text)."""
    world = sample_world(tmp_path)
    page = next((world.sources / "hikvision").rglob("command-injection*/index.html"))
    heading = '<h1 class="advisory-detail__title">'
    page.write_text(page.read_text(encoding="utf-8").replace(
        f"{heading}{TITLE}", f"{heading}{lead}{TITLE}"), encoding="utf-8")
    return world


def test_the_open_findings_come_most_urgent_first_a_row_per_device_group(world: World) -> None:
    code, out, _ = findings(world)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["FLEET", "SITE", "MODEL", "FIRMWARE", "DEVICES", "ITEM"]
    first = lines[1].split()
    # Exploited in the wild first: the 40 cameras at Site A under HSRC-202109-01.
    assert first[:7] == ["hq", "Site", "A", "DS-2CD3321G2-I", "V5.5.0", "build", "200911"]
    assert "HSRC-202109-01" in lines[1] and "KEV" in lines[1] and "V5.5.800" in lines[1]
    assert lines[-1].startswith(f"{len(lines) - 2} rows · ")
    assert any("possibly-affected" in line and "DS-7608NI-I2/8P" in line for line in lines)
    assert any("iDS-7716NXI-M4/X" in line for line in lines)  # as the vendor writes it


def test_csv_carries_every_field_for_a_spreadsheet(world: World) -> None:
    code, out, _ = findings(world, "--csv", "--kind", "advisory")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and {r["kind"] for r in rows} == {"advisory"}
    kev = rows[0]
    assert kev["item"] == "HSRC-202109-01" and kev["kev"] == "2022-01-10"
    assert kev["devices"] == "40" and kev["site"] == "Site A" and kev["state"] == "open"
    assert kev["risk_note"].startswith("Exploited in the wild (CISA KEV since 2022-01-10).")
    assert kev["cves"] == "CVE-2021-36260" and kev["fixed_version"].startswith("V5.5.800")
    assert kev["url"].startswith("file://") and kev["title"].startswith("Security Advisory")
    _, as_json, _ = findings(world, "--json", "--kind", "advisory")
    assert [r["item"] for r in json.loads(as_json)] == [r["item"] for r in rows]


def test_a_hostile_title_is_text_in_the_spreadsheet(tmp_path: Path) -> None:
    """Titles, notes and links come from pages firmwatch does not control: a title a spreadsheet
    would run as a formula is written with a leading apostrophe."""
    hostile = _titled(tmp_path, '=HYPERLINK("http://x.example/?","")')
    hostile.cycle()
    _, out, _ = findings(hostile, "--csv", "--kind", "advisory")
    rows = {r["item"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["HSRC-202109-01"]["title"].startswith("'=HYPERLINK(")
    _, out, _ = findings(hostile, "--json", "--kind", "advisory")  # JSON carries it as it is
    assert any(r["title"].startswith("=HYPERLINK(") for r in json.loads(out))


def test_filters_and_states(world: World) -> None:
    _, out, _ = findings(world, "--fleet", "nobody")
    assert out == "no open findings in fleet nobody\n"
    _, out, _ = findings(world, "--kind", "firmware", "--json")
    updates = json.loads(out)
    assert updates and all(r["status"] == "update-available" for r in updates)
    assert all(r["item"].startswith("Firmware V") and r["download_url"] for r in updates)
    # The NVRs upgraded past the fix: their finding is resolved, listed under --state resolved.
    world.fleets = FLEETS.replace('firmware = "V4.62.200"', 'firmware = "V4.62.210 build 250812"')
    world.cycle(NOW + timedelta(hours=1))
    _, out, _ = findings(world, "--state", "resolved", "--json")
    (resolved,) = json.loads(out)
    assert resolved["item"] == "HSRC-202508-03" and resolved["state"] == "resolved"
    assert resolved["firmware"] == "V4.62.200"  # the devices as they were when found
    _, out, _ = findings(world, "--json")
    assert "HSRC-202508-03" not in {r["item"] for r in json.loads(out)}


def test_a_new_setup_has_no_findings_and_gets_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = tmp_path / "bot.toml"
    config.write_text('[state]\nurl = "tinydb:///state/fw.json"\n', encoding="utf-8")
    out = io.StringIO()
    assert cli.main(["findings", "--config", str(config)], out=out) == 0
    assert out.getvalue() == "no open findings\n" and not (tmp_path / "state").exists()


def test_a_hostile_title_cannot_write_terminal_escapes(tmp_path: Path) -> None:
    """An ANSI escape (or another control character) in a page firmwatch reads never reaches a
    terminal: not in the alert the console receiver prints, nor in the work list (a fleet's site
    typed with one, neither); bidirectional overrides, which show text in another order than it
    is, go too."""
    hostile = _titled(tmp_path, "\x1b]0;owned\x07\x1b[2J\u202e\x9b")
    hostile.fleets = FLEETS.replace('site = "Site A"', 'site = "Site A\\u001b[8m"')
    report = hostile.cycle()
    (doc,) = [d for d in report.alerts if d["item"]["id"] == "HSRC-202109-01"]
    shown = ConsoleNotifier("ops").render(doc)
    _, table, _ = findings(hostile, "--kind", "advisory")
    for text in (shown, table):
        assert not [c for c in text if unicodedata.category(c) == "Cc" and c != "\n"], text
        assert "\u202e" not in text
    assert f"]0;owned[2J{TITLE}" in shown and "at Site A[8m" in shown and "Site A[8m" in table
    assert doc["item"]["title"].startswith("\x1b]0;owned\x07"), "stored and sent as it is"
