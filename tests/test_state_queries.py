"""The Store's look-up queries (Slack answers), run over every backend like the contract."""

from __future__ import annotations

from bot.fleets import Fleet, make_group
from state import FindingData, FleetTotals, SeverityCount, Store
from tests.state_helpers import T0


def _fleets(store: Store) -> None:
    store.fleets.put(Fleet("hq"))
    store.fleets.put(Fleet("branch"))
    store.fleets.put_groups([
        make_group("hq", "DS-2CD3321G2-I", "V5.7.13", 40, "Site A"),
        make_group("hq", "DS-2CD3321G2-I", "V5.5.800", 3, "Site B"),
        make_group("hq", "DS-96064NI-I16", None, 2, "Site A"),
        make_group("branch", "ds-2cd3321g2-i", "V5.7.13", 5, ""),
    ])


def test_groups_of_one_model_across_fleets(store: Store) -> None:
    _fleets(store)
    got = store.fleets.groups_of_model("DS-2CD3321G2-I")
    assert [(g.fleet, g.site, g.count) for g in got] == [
        ("branch", "", 5), ("hq", "Site A", 40), ("hq", "Site B", 3)]
    assert store.fleets.groups_of_model("DS-2CD3321G2") == []
    store.fleets.remove("branch")
    assert len(store.fleets.groups_of_model("DS-2CD3321G2-I")) == 2


def test_totals_per_fleet_and_model(store: Store) -> None:
    _fleets(store)
    assert store.fleets.model_totals() == {
        ("branch", "DS-2CD3321G2-I"): FleetTotals(1, 5),
        ("hq", "DS-2CD3321G2-I"): FleetTotals(2, 43),
        ("hq", "DS-96064NI-I16"): FleetTotals(1, 2),
    }
    assert list(store.fleets.model_totals("branch")) == [("branch", "DS-2CD3321G2-I")]
    assert store.fleets.model_totals("nope") == {}


def test_items_of_device_groups(store: Store) -> None:
    a = FindingData("hq", "g1", "adv-1", "r1", {"n": 1})
    b = FindingData("hq", "g2", "adv-1", "r1", {"n": 2})
    c = FindingData("branch", "g3", "adv-2", "r1", {"n": 3})
    d = FindingData("hq", "g1", "adv-2", "r1", {"n": 4})
    store.findings.put_many([a, b, c, d], T0)
    store.findings.set_state(d.key, "resolved", T0)
    assert store.findings.items_by_group(["g1", "g3", "g9", "g1"]) == {
        "g1": ["adv-1", "adv-2"], "g3": ["adv-2"]}
    assert store.findings.items_by_group(["g1"], "open") == {"g1": ["adv-1"]}
    assert store.findings.items_by_group(["g1"], "gone") == {}
    assert store.findings.items_by_group([]) == {}
    many = [f"x{i}" for i in range(2500)] + ["g2"]  # more keys than one SQL IN list holds
    assert store.findings.items_by_group(many) == {"g2": ["adv-1"]}


def test_finding_counts_per_item(store: Store) -> None:
    store.findings.put_many([
        FindingData("hq", "g1", "adv-1", "r", {}), FindingData("hq", "g2", "adv-1", "r", {}),
        FindingData("branch", "g3", "adv-1", "r", {}), FindingData("hq", "g1", "adv-2", "r", {}),
    ], T0)
    store.findings.set_state("hq|g1|adv-2", "resolved", T0)
    assert store.findings.item_counts() == {"adv-1": 3, "adv-2": 1}
    assert store.findings.item_counts(state="open") == {"adv-1": 3}
    assert store.findings.item_counts("hq") == {"adv-1": 2, "adv-2": 1}
    assert store.findings.item_counts("hq", "resolved") == {"adv-2": 1}
    assert store.findings.item_counts("nope") == {}


def test_finding_counts_per_item_and_severity(store: Store) -> None:
    store.findings.put_many([
        FindingData("hq", "g1", "adv-1", "r", {"severity": "medium", "score": 5.3}),
        FindingData("hq", "g2", "adv-1", "r", {"severity": "critical", "score": 9.8}),
        FindingData("hq", "g3", "adv-1", "r", {"severity": "medium", "score": 4.0}),
        FindingData("branch", "g4", "adv-1", "r", {"severity": "critical", "score": 9.1}),
        FindingData("hq", "g1", "fw-1", "r", {"severity": None, "score": None}),
        FindingData("hq", "g2", "fw-1", "r", {}),
    ], T0)
    store.findings.set_state("hq|g2|adv-1", "resolved", T0)
    assert store.findings.severity_counts("hq", "open") == {
        "adv-1": {"medium": SeverityCount(2, 5.3)}, "fw-1": {"none": SeverityCount(2, None)}}
    assert store.findings.severity_counts()["adv-1"] == {
        "critical": SeverityCount(2, 9.8), "medium": SeverityCount(2, 5.3)}
    assert store.findings.severity_counts(state="resolved") == {
        "adv-1": {"critical": SeverityCount(1, 9.8)}}
    assert store.findings.severity_counts("nope") == {}


def test_outbox_entries_of_one_alert(store: Store) -> None:
    first = store.outbox.enqueue("slack", "d1", {"n": 1}, T0, alert_id="fw_a")
    second = store.outbox.enqueue("ticketing", "d1", {"n": 2}, T0, alert_id="fw_a")
    store.outbox.enqueue("slack", "d2", {"n": 3}, T0, alert_id="fw_b")
    store.outbox.enqueue("slack", "d3", {"n": 4}, T0)
    assert [e.id for e in store.outbox.for_alert("fw_a")] == [first, second]
    assert [e.payload for e in store.outbox.for_alert("fw_b")] == [{"n": 3}]
    assert store.outbox.for_alert("fw_zzz") == []
