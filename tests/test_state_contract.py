"""The Store contract, run over every backend: TinyDB, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest

from bot.catalog import CatalogEntry
from bot.fleets import Fleet, make_group
from bot.items import Advisory
from state import (
    Attempt,
    FindingData,
    FindingStamp,
    FleetTotals,
    NewEntry,
    OutboxEntry,
    Store,
    StoreError,
    UnknownFleet,
    finding_key,
    open_store,
)
from tests.state_helpers import T0

LEASE = timedelta(minutes=5)


def _fill(store: Store) -> None:
    store.items.put("adv-1", "advisory", "r1", {"title": "one"}, T0)
    store.fleets.put(Fleet("hq", receivers=("ops",)))
    store.fleets.put_groups([make_group("hq", "DS-2CD3321G2-I", "V5.7.13", 40, "Site A")])
    store.findings.put(FindingData("hq", "g", "adv-1", "f1", {"n": 1}), T0)
    store.outbox.enqueue("ops", "d1", {"text": "hi"}, T0)
    store.meta.put("last_cycle", {"at": "x"}, T0)


def _empty(store: Store) -> bool:
    return (store.items.count() == 0 and store.fleets.all() == [] and store.findings.count() == 0
            and store.outbox.all() == [] and store.meta.get("last_cycle") is None)


def test_a_transaction_commits_everything_together(store_url: str) -> None:
    with open_store(store_url) as store, store.transaction():
        _fill(store)
    with open_store(store_url) as store:
        assert store.items.get("adv-1") is not None
        assert store.fleets.totals() == {"hq": FleetTotals(1, 40)}
        assert store.outbox.counts()["pending"] == 1
        assert store.meta.get("last_cycle") == {"at": "x"}


def test_an_exception_inside_a_transaction_writes_nothing(store_url: str) -> None:
    with open_store(store_url) as store:
        with pytest.raises(KeyError), store.transaction():
            _fill(store)
            raise KeyError("boom")
        assert _empty(store)
    with open_store(store_url) as store:
        assert _empty(store)


def test_a_nested_transaction_is_a_savepoint(store: Store) -> None:
    with store.transaction():
        store.meta.put("outer", 1, T0)
        with pytest.raises(KeyError), store.transaction():
            store.meta.put("inner", 2, T0)
            raise KeyError
        store.meta.put("after", 3, T0)
    assert (store.meta.get("outer"), store.meta.get("inner"), store.meta.get("after")) == (
        1, None, 3)


def test_bad_input_is_refused_and_nothing_is_written(store: Store) -> None:
    naive = T0.replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.meta.put("k", 1, naive)
    with pytest.raises(StoreError, match="not JSON"):
        store.meta.put("k", {"when": T0}, T0)
    with pytest.raises(StoreError, match="not JSON"), store.transaction():
        store.meta.put("k", 1, T0)
        store.items.put("a", "advisory", "r", {"bad": float("nan")}, T0)
    assert store.meta.get("k") is None and store.items.count() == 0


def test_items_revisions_and_history(store: Store) -> None:
    later = T0 + timedelta(hours=1)
    assert store.items.put("a", "advisory", "r1", {"v": 1}, T0) == "new"
    assert store.items.put("a", "advisory", "r1", {"v": 1}, later) == "unchanged"
    assert store.items.put("a", "advisory", "r2", {"v": 2}, later) == "revised"
    assert store.items.put("a", "advisory", "r1", {"v": 1}, later) == "revised"
    item = store.items.get("a")
    assert item is not None
    assert (item.revision, item.data, item.first_seen, item.last_seen) == ("r1", {"v": 1}, T0,
                                                                           later)
    assert [r.revision for r in store.items.revisions("a")] == ["r1", "r2"]
    store.items.put("b", "firmware", "x", {}, T0)
    assert store.items.count() == 2 and store.items.count("firmware") == 1
    assert [i.key for i in store.items.all("advisory")] == ["a"]
    assert store.items.current_revisions(["a", "b", "zzz"]) == {"a": "r1", "b": "x"}


def test_put_item_stores_a_domain_item(store: Store) -> None:
    adv = Advisory(key="hik:HSRC-202401-01", title="Camera fix", url="https://example.com/a")
    assert store.items.put_item(adv, T0) == "new"
    stored = store.items.get(adv.key)
    assert stored is not None and stored.revision == adv.revision and stored.kind == "advisory"
    assert stored.data["title"] == "Camera fix"


def test_returned_data_is_a_copy(store: Store) -> None:
    data = {"list": [1]}
    store.items.put("a", "advisory", "r", data, T0)
    data["list"].append(2)
    got = store.items.get("a")
    assert got is not None and got.data == {"list": [1]}
    got.data["list"].append(3)
    again = store.items.get("a")
    assert again is not None and again.data == {"list": [1]}


def test_sources_keep_health_and_cursor_apart(store: Store) -> None:
    store.sources.put_health("nvd", {"ok": True}, T0)
    store.sources.put_cursor("nvd", {"etag": "W/1"}, T0 + timedelta(seconds=1))
    state = store.sources.get("nvd")
    assert state is not None
    assert (state.health, state.cursor, state.updated_at) == (
        {"ok": True}, {"etag": "W/1"}, T0 + timedelta(seconds=1))
    assert [s.name for s in store.sources.all()] == ["nvd"] and store.sources.get("x") is None


def test_fleets_and_device_groups(store: Store) -> None:
    hq = Fleet("hq", "Head office", ("ops",), ("prod",), "high")
    assert store.fleets.put(hq) and not store.fleets.put(hq)
    assert store.fleets.put(Fleet("branch"))
    a = make_group("hq", "DS-2CD3321G2-I", "V5.7.13 build 230822", 40, "Site A", ["x"], ["S1"])
    b = make_group("hq", "ds-96064ni-i16", None, 2, "Site B")
    assert store.fleets.put_groups([a, b]) == 2
    assert store.fleets.put_groups([a, b]) == 0
    assert store.fleets.put_groups([make_group("hq", "DS-96064NI-I16", None, 3, "Site B")]) == 1
    assert store.fleets.get("hq") == hq and store.fleets.get("nope") is None
    assert [f.name for f in store.fleets.all()] == ["branch", "hq"]
    assert store.fleets.group(a.key) == a
    assert [g.model for g in store.fleets.groups("hq")] == ["DS-2CD3321G2-I", "DS-96064NI-I16"]
    assert store.fleets.totals() == {"hq": FleetTotals(2, 43), "branch": FleetTotals(0, 0)}
    assert store.fleets.remove_groups([a.key, "unknown"]) == 1
    assert store.fleets.remove("hq") == 1 and store.fleets.remove("hq") is None
    assert store.fleets.groups() == []


def test_a_groups_origin_is_stored_and_a_change_of_it_is_a_change(store: Store) -> None:
    store.fleets.put(Fleet("hq", origin="config"))
    declared = make_group("hq", "DS-2CD3321G2-I", "V5", 2, origin="config")
    imported = make_group("hq", "DS-96064NI-I16", None, 1)
    assert store.fleets.put_groups([declared, imported]) == 2
    assert [g.origin for g in store.fleets.groups("hq")] == ["config", "import"]
    taken = make_group("hq", "DS-2CD3321G2-I", "V5", 2)
    assert taken.key == declared.key and taken != declared
    assert store.fleets.put_groups([taken]) == 1 and store.fleets.group(taken.key) == taken


def test_many_group_writes_in_one_unit_of_work(store: Store) -> None:
    with store.transaction():
        store.fleets.put(Fleet("hq"))
        first = [make_group("hq", "DS-2CD3321G2-I", f"V5.{i}", 1) for i in range(1500)]
        assert store.fleets.put_groups(first) == 1500
        again = [make_group("hq", "DS-2CD3321G2-I", f"V5.{i}", 2) for i in range(1000, 2000)]
        assert store.fleets.put_groups(again) == 1000
    assert store.fleets.totals()["hq"] == FleetTotals(2000, 1000 + 2 * 1000)


def test_groups_of_an_unknown_fleet_are_refused_whole(store: Store) -> None:
    store.fleets.put(Fleet("hq"))
    good = make_group("hq", "DS-2CD3321G2-I", "V5", 1)
    with pytest.raises(UnknownFleet, match="'ghost'"):
        store.fleets.put_groups([good, make_group("ghost", "DS-2CD3321G2-I", "V5", 1)])
    assert store.fleets.groups() == []


def test_catalog_entries(store: Store) -> None:
    e = CatalogEntry("DS-2CD3321G2-I", date(2021, 3, 15), None, "fleets.csv line 2")
    assert store.catalog.put([e]) == 1 and store.catalog.put([e]) == 0
    assert store.catalog.get("DS-2CD3321G2-I") == e
    assert store.catalog.all() == [e]
    assert store.catalog.remove(e.pattern) and not store.catalog.remove(e.pattern)


def test_findings_listed_by_key_up_to_a_limit(store: Store) -> None:
    """The REST API lists the first findings by key: only those are read (a big estate has
    hundreds of thousands). Key order is code point order on every backend."""
    groups = ["g-b", "g-a", "G-z", "g-é", "g-_", "g-c"]
    found = [FindingData("hq" if i % 2 else "edge", g, "adv-1", "r1", {"i": i})
             for i, g in enumerate(groups)]
    store.findings.put_many(found, T0)
    store.findings.set_state(found[1].key, "resolved", T0)
    keys = sorted(f.key for f in found)
    assert [f.key for f in store.findings.all()] == keys
    assert [f.key for f in store.findings.all(limit=3)] == keys[:3]
    assert [f.key for f in store.findings.all(limit=0)] == []
    still = sorted(f.key for f in found if f.key != found[1].key)
    assert [f.key for f in store.findings.all("open", limit=4)] == still[:4]
    hq = sorted(f.key for f in found if f.fleet == "hq")
    assert [f.key for f in store.findings.for_fleet("hq", limit=2)] == hq[:2]
    assert [f.key for f in store.findings.for_fleet("hq", "resolved", limit=5)] == [found[1].key]
    assert [f.data for f in store.findings.for_fleet("edge", "open")] == [
        {"i": i} for i in (2, 4, 0)]  # G-z, g-_, g-b: code point order


def test_finding_stamps_are_item_revision_and_state_by_key(store: Store) -> None:
    f1 = FindingData("hq", "g1", "adv-1", "r1", {"stage": "dynamic"})
    f2 = FindingData("hq", "g2", "adv-2", "r7", {})
    assert store.findings.stamps() == {}
    store.findings.put_many([f1, f2], T0)
    store.findings.set_state(f2.key, "resolved", T0)
    assert store.findings.stamps() == {
        f1.key: FindingStamp("adv-1", "r1", "open"), f2.key: ("adv-2", "r7", "resolved")
    }


def test_a_lifecycle_reminders_long_revision_is_stored(store: Store) -> None:
    """A reminder's item key is its revision, and it names the model: no length is safe.

    PostgreSQL refused it (``value too long for type character varying(64)``), failing the
    whole cycle on the day a reminder for a model with a long name came due.
    """
    model = "DS-2DF8C842IXS-AELW(T5)/HIKCENTRAL-PROFESSIONAL-V2.6.0-VIDEO-SECURITY-EXTENDED"
    key = f"lifecycle:{model}:security-only:2027-03-01:90d"
    assert len(key) > 64
    found = FindingData("branch-office-with-a-long-name", "g1", key, key, {"stage": "dynamic"})
    assert store.findings.put_many([found], T0) == {found.key: "new"}
    got = store.findings.get(found.key)
    assert got is not None and got.revision == key


def test_meta_values_are_read_by_key_prefix(store: Store) -> None:
    """``prefixed`` matches the prefix literally: ``_`` and ``%`` are no wildcards."""
    for key in ("alerted:a|1", "alerted:b|2", "alerted-facts:a|1", "alertedX", "a_b:1", "aXb:1",
                "100%:x", "100:x"):
        store.meta.put(key, {"k": key}, T0)
    assert store.meta.prefixed("alerted:") == {"alerted:a|1": {"k": "alerted:a|1"},
                                               "alerted:b|2": {"k": "alerted:b|2"}}
    assert list(store.meta.prefixed("a_b")) == ["a_b:1"]
    assert list(store.meta.prefixed("100%")) == ["100%:x"]
    assert store.meta.prefixed("nothing:") == {}


def test_meta_values_are_put_many_at_once(store: Store) -> None:
    store.meta.put("a", 1, T0)
    store.meta.put_many({"a": {"x": [1]}, "b": None, "c": "three"}, T0)
    store.meta.put_many({}, T0)
    assert [store.meta.get(k) for k in "abc"] == [{"x": [1]}, None, "three"]


def test_a_meta_key_naming_a_firmware_package_of_many_models_is_stored(store: Store) -> None:
    """A firmware release's item key lists its models, and the routing memory keys meta by
    receiver and item key: no length is safe.

    PostgreSQL refused keys over 200 characters (``value too long for type character
    varying(200)``), failing every cycle once a package applied to eight models was alerted.
    """
    models = ",".join(f"DS-2CD2762G3-{suffix}(O-STD)" for suffix in ("I", "ISU", "IU", "IW",
                                                                      "IZHS", "LIS", "LISU"))
    key = f"alerted-facts:ticketing|{models}|V5.8.29 build 260925|Firmware__V5.8.29_89.zip"
    assert len(key) > 200
    store.meta.put(key, {"material": "m1"}, T0)
    assert store.meta.get(key) == {"material": "m1"}


def test_findings(store: Store) -> None:
    f1 = FindingData("hq", "g1", "adv-1", "r1", {"stage": "dynamic"})
    f2 = FindingData("hq", "g2", "adv-1", "r1", {})
    assert f1.key == finding_key("hq", "g1", "adv-1")
    assert store.findings.put_many([f1, f2], T0) == {f1.key: "new", f2.key: "new"}
    later = T0 + timedelta(days=1)
    revised = FindingData("hq", "g1", "adv-1", "r2", {"stage": "security-only"})
    assert store.findings.put_many([revised, f2], later) == {f1.key: "revised", f2.key: "unchanged"}
    got = store.findings.get(f1.key)
    assert got is not None
    assert (got.revision, got.data, got.first_seen, got.updated_at) == (
        "r2", {"stage": "security-only"}, T0, later)
    assert store.findings.set_state(f2.key, "resolved", later)
    assert not store.findings.set_state(f2.key, "resolved", later)
    assert [f.key for f in store.findings.all("open")] == [f1.key]
    assert store.findings.count() == 2 and store.findings.count("resolved") == 1
    assert len(store.findings.for_item("adv-1")) == 2
    assert [f.key for f in store.findings.for_fleet("hq", "resolved")] == [f2.key]


def test_outbox_enqueues_many_in_order_and_dedupes_them(store: Store) -> None:
    """A cycle queues its alerts in one write: new entries get ascending ids in the order given
    (delivery order within an item follows them); one already there, or given twice, gets
    None and stays as it was."""
    old = store.outbox.enqueue("slack", "d0", {"n": 0}, T0, alert_id="a0")
    assert old is not None
    entries = [NewEntry("slack", f"d{n}", {"n": n}, f"a{n}") for n in range(250)]
    entries.insert(3, NewEntry("slack", "d2", {"n": "again"}, "other"))
    ids = store.outbox.enqueue_many(entries, T0 + timedelta(seconds=1))
    assert ids[0] is None and ids[3] is None  # d0 was there; d2 came earlier in the batch
    made = [i for i in ids if i is not None]
    assert len(made) == 249 and made == sorted(made) and old not in made
    by_id: dict[int | None, OutboxEntry] = {e.id: e for e in store.outbox.all(receiver="slack")}
    assert by_id[ids[1]].dedupe_key == "d1" and by_id[ids[1]].alert_id == "a1"
    assert by_id[ids[4]].payload == {"n": 3} and by_id[old].payload == {"n": 0}
    assert store.outbox.enqueue_many([], T0) == []


def test_outbox_dedupes_claims_and_records(store: Store) -> None:
    first = store.outbox.enqueue("slack", "d1", {"n": 1}, T0, alert_id="a1")
    assert first is not None and store.outbox.enqueue("slack", "d1", {"n": 1}, T0) is None
    second = store.outbox.enqueue("hook", "d1", {"n": 2}, T0 + timedelta(seconds=1))
    assert second is not None
    now = T0 + timedelta(minutes=1)
    claimed = store.outbox.claim("w1", now, lease=LEASE, limit=1)
    assert [e.id for e in claimed] == [first] and claimed[0].claimed_by == "w1"
    assert [e.id for e in store.outbox.claim("w2", now, lease=LEASE, receivers=["slack"])] == []
    assert [e.id for e in store.outbox.claim("w2", now, lease=LEASE)] == [second]
    retry_at = now + timedelta(minutes=5)
    entry = store.outbox.record(first, Attempt("retry", now, "w1", 503, "busy", retry_at, 12))
    assert (entry.status, entry.attempts, entry.claimed_by, entry.next_attempt_at) == (
        "retrying", 1, None, retry_at)
    assert store.outbox.claim("w1", now, lease=LEASE) == []
    assert store.outbox.next_due() == T0 + timedelta(seconds=1)
    assert [e.id for e in store.outbox.claim("w1", retry_at, lease=LEASE, receivers=["slack"])
            ] == [first]
    sent = store.outbox.record(first, Attempt("sent", retry_at, "w1", 200))
    assert (sent.status, sent.attempts) == ("sent", 2)
    late = store.outbox.record(first, Attempt("dead", retry_at, "w3", 400, "late"))
    assert late.status == "sent", "a late failure never undoes a delivery"
    dead = store.outbox.record(second, Attempt("dead", now, "w2", 404, "gone"))
    assert (dead.status, dead.last_status, dead.last_error) == ("dead", 404, "gone")
    assert store.outbox.counts() == {"pending": 0, "retrying": 0, "sent": 1, "dead": 1}
    assert [e.id for e in store.outbox.all(["dead"])] == [second]
    log = store.deliveries.recent(first)
    assert [(d.attempt, d.outcome, d.status_code) for d in log] == [
        (3, "dead", 400), (2, "sent", 200), (1, "retry", 503)]
    replayed = store.outbox.replay(second, retry_at)
    assert replayed is not None and (replayed.status, replayed.attempts) == ("pending", 0)
    assert store.outbox.find("hook", "d1") == replayed and store.outbox.replay(999, now) is None
    # Listed as dead, replayed meanwhile by someone else: `replay --dead` leaves it (sent again,
    # or unclaimed under the worker delivering it, otherwise).
    assert store.outbox.replay(second, retry_at, only=["dead"]) is None
    assert store.outbox.replay(first, retry_at, only=["dead"]) is None
    assert [(e.id, e.status) for e in store.outbox.all()] == [(first, "sent"), (second, "pending")]
    assert store.outbox.prune_sent(retry_at + timedelta(seconds=1)) == 1
    assert store.outbox.get(first) is None
    assert store.deliveries.prune(T0 + timedelta(days=1)) == 4


def test_outbox_leases_expire_and_can_be_released(store: Store) -> None:
    entry_id = store.outbox.enqueue("slack", "d1", {}, T0)
    assert entry_id is not None
    assert len(store.outbox.claim("w1", T0, lease=LEASE)) == 1
    assert store.outbox.claim("w2", T0 + LEASE - timedelta(seconds=1), lease=LEASE) == []
    assert [e.claimed_by for e in store.outbox.claim("w2", T0 + LEASE, lease=LEASE)] == ["w2"]
    assert not store.outbox.release(entry_id, "w1") and store.outbox.release(entry_id, "w2")
    assert store.outbox.next_due() == T0
    with pytest.raises(ValueError, match="next_attempt_at"):
        store.outbox.record(entry_id, Attempt("retry", T0, "w2"))
    with pytest.raises(StoreError, match="no outbox entry"):
        store.outbox.record(12345, Attempt("sent", T0, "w2"))


def test_threads_never_claim_the_same_entry(store: Store) -> None:
    with store.transaction():
        for i in range(60):
            store.outbox.enqueue("slack", f"d{i}", {}, T0)
    seen: list[int] = []

    def worker(name: str) -> None:
        while batch := store.outbox.claim(name, T0, lease=LEASE, limit=3):
            for e in batch:
                seen.append(e.id)
                store.outbox.record(e.id, Attempt("sent", T0, name, 200))

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, 61))


def test_silences(store: Store) -> None:
    s = store.silences.add([{"name": "fleet", "value": "hq"}], ends_at=T0 + timedelta(days=7),
                           author="U1", comment="maintenance", now=T0)
    assert s.is_active(T0) and store.silences.get(s.id) == s
    future = store.silences.add([], ends_at=T0 + timedelta(days=9), author="U2", comment="",
                                now=T0, starts_at=T0 + timedelta(days=8))
    assert [x.id for x in store.silences.active(T0)] == [s.id]
    assert store.silences.expire(s.id, T0 + timedelta(days=1))
    assert not store.silences.expire(s.id, T0 + timedelta(days=2))
    assert store.silences.active(T0 + timedelta(days=1)) == []
    assert [x.id for x in store.silences.all()] == [s.id, future.id]
    assert store.silences.prune(T0 + timedelta(days=2)) == 1 and store.silences.get(s.id) is None


def test_acks_and_snoozes_are_idempotent(store: Store) -> None:
    assert store.acks.get("a1") is None
    assert store.acks.ack("a1", "U1", T0) and not store.acks.ack("a1", "U2", T0)
    week = T0 + timedelta(days=7)
    assert store.acks.snooze("a2", "U1", week, T0) and not store.acks.snooze("a2", "U1", week, T0)
    assert store.acks.snooze("a2", "U3", week + timedelta(days=23), T0)
    states = store.acks.many(["a1", "a2", "a3"])
    assert states["a1"].acked_by == "U1" and states["a1"].snoozed_until is None
    assert states["a2"].snoozed_by == "U3" and states["a2"].is_snoozed(week)
    assert "a3" not in states


def test_slack_refs_keep_the_first_message(store: Store) -> None:
    first = store.slack.remember("a1", "C1", "1700000000.000100", T0)
    assert store.slack.remember("a1", "C2", "1700000001.000100", T0) == first
    assert store.slack.get("a1") == first
    assert store.slack.by_message("C1", "1700000000.000100") == first
    assert store.slack.by_message("C2", "1700000001.000100") is None


def test_meta_holds_json_values(store: Store) -> None:
    store.meta.put("last_cycle", {"at": "2026-03-01T12:00:00Z", "alerts": 3}, T0)
    store.meta.put("n", 5, T0)
    assert store.meta.get("last_cycle") == {"at": "2026-03-01T12:00:00Z", "alerts": 3}
    assert store.meta.get("n") == 5
    assert store.meta.delete("n") and not store.meta.delete("n") and store.meta.get("n") is None



def test_record_many_matches_record_one_by_one(store: Store) -> None:
    ids = [store.outbox.enqueue("hook", f"d{i}", {"n": i}, T0) for i in range(4)]
    assert all(i is not None for i in ids)
    a, b, c, d = (int(i) for i in ids if i is not None)
    assert len(store.outbox.claim("w1", T0, lease=LEASE, limit=4)) == 4
    retry_at = T0 + timedelta(minutes=5)
    store.outbox.record_many([
        (a, Attempt("sent", T0, "w1", 200, duration_ms=7)),
        (b, Attempt("retry", T0, "w1", 503, "busy", retry_at, 9)),
        (c, Attempt("dead", T0, "w1", 404, "gone")),
        (a, Attempt("dead", T0, "w2", 400, "late")),  # a late failure never undoes a delivery
    ])
    got = {e.id: e for e in store.outbox.all()}
    assert (got[a].status, got[a].attempts, got[a].claimed_by, got[a].last_status) == (
        "sent", 2, None, 400)
    assert (got[b].status, got[b].next_attempt_at, got[b].claimed_by) == (
        "retrying", retry_at, None)
    assert (got[c].status, got[c].last_error) == ("dead", "gone")
    assert (got[d].status, got[d].claimed_by) == ("pending", "w1")
    log = store.deliveries.recent(a)
    assert [(x.attempt, x.outcome, x.status_code) for x in log] == [
        (2, "dead", 400), (1, "sent", 200)]
    with pytest.raises(StoreError, match="no outbox entry"):
        store.outbox.record_many(
            [(d, Attempt("sent", T0, "w1", 200)), (12345, Attempt("sent", T0, "w1"))])
    with pytest.raises(ValueError, match="next_attempt_at"):
        store.outbox.record_many([(d, Attempt("retry", T0, "w1"))])
    untouched = store.outbox.get(d)
    assert untouched is not None and untouched.status == "pending"  # nothing was recorded
    store.outbox.record_many([])


def test_a_value_read_for_update_is_not_overwritten_by_a_concurrent_writer(
    store: Store, store_url: str
) -> None:
    # Two workers add to one record at once (the scheduler's job book): neither addition is lost.
    other = store if store_url.startswith("tinydb:") else open_store(store_url)
    store.meta.put("count", 0, T0)
    done = threading.Event()

    def add_one() -> None:
        with other.transaction():
            other.meta.put("count", other.meta.get("count", for_update=True) + 1, T0)
        done.set()

    thread = threading.Thread(target=add_one)
    try:
        with store.transaction():
            value = store.meta.get("count", for_update=True)
            thread.start()
            done.wait(timeout=1)  # a writer that does not wait for this one is done by now
            store.meta.put("count", value + 1, T0)
        thread.join(timeout=60)
    finally:
        if other is not store:
            other.close()
    assert store.meta.get("count") == 2
