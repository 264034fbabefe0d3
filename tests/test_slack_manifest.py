"""The Slack app manifest and docs/slack.md match the code, so the install guide cannot rot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.config import SlackSettings
from bot.slack.alerts import SNOOZE_BUTTONS
from bot.slack.commands import USAGE

ROOT = Path(__file__).parent.parent
MANIFEST: dict[str, Any] = json.loads((ROOT / "docs" / "slack-manifest.json").read_text("utf-8"))
GUIDE = (ROOT / "docs" / "slack.md").read_text("utf-8")


def test_the_manifest_declares_the_command_the_app_registers() -> None:
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == SlackSettings().command
    assert len(command["description"]) <= 2000 and len(command["usage_hint"]) <= 1000


def test_every_request_url_is_the_one_endpoint() -> None:
    settings = MANIFEST["settings"]
    urls = [MANIFEST["features"]["slash_commands"][0]["url"],
            settings["interactivity"]["request_url"],
            settings["event_subscriptions"]["request_url"]]
    assert all(u.startswith("https://") and u.endswith("/slack/events") for u in urls)
    assert settings["interactivity"]["is_enabled"] is True


def test_scopes_events_home_and_socket_mode() -> None:
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == [
        "chat:write", "chat:write.public", "commands", "usergroups:read"]
    assert MANIFEST["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    assert MANIFEST["settings"]["socket_mode_enabled"] is False
    long = MANIFEST["display_information"]["long_description"]
    assert 175 <= len(long) <= 4000  # Slack's bounds


def test_the_guide_names_what_the_code_uses() -> None:
    defaults = SlackSettings()
    for name in (defaults.bot_token_env, defaults.signing_secret_env, defaults.app_token_env,
                 "slack-manifest.json", "/slack/events", "firmwatch run", "/firmware help",
                 "ticket_receiver", "connections:write", *SNOOZE_BUTTONS):
        assert name in GUIDE, name
    for name in USAGE:
        assert f"`{name}" in GUIDE, name
    for scope in MANIFEST["oauth_config"]["scopes"]["bot"]:
        assert f"`{scope}`" in GUIDE, scope
