"""Fleets routed to Slack channels by ``/firmware subscribe``, kept in ``store.meta``.

The value under ``slack.subscriptions`` is ``{fleet: [channel_id, ...]}``. Each subscribed channel
is a slack receiver named ``slack:<channel_id>`` that routing adds to the fleet's receivers.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.config import ReceiverSettings, Settings
from state.api import Store

SUBSCRIPTIONS_KEY = "slack.subscriptions"
PREFIX = "slack:"
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")


def receiver_name(channel: str) -> str:
    """The receiver name of a subscribed channel: ``slack:C0123ABCD``."""
    return PREFIX + channel


def subscriptions(store: Store) -> dict[str, list[str]]:
    """Channels per fleet, sorted; malformed entries are left out."""
    raw = store.meta.get(SUBSCRIPTIONS_KEY)
    if not isinstance(raw, dict):
        return {}
    out: dict[str, list[str]] = {}
    for fleet, channels in sorted(raw.items()):
        if isinstance(fleet, str) and isinstance(channels, list):
            good = sorted({c for c in channels if isinstance(c, str) and CHANNEL_ID.match(c)})
            if good:
                out[fleet] = good
    return out


def fleet_receivers(store: Store) -> dict[str, list[str]]:
    """Receiver names per fleet (``slack:<channel_id>``), for routing to add to the fleet's own."""
    return {fleet: [receiver_name(c) for c in channels]
            for fleet, channels in subscriptions(store).items()}


def subscribed_receivers(store: Store) -> list[ReceiverSettings]:
    """One slack receiver per subscribed channel, named ``slack:<channel_id>``, by name.

    ``[[receivers]]`` names may not hold ``:``, so these cannot clash with configured ones; they
    are built without the name's validation (the channel ID is checked instead).
    """
    channels = sorted({c for found in subscriptions(store).values() for c in found})
    return [ReceiverSettings.model_construct(name=receiver_name(c), type="slack", channel=c)
            for c in channels]


def subscribe(store: Store, fleet: str, channel: str, now: datetime) -> bool:
    """Route the fleet's alerts to the channel too; False when it already was."""
    if not CHANNEL_ID.match(channel):
        raise ValueError(f"not a channel ID: {channel!r}")
    with store.transaction():
        current = subscriptions(store)
        if channel in current.get(fleet, []):
            return False
        current[fleet] = sorted([*current.get(fleet, []), channel])
        store.meta.put(SUBSCRIPTIONS_KEY, current, now)
        return True


def unsubscribe(store: Store, fleet: str, channel: str, now: datetime) -> bool:
    """Stop routing the fleet's alerts to the channel; False when it was not subscribed."""
    with store.transaction():
        current = subscriptions(store)
        if channel not in current.get(fleet, []):
            return False
        left = [c for c in current[fleet] if c != channel]
        if left:
            current[fleet] = left
        else:
            del current[fleet]
        store.meta.put(SUBSCRIPTIONS_KEY, current, now)
        return True


def fleets_of(store: Store, channel: str) -> list[str]:
    """The fleets a channel is subscribed to."""
    return [fleet for fleet, found in subscriptions(store).items() if channel in found]


def with_subscriptions(settings: Settings, store: Store) -> Settings:
    """The settings plus one slack receiver per subscribed channel (for routing and delivery);
    settings that have them already are returned as they are."""
    have = {r.name for r in settings.receivers}
    extra = [r for r in subscribed_receivers(store) if r.name not in have]
    if not extra:
        return settings
    return settings.model_copy(update={"receivers": [*settings.receivers, *extra]})


def drop_fleet(store: Store, fleet: str, now: datetime) -> list[str]:
    """Forget a removed fleet's channels (a fleet made later under its name, say another
    customer's, must not inherit them: a Slack Connect channel is shared with one customer);
    the channels it had."""
    with store.transaction():
        current = subscriptions(store)
        channels = current.pop(fleet, [])
        if channels:
            store.meta.put(SUBSCRIPTIONS_KEY, current, now)
        return channels
