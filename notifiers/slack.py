"""The ``slack`` notifier: ``chat.postMessage`` with Block Kit, updates threaded, paced per channel.

Slack answers most errors with HTTP 200 and ``{"ok": false, "error": CODE}``; each code is mapped
to retry or give up with words that say what to fix. The token is read from the variable named by
``[slack] bot_token_env`` and never appears in an error.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import ConfigError, ReceiverSettings, Settings, secret
from bot.netguard import AddressRefused, check_url, redact_url
from notifiers.base import AlertDoc, SendResult, Thread
from notifiers.slackblocks import build_message

ATTEMPT_TIMEOUT = 15
DEFAULT_RETRY_AFTER = 30.0
PACE = 1.05  # seconds between two messages to one channel (Slack allows about one a second)
RETRY_CODES = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
ADVICE = {
    "invalid_auth": "the bot token is not valid; check the variable named by [slack] bot_token_env",
    "not_authed": "no bot token was sent; set the variable named by [slack] bot_token_env",
    "token_revoked": "the bot token was revoked; install the app again and update the token",
    "account_inactive": "the bot token belongs to a deactivated user or workspace",
    "channel_not_found": "the channel {channel!r} does not exist or the app cannot see it;"
    " check the receiver's channel (use the channel ID for private channels)",
    "not_in_channel": "the app is not in {channel!r}; invite it with /invite @firmwatch",
    "is_archived": "the channel {channel!r} is archived",
    "missing_scope": "the app lacks the chat:write scope; add it and reinstall the app",
    "restricted_action": "the workspace does not let the app post in {channel!r}",
}
# Refusals of the token or the channel, not of one message: every alert to the receiver would be
# refused the same way, so the receiver is disabled (its alerts wait for the fix, as for a webhook
# answering 410) instead of each alert going to the dead letters.
GONE = frozenset(ADVICE)
# Refusals of a channel. A reply goes to the channel of its item's first message, which may not be
# the receiver's channel any more (archived, deleted, the app removed, the receiver moved): the
# reply is then posted to the receiver's channel as a new first message instead.
CHANNEL_GONE = frozenset({"channel_not_found", "not_in_channel", "is_archived"})


class ChannelLimiter:
    """At most one message per ``interval`` seconds per channel; waits (outside the lock)."""

    def __init__(
        self,
        interval: float = PACE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._free: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> float:
        """Take the channel's next slot, sleeping until it comes; the seconds slept."""
        with self._lock:
            now = self._clock()
            start = max(now, self._free.get(channel, now))
            self._free[channel] = start + self.interval
        if start > now:
            self._sleep(start - now)
        return start - now

    def hold(self, channel: str, seconds: float) -> None:
        """Send nothing to the channel for ``seconds`` (after a 429)."""
        with self._lock:
            until = self._clock() + seconds
            self._free[channel] = max(self._free.get(channel, until), until)


class SlackNotifier:
    """Posts alerts to one channel; updates go into the thread of the item's first message."""

    threaded = True  # the worker passes the item's first message as ``thread``

    def __init__(
        self,
        name: str,
        channel: str,
        client: WebClient,
        limiter: ChannelLimiter | None = None,
    ) -> None:
        self.name = name
        self.channel = channel
        self.client = client
        self.limiter = limiter or ChannelLimiter()

    def __repr__(self) -> str:
        return f"SlackNotifier({self.name!r}, channel={self.channel!r})"

    def render(self, doc: AlertDoc) -> str:
        """The ``chat.postMessage`` arguments as JSON (what ``send`` would post)."""
        return json.dumps(
            {"channel": self.channel, **build_message(doc)}, indent=2, ensure_ascii=False
        )

    def send(self, doc: AlertDoc, *, thread: Thread | None = None) -> SendResult:
        """Post the alert (as a reply when ``thread`` is given); never raises for Slack's faults.

        A reply the thread's channel refuses (archived, deleted, the app not in it) is posted to
        the receiver's channel as a new first message (``new_thread``)."""
        message = build_message(doc)
        args: dict[str, Any] = {
            "text": message["text"],
            "blocks": message["blocks"],
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread is None:
            return self._post(args, self.channel)[0]
        broadcast = doc.get("kind") == "exploited"
        reply = {**args, "thread_ts": thread.ts, "reply_broadcast": broadcast}
        result, code = self._post(reply, thread.channel)
        if code not in CHANNEL_GONE or thread.channel == self.channel:
            return result
        fresh, _ = self._post(args, self.channel)
        return replace(fresh, new_thread=fresh.ok)

    def _post(self, args: dict[str, Any], channel: str) -> tuple[SendResult, str | None]:
        """One ``chat.postMessage`` to ``channel``; the result and Slack's error code if any."""
        self.limiter.wait(channel)
        try:
            response = self.client.chat_postMessage(channel=channel, **args)
        except SlackApiError as exc:
            return self._failed(exc, channel)
        except (OSError, HTTPException) as exc:  # refused, reset, timed out, cut short
            error = f"cannot reach Slack at {self._where()}: {type(exc).__name__}: {_words(exc)}"
            return SendResult(ok=False, error=error), None
        except SlackClientError as exc:
            return SendResult(ok=False, permanent=True, error=f"Slack client error: {exc}"), None
        posted = Thread(str(response.get("channel") or channel), str(response.get("ts") or ""))
        thread = posted if posted.ts else None
        return SendResult(ok=True, status=response.status_code, thread=thread), None

    def _failed(self, exc: SlackApiError, channel: str) -> tuple[SendResult, str]:
        status = exc.response.status_code
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        code = str(data.get("error") or f"HTTP {status}")
        return self._judge(status, code, exc.response.headers, channel), code

    def _judge(self, status: int, code: str, headers: Any, channel: str) -> SendResult:
        """Retry, rate limit, or refusal (disabling the receiver when it refuses them all)."""
        if status == 429 or code in ("ratelimited", "rate_limited"):
            asked = _seconds(headers)
            wait = DEFAULT_RETRY_AFTER if asked is None else asked
            self.limiter.hold(channel, wait)
            return SendResult(
                ok=False,
                status=status,
                retry_after=wait,
                error=f"Slack rate limit on {channel}: retry after {wait:g} s",
            )
        if status >= 500 or status in (408, 425) or code in RETRY_CODES:
            return SendResult(
                ok=False, status=status, error=f"Slack answered {code} (HTTP {status}); will retry"
            )
        advice = ADVICE.get(code, "see https://api.slack.com/methods/chat.postMessage#errors")
        return SendResult(
            ok=False,
            status=status,
            permanent=True,
            disable=code in GONE,
            error=f"Slack refused the message ({code}): " + advice.format(channel=channel),
        )

    def _where(self) -> str:
        return redact_url(str(self.client.base_url), keep_path=False)


def build(
    receiver: ReceiverSettings,
    settings: Settings,
    environ: Mapping[str, str],
    *,
    limiter: ChannelLimiter | None = None,
) -> SlackNotifier:
    """A Slack notifier; the token comes from the variable named by ``[slack] bot_token_env``."""
    token = secret("slack.bot_token_env", settings.slack.bot_token_env, environ)
    base = settings.slack.api_base_url
    if base:
        try:
            check_url(base, settings.network.allow_hosts)
        except AddressRefused as exc:
            raise ConfigError([f"slack.api_base_url: {exc}"]) from None
    client = WebClient(
        token=token,
        base_url=_slashed(base) if base else WebClient.BASE_URL,
        timeout=ATTEMPT_TIMEOUT,
        retry_handlers=[],
    )
    return SlackNotifier(receiver.name, receiver.channel or "", client, limiter)


def _slashed(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _seconds(headers: Mapping[str, Any]) -> float | None:
    lower = {str(k).lower(): v for k, v in headers.items()}
    value = lower.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(str(value)), 0.0) if value is not None else None
    except ValueError:
        return None


def _words(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # URLError wraps the socket error
    return str(reason or exc) or type(exc).__name__
