"""Fleet imports and bot.toml sync against every backend: all-or-nothing and idempotent."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from bot.config import parse
from bot.fleets import Fleet, FleetError, declared_fleets, make_group, parse_fleet_csv
from bot.slack.subscriptions import subscribe, subscriptions
from state import Store
from state.fleetsync import evaluated, import_fleets, sync_declared_fleets, unevaluated
from tests.conftest import DATA

T0 = datetime(2026, 12, 1, tzinfo=UTC)


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


def test_a_fleet_synced_away_takes_its_slack_channels_with_it(store: Store) -> None:
    """A fleet dropped from bot.toml kept its channels (as `fleet remove` and the REST API's
    DELETE no longer do): a fleet made later under its name, another customer's, inherited a
    channel shared with the first."""
    toml = '[[fleets]]\nname = "lab"\n[[fleets.devices]]\nmodel = "DS-2CD3321G2-I"\ncount = 2\n'
    sync_declared_fleets(store, declared_fleets(parse(toml, "bot.toml").fleets, "bot.toml"))
    subscribe(store, "lab", "C0LABOPS", T0)
    subscribe(store, "hq-campus", "C0HQOPS", T0)
    changes = sync_declared_fleets(store, [])
    assert changes.fleets_removed == ["lab"]
    assert subscriptions(store) == {"hq-campus": ["C0HQOPS"]}


def test_sync_replaces_the_devices_a_fleet_lists(store: Store) -> None:
    store.fleets.put(Fleet("lab", origin="config"))
    store.fleets.put_groups([make_group("lab", "DS-2CD2143G2-I", None, 9, origin="config")])
    toml = '[[fleets]]\nname = "lab"\n[[fleets.devices]]\nmodel = "DS-2CD3321G2-I"\ncount = 2\n'
    changes = sync_declared_fleets(store, declared_fleets(parse(toml, "t").fleets, "t"))
    assert (changes.groups_added, changes.groups_removed) == (1, 1)
    assert _groups(store) == {("lab", "DS-2CD3321G2-I", None, 2, "")}


HQ_DECLARED = """
[[fleets]]
name = "hq-campus"
description = "Head office"
min_severity = "high"
[[fleets.devices]]
model = "DS-2CD2143G2-I"
count = 2
site = "Lab"
"""


def test_a_declaration_never_takes_imported_groups_with_it(store: Store) -> None:
    """bot.toml owns a fleet's settings and the devices it lists; imported and API groups stay."""
    import_fleets(store, parse_fleet_csv(_file("fleets.csv"), "fleets.csv"))
    imported = _groups(store)
    declared = declared_fleets(parse(HQ_DECLARED, "bot.toml").fleets, "bot.toml")
    changes = sync_declared_fleets(store, declared)
    assert (changes.fleets_updated, changes.groups_added, changes.groups_removed) == (
        ["hq-campus"], 1, 0), "listing devices does not replace the imported ones"
    assert _groups(store) == imported | {("hq-campus", "DS-2CD2143G2-I", None, 2, "Lab")}
    head = "fleet,model,firmware,count,site\n"
    import_fleets(store, parse_fleet_csv(head + "hq-campus,DS-2CD3321G2-I,V5.8,3,Site C\n", "b"))
    assert not sync_declared_fleets(store, declared).changed, "a later import into it stays too"
    changes = sync_declared_fleets(store, [])
    assert (changes.fleets_removed, changes.fleets_updated, changes.groups_removed) == (
        [], ["hq-campus"], 1)
    assert store.fleets.get("hq-campus") == Fleet("hq-campus"), "its bot.toml settings go"
    assert _groups(store) == imported | {("hq-campus", "DS-2CD3321G2-I", "V5.8", 3, "Site C")}
    assert {g.origin for g in store.fleets.groups()} == {"import"}


def test_a_device_listed_in_bot_toml_is_the_files_while_listed(store: Store) -> None:
    """A group both imported and listed takes the file's values; a fleet only the file declared
    goes with its entry, and an unlisted device goes from a fleet that stays declared."""
    import_fleets(store, parse_fleet_csv(_file("fleets.csv"), "fleets.csv"))
    toml = HQ_DECLARED.replace('model = "DS-2CD2143G2-I"\ncount = 2\nsite = "Lab"',
                               'model = "DS-96064NI-I16"\nfirmware = "V4.30.096 build 221220"\n'
                               'count = 5\nsite = "Site A"')
    toml += '[[fleets]]\nname = "lab"\n[[fleets.devices]]\nmodel = "DS-2CD3321G2-I"\n'
    declared = declared_fleets(parse(toml, "bot.toml").fleets, "bot.toml")
    changes = sync_declared_fleets(store, declared)
    assert (changes.groups_added, changes.groups_updated) == (1, 1)
    nvr = [g for g in store.fleets.groups("hq-campus") if g.model == "DS-96064NI-I16"]
    assert [(g.count, g.origin) for g in nvr] == [(5, "config")]
    changes = sync_declared_fleets(store, [replace(declared[0], groups=None)])
    assert changes.fleets_removed == ["lab"] and store.fleets.get("lab") is None
    nvr = [g for g in store.fleets.groups("hq-campus") if g.model == "DS-96064NI-I16"]
    assert [(g.count, g.origin) for g in nvr] == [(2, "import")], (
        "the imported device the file stopped listing is the import's again, as it wrote it")


def test_an_imported_device_bot_toml_stops_listing_is_never_lost(store: Store) -> None:
    """Listed in bot.toml before or after an import wrote it, a device is the import's again
    (with the import's latest values) when the file stops listing it; one a replacing import
    left out since goes with the file's entry."""
    head = "fleet,model,firmware,count,site\n"
    toml = ('[[fleets]]\nname = "lab"\n[[fleets.devices]]\nmodel = "DS-2CD3321G2-I"\n'
            'firmware = "V5.5.0 build 200911"\ncount = 9\nsite = "A"\n'
            '[[fleets.devices]]\nmodel = "DS-2CD2143G2-I"\ncount = 1\nsite = "B"\n')
    declared = declared_fleets(parse(toml, "bot.toml").fleets, "bot.toml")
    import_fleets(store, parse_fleet_csv(head + "lab,DS-2CD3321G2-I,V5.5.0build200911,4,A\n"
                                         "lab,DS-2CD2143G2-I,,1,B\n", "a.csv"))
    sync_declared_fleets(store, declared)
    assert {(g.count, g.origin) for g in store.fleets.groups("lab")} == {(9, "config"),
                                                                         (1, "config")}
    import_fleets(store, parse_fleet_csv(head + "lab,DS-2CD3321G2-I,V5.5.0 build 200911,5,A\n",
                                         "b.csv"), replace=True)  # B left out; A now 5
    assert not sync_declared_fleets(store, declared).changed
    changes = sync_declared_fleets(store, [])
    assert (changes.fleets_removed, changes.groups_removed, changes.groups_updated) == ([], 1, 1)
    assert [(g.model, g.firmware, g.count, g.origin) for g in store.fleets.groups("lab")] == [
        ("DS-2CD3321G2-I", "V5.5.0build200911", 5, "import")]
    assert not sync_declared_fleets(store, []).changed


def test_a_fleet_changed_again_while_a_cycle_ran_stays_unevaluated(store: Store) -> None:
    """The cycle read the fleet's groups before the second change: it must not unmark it."""
    header = "fleet,model,firmware,count,site\n"
    first = parse_fleet_csv(header + "lab,DS-2CD2143G2-I,V5.5.0,1,A\n", "a.csv")
    import_fleets(store, first)
    seen = unevaluated(store)  # what a cycle reads before it reads the groups
    assert set(seen) == {"lab"}
    time.sleep(0.002)
    second = parse_fleet_csv(header + "lab,DS-2CD2143G2-I,V5.5.0,2,A\n", "b.csv")
    import_fleets(store, second)  # meanwhile
    evaluated(store, seen, datetime.now(UTC))
    assert set(unevaluated(store)) == {"lab"}
    evaluated(store, unevaluated(store), datetime.now(UTC))
    assert unevaluated(store) == {}
