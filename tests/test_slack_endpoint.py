"""``/slack/events`` as ``firmwatch web`` serves it: signatures first, replays, bad bodies, store
failures told to the clicker, and what the ticket button promises. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.slack import alerts
from bot.web.slack import Replays
from notifiers.delivery import deliver_due
from tests.slackharness import command_body, signed, texts
from tests.slackworld import NOW, World, world

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    """The app with a ticketing receiver configured."""
    with world(tmp_path, slack='ticket_receiver = "ticketing"\n') as running:
        yield running


def counted(w: World, status: int) -> float:
    """How many POSTs to /slack/events the metrics counted with ``status``."""
    text = w.server.metrics.exposition().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "firmwatch_http_requests_total"
               and s.labels == {"route": "/slack/events", "method": "POST",
                                "status": str(status)})


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in caplog.text


def request_log(caplog: pytest.LogCaptureFixture, status: int) -> int:
    return sum(1 for r in caplog.records if r.getMessage() == "http request"
               and getattr(r, "route", "") == "/slack/events" and getattr(r, "status", 0) == status)


MALFORMED: list[tuple[bytes, str]] = [
    (b'{"type":', "application/json"),
    (b"payload=%7Bnot", FORM),
    (b"payload=%7B%22user%22%3A5%7D", FORM),
    (b"payload=5", FORM),
    (b"[1]", "application/json"),
    (b"\xff\xfe", "application/json"),
]


@pytest.mark.parametrize(("body", "kind"), MALFORMED)
def test_unsigned_malformed_bodies_are_refused_before_parsing(
    w: World, caplog: pytest.LogCaptureFixture, body: bytes, kind: str
) -> None:
    caplog.set_level(logging.DEBUG)
    assert w.server.post(body, {"Content-Type": kind})[0] == 401
    stale = {**signed(body, content_type=kind), "X-Slack-Request-Timestamp": "abc"}
    assert w.server.post(body, stale)[0] == 401
    assert counted(w, 401) == 2 and request_log(caplog, 401) == 2
    no_traceback(caplog)


@pytest.mark.parametrize("stamp", ["abc", "", " 1", "1e9", "99999999999999999999", "\u00b2"])
def test_bad_timestamps_are_refused(w: World, caplog: pytest.LogCaptureFixture,
                                    stamp: str) -> None:
    body = command_body("status", w.fake.response_url())
    headers = signed(body)
    headers["X-Slack-Request-Timestamp"] = stamp
    assert w.server.post(body, headers)[0] == 401
    no_traceback(caplog)


@pytest.mark.parametrize(("body", "kind"), MALFORMED)
def test_signed_malformed_bodies_are_a_bad_request(
    w: World, caplog: pytest.LogCaptureFixture, body: bytes, kind: str
) -> None:
    caplog.set_level(logging.DEBUG)
    status, raw = w.server.post(body, signed(body, content_type=kind))
    assert status == 400, raw
    assert counted(w, 400) == 1 and request_log(caplog, 400) == 1
    no_traceback(caplog)
    status, _, responses = w.command("status")  # the next good request still works
    assert status == 200 and len(responses) == 1


def test_a_replayed_request_is_refused(w: World) -> None:
    url = w.fake.response_url()
    body = command_body("silence fleet=hq for 7d patch window", url)
    headers = signed(body)
    assert w.server.post(body, headers)[0] == 200
    w.fake.wait_response(url)
    assert len(w.store.silences.all()) == 1
    assert w.server.post(body, headers)[0] == 401
    assert counted(w, 401) == 1
    # Slack's own retry of a request already answered is acknowledged, and does nothing more
    retry = {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    status, raw = w.server.post(body, retry)
    assert (status, raw) == (200, b"")
    # a retry Slack signed afresh is a new request, handled as any other
    fresh = signed(body, timestamp=int(time.time()) - 1)
    assert w.server.post(body, {**fresh, "X-Slack-Retry-Num": "1"})[0] == 200
    w.fake.wait_response(url, 2)
    assert len(w.store.silences.all()) == 2, "the fresh signature was a new request"


def test_a_request_refused_by_bolt_can_be_retried() -> None:
    replays = Replays(limit=10)
    now = 1_000_000.0
    assert replays.claim("v0=a", now, now)
    assert not replays.claim("v0=a", now, now + 10)
    replays.forget("v0=a")
    assert replays.claim("v0=a", now, now + 20)


def test_the_replay_memory_is_bounded_and_forgets_what_expired() -> None:
    replays = Replays(limit=3)
    now = 1_000_000.0
    for i in range(5):
        assert replays.claim(f"v0={i}", now, now)
    assert len(replays) == 3
    assert not replays.claim("v0=4", now, now), "the newest are kept"
    later = now + 5 * 60 + 2  # those signatures' timestamps are stale by now
    assert replays.claim("v0=new", later, later)
    assert len(replays) == 1


@pytest.fixture
def sw(tmp_path: Path) -> Iterator[World]:
    """The app over SQLite (whose errors name the database), a ticketing receiver configured."""
    with world(tmp_path, slack='ticket_receiver = "ticketing"\n', backend="sqlite") as running:
        yield running


def _break(w: World, root: Path) -> str:
    """Take the store's tables away (as a failed restore would): every read and write fails."""
    path = str(root / "state.db")
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for name in names:
            db.execute(f'ALTER TABLE "{name}" RENAME TO "{name}_gone"')
    return path


@pytest.mark.parametrize("action", ["fw_ack", "fw_ticket", "fw_snooze_7d"])
def test_a_click_the_store_cannot_take_is_told_to_the_clicker(
    sw: World, tmp_path: Path, caplog: pytest.LogCaptureFixture, action: str
) -> None:
    w = sw
    entry = next(e for e in w.store.outbox.all() if e.alert_id)
    path = _break(w, tmp_path)
    caplog.set_level(logging.DEBUG)
    status, url = w.click(action, str(entry.alert_id), wait_for="respond")
    assert status == 200
    (answer,) = w.fake.responded(url)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "was not saved" in answer["text"] and "try again" in answer["text"]
    assert path not in answer["text"] and "state.db" not in answer["text"]
    assert "cannot read" not in answer["text"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "no such table" in errors[0].getMessage(), errors
    assert "Failed to run an internal function" not in caplog.text
    no_traceback(caplog)


def test_store_errors_shown_to_slack_users_name_no_path(sw: World, tmp_path: Path) -> None:
    w = sw
    _break(w, tmp_path)
    _, _, responses = w.command("status")
    assert "cannot read its state right now" in texts(responses[0])
    assert "state.db" not in texts(responses[0]) and "sqlite" not in texts(responses[0])
    _, _, responses = w.command("silence fleet=hq for 7d")
    text = texts(responses[0])
    assert "was not saved" in text and "cannot read" not in text and "state.db" not in text


def status_line(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for b in blocks if b.get("block_id") == alerts.STATUS_BLOCK
            for e in b["elements"]]


def test_the_ticket_button_says_queued_until_the_ticket_is_sent(w: World) -> None:
    entry = next(e for e in w.store.outbox.all() if e.alert_id and e.receiver == "alerts")
    alert_id = str(entry.alert_id)
    w.click("fw_ticket", alert_id, blocks=[{"type": "actions", "block_id": "fw_actions",
                                             "elements": []}], wait_for="chat.update")
    (ticket,) = w.store.outbox.all(receiver="ticketing")
    assert ticket.status == "pending"
    line = status_line(w.fake.api("chat.update")[-1]["blocks"])
    assert line == [":ticket: Ticket queued for ticketing for <@U0PEOPLE1>"], line
    _, url = w.click("fw_ticket", alert_id, user="U0OTHER01", wait_for="respond")
    assert "sent" not in w.fake.responded(url)[0]["text"]
    deliver_due(w.store, w.settings, NOW, worker="w", receivers=["ticketing"], environ={})
    w.click("fw_ack", alert_id, blocks=[{"type": "actions", "block_id": "fw_actions",
                                         "elements": []}], wait_for="chat.update")
    line = status_line(w.fake.api("chat.update")[-1]["blocks"])
    assert ":ticket: Ticket sent to ticketing for <@U0PEOPLE1>" in line, line



def test_the_home_tab_says_when_the_store_cannot_be_read(
    sw: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Home tab opened while the store is down is drawn with what to do, not left as it was
    (empty on a first visit, or yesterday's figures shown as if they were current)."""
    w = sw
    _break(w, tmp_path)
    assert w.event({"type": "app_home_opened", "user": "U0PEOPLE1", "channel": "D0HOME",
                    "tab": "home", "event_ts": "1700000000.1"}) == 200
    assert w.fake.wait(lambda: len(w.fake.api("views.publish")) == 1)
    (call,) = w.fake.api("views.publish")
    shown = texts(call["view"])
    assert call["view"]["type"] == "home" and call["user_id"] == "U0PEOPLE1"
    assert "cannot read its state right now" in shown and "try again" in shown, shown
    assert "state.db" not in shown and "sqlite" not in shown.lower()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "no such table" in errors[0].getMessage(), errors
