"""The Slack notifier against a fake Slack Web API on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from bot.config import ConfigError, Settings
from notifiers import build_notifier, build_notifiers
from notifiers.base import Thread
from notifiers.slack import ChannelLimiter, SlackNotifier
from notifiers.slackblocks import build_message
from tests.fakeslack import TOKEN, Answer, FakeSlack
from tests.notifier_helpers import document, kev_update

ENV = {"SLACK_BOT_TOKEN": TOKEN}


def slack_settings(fake: FakeSlack, **slack: Any) -> Settings:
    return Settings.model_validate({
        "network": {"allow_hosts": ["127.0.0.1"]},
        "slack": {"api_base_url": fake.url, **slack},
        "receivers": [{"name": "chat", "type": "slack", "channel": "#ops"},
                      {"name": "chat2", "type": "slack", "channel": "#ops"}],
    })


def notifier(fake: FakeSlack, env: dict[str, str] = ENV) -> SlackNotifier:
    settings = slack_settings(fake)
    built = build_notifier(settings.receivers[0], settings, env)
    assert isinstance(built, SlackNotifier)
    built.limiter = ChannelLimiter(0)
    return built


def test_posts_blocks_with_the_bearer_token(fake_slack: FakeSlack) -> None:
    doc = document()
    result = notifier(fake_slack).send(doc)
    assert result.ok and result.status == 200
    assert result.thread == Thread("COPS", "1700000001.000001")
    (call,) = fake_slack.posts()
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.body["channel"] == "#ops"
    assert call.body["blocks"] == build_message(doc)["blocks"]
    assert call.body["text"] == build_message(doc)["text"]
    assert "thread_ts" not in call.body and call.body["unfurl_links"] is False


def test_updates_go_into_the_thread_and_kev_is_broadcast(fake_slack: FakeSlack) -> None:
    n = notifier(fake_slack)
    first = n.send(document())
    assert first.thread is not None
    assert n.send(kev_update(), thread=first.thread).ok
    update = fake_slack.posts()[1]
    assert update.body["channel"] == first.thread.channel
    assert update.body["thread_ts"] == first.thread.ts
    assert update.body["reply_broadcast"] is True


@pytest.mark.parametrize(("answer", "retry_after", "words"), [
    (Answer(status=429, retry_after="7"), 7.0, "Slack rate limit on #ops: retry after 7 s"),
    (Answer(error="ratelimited", retry_after="3"), 3.0, "retry after 3 s"),
    (Answer(status=500, body=b"<html>oops</html>"), None, "(HTTP 500); will retry"),
    (Answer(status=503), None, "will retry"),
    (Answer(error="internal_error"), None, "internal_error"),
    (Answer(drop=True), None, "cannot reach Slack at http://127.0.0.1"),
])
def test_transient_failures_are_retried(
    fake_slack: FakeSlack, answer: Answer, retry_after: float | None, words: str
) -> None:
    fake_slack.answer(answer)
    result = notifier(fake_slack).send(document())
    assert not result.ok and not result.permanent and not result.disable
    assert result.retry_after == retry_after
    assert result.error is not None and words in result.error


@pytest.mark.parametrize(("code", "words", "gone"), [
    ("channel_not_found", "the channel '#ops' does not exist or the app cannot see it", True),
    ("not_in_channel", "invite it with /invite @firmwatch", True),
    ("is_archived", "the channel '#ops' is archived", True),
    ("account_inactive", "deactivated", True),
    ("token_revoked", "install the app again", True),
    ("invalid_blocks", "api.slack.com/methods/chat.postMessage#errors", False),
])
def test_permanent_errors_say_what_to_fix(
    fake_slack: FakeSlack, code: str, words: str, gone: bool
) -> None:
    """A refusal of the channel or the token (not of this message) disables the receiver, as
    HTTP 410 does a webhook: its alerts wait for the fix instead of dying one by one."""
    fake_slack.answer(Answer(error=code))
    result = notifier(fake_slack).send(document())
    assert not result.ok and result.permanent and result.disable is gone
    assert result.error is not None and code in result.error and words in result.error


def test_a_wrong_token_is_permanent_and_never_shown(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "xoxb-wrong-token-value"
    result = notifier(fake_slack, {"SLACK_BOT_TOKEN": wrong}).send(document())
    assert result.permanent and result.error is not None and "invalid_auth" in result.error
    assert result.disable
    shown = result.error + repr(notifier(fake_slack)) + caplog.text
    assert wrong not in shown and TOKEN not in shown


def test_missing_token_names_the_variable() -> None:
    settings = Settings.model_validate(
        {"receivers": [{"name": "chat", "type": "slack", "channel": "#ops"}],
         "slack": {"bot_token_env": "OPS_SLACK_TOKEN"}})
    with pytest.raises(ConfigError) as caught:
        build_notifier(settings.receivers[0], settings, {})
    assert caught.value.problems == [
        "receiver 'chat': environment variable OPS_SLACK_TOKEN (named by slack.bot_token_env)"
        " is not set or empty"]
    built, problems = build_notifiers(settings, {})
    assert built == {} and "OPS_SLACK_TOKEN" in problems["chat"]


def test_api_base_url_must_pass_the_address_guard(fake_slack: FakeSlack) -> None:
    settings = Settings.model_validate({
        "slack": {"api_base_url": fake_slack.url},
        "receivers": [{"name": "chat", "type": "slack", "channel": "#ops"}]})
    with pytest.raises(ConfigError, match=r"slack.api_base_url: refused .*loopback"):
        build_notifier(settings.receivers[0], settings, ENV)


def test_receivers_on_one_channel_share_one_pacer(fake_slack: FakeSlack) -> None:
    built, _ = build_notifiers(slack_settings(fake_slack), ENV)
    a, b = built["chat"], built["chat2"]
    assert isinstance(a, SlackNotifier) and isinstance(b, SlackNotifier)
    assert a.limiter is b.limiter


def test_limiter_spaces_messages_per_channel() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = ChannelLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    assert [limiter.wait("C1"), limiter.wait("C1"), limiter.wait("C2")] == [0.0, 1.0, 0.0]
    now[0] += 0.25
    assert limiter.wait("C1") == pytest.approx(0.75)
    limiter.hold("C2", 30)
    assert limiter.wait("C2") == pytest.approx(30.0)
    assert slept == [1.0, pytest.approx(0.75), pytest.approx(30.0)]


def test_429_holds_the_channel(fake_slack: FakeSlack) -> None:
    now = [0.0]
    slept: list[float] = []
    n = notifier(fake_slack)
    n.limiter = ChannelLimiter(1.0, clock=lambda: now[0], sleep=slept.append)
    fake_slack.answer(Answer(status=429, retry_after="12"))
    assert n.send(document()).retry_after == 12.0
    n.send(document())
    assert slept == [12.0]


def test_render_is_the_posted_json(fake_slack: FakeSlack) -> None:
    n = notifier(fake_slack)
    assert '"channel": "#ops"' in n.render(document()) and fake_slack.calls == []


def test_the_fake_does_not_act_on_half_a_request(fake_slack: FakeSlack) -> None:
    """A sender killed mid-request (the crash tests) delivered nothing; the fake agrees."""
    port = int(fake_slack.url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"POST /api/chat.postMessage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 100\r\n\r\ntext=hello&blocks=")
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(1024) == b""  # closed without an answer
    assert fake_slack.posts() == []
