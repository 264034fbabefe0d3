"""``firmwatch deliver``, ``outbox`` and ``notify test`` end to end, on every backend."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.slack.subscriptions import subscribe
from notifiers import health
from state import open_store
from tests.fakeslack import TOKEN, Answer, FakeSlack
from tests.notifier_helpers import NOW, document
from tests.state_helpers import run_cli

CONFIG = """
[state]
url = "tinydb:///state/fw.json"

[network]
allow_hosts = ["127.0.0.1"]

[slack]
api_base_url = "{slack}"

[[receivers]]
name = "ops"
type = "console"

[[receivers]]
name = "chat"
type = "slack"
channel = "#ops"

[[fleets]]
name = "hq"
receivers = ["ops", "chat"]
"""


@pytest.fixture
def config(
    tmp_path: Path, store_url: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A bot.toml with a console and a Slack receiver; the store is the backend under test."""
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.delenv("FIRMWATCH_CONFIG", raising=False)
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG.replace("{slack}", fake_slack.url))
    return str(path)


def cli(monkeypatch: pytest.MonkeyPatch, config: str, *argv: str) -> tuple[int, str, str]:
    return run_cli(monkeypatch, *argv, "--config", config)


def enqueue(store_url: str, receiver: str, item: str = "HSRC-202108-01") -> int:
    doc = document(receiver, item)
    with open_store(store_url) as store:
        entry_id = store.outbox.enqueue(receiver, doc["dedupe_key"], doc, NOW,
                                        alert_id=doc["id"])
    assert entry_id is not None
    return entry_id


def test_deliver_once_prints_figures_and_console_alerts(
    config: str, store_url: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueue(store_url, "ops")
    enqueue(store_url, "chat")
    code, out, err = cli(monkeypatch, config, "deliver", "--once")
    assert (code, err) == (0, "")
    assert "[CRITICAL] Command injection (HSRC-202108-01)" in out
    assert out.endswith("delivered: sent 2 · retried 0 · dead 0 · skipped 0\n")
    assert len(fake_slack.posts()) == 1
    code, out, _ = cli(monkeypatch, config, "outbox")
    assert out == ("outbox: 0 pending · 0 retrying · 2 sent · 0 dead\n"
                   "no pending or retrying or dead entries\n")
    code, out, _ = cli(monkeypatch, config, "outbox", "list", "--status", "sent")
    assert [line.split()[:3] for line in out.splitlines()[1:]] == [
        ["ID", "STATUS", "RECEIVER"], ["1", "sent", "ops"], ["2", "sent", "chat"]]


def test_dead_letters_are_listed_and_replayed(
    config: str, store_url: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry_id = enqueue(store_url, "chat")
    fake_slack.answer(Answer(error="invalid_blocks"))
    code, out, _ = cli(monkeypatch, config, "deliver", "--once")
    assert code == 0 and "dead 1" in out
    code, out, _ = cli(monkeypatch, config, "outbox")
    row = out.splitlines()[2]
    assert row.split()[:4] == [str(entry_id), "dead", "chat", "1"]
    assert "invalid_blocks" in row and "[CRITICAL] Command injection" in row
    code, out, _ = cli(monkeypatch, config, "outbox", "--json")
    listed = json.loads(out)
    (entry,) = listed["entries"]
    assert entry["status"] == "dead" and "invalid_blocks" in entry["last_error"]
    assert entry["payload"]["id"] == entry["alert_id"] and listed["counts"]["dead"] == 1
    code, out, _ = cli(monkeypatch, config, "outbox", "replay", str(entry_id))
    assert code == 0 and out.splitlines()[0] == f"entry {entry_id} to chat is due again"
    assert out.splitlines()[-1] == f"entry {entry_id}: sent"
    assert len(fake_slack.posts()) == 1
    code, _, err = cli(monkeypatch, config, "outbox", "replay", "999")
    assert code == 1 and "no outbox entry with id 999" in err


def test_every_dead_letter_of_a_receiver_is_replayed_at_once(
    config: str, store_url: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a receiver is fixed, its dead letters had to be replayed one id at a time."""
    ids = [enqueue(store_url, "chat", item) for item in ("HSRC-1", "HSRC-2")]
    fake_slack.answer(Answer(error="invalid_blocks"), Answer(error="invalid_blocks"))
    code, out, _ = cli(monkeypatch, config, "deliver", "--once")
    assert code == 0 and "dead 2" in out
    code, out, _ = cli(monkeypatch, config, "outbox", "replay", "--dead", "--receiver", "ops")
    assert (code, out) == (0, "no dead entries for ops\n")
    code, out, _ = cli(monkeypatch, config, "outbox", "replay", "--dead", "--receiver", "chat")
    assert code == 0 and len(fake_slack.posts()) == 2
    lines = out.splitlines()
    assert lines[:2] == [f"entry {i} to chat is due again" for i in ids]
    assert lines[-2:] == [f"entry {i}: sent" for i in ids]
    code, _, err = cli(monkeypatch, config, "outbox", "replay", "--receiver", "chat")
    assert code == 2 and "give an entry ID or --dead" in err


def test_deliver_sends_to_subscribed_channels_and_names_receivers_it_cannot_send_to(
    config: str, store_url: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel subscribed with /firmware subscribe is a receiver as `firmwatch check` and the
    service deliver to it; `firmwatch deliver` too. Alerts to a receiver that is no longer
    configured (renamed in bot.toml, a channel unsubscribed) are named, not left silently."""
    with open_store(store_url) as store:
        subscribe(store, "hq", "C0SUBSCRIBED", NOW)
    enqueue(store_url, "slack:C0SUBSCRIBED")
    enqueue(store_url, "pager")
    code, out, _ = cli(monkeypatch, config, "deliver", "--once")
    assert code == 0 and "sent 1" in out
    assert [p.body["channel"] for p in fake_slack.posts()] == ["C0SUBSCRIBED"]
    assert ("receiver pager waits: no receiver named 'pager' in bot.toml or among the channels"
            " subscribed in Slack; its 1 alert waits until one is") in out
    code, out, _ = cli(monkeypatch, config, "outbox")
    assert ("receiver pager is not configured: no receiver named 'pager' in bot.toml or among"
            " the channels subscribed in Slack; its 1 alert waits until one is") in out


def test_an_entry_a_worker_holds_says_so_and_until_when(
    config: str, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-send leaves its claim until the lease ends: the listing says so."""
    if store_url.startswith("tinydb"):
        pytest.skip("TinyDB keeps leases in the memory of the process that holds the file")
    entry_id = enqueue(store_url, "chat")
    with open_store(store_url) as store:
        (held,) = store.outbox.claim("w-dead", datetime.now(UTC), lease=timedelta(minutes=2))
    assert held.id == entry_id
    code, out, _ = cli(monkeypatch, config, "outbox")
    assert code == 0 and "held by w-dead until" in out.splitlines()[2]
    code, out, _ = cli(monkeypatch, config, "outbox", "--json")
    (entry,) = json.loads(out)["entries"]
    assert entry["claimed_by"] == "w-dead" and entry["claimed_until"] is not None


def test_disabled_receivers_are_shown_and_enabled(
    config: str, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueue(store_url, "ops")
    with open_store(store_url) as store:
        health.disable(store, "ops", "HTTP 410 Gone", NOW)
    code, out, _ = cli(monkeypatch, config, "deliver", "--once")
    assert "receiver ops waits: disabled: HTTP 410 Gone" in out and "sent 0" in out
    code, out, _ = cli(monkeypatch, config, "outbox")
    assert "receiver ops is DISABLED since 2026-11-28T09:00:00: HTTP 410 Gone" in out
    assert "`firmwatch outbox enable ops`" in out
    code, out, _ = cli(monkeypatch, config, "outbox", "enable", "ops")
    assert (code, out) == (0, "receiver ops enabled; 1 waiting entry is due now\n")
    code, out, _ = cli(monkeypatch, config, "deliver", "--once")
    assert "sent 1" in out
    code, _, err = cli(monkeypatch, config, "outbox", "enable", "nope")
    assert code == 1 and "no receiver named 'nope' (receivers: chat, ops)" in err


def test_an_archived_channel_disables_its_receiver_and_its_alerts_wait(
    config: str, store_url: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel archived (or the app removed from it, or the token revoked) refuses every
    alert: the receiver is disabled and its alerts stay pending until it is enabled again,
    rather than each going to the dead letters."""
    first = enqueue(store_url, "chat")
    second = enqueue(store_url, "chat", "HSRC-202109-01")
    fake_slack.answer(Answer(error="is_archived"))
    code, out, _ = cli(monkeypatch, config, "deliver", "--once")
    assert code == 0 and "dead 0" in out
    assert "receiver chat was disabled" in out
    with open_store(store_url) as store:
        entries = [store.outbox.get(i) for i in (first, second)]
        assert [e.status if e else None for e in entries] == ["retrying", "pending"]
        assert "is_archived" in health.disabled(store)["chat"]["reason"]
    code, out, _ = cli(monkeypatch, config, "outbox", "enable", "chat")
    assert "2 waiting entries are due now" in out
    code, out, _ = cli(monkeypatch, config, "deliver", "--once")
    assert "sent 2" in out and len(fake_slack.posts()) == 2


def test_notify_test_sends_a_sample_and_says_what_happened(
    config: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(monkeypatch, config, "notify", "test", "ops")
    assert code == 0 and "sample-fleet" in out and "sent a test alert to ops (console)" in out
    code, out, _ = cli(monkeypatch, config, "notify", "test", "chat")
    assert code == 0 and out.startswith("sent a test alert to chat (slack) (HTTP 200)")
    (post,) = fake_slack.posts()
    assert "TEST from `firmwatch notify test`" in post.body["text"]
    fake_slack.answer(Answer(status=500))
    code, out, _ = cli(monkeypatch, config, "notify", "test", "chat")
    assert code == 1 and "FAILED (HTTP 500)" in out and "it would be retried" in out
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong-value")
    code, out, _ = cli(monkeypatch, config, "notify", "test", "chat")
    assert code == 1 and "invalid_auth" in out and "retrying cannot help" in out
    assert "xoxb-wrong-value" not in out


def test_notify_test_dry_run_needs_no_token(
    config: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    code, out, _ = cli(monkeypatch, config, "notify", "test", "chat", "--dry-run")
    assert code == 0 and out.startswith("note: receiver 'chat': environment variable SLACK_BOT")
    assert json.loads(out.split("\n", 1)[1])["channel"] == "#ops"
    assert fake_slack.calls == []
    code, _, err = cli(monkeypatch, config, "notify", "test", "chat")
    assert code == 2 and "SLACK_BOT_TOKEN" in err
    code, _, err = cli(monkeypatch, config, "notify", "test", "nope")
    assert code == 1 and "no [[receivers]] entry named 'nope'" in err


@pytest.mark.parametrize("entry_id", ["99999999999999999999", "0", "x1"])
def test_replay_refuses_an_id_no_entry_can_have(
    config: str, store_url: str, monkeypatch: pytest.MonkeyPatch, entry_id: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(monkeypatch, config, "outbox", "replay", entry_id)
    assert (code, out) == (2, "")
    assert capsys.readouterr().err.splitlines()[-1] == (  # argparse writes to sys.stderr
        "firmwatch outbox replay: error: argument ID: expected an outbox entry id, a whole"
        f" number from 1 to 9223372036854775807 (got {entry_id!r})"
    )


def test_listing_the_outbox_of_a_new_setup_creates_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = tmp_path / "bot.toml"
    path.write_text('[state]\nurl = "tinydb:///state/fw.json"\n')
    code, out, err = run_cli(monkeypatch, "outbox", "--config", str(path))
    assert (code, err) == (0, "") and "0 pending" in out
    assert not (tmp_path / "state").exists()
