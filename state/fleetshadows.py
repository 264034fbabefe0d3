"""Imported device groups that bot.toml lists too, kept as the import last wrote them.

While ``[[fleets.devices]]`` lists a device an import or the REST API also wrote, the file's values
are stored (origin ``config``); the import's are kept here, under the meta key
``fleets.imported-under-config`` ({group key: group}), so that when the file stops listing the
device it is the import's again instead of gone (imports never lose devices to bot.toml).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.fleets import DeviceGroup, make_group
from state.api import Store

SHADOWS_KEY = "fleets.imported-under-config"


def load(store: Store) -> dict[str, DeviceGroup]:
    """The import's groups that bot.toml lists, by key (malformed entries are left out)."""
    raw = store.meta.get(SHADOWS_KEY)
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, DeviceGroup] = {}
    for key, d in raw.items():
        try:
            g = make_group(d["fleet"], d["model"], d["firmware"], int(d["count"]), d["site"],
                           d["tags"], d["serials"])
        except (KeyError, TypeError, ValueError):
            continue
        if g.key == key:
            out[key] = g
    return out


def save(store: Store, before: Mapping[str, DeviceGroup], now: Mapping[str, DeviceGroup]) -> None:
    """Store ``now`` when it differs from ``before``."""
    if dict(before) == dict(now):
        return
    if not now:
        store.meta.delete(SHADOWS_KEY)
        return
    store.meta.put(SHADOWS_KEY, {k: _doc(g) for k, g in sorted(now.items())}, datetime.now(UTC))


def _doc(g: DeviceGroup) -> dict[str, Any]:
    return {"fleet": g.fleet, "model": g.model_as_written, "firmware": g.firmware,
            "count": g.count, "site": g.site, "tags": list(g.tags), "serials": list(g.serials)}
