"""Slack Connect: firmwatch answers the workspace it is installed in, not everyone in a channel.

A channel shared with other organisations (Slack Connect) lets their members run the slash
command, click the alert buttons and open the Home tab; every answer lists every fleet, and a
click acknowledges, snoozes or tickets the operator's alert. The app's
own workspace is the team its bot token belongs to (``auth.test``, which bolt calls once and keeps
as ``context.authorize_result``). A request naming any other team as its user's (``team_id``,
``user_team``, ``user.team_id``, ``team.id``, ``event.user_team``) is refused with a short note
before any listener reads the store, unless ``[slack] external_teams`` lists that team. A request
naming no team at all, or an app whose own team is unknown, is refused too (fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from slack_bolt import Ack, BoltContext, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.alerts import ACTION_IDS

log = logging.getLogger(__name__)
REFUSAL = (":lock: firmwatch answers members of the workspace it is installed in only"
           " (its operators can allow another workspace with `[slack] external_teams`).")
Middleware = Callable[..., BoltResponse | None]


def user_teams(body: Mapping[str, Any]) -> set[str]:
    """Every team ID a request gives for the user who sent it (or for where it comes from)."""
    found: list[object] = [body.get("team_id"), body.get("user_team")]
    for key, field in (("user", "team_id"), ("team", "id"), ("event", "user_team")):
        part = body.get(key)
        if isinstance(part, Mapping):
            found.append(part.get(field))
    return {str(team) for team in found if isinstance(team, str) and team}


def admitted(body: Mapping[str, Any], home: str | None, allowed: frozenset[str]) -> bool:
    """True when every team the request names is the app's own or listed in ``allowed``."""
    teams = user_teams(body)
    return bool(teams) and teams <= (allowed | ({home} if home else set()))


def workspace_guard(external_teams: Iterable[str]) -> Middleware:
    """A global bolt middleware refusing requests from users of other workspaces."""
    allowed = frozenset(external_teams)

    def guard(body: dict[str, Any], context: BoltContext, ack: Ack, client: WebClient,
              respond: Respond | None, next: Callable[[], None]) -> BoltResponse | None:
        result = context.authorize_result
        home = result.team_id if result is not None else None
        if admitted(body, home, allowed):
            next()
            return None
        log.info("refused a Slack request from another workspace",
                 extra={"teams": sorted(user_teams(body)), "home": home,
                        "kind": body.get("type") or "command"})
        return _refuse(body, ack, client, respond)

    return guard


def _refuse(body: Mapping[str, Any], ack: Ack, client: WebClient,
            respond: Respond | None) -> BoltResponse:
    """Answer with the refusal where the request came from: the ack, the clicker only (an
    alert's button; its link buttons just open the page), or the Home tab."""
    event = body.get("event")
    if body.get("command"):
        return ack(text=REFUSAL, response_type="ephemeral")
    response = ack()
    actions = body.get("actions")
    if body.get("type") == "block_actions" and respond is not None and isinstance(
            actions, list) and any(isinstance(a, Mapping) and ACTION_IDS.match(
                str(a.get("action_id", ""))) for a in actions):
        try:
            respond(text=REFUSAL, response_type="ephemeral", replace_original=False)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("cannot tell the clicker the click was refused: %s", exc)
        return response
    if isinstance(event, Mapping) and event.get("type") == "app_home_opened" and event.get(
            "user") and event.get("tab", "home") == "home":
        view = {"type": "home", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": REFUSAL}}]}
        try:
            client.views_publish(user_id=str(event["user"]), view=view)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("cannot publish the refusal on the Home tab: %s", exc)
    return response
