"""Fleet imports and bot.toml sync against every backend: all-or-nothing and idempotent."""

from __future__ import annotations

from datetime import date

import pytest

from bot.config import parse
from bot.fleets import Fleet, FleetError, declared_fleets, make_group, parse_fleet_csv
from state import Store
from state.fleetsync import import_fleets, sync_declared_fleets
from tests.conftest import DATA


def _file(name: str) -> str:
    return (DATA / "fleets" / name).read_text()


def _groups(store: Store) -> set[tuple[str, str, str | None, int, str]]:
    return {(g.fleet, g.model, g.firmware, g.count, g.site) for g in store.fleets.groups()}


def test_import_is_idempotent_and_merges_changes(store: Store) -> None:
    first = import_fleets(store, parse_fleet_csv(_file("fleets.csv"), "fleets.csv"))
    assert first.fleets_added == ["hq-campus", "warehouses"] and first.groups_added == 6
    assert len(first.catalog_updated) == 3
    again = import_fleets(store, parse_fleet_csv(_file("fleets.csv"), "fleets.csv"))
    assert not again.changed and again.groups_unchanged == 6
    assert again.describe().startswith("nothing changed")
    changed = import_fleets(store, parse_fleet_csv(_file("fleets-changed.csv"), "changed.csv"))
    assert (changed.groups_added, changed.groups_updated, changed.groups_removed) == (1, 1, 0)
    assert ("hq-campus", "DS-2CD3321G2-I", "V5.7.13 build 230822", 44, "Site A") in _groups(store)
    assert len(store.fleets.groups()) == 7, "merging keeps the groups the file does not name"


def test_replace_makes_each_named_fleet_hold_exactly_the_file(store: Store) -> None:
    import_fleets(store, parse_fleet_csv(_file("fleets.csv"), "fleets.csv"))
    changes = import_fleets(store, parse_fleet_csv(_file("fleets-changed.csv"), "changed.csv"),
                            replace=True)
    assert (changes.groups_added, changes.groups_updated, changes.groups_removed) == (1, 1, 1)
    assert {g.fleet for g in store.fleets.groups()} == {"hq-campus", "warehouses"}
    assert len(store.fleets.groups("hq-campus")) == 3
    assert len(store.fleets.groups("warehouses")) == 3, "fleets not in the file are untouched"


def test_lifecycle_dates_merge_per_field_and_contradictions_change_nothing(store: Store) -> None:
    head = "fleet,model,firmware,count,site,launched,discontinued\n"
    import_fleets(store, parse_fleet_csv(head + "hq,DS-2CD3321G2-I,V5,1,A,2021-03-15,\n", "a"))
    import_fleets(store, parse_fleet_csv(head + "hq,DS-2CD3321G2-I,V5,1,A,,2026-01-31\n", "b"))
    entry = store.catalog.get("DS-2CD3321G2-I")
    assert entry is not None and (entry.launched, entry.discontinued) == (
        date(2021, 3, 15), date(2026, 1, 31))
    bad = parse_fleet_csv(head + "hq,DS-2CD3321G2-I,V5,1,A,,2020-01-01\n"
                          + "new-fleet,DS-2CD2143G2-I,,1,B,,\n", "c")
    with pytest.raises(FleetError, match="c line 2: DS-2CD3321G2-I: discontinued 2020-01-01"):
        import_fleets(store, bad)
    assert store.fleets.get("new-fleet") is None, "a refused import changes nothing"
    assert store.catalog.get("DS-2CD3321G2-I") == entry


def test_bot_toml_fleets_are_synced_declaratively(store: Store) -> None:
    import_fleets(store, parse_fleet_csv(_file("fleets.csv"), "fleets.csv"))
    toml = """
[[fleets]]
name = "hq-campus"
description = "Head office"
[[fleets]]
name = "lab"
[[fleets.devices]]
model = "DS-2CD3321G2-I"
count = 2
"""
    declared = declared_fleets(parse(toml, "bot.toml").fleets, "bot.toml")
    changes = sync_declared_fleets(store, declared)
    assert (changes.fleets_added, changes.fleets_updated) == (["lab"], ["hq-campus"])
    assert len(store.fleets.groups("hq-campus")) == 3, "no devices listed: imported groups stay"
    assert not sync_declared_fleets(store, declared).changed
    lab = store.fleets.get("lab")
    assert lab is not None and lab.origin == "config"
    changes = sync_declared_fleets(store, declared[:1])
    assert changes.fleets_removed == ["lab"] and store.fleets.get("lab") is None
    assert store.fleets.get("warehouses") is not None, "imported fleets are never synced away"


def test_sync_replaces_the_devices_a_fleet_lists(store: Store) -> None:
    store.fleets.put(Fleet("lab", origin="config"))
    store.fleets.put_groups([make_group("lab", "DS-2CD2143G2-I", None, 9)])
    toml = '[[fleets]]\nname = "lab"\n[[fleets.devices]]\nmodel = "DS-2CD3321G2-I"\ncount = 2\n'
    changes = sync_declared_fleets(store, declared_fleets(parse(toml, "t").fleets, "t"))
    assert (changes.groups_added, changes.groups_removed) == (1, 1)
    assert _groups(store) == {("lab", "DS-2CD3321G2-I", None, 2, "")}
