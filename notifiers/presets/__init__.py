"""Payload presets for real systems, one module each, in a plain dict registry."""

from __future__ import annotations

from notifiers.presets import discord, generic, jira, opsgenie, pagerduty, servicenow, teams
from notifiers.presets.base import Preset

PRESETS: dict[str, Preset] = {
    "generic": generic.PRESET,
    "pagerduty": pagerduty.PRESET,
    "jira": jira.PRESET,
    "servicenow": servicenow.PRESET,
    "teams": teams.PRESET,
    "opsgenie": opsgenie.PRESET,
    "discord": discord.PRESET,
}
