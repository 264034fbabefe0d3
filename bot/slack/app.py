"""The Slack app: one bolt ``App`` with the slash command, the alert buttons and the Home tab.

The web service mounts it (``slack_bolt.adapter.wsgi.SlackRequestHandler`` at ``/slack/events``)
or runs it over Socket Mode. Building it makes no network call (``token_verification_enabled``
is off; bolt calls ``auth.test`` on the first request instead).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Settings, secret
from bot.slack.handlers import Deps, register
from bot.slack.knowledge import Cache
from bot.slack.permissions import Admins
from state.api import Store


def build_app(
    store: Store,
    settings: Settings,
    *,
    environ: Mapping[str, str] = os.environ,
    clock: Callable[[], datetime] | None = None,
) -> App:
    """The bolt App over ``store``; raises ConfigError naming a missing variable.

    The signing secret is required unless the app-level token is set (Socket Mode, where Slack
    does not sign requests); HTTP requests to such an app then all fail verification.
    """
    slack = settings.slack
    token = secret("slack.bot_token_env", slack.bot_token_env, environ)
    if environ.get(slack.signing_secret_env) or not environ.get(slack.app_token_env):
        signing_secret = secret("slack.signing_secret_env", slack.signing_secret_env, environ)
    else:
        signing_secret = secrets.token_hex(32)  # nobody knows it: no HTTP request verifies
    client = (WebClient(token=token, base_url=slack.api_base_url.rstrip("/") + "/")
              if slack.api_base_url else WebClient(token=token))
    app = App(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=True,
        token_verification_enabled=False,
        process_before_response=False,
        logger=logging.getLogger("bot.slack.bolt"),
        name="firmwatch",
    )
    deps = Deps(store, settings, Cache(store, settings, environ), Admins(slack.admins, client),
                clock or (lambda: datetime.now(UTC)))
    register(app, deps)
    return app
