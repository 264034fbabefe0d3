"""The delivery worker on every store backend: once in normal operation, at least once always."""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.service.jobs import real_work
from bot.sources.fetcher import Fetcher
from notifiers import NOTIFIERS, build_notifiers, health, webhook
from notifiers.base import AlertDoc, SendResult, Thread
from notifiers.delivery import BATCH, deliver_due, thread_key
from notifiers.recorder import Pending, Recorder
from notifiers.slack import ChannelLimiter
from state import Attempt, Store
from tests.fakeslack import TOKEN, FakeSlack
from tests.httpserver import LocalServer, Route
from tests.notifier_helpers import NOW, FakeNotifier, document, finding, kev_update, settings
from tests.test_schedule import EXPECTED

FAIL = SendResult(ok=False, status=500, error="HTTP 500")


def enqueue(store: Store, receiver: str, doc: dict[str, Any]) -> int:
    entry_id = store.outbox.enqueue(receiver, doc["dedupe_key"], doc, NOW, alert_id=doc["id"])
    assert entry_id is not None
    return entry_id


def docs(receiver: str, n: int, prefix: str = "I") -> list[dict[str, Any]]:
    return [document(receiver, f"{prefix}{i:03d}") for i in range(n)]


def test_each_due_entry_is_sent_once(store: Store) -> None:
    a, b = FakeNotifier("a", concurrency=4), FakeNotifier("b")
    for doc in docs("a", 25):
        enqueue(store, "a", doc)
    ids_b = [d["id"] for d in docs("b", 3)]
    for doc in docs("b", 3):
        enqueue(store, "b", doc)
    again = docs("b", 1)[0]
    assert store.outbox.enqueue("b", again["dedupe_key"], again, NOW) is None  # duplicate
    report = deliver_due(store, settings(), NOW, worker="w1", notifiers={"a": a, "b": b})
    assert (report.sent, report.retried, report.dead, report.skipped) == (28, 0, 0, 0)
    assert sorted(a.ids()) == sorted(d["id"] for d in docs("a", 25))
    assert len(set(a.ids())) == 25 and b.ids() == ids_b
    later = deliver_due(
        store, settings(), NOW + timedelta(days=1), worker="w2", notifiers={"a": a, "b": b}
    )
    assert later.sent == 0 and len(a.sent) == 25
    assert store.outbox.counts()["sent"] == 28
    assert len(store.deliveries.recent(receiver="a")) == 25


def test_retry_schedule_until_dead(store: Store) -> None:
    a = FakeNotifier("a", *[FAIL] * 8)
    entry_id = enqueue(store, "a", docs("a", 1)[0])
    rng, now = random.Random(7), NOW
    for attempt in range(8):
        early = deliver_due(
            store,
            settings(),
            now - timedelta(seconds=1),
            worker="w",
            notifiers={"a": a},
            clock=lambda: 0.0,
        )
        assert early.sent + early.retried + early.dead == 0 or attempt == 0
        report = deliver_due(
            store, settings(), now, worker="w", notifiers={"a": a}, rng=rng, clock=lambda: 0.0
        )
        entry = store.outbox.get(entry_id)
        assert entry is not None and entry.attempts == attempt + 1
        if attempt < 7:
            assert report.retried == 1 and entry.status == "retrying"
            delay = entry.next_attempt_at - now
            assert EXPECTED[attempt] * 0.8 <= delay <= EXPECTED[attempt] * 1.2
            now = entry.next_attempt_at
    assert entry is not None
    assert report.dead == 1 and entry.status == "dead" and entry.last_status == 500
    assert entry.last_error == "gave up after 8 attempts; last error: HTTP 500"
    assert len(a.sent) == 8


def test_retry_after_pauses_only_that_receiver(store: Store) -> None:
    slow = SendResult(ok=False, status=429, error="rate limited", retry_after=600)
    a, b = FakeNotifier("a", slow), FakeNotifier("b")
    first, *rest = [enqueue(store, "a", d) for d in docs("a", 3)]
    for doc in docs("b", 2):
        enqueue(store, "b", doc)
    report = deliver_due(
        store, settings(), NOW, worker="w", notifiers={"a": a, "b": b}, clock=lambda: 0.0
    )
    assert (report.sent, report.retried, report.skipped) == (2, 1, 2)
    entry = store.outbox.get(first)
    assert entry is not None and entry.next_attempt_at >= NOW + timedelta(seconds=600)
    assert all(
        (e := store.outbox.get(i)) and e.status == "pending" and e.claimed_by is None for i in rest
    )
    held = deliver_due(
        store, settings(), NOW + timedelta(minutes=1), worker="w", notifiers={"a": a, "b": b}
    )
    assert held.sent == 0 and held.waiting["a"].startswith("paused until")
    done = deliver_due(
        store, settings(), NOW + timedelta(seconds=601), worker="w", notifiers={"a": a, "b": b}
    )
    assert done.sent == 3 and len(a.sent) == 4


def test_gone_receiver_is_disabled_announced_and_enabled_again(store: Store) -> None:
    config = settings(
        {"name": "hook", "type": "console"},
        {"name": "chat", "type": "slack", "channel": "#ops"},
        fleets=[{"name": "hq", "receivers": ["hook", "chat"]}],
    )
    gone = SendResult(ok=False, status=410, error="HTTP 410 Gone", disable=True)
    hook, chat = FakeNotifier("hook", gone), FakeNotifier("chat")
    both = {"hook": hook, "chat": chat}
    ids = [enqueue(store, "hook", d) for d in docs("hook", 2)]
    report = deliver_due(store, config, NOW, worker="w", notifiers=both)
    assert report.disabled == ["hook"] and report.skipped == 1
    assert health.disabled(store)["hook"]["reason"] == "HTTP 410 Gone"
    (notice,) = store.outbox.all(receiver="chat")
    assert notice.payload["kind"] == "notice" and "outbox enable hook" in notice.payload["summary"]
    waiting = deliver_due(store, config, NOW + timedelta(hours=1), worker="w", notifiers=both)
    assert waiting.sent == 1 and chat.ids() == [notice.payload["id"]]
    assert waiting.waiting == {"hook": "disabled: HTTP 410 Gone"} and len(hook.sent) == 1
    assert {e.status for e in store.outbox.all(receiver="hook")} <= {"pending", "retrying"}
    assert health.enable(store, "hook", NOW + timedelta(hours=2)) == (True, 2)
    again = deliver_due(store, config, NOW + timedelta(hours=2), worker="w", notifiers=both)
    assert again.sent == 2 and all((e := store.outbox.get(i)) and e.status == "sent" for i in ids)


def test_failing_for_five_days_disables(store: Store) -> None:
    config = settings(
        {"name": "hook", "type": "console"},
        {"name": "chat", "type": "slack", "channel": "#ops"},
        fleets=[{"name": "hq", "receivers": ["hook", "chat"]}],
    )
    hook = FakeNotifier("hook", *[FAIL] * 10)
    enqueue(store, "hook", docs("hook", 1)[0])
    assert deliver_due(store, config, NOW, worker="w", notifiers={"hook": hook}).disabled == []
    later = NOW + timedelta(days=5, seconds=1)
    report = deliver_due(store, config, later, worker="w", notifiers={"hook": hook})
    assert report.disabled == ["hook"]
    assert health.disabled(store)["hook"]["reason"].startswith("every delivery failed for 5 days")


def test_refused_payloads_days_apart_do_not_disable_a_receiver(store: Store) -> None:
    """A receiver that refused one alert's payload (400: a dead letter, the receiver is fine)
    and, quiet for days, another, was disabled as "failing for 5 days"."""
    config = settings({"name": "hook", "type": "console"})
    refused = SendResult(ok=False, status=400, error="HTTP 400: bad field", permanent=True)
    hook = FakeNotifier("hook", refused, refused)
    first, second = docs("hook", 2)
    enqueue(store, "hook", first)
    assert deliver_due(store, config, NOW, worker="w", notifiers={"hook": hook}).dead == 1
    later = NOW + timedelta(days=6)
    store.outbox.enqueue("hook", second["dedupe_key"], second, later, alert_id=second["id"])
    report = deliver_due(store, config, later, worker="w", notifiers={"hook": hook})
    assert report.dead == 1 and report.disabled == [] and health.disabled(store) == {}



@pytest.mark.parametrize(
    "failure",
    [
        SendResult(ok=False, error="refused http://hook.example: resolves to 10.0.0.7",
                   permanent=True),  # the address guard: the receiver's address, every alert
        SendResult(ok=False, error="Slack client error: bad base_url", permanent=True),
    ],
)
def test_a_receiver_never_reached_for_five_days_is_disabled(
    store: Store, failure: SendResult
) -> None:
    """Only a payload the receiver answered and refused says nothing of the receiver: a
    permanent failure without an answer (its address refused, the client failing) is every
    alert's, and such a receiver was never disabled nor announced (each alert a dead letter)."""
    config = settings({"name": "hook", "type": "console"})
    hook = FakeNotifier("hook", failure, failure)
    first, second = docs("hook", 2)
    enqueue(store, "hook", first)
    assert deliver_due(store, config, NOW, worker="w", notifiers={"hook": hook}).dead == 1
    later = NOW + timedelta(days=5, seconds=1)
    store.outbox.enqueue("hook", second["dedupe_key"], second, later, alert_id=second["id"])
    report = deliver_due(store, config, later, worker="w", notifiers={"hook": hook})
    assert report.disabled == ["hook"]

def test_a_slow_receiver_does_not_delay_another(store: Store) -> None:
    fast_done = threading.Event()
    waited: list[bool] = []
    fast = FakeNotifier("fast", hook=lambda doc: None)
    fast.hook = lambda doc: fast_done.set() if len(fast.sent) == 2 else None
    slow = FakeNotifier("slow", hook=lambda doc: waited.append(fast_done.wait(10)))
    enqueue(store, "slow", docs("slow", 1)[0])
    for doc in docs("fast", 3):
        enqueue(store, "fast", doc)
    report = deliver_due(store, settings(), NOW, worker="w", notifiers={"slow": slow, "fast": fast})
    assert waited == [True] and report.sent == 4


class Crash(BaseException):
    """The process dies right after the receiver accepted the alert."""


def test_crash_between_claim_and_record_is_resent_after_the_lease(store: Store) -> None:
    a = FakeNotifier("a")
    ids = [enqueue(store, "a", d) for d in docs("a", 2)]
    assert len(store.outbox.claim("crashed", NOW, lease=timedelta(minutes=5))) == 2
    assert (
        deliver_due(
            store, settings(), NOW + timedelta(minutes=1), worker="w", notifiers={"a": a}
        ).sent
        == 0
    )
    report = deliver_due(
        store, settings(), NOW + timedelta(minutes=5, seconds=1), worker="w", notifiers={"a": a}
    )
    assert report.sent == 2 and all((e := store.outbox.get(i)) and e.status == "sent" for i in ids)


def test_crash_after_send_resends_with_the_same_id(store: Store) -> None:
    seen: list[str] = []

    def die_once(doc: AlertDoc) -> None:
        seen.append(str(doc["id"]))
        if len(seen) == 1:
            raise Crash

    a = FakeNotifier("a", hook=die_once)
    doc = docs("a", 1)[0]
    entry_id = enqueue(store, "a", doc)
    with pytest.raises(Crash):
        deliver_due(store, settings(), NOW, worker="w", notifiers={"a": a})
    deliver_due(store, settings(), NOW + timedelta(hours=1), worker="w", notifiers={"a": a})
    assert seen == [doc["id"], doc["id"]]
    entry = store.outbox.get(entry_id)
    assert entry is not None and entry.status == "sent"


def test_a_notifier_bug_is_a_failed_attempt(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    def boom(doc: AlertDoc) -> None:
        raise RuntimeError("boom")

    entry_id = enqueue(store, "a", docs("a", 1)[0])
    report = deliver_due(
        store, settings(), NOW, worker="w", notifiers={"a": FakeNotifier("a", hook=boom)}
    )
    entry = store.outbox.get(entry_id)
    assert report.retried == 1 and entry is not None and entry.status == "retrying"
    assert entry.last_error == "the notifier failed: RuntimeError"
    assert "notifier a failed on outbox entry" in caplog.text


def test_stop_releases_claims_not_attempted(store: Store) -> None:
    stop = threading.Event()
    a = FakeNotifier("a", hook=lambda doc: stop.set())
    ids = [enqueue(store, "a", d) for d in docs("a", 4)]
    report = deliver_due(store, settings(), NOW, worker="w", notifiers={"a": a}, stop=stop)
    assert (report.sent, report.skipped) == (1, 3)
    left = [store.outbox.get(i) for i in ids[1:]]
    assert all(e and e.status == "pending" and e.claimed_by is None for e in left)


def test_updates_of_an_item_follow_their_first_alert(store: Store) -> None:
    a = FakeNotifier("a", concurrency=4, threaded=True)
    items = [f"ITEM-{i}" for i in range(6)]
    firsts = [document("a", item) for item in items]
    updates = [kev_update("a", item) for item in items]
    for doc in firsts + updates:
        enqueue(store, "a", doc)
    assert deliver_due(store, settings(), NOW, worker="w", notifiers={"a": a}).sent == 12
    threads = dict(a.sent)
    assert all(threads[d["id"]] is None for d in firsts)
    for first, update in zip(firsts, updates, strict=True):
        ref = store.slack.get(thread_key("a", first))
        assert ref is not None and threads[update["id"]] == Thread(ref.channel, ref.ts)


def test_an_update_waits_for_its_items_first_alert_while_that_one_is_retried(
    store: Store,
) -> None:
    """The first alert about an item failed and waits for its retry; an update made meanwhile
    is due at once: it waits too, then follows it (and its thread)."""
    a = FakeNotifier("a", FAIL, threaded=True)
    first = document("a", "ITEM-1")
    enqueue(store, "a", first)
    assert deliver_due(store, settings(), NOW, worker="w", notifiers={"a": a},
                       clock=lambda: 0.0).retried == 1
    update, other = kev_update("a", "ITEM-1"), document("a", "ITEM-2")
    enqueue(store, "a", update)
    enqueue(store, "a", other)
    soon = NOW + timedelta(seconds=1)
    report = deliver_due(store, settings(), soon, worker="w", notifiers={"a": a},
                         clock=lambda: 0.0)
    assert report.sent == 1 and [i for i, _ in a.sent[1:]] == [other["id"]]  # not the update
    waiting = store.outbox.find("a", update["dedupe_key"])
    assert waiting is not None and waiting.status == "pending" and waiting.claimed_by is None
    later = NOW + timedelta(days=1)
    assert deliver_due(store, settings(), later, worker="w", notifiers={"a": a},
                       clock=lambda: 0.0).sent == 2
    assert [i for i, _ in a.sent[2:]] == [first["id"], update["id"]]
    assert dict(a.sent)[update["id"]] is not None  # in the first alert's thread


def test_many_updates_waiting_for_their_first_alerts_do_not_stall_the_receiver(
    store: Store,
) -> None:
    """More waiting updates than a claim holds: they wait until what they wait for is due,
    rather than filling every claim (the retries they wait for, and other alerts, still go)."""
    items = [f"ITEM-{i:02d}" for i in range(BATCH + 2)]
    a = FakeNotifier("a", *[FAIL] * len(items))
    firsts = [document("a", item) for item in items]
    for doc in firsts:
        enqueue(store, "a", doc)
    assert deliver_due(store, settings(), NOW, worker="w", notifiers={"a": a},
                       clock=lambda: 0.0).retried == len(items)
    updates = [kev_update("a", item) for item in items]
    for doc in updates:
        enqueue(store, "a", doc)
    other = document("a", "OTHER")
    enqueue(store, "a", other)
    soon = deliver_due(store, settings(), NOW + timedelta(seconds=1), worker="w",
                       notifiers={"a": a}, clock=lambda: 0.0)
    assert soon.sent == 1 and a.sent[-1][0] == other["id"]  # the other alert is not held up
    later = deliver_due(store, settings(), NOW + timedelta(days=1), worker="w",
                        notifiers={"a": a}, clock=lambda: 0.0)
    assert later.sent == 2 * len(items)
    order = [i for i, _ in a.sent]
    for first, update in zip(firsts, updates, strict=True):
        assert order.index(update["id"]) > len(order) - 1 - order[::-1].index(first["id"])


def test_an_update_behind_a_first_alert_that_fails_in_the_same_pass_waits_for_its_retry(
    store: Store,
) -> None:
    a = FakeNotifier("a", FAIL)
    first, update = document("a", "ITEM-1"), kev_update("a", "ITEM-1")
    enqueue(store, "a", first)
    enqueue(store, "a", update)
    report = deliver_due(store, settings(), NOW, worker="w", notifiers={"a": a},
                         clock=lambda: 0.0)
    assert (report.sent, report.retried) == (0, 1) and [i for i, _ in a.sent] == [first["id"]]
    retry = store.outbox.find("a", first["dedupe_key"])
    waiting = store.outbox.find("a", update["dedupe_key"])
    assert retry is not None and waiting is not None and waiting.claimed_by is None
    assert waiting.next_attempt_at == retry.next_attempt_at + timedelta(milliseconds=1)


def test_slack_updates_are_threaded_under_the_first_message(
    store: Store, fake_slack: FakeSlack
) -> None:
    config = settings(
        {"name": "chat", "type": "slack", "channel": "#ops"},
        network={"allow_hosts": ["127.0.0.1"]},
        slack={"api_base_url": fake_slack.url},
    )
    built, problems = build_notifiers(config, {"SLACK_BOT_TOKEN": TOKEN})
    assert problems == {}
    built["chat"].limiter = ChannelLimiter(0)  # type: ignore[attr-defined]
    first = document("chat", "HSRC-1")
    enqueue(store, "chat", first)
    enqueue(store, "chat", document("chat", "HSRC-2"))
    assert deliver_due(store, config, NOW, worker="w", notifiers=built).sent == 2
    update = kev_update("chat", "HSRC-1")
    enqueue(store, "chat", update)
    assert deliver_due(store, config, NOW, worker="w", notifiers=built).sent == 1
    posts = fake_slack.posts()
    assert [p.body.get("thread_ts") for p in posts] == [None, None, posts[0].body["ts"]]
    ref = store.slack.get(first["id"])
    assert ref is not None and ref.ts == posts[0].body["ts"]
    reply = store.slack.get(update["id"])
    assert reply is not None and reply.ts == posts[2].body["ts"]


def test_an_update_whose_thread_is_in_a_refused_channel_starts_a_new_one_in_the_receivers(
    store: Store, fake_slack: FakeSlack
) -> None:
    """The item's first message is in #ops; #ops is archived and the receiver moves to
    #new-ops. The update is posted there as a new first message (and the next one replies to
    it) instead of the old thread's channel disabling the receiver again on every enable."""

    def config(channel: str) -> Any:
        return settings({"name": "chat", "type": "slack", "channel": channel},
                        network={"allow_hosts": ["127.0.0.1"]},
                        slack={"api_base_url": fake_slack.url})

    def deliver(channel: str, at: timedelta) -> Any:
        built, _ = build_notifiers(config(channel), {"SLACK_BOT_TOKEN": TOKEN})
        built["chat"].limiter = ChannelLimiter(0)  # type: ignore[attr-defined]
        return deliver_due(store, config(channel), NOW + at, worker="w", notifiers=built)

    enqueue(store, "chat", document("chat", "HSRC-1"))
    assert deliver("#ops", timedelta(0)).sent == 1
    fake_slack.refused["COPS"] = "is_archived"
    enqueue(store, "chat", kev_update("chat", "HSRC-1"))
    enqueue(store, "chat", document("chat", "HSRC-2"))
    report = deliver("#new-ops", timedelta(minutes=1))
    assert (report.sent, report.disabled, health.disabled(store)) == (2, [], {})
    enqueue(store, "chat", document("chat", "HSRC-1", [finding("HSRC-1", count=9)],
                                    previous=[finding("HSRC-1")]))
    assert deliver("#new-ops", timedelta(minutes=2)).sent == 1
    posts = [(p.body["channel"], p.body.get("thread_ts")) for p in fake_slack.posts()]
    restarted = fake_slack.posts()[1].body["ts"]
    assert posts == [("#ops", None), ("#new-ops", None), ("#new-ops", None),
                     ("CNEW-OPS", restarted)]
    fake_slack.refused["CNEW-OPS"] = "is_archived"  # the receiver's own channel: disabled
    enqueue(store, "chat", kev_update("chat", "HSRC-2"))
    assert deliver("#new-ops", timedelta(minutes=3)).disabled == ["chat"]
    assert "'#new-ops' is archived" in health.disabled(store)["chat"]["reason"]


def test_receivers_that_cannot_be_built_wait_untouched(store: Store) -> None:
    config = settings({"name": "chat", "type": "slack", "channel": "#ops"})
    entry_id = enqueue(store, "chat", docs("chat", 1)[0])
    report = deliver_due(store, config, NOW, worker="w", environ={})
    assert "SLACK_BOT_TOKEN" in report.waiting["chat"] and report.sent == 0
    entry = store.outbox.get(entry_id)
    assert entry is not None and (entry.status, entry.attempts) == ("pending", 0)


def test_logs_name_the_failure(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "firmwatch.delivery")
    enqueue(store, "a", docs("a", 1)[0])
    deliver_due(store, settings(), NOW, worker="w", notifiers={"a": FakeNotifier("a", FAIL)})
    assert "delivery to a failed (entry 1, attempt 1): HTTP 500" in caplog.text


def test_notifiers_built_for_a_pass_are_closed_after_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []

    class Closing(FakeNotifier):
        def close(self) -> None:
            closed.append(self.name)

    monkeypatch.setitem(NOTIFIERS, "console", lambda receiver, s, env: Closing(receiver.name))
    enqueue(store, "ops", docs("ops", 1)[0])
    report = deliver_due(store, settings({"name": "ops", "type": "console"}), NOW, worker="w1")
    assert report.sent == 1 and closed == ["ops"]  # a long-running worker leaks no connections
    given = Closing("ops")
    deliver_due(store, settings(), NOW, worker="w1", notifiers={"ops": given})
    assert closed == ["ops"]  # notifiers the caller passed in stay the caller's to close


def test_a_full_group_of_attempts_is_committed_by_the_recorders_thread(store: Store) -> None:
    """Senders hand a full group to the recorder's thread instead of waiting for the commit."""
    ids = [enqueue(store, "a", d) for d in docs("a", 4)]
    claimed = store.outbox.claim("w", NOW, lease=timedelta(minutes=2), limit=4)
    assert [e.id for e in claimed] == ids
    recorder = Recorder(store, size=3, every=3600.0)  # the timer alone would wait an hour
    try:
        for entry_id in ids[:3]:
            recorder.add(Pending(entry_id, Attempt("sent", NOW, "w", 200)))
        deadline = time.monotonic() + 10
        while store.outbox.counts().get("sent", 0) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.outbox.counts().get("sent", 0) == 3
        recorder.add(Pending(ids[3], Attempt("sent", NOW, "w", 200)))  # below a group: waits
    finally:
        recorder.close()  # and close commits the rest
    assert store.outbox.counts().get("sent", 0) == 4


def test_the_service_job_logs_receivers_left_waiting_once_per_reason(
    store: Store, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    config = settings({"name": "ticketing", "type": "webhook", "secret_env": "TICKET_SECRET",
                       "url": "https://tickets.example.com/hook"})
    enqueue(store, "ticketing", docs("ticketing", 1)[0])
    environ = {"TICKET_SECRET": "not-a-whsec"}
    caplog.set_level(logging.INFO, "firmwatch.delivery")
    with Fetcher(config.network) as fetcher:
        work = real_work(store, config, fetcher=fetcher, base=tmp_path, config_name="bot.toml",
                         environ=environ, worker="w", stop=threading.Event())
        for _ in range(3):
            work.deliver(NOW)
        waiting = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
        assert len(waiting) == 1, waiting
        assert "ticketing" in waiting[0] and "does not start with whsec_" in waiting[0]
        assert "not-a-whsec" not in caplog.text
        del environ["TICKET_SECRET"]
        work.deliver(NOW)
        work.deliver(NOW)
        waiting = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
        assert len(waiting) == 2 and "is not set or empty" in waiting[1], waiting


def test_a_receiver_that_does_not_answer_is_tried_once_a_pass(
    store: Store, http_server: LocalServer
) -> None:
    """Four alerts about four items to a webhook that never answers in time: one attempt waits
    out the deadline, the other three wait for the next pass instead of each waiting it out."""
    url = http_server.route("/hook", Route(200, delay=3), Route(200))
    receiver = {"name": "hook", "type": "webhook", "url": url, "secret_env": "HOOK_SECRET"}
    config = settings(receiver, network={"allow_hosts": ["127.0.0.1"]})
    env = {"HOOK_SECRET": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="}
    hook = webhook.build(config.receivers[0], config, env, deadline=0.3)
    ids = [enqueue(store, "hook", d) for d in docs("hook", 4)]
    try:
        report = deliver_due(store, config, NOW, worker="w", notifiers={"hook": hook})
        assert (report.sent, report.retried, report.skipped) == (0, 1, 3)
        assert len(http_server.requests_to("/hook")) == 1
        assert report.waiting["hook"].startswith("a delivery failed (")
        assert report.waiting["hook"].endswith("timed out after 0.3 s); the rest waits for the"
                                               " next pass")
        left = [store.outbox.get(i) for i in ids[1:]]
        assert all(e is not None and e.attempts == 0 and e.claimed_by is None for e in left)
        later = deliver_due(store, config, NOW + timedelta(hours=1), worker="w",
                            notifiers={"hook": hook})
        assert (later.sent, later.retried, later.waiting) == (4, 0, {})
    finally:
        hook.close()


@pytest.mark.parametrize(
    ("answer", "stops"),
    [
        (SendResult(ok=False, error="connection refused"), True),
        (SendResult(ok=False, status=429, error="HTTP 429"), True),
        (SendResult(ok=False, status=502, error="HTTP 502"), True),
        (SendResult(ok=False, status=503, error="HTTP 503"), True),
        (SendResult(ok=False, status=504, error="HTTP 504"), True),
        (FAIL, False),  # a 500 may be about this alert alone: the others are tried
        (SendResult(ok=False, status=400, error="HTTP 400", permanent=True), False),
    ],
)
def test_which_failures_stop_a_pass_trying_the_receiver(
    store: Store, answer: SendResult, stops: bool
) -> None:
    a, b = FakeNotifier("a", answer), FakeNotifier("b")
    for doc in docs("a", 3):
        enqueue(store, "a", doc)
    enqueue(store, "b", docs("b", 1)[0])
    report = deliver_due(store, settings(), NOW, worker="w", notifiers={"a": a, "b": b},
                         clock=lambda: 0.0)
    assert len(a.sent) == (1 if stops else 3) and len(b.sent) == 1
    assert report.skipped == (2 if stops else 0) and ("a" in report.waiting) == stops
