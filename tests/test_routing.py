"""Routing: receivers, routes, thresholds, silences, acks, snoozes, dedupe and changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, overload

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.facts import describe_changes, facts_of, fingerprint
from bot.finding import CveVerdict, Finding, Kind
from bot.policy import Promise, Stage
from bot.routing import (
    FleetRouting,
    ItemHeader,
    Previous,
    Route,
    Routing,
    Silence,
    receivers_of,
    route,
)
from bot.routingsetup import AlertMemory
from state import Store, open_store

NOW = datetime(2026, 11, 28, 9, 0)
ITEM = ItemHeader(
    "HSRC-202108-01", "advisory", "Command injection", "https://x/a", "r1", "HSRC-202108-01"
)


def finding(
    fleet: str = "hq",
    model: str = "DS-2CD3321G2-I",
    site: str = "A",
    score: float = 9.8,
    severity: str = "Critical",
    stage: Stage = Stage.DYNAMIC,
    kev: date | None = None,
    kind: Kind = "advisory",
    count: int = 4,
) -> Finding:
    return Finding(
        key=f"{fleet}|{model}|{site}|{ITEM.key}",
        kind=kind,
        fleet=fleet,
        group_key=f"{model}|{site}",
        model=model,
        firmware="V5.5.0",
        count=count,
        site=site,
        item_key=ITEM.key,
        status="affected",
        reason="",
        stage=stage,
        fix_promised=Promise.YES,
        fixed_version="V5.5.800",
        cves=(
            CveVerdict(
                "CVE-2021-36260", "affected", Promise.YES, score, severity, "3.1", kev_added=kev
            ),
        ),
    )


FLEETS = {
    "hq": FleetRouting("hq", ("video",), frozenset({"prod"})),
    "branch": FleetRouting("branch", ("branch-ops",), min_severity="high"),
}


def test_an_advisory_not_scored_yet_passes_severity_thresholds() -> None:
    """Its severity is unknown, not low: a branch that hears only of high and above must not
    miss a new advisory because NVD has not scored it yet (nor one whose second CVE is not)."""
    unscored = finding(fleet="branch")._replace(cves=(
        CveVerdict("CVE-2026-1", "affected", Promise.UNKNOWN, None, None, None),))
    medium = finding(fleet="branch", score=5.3, severity="Medium")
    mixed = medium._replace(cves=medium.cves + unscored.cves)
    receivers = {
        name: [a.receiver for a in route([(ITEM, [f])], Routing(FLEETS), NOW)]
        for name, f in (("unscored", unscored), ("medium", medium), ("mixed", mixed))
    }
    assert receivers == {"unscored": ["branch-ops"], "medium": [], "mixed": ["branch-ops"]}
    by_receiver = Routing(FLEETS, receiver_min_severity={"video": "critical"})
    assert [a.receiver for a in route([(ITEM, [unscored._replace(fleet="hq")])], by_receiver,
                                      NOW)] == ["video"]


def test_one_alert_per_item_per_receiver_lists_every_group() -> None:
    findings = [finding(site="A"), finding(site="B"), finding(fleet="branch")]
    alerts = route([(ITEM, findings)], Routing(FLEETS), NOW)
    by_receiver = {a.receiver: a for a in alerts}
    assert set(by_receiver) == {"video", "branch-ops"}
    assert len(by_receiver["video"].findings) == 2
    assert by_receiver["video"].dedupe_key.startswith("video|HSRC-202108-01|")


def test_fleet_threshold_mutes_low_severity() -> None:
    alerts = route(
        [(ITEM, [finding(fleet="branch", score=5.3, severity="Medium")])], Routing(FLEETS), NOW
    )
    assert alerts == []


def test_route_adds_replacement_planning_for_late_stages() -> None:
    routes = [
        Route("replace", ("planning",), stages=frozenset({"security-only", "end-of-support"}))
    ]
    alerts = route(
        [(ITEM, [finding(stage=Stage.END_OF_SUPPORT), finding(site="B")])],
        Routing(FLEETS, routes),
        NOW,
    )
    planning = next(a for a in alerts if a.receiver == "planning")
    assert [f.site for f in planning.findings] == ["A"]


def test_a_late_stage_route_hears_of_models_about_to_enter_that_stage() -> None:
    """Replacement planning wants the reminders before a model enters security-only, while it
    is still in the dynamic stage: a route's ``stages`` match a reminder's stage to come too."""
    routes = [Route("replace", ("planning",), stages=frozenset({"security-only"}))]
    coming = finding(kind="lifecycle")._replace(
        change_to=Stage.SECURITY_ONLY, change_on=date(2027, 3, 1), status="stage-change"
    )
    other = finding(kind="lifecycle", site="B")._replace(
        change_to=Stage.END_OF_SUPPORT, change_on=date(2027, 3, 1), status="stage-change"
    )
    alerts = route([(ITEM, [coming, other])], Routing(FLEETS, routes), NOW)
    planning = next(a for a in alerts if a.receiver == "planning")
    assert [f.site for f in planning.findings] == ["A"]


def test_route_by_kind_mutes_or_routes_firmware_separately() -> None:
    fleets = {"hq": FleetRouting("hq", ("video",), kinds=frozenset({"advisory"}))}
    routes = [Route("fw", ("firmware-team",), kinds=frozenset({"firmware"}))]
    fw = finding(kind="firmware")
    alerts = route([(ITEM, [fw])], Routing(fleets, routes), NOW)
    assert [a.receiver for a in alerts] == ["firmware-team"]


def test_receiver_threshold() -> None:
    alerts = route(
        [(ITEM, [finding(score=5.3, severity="Medium")])],
        Routing(FLEETS, receiver_min_severity={"video": "high"}),
        NOW,
    )
    assert alerts == []


def test_silence_hides_matching_findings_until_it_expires() -> None:
    silence = Silence("s1", {"fleet": "hq", "cve": "cve-2021-36260"}, NOW + timedelta(hours=1))
    items = [(ITEM, [finding()])]
    assert route(items, Routing(FLEETS, silences=[silence]), NOW) == []
    later = NOW + timedelta(hours=2)
    assert len(route(items, Routing(FLEETS, silences=[silence]), later)) == 1


def test_silence_by_advisory_id_and_model_prefix() -> None:
    silence = Silence(
        "s1", {"advisory": "hsrc-202108-01", "model": "DS-2CD33"}, NOW + timedelta(days=1)
    )
    alerts = route(
        [(ITEM, [finding(), finding(model="DS-2CD7326G0-IZS")])],
        Routing(FLEETS, silences=[silence]),
        NOW,
    )
    assert [f.model for f in alerts[0].findings] == ["DS-2CD7326G0-IZS"]


def _previous(alert_findings: list[Finding], **kw: object) -> dict[tuple[str, str], Previous]:
    first = route([(ITEM, alert_findings)], Routing(FLEETS), NOW)[0]
    return {("video", ITEM.key): Previous(first.material, first.facts, **kw)}  # type: ignore[arg-type]


def test_rerun_never_realerts() -> None:
    previous = _previous([finding()])
    assert route([(ITEM, [finding()])], Routing(FLEETS, previous=previous), NOW) == []


def test_cosmetic_revision_does_not_realert_but_a_score_change_does() -> None:
    previous = _previous([finding()])
    cosmetic = replace(ITEM, revision="r2", title="Command injection (updated wording)")
    assert route([(cosmetic, [finding()])], Routing(FLEETS, previous=previous), NOW) == []
    alerts = route([(cosmetic, [finding(score=10.0)])], Routing(FLEETS, previous=previous), NOW)
    assert alerts[0].changes == ("CVE-2021-36260 score 9.8 → 10.0 (Critical)",)


def test_a_first_score_says_the_cve_had_none_rather_than_none_arrow() -> None:
    """An advisory first alerted without a score (NVD had not scored it) was updated with
    "CVE-2021-36260 score None → 9.8 (Critical)"."""
    unscored = finding()._replace(
        cves=(CveVerdict("CVE-2021-36260", "affected", Promise.UNKNOWN),)
    )
    previous = _previous([unscored])
    (alert,) = route([(ITEM, [finding()])], Routing(FLEETS, previous=previous), NOW)
    assert "None" not in " ".join(alert.changes)
    assert "CVE-2021-36260 scored 9.8 (Critical); it had no score" in alert.changes
    back = {("video", ITEM.key): Previous(alert.material, alert.facts)}
    (again,) = route([(ITEM, [unscored])], Routing(FLEETS, previous=back), NOW)
    assert "CVE-2021-36260 score 9.8 withdrawn: it has no score now" in again.changes
    assert "None" not in " ".join(again.changes)


def test_kev_listing_escalates_even_an_acked_alert() -> None:
    previous = _previous([finding()], acked=True)
    assert route([(ITEM, [finding(count=5)])], Routing(FLEETS, previous=previous), NOW) == []
    alerts = route(
        [(ITEM, [finding(kev=date(2022, 1, 10))])], Routing(FLEETS, previous=previous), NOW
    )
    assert alerts[0].kind == "exploited"
    assert "listed in CISA KEV on 2022-01-10" in alerts[0].changes


def test_newly_affected_device_groups_alert_even_after_an_ack() -> None:
    """An ack quietens changes to what was acknowledged, not new exposure."""
    previous = _previous([finding()], acked=True)
    grown = [finding(), finding(fleet="branch", site="B"), finding(site="C")]
    alerts = {a.receiver: a for a in route([(ITEM, grown)], Routing(FLEETS, previous=previous),
                                           NOW)}
    assert alerts["video"].changes == ("1 more device group affected: DS-2CD3321G2-I at C",)
    assert route([(ITEM, [finding(count=5)])], Routing(FLEETS, previous=previous), NOW) == []
    # Half the devices moved to other firmware, still affected: a new group, no more devices.
    moved = finding(count=2)._replace(key="hq|other-firmware|A|" + ITEM.key, firmware="V5.5.1")
    split = [finding(count=2), moved]
    assert route([(ITEM, split)], Routing(FLEETS, previous=previous), NOW) == []


def test_what_changed_names_the_device_groups_it_changed_in() -> None:
    """Two groups whose device counts both went 4 -> 5 read as one line, "device count: 4 → 5":
    which groups changed, and that two did, was lost; so was which groups were new."""
    previous = _previous([finding(site="A"), finding(site="B"), finding(site="C")])
    now = [finding(site="A", count=5), finding(site="B", count=5), finding(site="C"),
           finding(site="D")]
    (alert,) = route([(ITEM, now)], Routing(FLEETS, previous=previous), NOW)
    assert alert.changes == (
        "1 more device group affected: DS-2CD3321G2-I at D",
        "device count: 4 → 5 (DS-2CD3321G2-I at A and DS-2CD3321G2-I at B)",
    )
    # A change every group shares is said once, without names; groups of several fleets are
    # named with their fleet, and many are counted rather than listed.
    fleets = {**FLEETS, "lab": FleetRouting("lab", ("video",))}
    (first,) = route([(ITEM, [finding(site=s) for s in "ABCDE"] + [finding(fleet="lab")])],
                     Routing(fleets), NOW)
    previous = {("video", ITEM.key): Previous(first.material, first.facts)}
    later = [finding(site=s, count=9, score=10.0) for s in "ABCDE"]
    (alert,) = route([(ITEM, [*later, finding(fleet="lab", score=10.0)])],
                     Routing(fleets, previous=previous), NOW)
    assert alert.changes == (
        "CVE-2021-36260 score 9.8 → 10.0 (Critical)",
        "device count: 4 → 9 (DS-2CD3321G2-I at A (hq), DS-2CD3321G2-I at B (hq),"
        " DS-2CD3321G2-I at C (hq) and 2 more)",
    )


def test_what_changed_names_the_device_groups_that_left() -> None:
    """Groups upgraded past the fix or removed read "1 device group no longer affected" without
    saying which: they are named as last found (`Routing.former`, the stored findings)."""
    previous = _previous([finding(site="A"), finding(site="B")])
    last_found = {finding(site="B").key: ("hq", "DS-2CD3321G2-I", "B")}
    (alert,) = route([(ITEM, [finding(site="A")])],
                     Routing(FLEETS, previous=previous, former=last_found.get), NOW)
    assert alert.changes == ("1 device group no longer affected: DS-2CD3321G2-I at B",)
    nothing: dict[str, tuple[str, str, str]] = {}
    (alert,) = route([(ITEM, [finding(site="A")])],
                     Routing(FLEETS, previous=previous, former=nothing.get), NOW)
    assert alert.changes == ("1 device group no longer affected",)  # none known: counted


def test_snooze_holds_changes_until_it_ends() -> None:
    previous = _previous([finding()], snoozed_until=NOW + timedelta(days=7))
    items = [(ITEM, [finding(count=9)])]
    assert route(items, Routing(FLEETS, previous=previous), NOW) == []
    alerts = route(items, Routing(FLEETS, previous=previous), NOW + timedelta(days=8))
    assert alerts[0].changes == ("device count: 4 → 9 (DS-2CD3321G2-I at A)",)


def test_a_snooze_that_ended_reminds_only_if_nothing_was_alerted_since() -> None:
    ended = NOW - timedelta(hours=1)
    items = [(ITEM, [finding()])]
    for kw, reminded in (
        ({"snoozed_until": ended}, True),  # when it was alerted is not known: before the snooze
        ({"snoozed_until": ended, "alerted_at": NOW - timedelta(days=7)}, True),
        ({"snoozed_until": ended, "alerted_at": ended}, False),  # the reminder, or a change
        ({"snoozed_until": NOW + timedelta(hours=1)}, False),  # not over yet
        ({"snoozed_until": ended, "acked": True}, False),  # settled
        ({}, False),
    ):
        alerts = route(items, Routing(FLEETS, previous=_previous([finding()], **kw)), NOW)
        assert [a.changes for a in alerts] == (
            [("snoozed until 2026-11-28: nothing has changed since",)] if reminded else []), kw


def test_digest_route_marks_alerts_for_the_digest() -> None:
    routes = [Route("weekly", ("managers",), digest="weekly")]
    alerts = route([(ITEM, [finding()])], Routing(FLEETS, routes), NOW)
    assert {(a.receiver, a.digest) for a in alerts} == {("video", None), ("managers", "weekly")}


@pytest.mark.parametrize(
    ("digests", "want"),
    [((None, "daily"), None), (("weekly", None), None), (("weekly", "daily"), "daily")],
)
def test_one_alert_per_item_and_receiver_in_the_most_urgent_of_its_routes_digests(
    digests: tuple[str | None, str | None], want: str | None
) -> None:
    fleets = {"hq": FleetRouting("hq"), "branch": FleetRouting("branch")}
    routes = [
        Route(f"r{n}", ("video",), fleets=frozenset({fleet}), digest=digest)
        for n, (fleet, digest) in enumerate(zip(("hq", "branch"), digests, strict=True))
    ]
    found = [finding(), finding(fleet="branch")]
    (alert,) = route([(ITEM, found)], Routing(fleets, routes), NOW)
    assert alert.digest == want and {f.fleet for f in alert.findings} == {"hq", "branch"}
    both = [replace(r, fleets=frozenset()) for r in routes]  # both routes take each finding
    (alert,) = route([(ITEM, found)], Routing(fleets, both), NOW)
    assert alert.digest == want


def test_alert_id_is_stable_and_opaque() -> None:
    a = route([(ITEM, [finding()])], Routing(FLEETS), NOW)[0]
    b = route([(ITEM, [finding()])], Routing(FLEETS), NOW)[0]
    assert a.id == b.id and a.id.startswith("fw_") and "video" not in a.id


def test_a_kind_exploited_silence_matches_kev_listed_findings_only() -> None:
    silence = Silence("1", {"kind": "exploited"}, datetime(2030, 1, 1))
    assert silence.matches(finding(kev=date(2022, 1, 10)), ITEM)
    assert not silence.matches(finding(), ITEM)
    assert Silence("2", {"kind": "advisory"}, datetime(2030, 1, 1)).matches(finding(), ITEM)


def test_facts_of_findings_sharing_verdicts_are_each_findings_own() -> None:
    """Facts are worked out once per verdict tuple; each finding still gets its own."""
    shared = finding(site="A")
    same_verdicts = finding(site="B", count=7)._replace(cves=shared.cves)
    listed = finding(site="C", kev=date(2022, 1, 10), score=5.3, severity="Medium")
    facts = facts_of([listed, same_verdicts, shared])
    assert list(facts) == sorted(f.key for f in (shared, same_verdicts, listed))
    assert facts[shared.key]["kev"] is None and facts[same_verdicts.key]["count"] == 7
    assert facts[listed.key]["kev"] == "2022-01-10"
    assert facts[listed.key]["cves"] == {"CVE-2021-36260": [5.3, "Medium"]}
    assert facts[shared.key]["cves"] == {"CVE-2021-36260": [9.8, "Critical"]}
    one_by_one = {k: v for f in (shared, same_verdicts, listed) for k, v in facts_of([f]).items()}
    assert fingerprint(facts) == fingerprint(one_by_one)


def _memory_store(tmp_path: Path) -> Store:
    return open_store(f"tinydb:///{tmp_path / 'state.json'}")


def test_alert_memory_reads_an_alerts_facts_only_when_its_fingerprint_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big estate's alert carries megabytes of facts: an unchanged cycle does not read them."""
    (alert,) = route([(ITEM, [finding(site=s) for s in "ABC"])], Routing(FLEETS), NOW)
    with _memory_store(tmp_path) as store:
        AlertMemory(store).remember(alert, now=NOW.replace(tzinfo=UTC))
        read: list[str] = []
        get, prefixed = store.meta.get, store.meta.prefixed
        def reading(real: Callable[[str], Any]) -> Callable[[str], Any]:
            def call(key: str) -> Any:
                read.append(key)
                return real(key)
            return call

        monkeypatch.setattr(store.meta, "get", reading(get))
        monkeypatch.setattr(store.meta, "prefixed", reading(prefixed))
        memory = AlertMemory(store)
        again = route([(ITEM, [finding(site=s) for s in "ABC"])], Routing(FLEETS, previous=memory),
                      NOW)
        assert again == [] and read == ["alerted:"]
        changed = route([(ITEM, [finding(site=s) for s in "ABCD"])],
                        Routing(FLEETS, previous=memory), NOW)
        assert changed[0].changes == ("1 more device group affected: DS-2CD3321G2-I at D",)
        assert read[-1] == "alerted-facts:video|HSRC-202108-01"


def test_what_changed_comes_in_the_same_order_on_every_run() -> None:
    """The lines follow the facts' keys (their sorted order), not a set's hash order, which
    differs from one process to the next: the same change reads the same in every run."""
    def entry(score: float, count: int) -> dict[str, Any]:
        return {"status": "affected", "count": count, "promise": "yes", "fixed": None,
                "update": None, "kev": None, "cves": {f"CVE-2025-{score:.0f}": [score, "High"]}}

    keys = [f"fleet|{n:02}|HSRC-1" for n in range(8)]
    old = {k: entry(n + 1, 10) for n, k in enumerate(keys)}
    new = {k: entry(n + 1, 10 + n) for n, k in enumerate(keys)}
    assert describe_changes(old, new) == [f"device count: 10 → {10 + n}" for n in range(1, 8)]


def _noting(log: list[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, noting ``name`` in ``log`` at each call."""
    def call(*args: Any, **kwargs: Any) -> Any:
        log.append(name)
        return real(*args, **kwargs)
    return call


def test_alert_memory_reads_every_remembered_pair_in_two_reads_and_writes_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle asks about every (receiver, item) it routes: the memory and its acks are read
    once for all of them, and the cycle's alerts are remembered in one write, not one or two
    store calls per pair (thousands of PostgreSQL round trips per poll)."""
    items = [replace(ITEM, key=f"HSRC-2021{n:02d}-01") for n in range(1, 13)]
    fleets = {f"f{n}": FleetRouting(f"f{n}", (f"r{n}",)) for n in range(5)}
    found = [(item, [finding(fleet=f)._replace(item_key=item.key) for f in fleets])
             for item in items]
    alerts = route(found, Routing(fleets), NOW)
    assert len(alerts) == 60
    with _memory_store(tmp_path) as store:
        writes: list[str] = []
        for name in ("put", "put_many"):
            monkeypatch.setattr(store.meta, name, _noting(writes, name, getattr(store.meta, name)))
        AlertMemory(store).remember(*alerts, now=NOW.replace(tzinfo=UTC))
        assert writes == ["put_many"]
        store.acks.ack(alerts[0].id, "U1", NOW.replace(tzinfo=UTC))
        reads: list[str] = []
        for repo, name in ((store.meta, "get"), (store.meta, "prefixed"), (store.acks, "get"),
                           (store.acks, "many")):
            monkeypatch.setattr(repo, name, _noting(reads, name, getattr(repo, name)))
        memory = AlertMemory(store)
        assert route(found, Routing(fleets, previous=memory), NOW) == []
        assert memory[(alerts[0].receiver, alerts[0].item.key)].acked
        assert ("r9", items[0].key) not in memory
        assert sorted(reads) == ["many", "prefixed"]


def test_alert_memory_reads_facts_remembered_inside_the_alert_value(tmp_path: Path) -> None:
    """Alerts remembered before the facts got their own value still say what changed."""
    (alert,) = route([(ITEM, [finding(site=s) for s in "AB"])], Routing(FLEETS), NOW)
    with _memory_store(tmp_path) as store:
        store.meta.put("alerted:video|HSRC-202108-01", {
            "alert_id": alert.id, "material": alert.material, "facts": dict(alert.facts),
            "at": NOW.isoformat()}, NOW.replace(tzinfo=UTC))
        memory = AlertMemory(store)
        changed = route([(ITEM, [finding(site=s) for s in "ABC"])],
                        Routing(FLEETS, previous=memory), NOW)
        assert changed[0].changes == ("1 more device group affected: DS-2CD3321G2-I at C",)


def test_findings_sharing_verdicts_are_routed_by_their_own_fleet_site_and_stage() -> None:
    """Receivers are worked out once per (fleet, site, kind, stage, verdicts): findings that
    share a verdict tuple but differ in any of the others each get their own."""
    shared = finding(site="A")
    others = [
        shared._replace(key=f"{n}", site=site, stage=stage, fleet=fleet)
        for n, (site, stage, fleet) in enumerate([
            ("B", Stage.DYNAMIC, "hq"),
            ("A", Stage.SECURITY_ONLY, "hq"),
            ("A", Stage.DYNAMIC, "branch"),
        ])
    ]
    routes = (
        Route("site-b", ("site-b",), sites=frozenset({"B"})),
        Route("replace", ("planning",), stages=frozenset({"security-only"})),
    )
    routing = Routing(FLEETS, routes)
    alerts = route([(ITEM, [shared, *others])], routing, NOW)
    got = {(a.receiver, f.key) for a in alerts for f in a.findings}
    want = {(r, f.key) for f in (shared, *others) for r, _ in receivers_of(f, routing)}
    assert got == want
    assert ("site-b", "0") in got and ("planning", "1") in got and ("branch-ops", "2") in got
    assert not any(r == "site-b" and k != "0" for r, k in got)


_KEYS = st.text(min_size=1, max_size=12)  # any text: quotes, backslashes, non-ASCII
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
    st.dates(),  # not JSON: default=str writes it
)
_ENTRIES = st.dictionaries(_KEYS, st.one_of(_VALUES, st.dictionaries(_KEYS, _VALUES)), max_size=5)


@given(
    entries=st.lists(_ENTRIES, min_size=1, max_size=4),
    picks=st.dictionaries(_KEYS, st.integers(min_value=0, max_value=3), max_size=8),
)
def test_the_fingerprint_is_that_of_the_facts_sorted_json(
    entries: list[dict[str, object]], picks: dict[str, int]
) -> None:
    """Alerts store their fingerprint: it stays the hash of ``json.dumps(facts, sort_keys=True,
    default=str)``, with entries shared by several keys as `facts_of` shares them."""
    facts = {key: entries[at % len(entries)] for key, at in picks.items()}
    blob = json.dumps(facts, sort_keys=True, default=str)
    assert fingerprint(facts) == hashlib.sha256(blob.encode()).hexdigest()[:16]


_TEXT = st.one_of(st.none(), st.text(max_size=8))
_FACT_ENTRIES = st.fixed_dictionaries({
    "status": st.one_of(_TEXT, st.integers()),  # not text: encoded the ordinary way
    "count": st.one_of(st.integers(), st.booleans()),
    "promise": _TEXT,
    "fixed": st.one_of(_TEXT, st.floats(allow_nan=False)),
    "update": _TEXT,
    "kev": st.one_of(_TEXT, st.dates()),
    "cves": st.dictionaries(_KEYS, st.lists(st.one_of(st.none(), st.floats(allow_nan=False),
                                                      st.text(max_size=4)), max_size=2)),
})


@given(
    entries=st.lists(_FACT_ENTRIES, min_size=1, max_size=6),
    picks=st.dictionaries(_KEYS, st.integers(min_value=0, max_value=5), max_size=10),
    counts=st.lists(st.integers(), min_size=1, max_size=4),
)
def test_the_fingerprint_of_entries_shaped_as_facts_of_makes_them_is_the_sorted_json(
    entries: list[dict[str, Any]], picks: dict[str, int], counts: list[int]
) -> None:
    """Entries that differ in their count alone share the encoding of the rest: the text is
    still ``json.dumps``'s, whatever the values (1 and 1.0 and True are not the same text)."""
    made = [dict(e) for e in entries] + [{**entries[0], "count": c} for c in counts]
    made += [{**entries[0], "cves": dict(entries[0]["cves"])}]  # equal, not the same, cves
    made += [{**entries[0], "fixed": v} for v in (1, 1.0, True)]  # equal values, other texts
    facts = {f"{n:03}": entry for n, entry in enumerate(made)}
    facts |= {key: made[at % len(made)] for key, at in picks.items()}
    blob = json.dumps(facts, sort_keys=True, default=str)
    assert fingerprint(facts) == hashlib.sha256(blob.encode()).hexdigest()[:16]


class _MadeWhenRead(Sequence[Finding]):
    """Findings made each time they are read (as from a store cursor): those routed nowhere are
    freed at once, and a later finding's verdict tuple may take a freed one's address."""

    def __init__(self, *specs: tuple[float, str]) -> None:
        self.specs = specs

    def __len__(self) -> int:
        return len(self.specs)

    @overload
    def __getitem__(self, at: int) -> Finding: ...
    @overload
    def __getitem__(self, at: slice) -> Sequence[Finding]: ...
    def __getitem__(self, at: int | slice) -> Finding | Sequence[Finding]:
        if isinstance(at, slice):
            return [self[i] for i in range(len(self))[at]]
        score, severity = self.specs[at]
        return finding(site=f"S{at}", score=score, severity=severity)


def test_a_finding_routed_nowhere_does_not_decide_a_later_ones_receivers() -> None:
    """Receivers are remembered per verdict tuple: a tuple freed with its finding (below the
    fleet's threshold) must not answer for a new one made at the same address."""
    low, critical = (3.0, "Low"), (9.8, "Critical")
    routing = Routing({"hq": FleetRouting("hq", ("ops",), min_severity="high")})
    alerts = route([(ITEM, _MadeWhenRead(low, low, critical, critical))], routing, NOW)
    assert [f.site for a in alerts for f in a.findings] == ["S2", "S3"]


@pytest.mark.parametrize(
    "facts",
    [MappingProxyType({"a": {"x": 1}}), {2: {"x": 1}, 1: {"y": date(2022, 1, 10)}}, {}],
    ids=["mapping proxy", "keys not text", "empty"],
)
def test_the_fingerprint_of_facts_unlike_facts_of_is_still_that_of_their_json(
    facts: Mapping[Any, Any],
) -> None:
    blob = json.dumps(facts, sort_keys=True, default=str)
    assert fingerprint(facts) == hashlib.sha256(blob.encode()).hexdigest()[:16]


def two_cves(fleet: str = "hq", site: str = "A") -> Finding:
    """A finding of an advisory with a critical CVE and a medium one, both promised a fix."""
    medium = CveVerdict("CVE-2025-20004", "possibly-affected", Promise.NO, 5.3, "Medium", "3.1")
    one = finding(fleet=fleet, site=site)
    return one._replace(cves=(*one.cves, medium), fix_promised=Promise.PARTIAL)


def test_a_silenced_cve_hides_only_that_cve_and_the_others_still_alert() -> None:
    silence = Silence("s1", {"cve": "CVE-2021-36260"}, NOW + timedelta(days=1))
    first = two_cves()
    second = two_cves(site="B")._replace(cves=first.cves)  # one batch's: its verdicts shared
    alerts = route([(ITEM, [first, second])], Routing(FLEETS, silences=[silence]), NOW)
    assert [a.receiver for a in alerts] == ["video"]
    found = alerts[0].findings
    assert [[c.id for c in f.cves] for f in found] == [["CVE-2025-20004"]] * 2
    # What is left is judged on what is left: its status, promise and severity.
    assert {(f.status, f.fix_promised, alerts[0].severity) for f in found} == {
        ("possibly-affected", Promise.NO, "medium")
    }
    assert found[0].cves is found[1].cves  # shared, as the batch's verdicts were
    # A silence of every CVE the finding names hides it; one of another fleet hides nothing.
    both = Silence("s2", {"cve": "CVE-2025-20004"}, NOW + timedelta(days=1))
    assert route([(ITEM, [two_cves()])], Routing(FLEETS, silences=[silence, both]), NOW) == []
    elsewhere = Silence("s3", {"cve": "CVE-2021-36260", "fleet": "branch"}, NOW + timedelta(days=1))
    kept = route([(ITEM, [two_cves()])], Routing(FLEETS, silences=[elsewhere]), NOW)
    assert [len(f.cves) for f in kept[0].findings] == [2]


def test_findings_of_other_models_sharing_verdicts_keep_their_own_fields_when_a_cve_is_silenced(
) -> None:
    """Batches of two models under the same promises share one verdict tuple."""
    first = two_cves()
    other = two_cves(site="B")._replace(
        model="DS-2CD3026G2-IS", stage=Stage.SECURITY_ONLY, fixed_version="V5.7.3",
        download_url="https://x/fw.zip", cves=first.cves,
    )
    silence = Silence("s1", {"cve": "CVE-2021-36260"}, NOW + timedelta(days=1))
    (alert,) = route([(ITEM, [first, other])], Routing(FLEETS, silences=[silence]), NOW)
    assert [(f.model, f.stage, f.fixed_version, f.download_url) for f in alert.findings] == [
        ("DS-2CD3321G2-I", Stage.DYNAMIC, "V5.5.800", None),
        ("DS-2CD3026G2-IS", Stage.SECURITY_ONLY, "V5.7.3", "https://x/fw.zip"),
    ]


def test_cves_listed_in_kev_before_an_upgrade_are_not_told_again(tmp_path: Path) -> None:
    """b48b3a5 remembered only a finding's earliest KEV listing ("kev"), not each CVE's
    ("kev_cves"): its alert about two CVEs listed on different days is not escalated again
    after the upgrade as though the later listing were news; one listed after it was, is."""
    both = finding(kev=date(2022, 1, 10))._replace(cves=(
        finding(kev=date(2022, 1, 10)).cves[0],
        CveVerdict("CVE-2021-99999", "affected", Promise.YES, 8.8, "High", "3.1",
                   kev_added=date(2023, 5, 2)),
    ))
    facts = facts_of([both])
    assert "kev_cves" in facts[both.key]
    old = {key: {k: v for k, v in entry.items() if k != "kev_cves"}  # as b48b3a5 stored them
           for key, entry in facts.items()}
    for alerted, told in (("2024-03-01T09:00:00+00:00", []),
                          ("2023-01-01T09:00:00+00:00", ["2023-05-02"])):
        with _memory_store(tmp_path / alerted[:4]) as store, store.transaction():
            store.meta.put_many({  # the values b48b3a5's AlertMemory.remember wrote
                f"alerted:video|{ITEM.key}": {
                    "alert_id": "fw_old", "material": fingerprint(old), "at": alerted},
                f"alerted-facts:video|{ITEM.key}": old,
            }, NOW.replace(tzinfo=UTC))
            alerts = route([(ITEM, [both])], Routing(FLEETS, previous=AlertMemory(store)), NOW)
        assert [c for a in alerts for c in a.changes] == [
            f"CVE-2021-99999 listed in CISA KEV on {day}" for day in told]
