"""The fleet registry's pure part: CSV validation, group keys, export, bot.toml fleets."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.catalog import CatalogEntry
from bot.config import ConfigError, parse
from bot.fleets import (
    FleetError,
    declared_fleets,
    export_csv,
    group_key,
    make_group,
    parse_fleet_csv,
)
from tests.conftest import DATA, case_id, load_cases


def _show(g: Any) -> str:
    text = f"{g.fleet}|{g.model}|{g.firmware or ''}|{g.count}|{g.site}"
    return text + (f"|{','.join(g.tags)}|{','.join(g.serials)}" if g.tags or g.serials else "")


@pytest.mark.parametrize("case", load_cases("fleets/csv.toml"), ids=case_id)
def test_fleet_csv(case: dict[str, Any]) -> None:
    if "problems" in case:
        with pytest.raises(FleetError) as caught:
            parse_fleet_csv(case["text"], "t.csv")
        assert list(caught.value.problems) == case["problems"]
        return
    parsed = parse_fleet_csv(case["text"], "t.csv")
    assert [_show(g) for g in parsed.groups] == case["groups"]
    assert list(parsed.warnings) == case.get("warnings", [])


def test_the_sample_file_gives_groups_and_lifecycle_dates() -> None:
    parsed = parse_fleet_csv((DATA / "fleets" / "fleets.csv").read_text(), "fleets.csv")
    assert parsed.fleets == ("hq-campus", "warehouses")
    assert sum(g.count for g in parsed.groups) == 88
    assert parsed.catalog == (
        CatalogEntry("DS-2CD3321G2-I", date(2021, 3, 15), None, "fleets.csv line 3"),
        CatalogEntry("DS-96064NI-I16", date(2019, 1, 15), date(2027, 3, 1), "fleets.csv line 5"),
        CatalogEntry("DS-2CD7326G0-IZS", date(2016, 9, 1), date(2021, 11, 26),
                     "fleets.csv line 9"),
    )
    ids = next(g for g in parsed.groups if g.model.startswith("IDS"))
    assert (ids.model, ids.model_as_written) == ("IDS-7716NXI-M4/X", "iDS-7716NXI-M4/X")


def test_group_keys_are_stable_and_fold_spacing_and_case() -> None:
    key = group_key("hq-campus", "DS-2CD3321G2-I", "V5.7.13 build 230822", "Site A")
    assert key == "bf458816f13bce2a", "group keys are stored: never change how they are made"
    assert group_key("hq-campus", "ds-2cd3321g2-i", "v5.7.13  BUILD 230822", " Site  A") == key
    assert group_key("hq-campus", "DS-2CD3321G2-I", "V5.7.13 build 230822", "site a") != key
    assert group_key("hq-campus", "DS-2CD3321G2-I", None, "Site A") == group_key(
        "hq-campus", "DS-2CD3321G2-I", "", "Site A")


def test_firmware_is_parsed_lazily() -> None:
    assert str(make_group("hq", "DS-2CD3321G2-I", "V5.7.13_230822", 1).version()) == (
        "V5.7.13 build 230822")
    assert make_group("hq", "DS-2CD3321G2-I", "latest", 1).version() is None
    assert make_group("hq", "DS-2CD3321G2-I", None, 1).version() is None


_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,10}", fullmatch=True).map(
    lambda s: " ".join(s.split()))
_groups = st.builds(
    make_group,
    fleet=_names.filter(bool),
    model=st.sampled_from(["DS-2CD3321G2-I", "iDS-7716NXI-M4/X", "DS-2CD2121G0-I(W)(S)"]),
    firmware=st.one_of(st.none(), st.sampled_from(["V5.7.13 build 230822", "V4.30.096", "x,y"])),
    count=st.integers(1, 1_000_000),
    site=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12),
    tags=st.lists(st.sampled_from(["outdoor", "critical"]), unique=True, max_size=2),
)


@given(st.lists(_groups, max_size=12, unique_by=lambda g: g.key))
def test_export_then_import_gives_the_same_groups(groups: list[Any]) -> None:
    catalog = {"DS-2CD3321G2-I": CatalogEntry("DS-2CD3321G2-I", date(2021, 3, 15), None, "x")}
    parsed = parse_fleet_csv(export_csv(groups, catalog), "export.csv")
    assert sorted(parsed.groups, key=lambda g: g.key) == sorted(groups, key=lambda g: g.key)
    if any(g.model == "DS-2CD3321G2-I" for g in groups):
        assert [(e.pattern, e.launched) for e in parsed.catalog] == [
            ("DS-2CD3321G2-I", date(2021, 3, 15))]


def test_fleets_from_bot_toml() -> None:
    settings = parse(
        """
[[fleets]]
name = "hq"
receivers = []
min_severity = "high"
[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.7.13"
count = 4

[[fleets]]
name = "cmdb-fed"
""", "bot.toml")
    hq, fed = declared_fleets(settings.fleets, "bot.toml")
    assert (hq.fleet.origin, hq.fleet.min_severity) == ("config", "high")
    assert hq.groups is not None and [g.count for g in hq.groups] == [4]
    assert fed.groups is None, "a fleet without devices leaves its imported groups alone"


def test_bad_devices_in_bot_toml_name_the_key() -> None:
    text = """
[[fleets]]
name = "hq"
[[fleets.devices]]
model = "DS-2CD3321G2-I"
[[fleets.devices]]
model = "??"
[[fleets.devices]]
model = "ds-2cd3321g2-i"
"""
    with pytest.raises(ConfigError) as caught:
        parse(text, "bot.toml")  # an unreadable model number is the file's own problem
    assert [p.split(": ")[1] for p in caught.value.problems] == ["fleets[0].devices[1].model"]
    settings = parse(text.replace('model = "??"\n', 'model = "DS-96064NI-I16"\n'), "bot.toml")
    with pytest.raises(ConfigError) as caught:
        declared_fleets(settings.fleets, "bot.toml")
    assert [p.split(":")[1] for p in caught.value.problems] == [" fleets[0].devices[2]"]
    assert "the same model, firmware and site as an earlier device" in caught.value.problems[0]
