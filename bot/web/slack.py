"""The Slack side of the web process: build the bolt App when Slack is configured, or say why not.

HTTP mode serves ``/slack/events`` (requests verified with the signing secret); Socket Mode is
chosen when the app-level token variable (``[slack] app_token_env``) is set: no public URL needed.
A missing variable never stops the process: ``/slack/events`` answers 503 and ``/readyz`` says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackClientError

from bot.config import ConfigError, Settings
from bot.service.logs import redact
from state import Store

log = logging.getLogger("firmwatch.web")
Mode = Literal["http", "socket"]


class BuildApp(Protocol):
    """``bot.slack.app.build_app``."""

    def __call__(
        self, store: Store, settings: Settings, *, environ: Mapping[str, str],
        clock: Callable[[], datetime],
    ) -> App: ...


class SocketHandle(Protocol):
    """What the runner needs of ``SocketModeHandler``."""

    def connect(self) -> Any: ...
    def close(self) -> Any: ...


SocketFactory = Callable[[App, str], SocketHandle]


@dataclass
class SlackEndpoint:
    """The bolt App and its WSGI handler, or the reason Slack is off."""

    mode: Mode
    app: App | None = None
    handler: SlackRequestHandler | None = None
    reason: str | None = None

    @property
    def status(self) -> str:
        """One line for ``/readyz``."""
        return f"ok ({self.mode} mode)" if self.app is not None else f"off: {self.reason}"


def slack_mode(settings: Settings, environ: Mapping[str, str]) -> Mode:
    """Socket Mode when the app-level token variable is set, else HTTP."""
    return "socket" if environ.get(settings.slack.app_token_env) else "http"


def load_slack(
    store: Store, settings: Settings, *, environ: Mapping[str, str],
    clock: Callable[[], datetime], build: BuildApp | None = None,
) -> SlackEndpoint:
    """Build the App when its variables are set; otherwise an endpoint that says what is missing."""
    mode = slack_mode(settings, environ)
    s = settings.slack
    needed = [("slack.bot_token_env", s.bot_token_env)]
    needed.append(("slack.app_token_env", s.app_token_env) if mode == "socket"
                  else ("slack.signing_secret_env", s.signing_secret_env))
    missing = [f"{env} (named by {key})" for key, env in needed if not environ.get(env)]
    if missing:
        return SlackEndpoint(mode, reason="Slack is not configured: set the environment"
                             f" variable{'s' if len(missing) > 1 else ''} {' and '.join(missing)}")
    if build is None:
        try:
            from bot.slack.app import build_app  # type: ignore[import-not-found, unused-ignore]
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("bot.slack"):
                raise
            return SlackEndpoint(mode, reason="the Slack app is not part of this installation"
                                 " (module bot.slack.app is missing)")
        build = build_app
    try:
        app = build(store, settings, environ=environ, clock=clock)
    except (ConfigError, BoltError, SlackClientError) as exc:
        reason = redact(f"the Slack app could not start: {exc}".splitlines()[0])
        log.warning("Slack is off", extra={"reason": reason})
        return SlackEndpoint(mode, reason=reason)
    return SlackEndpoint(mode, app=app, handler=SlackRequestHandler(app))


def socket_mode_handler(app: App, app_token: str) -> SocketHandle:
    """The real Socket Mode connection (slack_sdk's built-in client)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(app, app_token)
