"""The alert buttons and the Home tab over real HTTP, against the notifier's own messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.fleets import Fleet, make_group
from bot.slack import alerts
from bot.slack.blocks import Block
from notifiers.slackblocks import build_message
from state.fleetsync import replace_fleet
from tests.slackharness import actions_body, assert_fits, signed, texts
from tests.slackworld import NOW, PERSON, World, fill, world

OTHER = "U0OTHER01"
NVR, NVR_ADVISORY = "iDS-7716NXI-M4/X", "HSRC-202508-03"
# Slack shows these in each reader's timezone (the fallback is UTC)
NOW_SHOWN = "<!date^1796040000^{date_short_pretty} {time}|2026-11-30 12:00 UTC>"
SEVEN_DAYS = "<!date^1796644800^{date_short_pretty} {time}|2026-12-07 12:00 UTC>"


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    """The app with a ticketing receiver configured."""
    with world(tmp_path, slack='ticket_receiver = "ticketing"\n') as running:
        yield running


def alert(w: World) -> tuple[str, list[dict[str, Any]]]:
    """The critical KEV alert the cycle queued for the Slack receiver, as the notifier posts it."""
    entry = next(e for e in w.store.outbox.all() if e.payload["item"]["id"] == "HSRC-202109-01")
    assert entry.alert_id is not None
    return entry.alert_id, build_message(entry.payload)["blocks"]


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    """The action ids of our buttons, in order."""
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]
            if not e["action_id"].startswith("fw_link")]


def status(blocks: list[dict[str, Any]]) -> list[str]:
    """The status line's parts."""
    found = [b for b in blocks if b.get("block_id") == alerts.STATUS_BLOCK]
    return [e["text"] for b in found for e in b["elements"]]


def test_acknowledge_updates_the_message_once(w: World) -> None:
    alert_id, blocks = alert(w)
    assert w.click("fw_ack", alert_id, blocks=blocks, wait_for="chat.update")[0] == 200
    (update,) = w.fake.api("chat.update")
    assert (update["channel"], update["ts"]) == ("C0ALERTS1", "1700000000.000100")
    assert status(update["blocks"]) == [
        f":white_check_mark: Acknowledged by <@U0PEOPLE1> {NOW_SHOWN}"]
    assert buttons(update["blocks"]) == ["fw_ack", "fw_snooze", "fw_ticket"]
    assert_fits(update)
    state = w.store.acks.get(alert_id)
    assert state is not None and (state.acked_by, state.acked_at) == (PERSON, NOW)
    _, url = w.click("fw_ack", alert_id, user=OTHER, blocks=update["blocks"], wait_for="respond")
    assert w.fake.responded(url) == [{"text": "Already acknowledged by <@U0PEOPLE1>.",
                                      "response_type": "ephemeral", "replace_original": False}]
    assert len(w.fake.api("chat.update")) == 1
    state = w.store.acks.get(alert_id)
    assert state is not None and state.acked_by == PERSON


def test_a_double_click_sent_at_once_changes_the_message_once(w: World) -> None:
    alert_id, blocks = alert(w)
    urls = [w.fake.response_url(), w.fake.response_url()]
    for url in urls:  # both requests before either is answered
        body = actions_body("fw_ack", alert_id, url, blocks=blocks)
        assert w.server.post(body, signed(body))[0] == 200
    assert w.fake.wait(lambda: sum(len(w.fake.responded(u)) for u in urls) == 1)
    assert w.fake.wait(lambda: len(w.fake.api("chat.update")) == 1)
    assert len(w.fake.api("chat.update")) == 1


def test_snooze_offers_7_or_30_days_then_snoozes(w: World) -> None:
    alert_id, blocks = alert(w)
    w.click("fw_snooze", alert_id, blocks=blocks, wait_for="chat.update")
    offered = w.fake.api("chat.update")[-1]["blocks"]
    assert buttons(offered) == ["fw_ack", "fw_snooze_7d", "fw_snooze_30d", "fw_ticket"]
    assert w.store.acks.get(alert_id) is None, "offering the choice changes nothing"
    w.click("fw_snooze_7d", alert_id, blocks=offered, wait_for="chat.update")
    done = w.fake.api("chat.update")[-1]["blocks"]
    assert buttons(done) == ["fw_ack", "fw_snooze", "fw_ticket"]
    assert status(done) == [f":zzz: Snoozed until {SEVEN_DAYS} by <@U0PEOPLE1>"]
    state = w.store.acks.get(alert_id)
    assert state is not None and state.snoozed_until == NOW + timedelta(days=7)
    _, url = w.click("fw_snooze_7d", alert_id, blocks=offered, wait_for="respond")
    assert f"Already snoozed until {SEVEN_DAYS}" in w.fake.responded(url)[0]["text"]
    updates = len(w.fake.api("chat.update"))
    w.click("fw_snooze_30d", alert_id, user=OTHER, blocks=offered, wait_for="chat.update")
    assert len(w.fake.api("chat.update")) == updates + 1
    state = w.store.acks.get(alert_id)
    assert state is not None and (state.snoozed_until, state.snoozed_by) == (
        NOW + timedelta(days=30), OTHER)


@pytest.mark.parametrize("action", ["fw_snooze_30d", "fw_ack"])
def test_a_click_on_the_items_first_message_holds_its_later_updates(
    w: World, tmp_path: Path, action: str
) -> None:
    """People click the thread's top message, not the update posted in its thread since: the
    snooze (or acknowledgement) holds the item's next updates all the same."""
    first = next(e for e in w.store.outbox.all(receiver="alerts")
                 if e.payload["item"]["id"] == NVR_ADVISORY)
    replace_fleet(w.store, Fleet("yard", receivers=("alerts",)),
                  [make_group("yard", NVR, "V4.62.200", 3, "Gate")])
    fill(tmp_path, w.store, w.settings)  # an update in the thread: "1 more device group"
    assert len(updates_of(w)) == 2
    assert first.alert_id is not None
    w.click(action, first.alert_id, blocks=build_message(first.payload)["blocks"],
            wait_for="chat.update")
    replace_fleet(w.store, Fleet("yard", receivers=("alerts",)),
                  [make_group("yard", NVR, "V4.62.200", 2, "Gate")])
    fill(tmp_path, w.store, w.settings)  # a device fewer: no worse news
    assert len(updates_of(w)) == 2


def updates_of(w: World) -> list[str]:
    return [e.payload["item"]["id"] for e in w.store.outbox.all(receiver="alerts")
            if e.payload["item"]["id"] == NVR_ADVISORY]


def test_a_snooze_select_works_in_one_step(w: World) -> None:
    alert_id, blocks = alert(w)
    w.click("fw_snooze", f"{alert_id}|30d", blocks=blocks, kind="static_select",
            wait_for="chat.update")
    state = w.store.acks.get(alert_id)
    assert state is not None and state.snoozed_until == NOW + timedelta(days=30)


def test_open_ticket_copies_the_alert_to_the_ticket_receiver_once(w: World) -> None:
    alert_id, blocks = alert(w)
    original = w.store.outbox.for_alert(alert_id)[0]
    w.click("fw_ticket", alert_id, blocks=blocks, wait_for="chat.update")
    (ticket,) = w.store.outbox.all(receiver="ticketing")
    assert ticket.dedupe_key == "ticketing|" + original.dedupe_key.removeprefix("alerts|")
    assert ticket.payload["receivers"] == ["ticketing"] and ticket.payload["id"] == ticket.alert_id
    assert ticket.payload["ticket_for"] == original.receiver  # whose ticket: presets key by it
    assert ticket.payload["findings"] == original.payload["findings"]
    assert ticket.status == "pending"
    assert status(w.fake.api("chat.update")[-1]["blocks"]) == [
        ":ticket: Ticket queued for ticketing for <@U0PEOPLE1>"]
    _, url = w.click("fw_ticket", alert_id, user=OTHER, blocks=blocks, wait_for="respond")
    assert "is already queued for ticketing" in w.fake.responded(url)[0]["text"]
    assert len(w.store.outbox.all(receiver="ticketing")) == 1
    assert len(w.fake.api("chat.update")) == 1


def test_open_ticket_is_refused_without_a_ticket_receiver(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        alert_id, blocks = alert(w)
        _, url = w.click("fw_ticket", alert_id, blocks=blocks, wait_for="respond")
        assert "No ticketing receiver is configured: set `ticket_receiver`" in texts(
            w.fake.responded(url)[0])
        assert w.store.outbox.all(receiver="ticketing") == []
        assert w.fake.api("chat.update") == []


def test_unknown_alerts_and_strange_values(w: World) -> None:
    _, url = w.click("fw_ticket", "fw_" + "0" * 24, wait_for="respond")
    assert "no longer holds this alert" in w.fake.responded(url)[0]["text"]
    _, url = w.click("fw_ack", "not-an-alert", wait_for="respond")
    assert "does not know this button's alert" in w.fake.responded(url)[0]["text"]
    body = actions_body("fw_link_0", "", w.fake.response_url())
    assert w.server.post(body, signed(body)) == (200, b"")


def test_a_message_that_cannot_be_updated_is_reported_to_the_clicker(w: World) -> None:
    alert_id, blocks = alert(w)
    w.fake.failures["chat.update"] = "message_not_found"
    _, url = w.click("fw_ack", alert_id, blocks=blocks, wait_for="respond")
    text = w.fake.responded(url)[0]["text"]
    assert text.startswith(":white_check_mark: Acknowledged by <@U0PEOPLE1>")
    assert "message_not_found" in text


def test_the_status_line_is_added_even_to_a_full_message() -> None:
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": str(i)}} for i in range(49)
    ]
    blocks.append({"type": "actions", "elements": [
        {"type": "button", "action_id": "fw_ack", "value": "fw_abcdef0123"}]})
    out = alerts.rewrite(blocks, "fw_abcdef0123", ["done"])
    assert len(out) == 50 and out[-1]["block_id"] == alerts.STATUS_BLOCK
    assert out[-2]["type"] == "actions"


def test_home_tab_is_published(w: World) -> None:
    assert w.event({"type": "app_home_opened", "user": PERSON, "channel": "D0HOME",
                    "tab": "home", "event_ts": "1700000000.1"}) == 200
    assert w.fake.wait(lambda: len(w.fake.api("views.publish")) == 1)
    (call,) = w.fake.api("views.publish")
    view = call["view"]
    assert call["user_id"] == PERSON and view["type"] == "home"
    assert_fits({"blocks": view["blocks"]}, max_blocks=100)
    shown = texts(view)
    assert "*All fleets* (45 devices): dynamic 43 · unknown 2" in shown
    assert ":red_circle: *critical*: 1 advisory, 1 device group" in shown
    assert ":large_yellow_circle: *medium*: 1 advisory, 1 device group" in shown
    assert "2027-01-15 · *branch* · DS-96064NI-I16 → *security-only* · 3 devices" in shown
    assert ":large_green_circle: *hik* ok just now" in shown
    assert "*Outbox* pending 3" in shown


def test_home_tab_is_left_alone_on_the_messages_tab(w: World) -> None:
    w.event({"type": "app_home_opened", "user": PERSON, "channel": "D0HOME", "tab": "messages",
             "event_ts": "1700000000.1"})
    w.command("status")  # a later request: the event has been handled by then
    w.event({"type": "app_home_opened", "user": PERSON, "channel": "D0HOME", "tab": "home",
             "event_ts": "1700000000.2"})
    assert w.fake.wait(lambda: len(w.fake.api("views.publish")) == 1)
    assert len(w.fake.api("views.publish")) == 1
