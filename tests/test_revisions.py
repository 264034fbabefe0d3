"""Items revised under a running setup, cycle after cycle: what each receiver is told again."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.test_pipeline import NOW, World

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
def world(tmp_path: Path) -> Iterator[World]:
    samples = resources.files("bot").joinpath("samples/sources")
    with resources.as_file(samples) as path:
        shutil.copytree(path, tmp_path / "sources")
    yield World(tmp_path)


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
