"""Slack Connect: people of another workspace in a shared channel get a refusal, not the fleets.

The app's own workspace is the team ``auth.test`` names (the fake answers :data:`TEAM`); a
request whose user belongs to another team is refused unless ``[slack] external_teams`` lists
that team (or its Enterprise Grid org).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ConfigError, parse
from notifiers.slackblocks import build_message
from tests.slackharness import TEAM, texts
from tests.slackworld import PERSON, World, world

CUSTOMER = "T0CUSTOMR"  # a customer's workspace, connected to an MSP's channel
REFUSAL = "answers members of the workspace it is installed in only"


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    """The app over a store filled by one cycle of the bundled samples."""
    with world(tmp_path, slack='ticket_receiver = "ticketing"\n') as running:
        yield running


@pytest.mark.parametrize("text", ["fleets", "fleet hq", "lookup DS-2CD3321G2-I",
                                  "advisory HSRC-202109-01", "status", "upcoming 3650",
                                  "silences", "help", "subscribe hq"])
def test_a_user_of_another_workspace_is_refused_without_data(w: World, text: str) -> None:
    status, ack, responses = w.command(text, user=PERSON, team=CUSTOMER, channel="C0SHARED1")
    assert status == 200 and responses == []
    assert ack["response_type"] == "ephemeral"
    shown = texts(ack)
    assert REFUSAL in shown
    for secret in ("hq", "branch", "Site A", "Depot", "alerts", "40 devices", "Outbox"):
        assert secret not in shown
    assert w.store.meta.get("slack.subscriptions") is None


def test_the_same_command_from_the_own_workspace_still_answers(w: World) -> None:
    _, ack, responses = w.command("fleets", user=PERSON, team=TEAM, channel="C0SHARED1")
    assert ack is None and "*hq*: 42 devices" in texts(responses[0])


def test_a_workspace_listed_in_external_teams_is_answered(tmp_path: Path) -> None:
    with world(tmp_path, slack=f'external_teams = ["{CUSTOMER}"]\n') as w:
        _, ack, responses = w.command("fleets", user=PERSON, team=CUSTOMER)
        assert ack is None and "*hq*: 42 devices" in texts(responses[0])
        _, ack, _ = w.command("fleets", user=PERSON, team="T0SOMEONE")
        assert REFUSAL in texts(ack)


def test_the_home_tab_of_a_user_of_another_workspace_shows_no_fleets(w: World) -> None:
    assert w.event({"type": "app_home_opened", "user": PERSON, "user_team": CUSTOMER,
                    "channel": "D0HOME", "tab": "home", "event_ts": "1700000000.1"}) == 200
    assert w.fake.wait(lambda: len(w.fake.api("views.publish")) == 1)
    (call,) = w.fake.api("views.publish")
    shown = texts(call["view"])
    assert call["user_id"] == PERSON and REFUSAL in shown
    assert "All fleets" not in shown and "branch" not in shown and "Outbox" not in shown


def test_external_teams_takes_workspace_ids_only() -> None:
    assert parse('[slack]\nexternal_teams = ["T0CUSTOMR"]\n', "bot.toml").slack.external_teams == [
        CUSTOMER]
    with pytest.raises(ConfigError, match="external_teams"):
        parse('[slack]\nexternal_teams = ["acme.slack.com"]\n', "bot.toml")


@pytest.mark.parametrize("action", ["fw_ack", "fw_snooze", "fw_snooze_7d", "fw_ticket"])
def test_buttons_clicked_by_a_user_of_another_workspace_change_nothing(w: World, action: str
                                                                       ) -> None:
    """An alert posted to a shared channel: the customer's people see it, but acknowledging,
    snoozing or ticketing it changes the operator's alerting and files into its ticketing."""
    entry = next(e for e in w.store.outbox.all() if e.payload["item"]["id"] == "HSRC-202109-01")
    assert entry.alert_id is not None
    blocks = build_message(entry.payload)["blocks"]
    status, url = w.click(action, entry.alert_id, blocks=blocks, team=CUSTOMER,
                          wait_for="respond")
    assert status == 200
    (note,) = w.fake.responded(url)
    assert REFUSAL in note["text"] and note["response_type"] == "ephemeral"
    assert note.get("replace_original") is False
    assert w.store.acks.get(entry.alert_id) is None
    assert w.store.outbox.all(receiver="ticketing") == []
    assert w.fake.api("chat.update") == []


def test_buttons_clicked_by_a_listed_workspace_act(tmp_path: Path) -> None:
    with world(tmp_path, slack=f'external_teams = ["{CUSTOMER}"]\n') as w:
        entry = next(e for e in w.store.outbox.all()
                     if e.payload["item"]["id"] == "HSRC-202109-01")
        assert entry.alert_id is not None
        blocks = build_message(entry.payload)["blocks"]
        w.click("fw_ack", entry.alert_id, blocks=blocks, team=CUSTOMER, wait_for="chat.update")
        state = w.store.acks.get(entry.alert_id)
        assert state is not None and state.acked_by == PERSON


def test_a_link_button_clicked_from_another_workspace_gets_no_note(w: World) -> None:
    w.click("fw_link_0", "", team=CUSTOMER)
    w.command("status")  # a later request: the click has been handled by then
    assert [c for c in w.fake.calls if c.method == "respond" and REFUSAL in str(c.data)] == []
