"""Routing's inputs from settings and the store: fleets, routes, silences, alert memory.

The memory of what was alerted is one meta value per (receiver, item): the alert id and the
fingerprint of the material facts it carried. A cycle routes every item with findings, so it
asks about nearly every pair: all of them are read at the first question, with their acks, in
two reads (not two per pair: thousands of round trips to PostgreSQL on every poll). The facts
themselves (one entry per device group: megabytes for a big estate's alert) are a second value,
read only when the fingerprint differs and routing says what changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.models import shown_model
from bot.routing import Alert, FleetRouting, Previous, Route, Routing, Silence
from bot.slack.subscriptions import fleet_receivers
from state import AlertState, Store
from state import Silence as StoredSilence

MEMORY_PREFIX = "alerted:"
FACTS_PREFIX = "alerted-facts:"
DEFAULT_KINDS = frozenset({"advisory", "firmware", "lifecycle"})


class AlertMemory(Mapping[tuple[str, str], Previous]):
    """What was last alerted per (receiver, item key), with acks and snoozes applied."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[tuple[str, str], Previous | None] = {}
        self._stored: dict[str, Any] | None = None  # every remembered value, by meta key
        self._states: dict[str, AlertState] = {}

    def __getitem__(self, key: tuple[str, str]) -> Previous:
        if key not in self._cache:
            self._cache[key] = self._load(key)
        found = self._cache[key]
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(k for k, v in self._cache.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for v in self._cache.values() if v is not None)

    def remember(self, *alerts: Alert, now: datetime) -> None:
        """Record each alert as the last one for its (receiver, item), in one store write."""
        values: dict[str, Any] = {}
        for alert in alerts:
            values[_key(alert.receiver, alert.item.key)] = {
                "alert_id": alert.id,
                "material": alert.material,
                "at": now.isoformat(timespec="seconds"),
                "kev_each": True,  # the facts keep each CVE's KEV listing (`Previous.kev_each`)
            }
            values[_key(alert.receiver, alert.item.key, FACTS_PREFIX)] = dict(alert.facts)
            self._cache[(alert.receiver, alert.item.key)] = Previous(alert.material, alert.facts)
        self._store.meta.put_many(values, now)

    def _load(self, key: tuple[str, str]) -> Previous | None:
        if self._stored is None:
            self._stored = self._store.meta.prefixed(MEMORY_PREFIX)
            self._states = self._store.acks.many(
                v["alert_id"] for v in self._stored.values() if isinstance(v, dict))
        value: dict[str, Any] | None = self._stored.get(_key(*key))
        if not value:
            return None
        state = self._states.get(value["alert_id"])
        facts = value["facts"] if "facts" in value else _StoredFacts(self._store, _key(
            *key, FACTS_PREFIX))  # alerts remembered before the facts had their own value
        at = value.get("at")
        return Previous(
            value["material"],
            facts,
            acked=bool(state and state.acked_by),
            snoozed_until=state.snoozed_until if state else None,
            alerted_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
            kev_each=bool(value.get("kev_each")),
        )


class _StoredFacts(Mapping[str, Any]):
    """An alert's material facts, read from the store when first looked at."""

    def __init__(self, store: Store, key: str) -> None:
        self._store = store
        self._key = key
        self._facts: Mapping[str, Any] | None = None

    def _read(self) -> Mapping[str, Any]:
        if self._facts is None:
            self._facts = self._store.meta.get(self._key) or {}
        return self._facts

    def __getitem__(self, key: str) -> Any:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())


def last_alert_id(store: Store, receiver: str, item_key: str) -> str | None:
    """The id of the last alert about the item to the receiver: the one whose acknowledgement
    and snooze routing consults."""
    value = store.meta.get(_key(receiver, item_key))
    found = value.get("alert_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def _key(receiver: str, item_key: str, prefix: str = MEMORY_PREFIX) -> str:
    return f"{prefix}{receiver}|{item_key}"


def routing_for(store: Store, settings: Settings, memory: AlertMemory, now: datetime) -> Routing:
    """Fleets (stored and declared), routes, receiver thresholds and active silences."""
    declared = {f.name: f for f in settings.fleets}
    subscribed = fleet_receivers(store)  # channels subscribed in Slack (/firmware subscribe)
    fleets = {
        f.name: FleetRouting(
            f.name,
            (*f.receivers, *subscribed.get(f.name, ())),
            frozenset(f.tags),
            f.min_severity,
            frozenset(declared[f.name].kinds) if f.name in declared else DEFAULT_KINDS,
        )
        for f in store.fleets.all()
    }
    routes = [
        Route(
            r.name,
            tuple(r.receivers),
            frozenset(r.kinds),
            frozenset(r.stages),
            frozenset(r.fleets),
            frozenset(r.fleet_tags),
            frozenset(r.sites),
            r.kev,
            r.min_severity,
            r.digest,
        )
        for r in settings.routes
    ]
    return Routing(
        fleets=fleets,
        routes=routes,
        receiver_min_severity={r.name: r.min_severity for r in settings.receivers},
        silences=[silence_of(s) for s in store.silences.active(now)],
        previous=memory,
        former=partial(former_group, store),
        tz=ZoneInfo(settings.schedule.timezone),
    )


def former_group(store: Store, key: str) -> tuple[str, str, str] | None:
    """A finding's device group as last found (fleet, model as the vendor writes it, site), from
    the stored finding: how what-changed names a group the alert no longer lists."""
    found = store.findings.get(key)
    groups = found.data.get("device_groups") if found is not None else None
    if found is None or not groups:
        return None
    model = shown_model(str(groups[0].get("model") or found.data.get("model") or ""))
    return found.fleet, model, str(groups[0].get("site") or "")


def silence_of(stored: StoredSilence) -> Silence:
    """A stored silence as routing applies it; matchers are ``{"name": …, "value": …}``."""
    matchers: dict[str, str] = {}
    for m in stored.matchers:
        if isinstance(m, dict) and "name" in m:
            matchers[str(m["name"])] = str(m.get("value", ""))
        elif isinstance(m, dict):
            matchers.update({str(k): str(v) for k, v in m.items()})
    return Silence(str(stored.id), matchers, stored.ends_at, stored.author, stored.comment)
