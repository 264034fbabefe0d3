"""TinyDB repositories: sources, items, lifecycle catalog, meta."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from bot.catalog import CatalogEntry
from bot.items import Item, to_json_dict
from state.records import (
    Change,
    ItemRevision,
    Json,
    SourceState,
    StoredItem,
    from_text,
    to_text,
)
from state.tiny.memory import Doc, Memory


class TinySources:
    """Sources' health and cursors."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def get(self, name: str) -> SourceState | None:
        """The source's state, if any."""
        with self._mem.lock:
            found = self._mem["sources"].find(name)
            return None if found is None else _source(self._mem["sources"].fresh(found[0]))

    def all(self) -> list[SourceState]:
        """Every source's state, by name."""
        with self._mem.lock:
            t = self._mem["sources"]
            return sorted((_source(t.fresh(i)) for i in t.docs), key=lambda s: s.name)

    def put_health(self, name: str, health: Json, now: datetime) -> None:
        """Replace the source's health."""
        self._put(name, "health", health, now)

    def put_cursor(self, name: str, cursor: Json, now: datetime) -> None:
        """Replace the source's cursor."""
        self._put(name, "cursor", cursor, now)

    def _put(self, name: str, field: str, value: Json, now: datetime) -> None:
        stamp = to_text(now, "now")
        with self._mem.transaction():
            found = self._mem["sources"].find(name)
            doc = dict(found[1]) if found else {"name": name, "health": {}, "cursor": {}}
            doc.update({field: value, "updated_at": stamp})
            self._mem.put("sources", doc, found[0] if found else None, copy=True)


def _source(d: Doc) -> SourceState:
    return SourceState(d["name"], d["health"], d["cursor"], from_text(d["updated_at"]))


class TinyItems:
    """Items and their revision history."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def put(self, key: str, kind: str, revision: str, data: Json, now: datetime) -> Change:
        """Store a revision: new, revised or unchanged (then only last_seen moves)."""
        stamp = to_text(now, "now")
        with self._mem.transaction():
            found = self._mem["items"].find(key)
            if found is not None and found[1]["revision"] == revision:
                self._mem.put("items", {**found[1], "last_seen": stamp}, found[0])
                return "unchanged"
            first = found[1]["first_seen"] if found else stamp
            doc = {"key": key, "kind": kind, "revision": revision, "data": data,
                   "first_seen": first, "last_seen": stamp, "revised_at": stamp}
            self._mem.put("items", doc, found[0] if found else None, copy=True)
            if self._mem["item_revisions"].find((key, revision)) is None:
                rev = {"item_key": key, "revision": revision, "data": data, "seen_at": stamp}
                self._mem.put("item_revisions", rev, copy=True)
            return "revised" if found else "new"

    def put_item(self, item: Item, now: datetime) -> Change:
        """``put`` for a bot.items Item."""
        return self.put(item.key, item.kind, item.revision, to_json_dict(item), now)

    def get(self, key: str) -> StoredItem | None:
        """The item's current revision."""
        with self._mem.lock:
            found = self._mem["items"].find(key)
            return None if found is None else _item(self._mem["items"].fresh(found[0]))

    def revisions(self, key: str) -> list[ItemRevision]:
        """The item's history, oldest first."""
        with self._mem.lock:
            t = self._mem["item_revisions"]
            docs = [t.fresh(i) for i in t.ids_in("item", key)]
        return [ItemRevision(d["item_key"], d["revision"], d["data"], from_text(d["seen_at"]))
                for d in docs]

    def all(self, kind: str | None = None) -> list[StoredItem]:
        """Items (of one kind), by key."""
        with self._mem.lock:
            t = self._mem["items"]
            ids = t.docs if kind is None else t.ids_in("kind", kind)
            return sorted((_item(t.fresh(i)) for i in ids), key=lambda s: s.key)

    def count(self, kind: str | None = None) -> int:
        """How many items (of one kind)."""
        with self._mem.lock:
            t = self._mem["items"]
            return len(t.docs) if kind is None else len(t.by_group["kind"].get(kind, ()))

    def current_revisions(self, keys: Iterable[str]) -> dict[str, str]:
        """The current revision of each known key."""
        with self._mem.lock:
            t = self._mem["items"]
            return {k: f[1]["revision"] for k in keys if (f := t.find(k)) is not None}


def _item(d: Doc) -> StoredItem:
    return StoredItem(d["key"], d["kind"], d["revision"], d["data"], from_text(d["first_seen"]),
                      from_text(d["last_seen"]), from_text(d["revised_at"]))


class TinyCatalog:
    """Lifecycle dates from fleet imports, by pattern."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def put(self, entries: Iterable[CatalogEntry]) -> int:
        """Add or replace entries; the number changed."""
        changed = 0
        with self._mem.transaction():
            t = self._mem["catalog"]
            for e in entries:
                doc = {"pattern": e.pattern, "source": e.source,
                       "launched": e.launched.isoformat() if e.launched else None,
                       "discontinued": e.discontinued.isoformat() if e.discontinued else None}
                found = t.find(e.pattern)
                if found is None or found[1] != doc:
                    self._mem.put("catalog", doc, found[0] if found else None)
                    changed += 1
        return changed

    def get(self, pattern: str) -> CatalogEntry | None:
        """One entry."""
        with self._mem.lock:
            found = self._mem["catalog"].find(pattern)
            return None if found is None else _entry(found[1])

    def all(self) -> list[CatalogEntry]:
        """Every entry, by pattern."""
        with self._mem.lock:
            docs = list(self._mem["catalog"].docs.values())
        return sorted((_entry(d) for d in docs), key=lambda e: e.pattern)

    def remove(self, pattern: str) -> bool:
        """Remove one entry."""
        with self._mem.transaction():
            found = self._mem["catalog"].find(pattern)
            return found is not None and self._mem.delete("catalog", [found[0]]) == 1


def _entry(d: Doc) -> CatalogEntry:
    def day(v: str | None) -> date | None:
        return date.fromisoformat(v) if v else None

    return CatalogEntry(d["pattern"], day(d["launched"]), day(d["discontinued"]), d["source"])


class TinyMeta:
    """Small JSON values by key."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def get(self, key: str, *, for_update: bool = False) -> Any:
        """The value, or None (a transaction holds the whole store: ``for_update`` is implied)."""
        with self._mem.lock:
            found = self._mem["meta"].find(key)
            return None if found is None else self._mem["meta"].fresh(found[0])["value"]

    def prefixed(self, prefix: str) -> dict[str, Any]:
        """Every value whose key starts with ``prefix``, by key."""
        with self._mem.lock:
            t = self._mem["meta"]
            return {d["key"]: t.fresh(i)["value"] for i, d in t.docs.items()
                    if d["key"].startswith(prefix)}

    def put(self, key: str, value: Any, now: datetime) -> None:
        """Set a JSON value."""
        self.put_many({key: value}, now)

    def put_many(self, values: Mapping[str, Any], now: datetime) -> None:
        """Set each key's JSON value (one file write)."""
        stamp = to_text(now, "now")
        with self._mem.transaction():
            t = self._mem["meta"]
            for key, value in values.items():
                found = t.find(key)
                self._mem.put("meta", {"key": key, "value": value, "updated_at": stamp},
                              found[0] if found else None, copy=True)

    def delete(self, key: str) -> bool:
        """Remove a key."""
        with self._mem.transaction():
            found = self._mem["meta"].find(key)
            return found is not None and self._mem.delete("meta", [found[0]]) == 1
