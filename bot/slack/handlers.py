"""Thin bolt listeners: ack at once, answer lazily through ``response_url`` or the Web API.

The slash command's text is parsed while acking, so help and usage errors come back in the ack
itself; everything that reads or writes the store runs in a lazy listener.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings
from bot.slack import alerts
from bot.slack.advisory import advisory_answer
from bot.slack.blocks import Answer, esc, note
from bot.slack.commands import (
    AdvisoryQuery,
    Command,
    Fleets,
    FleetShow,
    Help,
    Lookup,
    SilenceAdd,
    Silences,
    Status,
    Subscribe,
    Unsilence,
    Upcoming,
    Usage,
    parse,
)
from bot.slack.env import Env
from bot.slack.fleetviews import fleet_answer, fleets_answer, upcoming_answer
from bot.slack.home import home_view
from bot.slack.knowledge import Cache
from bot.slack.lookup import lookup_answer
from bot.slack.ops import (
    add_silence,
    change_subscription,
    end_silence,
    help_answer,
    refused,
    silences_answer,
    status_answer,
)
from bot.slack.permissions import Admins
from bot.slack.tenancy import workspace_guard
from state.api import Store
from state.errors import StoreError

log = logging.getLogger(__name__)
LINK_BUTTONS = re.compile(r"^fw_link_\d+$")
# What Slack users are told when the store fails: never its message (it names the database).
CANNOT_READ = (":warning: firmwatch cannot read its state right now; try again in a minute"
               " (the error is logged).")
NOT_SAVED = (":warning: firmwatch's state store is not available right now, so this {what} was"
             " not saved; try again in a minute (the error is logged).")


@dataclass
class Deps:
    """What the listeners share: the store, settings, caches, admins and the clock."""

    store: Store
    settings: Settings
    cache: Cache
    admins: Admins
    clock: Callable[[], datetime]
    _locks: list[threading.Lock] = field(default_factory=lambda: [threading.Lock()
                                                                   for _ in range(64)])

    def env(self) -> Env:
        """A view for one request, at the current time."""
        return Env(self.store, self.settings, self.cache, self.clock())

    def lock(self, alert_id: str) -> threading.Lock:
        """One of a few locks, so clicks on the same alert run one after the other."""
        return self._locks[hash(alert_id) % len(self._locks)]


def register(app: App, deps: Deps) -> None:
    """Add the slash command, the alert buttons and the Home tab to ``app``; users of other
    workspaces (Slack Connect) are refused before any of them runs (:mod:`bot.slack.tenancy`)."""
    app.use(workspace_guard(deps.settings.slack.external_teams))
    app.command(deps.settings.slack.command)(ack=_ack_command(deps), lazy=[_answer(deps)])
    app.action(alerts.ACTION_IDS)(ack=_ack_click, lazy=[_click(deps)])
    app.action(LINK_BUTTONS)(_ack_click)  # the alert's URL buttons: Slack wants a 200 only
    app.event("app_home_opened")(_home(deps))


def answer_for(deps: Deps, cmd: Command, user: str, channel: str,
               channel_name: str = "") -> Answer:
    """The answer to a parsed command (admins checked for commands that change things);
    ``channel_name`` is the channel's name as the request gives it (receivers may name it)."""
    env, name = deps.env(), deps.settings.slack.command
    if isinstance(cmd, SilenceAdd | Unsilence) and not deps.admins.allows(user):
        return refused(name, "add or end silences")
    if isinstance(cmd, Subscribe) and not deps.admins.allows(user):
        return refused(name, "subscribe channels to fleets")
    match cmd:
        case Lookup(model, share):
            return lookup_answer(env, model, share)
        case AdvisoryQuery(ref, share):
            return advisory_answer(env, ref, share)
        case Fleets(share):
            return fleets_answer(env, share)
        case FleetShow(fleet, share):
            return fleet_answer(env, fleet, share)
        case Upcoming(days, share):
            return upcoming_answer(env, days, share)
        case Silences(share):
            return silences_answer(env, share)
        case Status(share):
            return status_answer(env, share)
        case SilenceAdd():
            return add_silence(env, cmd, user)
        case Unsilence(silence_id):
            return end_silence(env, silence_id)
        case Subscribe():
            return change_subscription(env, cmd, channel, channel_name)
    return help_answer(name)


def _ack_command(deps: Deps) -> Callable[..., None]:
    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
        parsed = parse(str(command.get("text") or ""))
        name = deps.settings.slack.command
        if isinstance(parsed, Usage | Help):
            answer = (help_answer(name, parsed.problem, parsed.usage)
                      if isinstance(parsed, Usage) else help_answer(name))
            message = answer.message()
            ack(text=message["text"], blocks=message["blocks"], response_type="ephemeral")
        else:
            ack()

    return ack_command


def _answer(deps: Deps) -> Callable[..., None]:
    def answer(command: dict[str, Any], respond: Respond) -> None:
        parsed = parse(str(command.get("text") or ""))
        if isinstance(parsed, Usage | Help):
            return  # answered in the ack
        try:
            found = answer_for(deps, parsed, str(command.get("user_id", "")),
                               str(command.get("channel_id", "")),
                               str(command.get("channel_name", "")))
        except StoreError as exc:
            log.error("slash command %r failed: the store did not answer: %s",
                      command.get("text"), exc)
            writes = isinstance(parsed, SilenceAdd | Unsilence | Subscribe)
            found = note(NOT_SAVED.format(what="change") if writes else CANNOT_READ)
        respond(**found.message())

    return answer


def _ack_click(ack: Ack) -> None:
    ack()


def _click(deps: Deps) -> Callable[..., None]:
    def click(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        found = alerts.read_click(body)
        if found is None:
            respond(text="firmwatch does not know this button's alert.",
                    response_type="ephemeral", replace_original=False)
            return
        expand = found.action_id == alerts.SNOOZE and found.days is None
        with deps.lock(found.alert_id):
            now = deps.clock()
            try:
                outcome = (alerts.Outcome(True) if expand else _apply(deps, found, now))
            except StoreError as exc:
                _store_failed(respond, found, exc, NOT_SAVED.format(what="click"))
                return
            try:
                status = alerts.status_parts(deps.store, found.alert_id, now)
            except StoreError as exc:
                _store_failed(respond, found, exc, CANNOT_READ)
                return
        if outcome.changed:
            _update(client, respond, found, status, expand)
        if outcome.note:
            respond(text=outcome.note, response_type="ephemeral", replace_original=False)

    return click


def _apply(deps: Deps, click: alerts.Click, now: datetime) -> alerts.Outcome:
    """Store what the click asks for (acknowledge, open a ticket or snooze)."""
    if click.action_id == alerts.ACK:
        return alerts.acknowledge(deps.store, click.alert_id, click.user, now)
    if click.action_id == alerts.TICKET:
        return alerts.open_ticket(deps.store, deps.settings, click.alert_id, click.user, now)
    return alerts.snooze(deps.store, click.alert_id, click.user, click.days or 7, now)


def _store_failed(respond: Respond, click: alerts.Click, exc: StoreError, text: str) -> None:
    """Log a store failure once and tell the clicker (only them) without its details."""
    log.error("button %s on alert %s failed: the store did not answer: %s", click.action_id,
              click.alert_id, exc)
    respond(text=text, response_type="ephemeral", replace_original=False)


def _update(client: WebClient, respond: Respond, click: alerts.Click, status: list[str],
            expand: bool) -> None:
    """Rewrite the alert message (chat.update); tell the clicker when that is not possible."""
    problem = "the message is not available"
    if click.channel and click.ts and click.blocks:
        blocks = alerts.rewrite(click.blocks, click.alert_id, status, expand_snooze=expand)
        try:
            client.chat_update(channel=click.channel, ts=click.ts, blocks=blocks,
                               text=click.text or "firmwatch alert")
            return
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("cannot update the alert message %s/%s: %s", click.channel, click.ts,
                        exc)
            problem = f"could not update the message: {exc}"
    done = " · ".join(status) or "done"
    respond(text=f"{done} ({esc(problem)})", response_type="ephemeral", replace_original=False)


def _home(deps: Deps) -> Callable[..., None]:
    def home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        try:
            view = home_view(deps.env())
        except StoreError as exc:  # say so: the tab would keep what it showed last, as if current
            log.error("cannot build the Home tab: %s", exc)
            view = {"type": "home", "blocks": note(CANNOT_READ).blocks}
        client.views_publish(user_id=str(event["user"]), view=view)

    return home
