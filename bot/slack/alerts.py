"""What the buttons on an alert message do: acknowledge, snooze 7 or 30 days, open a ticket.

Each action checks the alert's stored state first, so a double click or a retried request changes
nothing the second time. The message is then rewritten from its own blocks: a status line
(block ``fw_status``) says who did what, from the stored state, never from the click alone.

Snooze: the alert's ``fw_snooze`` button (value: the alert id) swaps itself for two buttons,
``fw_snooze_7d`` and ``fw_snooze_30d``; clicking one snoozes. A ``static_select`` named
``fw_snooze`` whose option values are ``<alert id>|7d`` and ``<alert id>|30d`` works in one step.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.routingsetup import last_alert_id
from bot.slack.blocks import MAX_BLOCKS, Block, context, esc, when, who
from state import OutboxEntry
from state.api import Store

ACK, SNOOZE, TICKET = "fw_ack", "fw_snooze", "fw_ticket"
SNOOZE_BUTTONS = {"fw_snooze_7d": 7, "fw_snooze_30d": 30}
ACTION_IDS = re.compile(r"^fw_(ack|ticket|snooze(_7d|_30d)?)$")
STATUS_BLOCK = "fw_status"
GRACE = timedelta(minutes=10)  # a second snooze click this soon after the first is the same one
TICKET_META = "slack.ticket:"
_VALUE = re.compile(r"^(?P<id>fw_[0-9a-f]{8,64})(?:\|(?P<days>7|30)d)?$")


@dataclass(frozen=True)
class Click:
    """One button click (or select) on an alert message."""

    action_id: str
    alert_id: str
    days: int | None
    user: str
    channel: str | None
    ts: str | None
    blocks: list[Block]
    text: str


@dataclass(frozen=True)
class Outcome:
    """What an action did: ``changed`` means the message should show it; ``note`` is for the
    person who clicked when nothing changed (or it was refused)."""

    changed: bool
    note: str = ""


def read_click(body: Mapping[str, Any]) -> Click | None:
    """The click in a block_actions payload, or None when it is not one of ours."""
    actions = body.get("actions") or []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    value = str(action.get("value") or (action.get("selected_option") or {}).get("value") or "")
    found = _VALUE.match(value)
    if found is None:
        return None
    action_id = str(action.get("action_id", ""))
    days = int(found["days"]) if found["days"] else SNOOZE_BUTTONS.get(action_id)
    container, message = body.get("container") or {}, body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    blocks = message.get("blocks")
    return Click(action_id, found["id"], days, str((body.get("user") or {}).get("id", "")),
                 channel, container.get("message_ts") or message.get("ts"),
                 blocks if isinstance(blocks, list) else [], str(message.get("text") or ""))


def item_alerts(store: Store, alert_id: str) -> list[str]:
    """Later alerts about the clicked alert's item to its receiver (an update posted in the
    thread since): routing consults the last one, so a click on the first message holds it."""
    later: list[str] = []
    for entry in store.outbox.for_alert(alert_id):
        item = (entry.payload.get("item") or {}).get("key")
        last = last_alert_id(store, entry.receiver, item) if isinstance(item, str) else None
        if last is not None and last not in (alert_id, *later):
            later.append(last)
    return later


def acknowledge(store: Store, alert_id: str, user: str, now: datetime) -> Outcome:
    """Acknowledge once (and the item's later alerts); later clicks say who already did."""
    with store.transaction():
        if store.acks.ack(alert_id, user, now):
            for later in item_alerts(store, alert_id):
                store.acks.ack(later, user, now)
            return Outcome(True)
    state = store.acks.get(alert_id)
    by = who(state.acked_by or "") if state else "someone"
    return Outcome(False, f"Already acknowledged by {by}.")


def snooze(store: Store, alert_id: str, user: str, days: int, now: datetime) -> Outcome:
    """Snooze for ``days`` unless it is already snoozed about that long or longer."""
    until = now + timedelta(days=days)
    state = store.acks.get(alert_id)
    if state and state.snoozed_until and state.snoozed_until >= until - GRACE:
        return Outcome(False, f"Already snoozed until {when(state.snoozed_until)} by"
                              f" {who(state.snoozed_by or '')}.")
    with store.transaction():
        if not store.acks.snooze(alert_id, user, until, now):
            return Outcome(False, "Already snoozed at least that long.")
        for later in item_alerts(store, alert_id):
            store.acks.snooze(later, user, until, now)
    return Outcome(True)


def ticket_dedupe_key(dedupe_key: str, source: str, receiver: str) -> str:
    """The alert's dedupe key for the ticket receiver: the same as routing would have given it."""
    rest = dedupe_key[len(source) + 1:] if dedupe_key.startswith(source + "|") else dedupe_key
    return f"{receiver}|{rest}"


def open_ticket(
    store: Store, settings: Settings, alert_id: str, user: str, now: datetime
) -> Outcome:
    """Copy the alert's outbox payload to the ticketing receiver, once."""
    receiver = settings.slack.ticket_receiver
    if receiver is None:
        return Outcome(False, "No ticketing receiver is configured: set `ticket_receiver` under"
                              " `[slack]` in bot.toml to the name of a `[[receivers]]` entry.")
    entries = store.outbox.for_alert(alert_id)
    if not entries:
        return Outcome(False, "firmwatch no longer holds this alert (its outbox entry was"
                              " pruned), so it cannot open a ticket for it.")
    source = next((e for e in entries if e.receiver != receiver), entries[0])
    dedupe = ticket_dedupe_key(source.dedupe_key, source.receiver, receiver)
    existing = source if source.receiver == receiver else store.outbox.find(receiver, dedupe)
    if existing is not None:
        return Outcome(False, f"A ticket for this alert {_already(existing)} {esc(receiver)}.")
    ticket_id = "fw_" + hashlib.sha256(dedupe.encode()).hexdigest()[:24]
    # ticket_for: whose alert it is. Presets key the ticket by it too, so tickets opened from
    # two customers' channels about one advisory stay two tickets, not one with both in it.
    payload = {**source.payload, "id": ticket_id, "dedupe_key": dedupe, "receivers": [receiver],
               "ticket_for": source.receiver}
    with store.transaction():
        if store.outbox.enqueue(receiver, dedupe, payload, now, alert_id=ticket_id) is None:
            found = store.outbox.find(receiver, dedupe)
            where = _already(found) if found else "is already queued for"
            return Outcome(False, f"A ticket for this alert {where} {esc(receiver)}.")
        store.meta.put(TICKET_META + alert_id, {"by": user, "at": now.isoformat(),
                                                "receiver": receiver, "alert": ticket_id}, now)
    return Outcome(True)


def status_parts(store: Store, alert_id: str, now: datetime) -> list[str]:
    """Who acknowledged, snoozed and asked for a ticket, from the stored state."""
    parts: list[str] = []
    state = store.acks.get(alert_id)
    if state and state.acked_at:
        parts.append(f":white_check_mark: Acknowledged by {who(state.acked_by or '')}"
                     f" {when(state.acked_at)}")
    if state and state.snoozed_until and state.is_snoozed(now):
        parts.append(f":zzz: Snoozed until {when(state.snoozed_until)} by"
                     f" {who(state.snoozed_by or '')}")
    ticket = store.meta.get(TICKET_META + alert_id)
    if isinstance(ticket, dict):
        receiver = str(ticket.get("receiver", "?"))
        entry = next((e for e in store.outbox.for_alert(str(ticket.get("alert", "")))
                      if e.receiver == receiver), None)
        # the truth about the ticket: it is only sent once its receiver accepted it
        status = entry.status if entry is not None else "gone"
        done = {"sent": "Ticket sent to", "dead": "Ticket could not be delivered to",
                "gone": "Ticket requested from"}.get(status, "Ticket queued for")
        parts.append(f":ticket: {done} {esc(receiver)} for {who(str(ticket.get('by', '')))}")
    return parts


def _already(entry: OutboxEntry) -> str:
    """What became of an alert's ticket entry, for "A ticket for this alert … {receiver}"."""
    return {"sent": "already went to", "dead": "already failed to reach"}.get(
        entry.status, "is already queued for")


def rewrite(blocks: Sequence[Block], alert_id: str, status: Sequence[str], *,
            expand_snooze: bool = False) -> list[Block]:
    """The message's blocks with the snooze button(s) and the status line set."""
    out: list[Block] = []
    for block in blocks:
        if block.get("block_id") == STATUS_BLOCK:
            continue
        if block.get("type") == "actions" and _ours(block):
            block = {**block, "elements": _snooze_elements(block["elements"], alert_id,
                                                           expand_snooze)}
            out.append(block)
            if status:
                out.append({**context(*status), "block_id": STATUS_BLOCK})
            continue
        out.append(block)
    if status and not any(b.get("block_id") == STATUS_BLOCK for b in out):
        out.append({**context(*status), "block_id": STATUS_BLOCK})
    while len(out) > MAX_BLOCKS:  # drop what comes before the buttons, never the buttons
        out.pop(next(i for i in range(len(out) - 1, -1, -1)
                     if out[i].get("type") != "actions" and out[i].get("block_id") != STATUS_BLOCK))
    return out


def _ours(block: Block) -> bool:
    return any(ACTION_IDS.match(str(e.get("action_id", ""))) for e in block.get("elements", []))


def _snooze_elements(elements: list[Block], alert_id: str, expand: bool) -> list[Block]:
    """One "Snooze" button, or the 7 and 30 days buttons in its place (a select stays)."""
    out: list[Block] = []
    placed = False
    for e in elements:
        action = str(e.get("action_id", ""))
        if action != SNOOZE and action not in SNOOZE_BUTTONS:
            out.append(e)
        elif not placed:
            placed = True
            if expand:
                out += [_button(aid, f"Snooze {days} days", alert_id)
                        for aid, days in SNOOZE_BUTTONS.items()]
            else:
                out.append(_button(SNOOZE, "Snooze", alert_id) if e.get("type") == "button"
                           else e)
    return out


def _button(action_id: str, label: str, value: str) -> Block:
    return {"type": "button", "action_id": action_id, "value": value,
            "text": {"type": "plain_text", "text": label}}
