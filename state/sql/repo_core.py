"""SQL repositories: sources, items, lifecycle catalog, meta."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, text, update

from bot.catalog import CatalogEntry
from bot.items import Item, to_json_dict
from state.records import Change, ItemRevision, Json, SourceState, StoredItem, utc
from state.sql.engine import SqlDb, chunks
from state.sql.leader import lock_key
from state.sql.schema import catalog, item_revisions, items, meta, sources


class SqlSources:
    """Sources' health and cursors."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def get(self, name: str) -> SourceState | None:
        """The source's state, if any."""
        with self._db.unit() as c:
            row = c.execute(select(sources).where(sources.c.name == name)).first()
        return None if row is None else SourceState(*row)

    def all(self) -> list[SourceState]:
        """Every source's state, by name."""
        with self._db.unit() as c:
            rows = c.execute(select(sources)).all()
        return sorted((SourceState(*r) for r in rows), key=lambda s: s.name)

    def put_health(self, name: str, health: Json, now: datetime) -> None:
        """Replace the source's health."""
        self._put(name, "health", health, now)

    def put_cursor(self, name: str, cursor: Json, now: datetime) -> None:
        """Replace the source's cursor."""
        self._put(name, "cursor", cursor, now)

    def _put(self, name: str, field: str, value: Json, now: datetime) -> None:
        row = {"name": name, "health": {}, "cursor": {}, "updated_at": utc(now, "now")}
        ins = self._db.insert(sources).values({**row, field: value})
        stmt = ins.on_conflict_do_update(
            index_elements=["name"],
            set_={field: ins.excluded[field], "updated_at": ins.excluded.updated_at},
        )
        with self._db.unit() as c:
            c.execute(stmt)


def _item(r: Row[Any]) -> StoredItem:
    return StoredItem(r.key, r.kind, r.revision, r.data, r.first_seen, r.last_seen, r.revised_at)


class SqlItems:
    """Items and their revision history."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def put(self, key: str, kind: str, revision: str, data: Json, now: datetime) -> Change:
        """Store a revision: new, revised or unchanged (then only last_seen moves)."""
        now = utc(now, "now")
        history = (self._db.insert(item_revisions)
                   .values(item_key=key, revision=revision, data=data, seen_at=now)
                   .on_conflict_do_nothing(index_elements=["item_key", "revision"]))
        with self._db.unit() as c:
            added = c.execute(
                self._db.insert(items)
                .values(key=key, kind=kind, revision=revision, data=data, first_seen=now,
                        last_seen=now, revised_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(items.c.key)
            ).first()
            if added is not None:
                c.execute(history)
                return "new"
            current = c.execute(
                select(items.c.revision).where(items.c.key == key).with_for_update()
            ).scalar_one()
            where = update(items).where(items.c.key == key)
            if current == revision:
                c.execute(where.values(last_seen=now))
                return "unchanged"
            c.execute(where.values(kind=kind, revision=revision, data=data, last_seen=now,
                                   revised_at=now))
            c.execute(history)
            return "revised"

    def put_item(self, item: Item, now: datetime) -> Change:
        """``put`` for a bot.items Item."""
        return self.put(item.key, item.kind, item.revision, to_json_dict(item), now)

    def get(self, key: str) -> StoredItem | None:
        """The item's current revision."""
        with self._db.unit() as c:
            row = c.execute(select(items).where(items.c.key == key)).first()
        return None if row is None else _item(row)

    def revisions(self, key: str) -> list[ItemRevision]:
        """The item's history, oldest first."""
        t = item_revisions
        with self._db.unit() as c:
            rows = c.execute(select(t.c.item_key, t.c.revision, t.c.data, t.c.seen_at)
                             .where(t.c.item_key == key).order_by(t.c.id)).all()
        return [ItemRevision(*r) for r in rows]

    def all(self, kind: str | None = None) -> list[StoredItem]:
        """Items (of one kind), by key."""
        q = select(items) if kind is None else select(items).where(items.c.kind == kind)
        with self._db.unit() as c:
            rows = c.execute(q).all()
        return sorted((_item(r) for r in rows), key=lambda i: i.key)

    def count(self, kind: str | None = None) -> int:
        """How many items (of one kind)."""
        q = select(func.count()).select_from(items)
        with self._db.unit() as c:
            return int(c.execute(q if kind is None else q.where(items.c.kind == kind))
                       .scalar_one())

    def current_revisions(self, keys: Iterable[str]) -> dict[str, str]:
        """The current revision of each known key."""
        found: dict[str, str] = {}
        with self._db.unit() as c:
            for part in chunks(list(dict.fromkeys(keys))):
                q = select(items.c.key, items.c.revision).where(items.c.key.in_(part))
                found.update({r.key: r.revision for r in c.execute(q)})
        return found


class SqlCatalog:
    """Lifecycle dates from fleet imports, by pattern."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def put(self, entries: Iterable[CatalogEntry]) -> int:
        """Add or replace entries; the number changed."""
        rows = {e.pattern: {"pattern": e.pattern, "launched": e.launched,
                            "discontinued": e.discontinued, "source": e.source}
                for e in entries}
        if not rows:
            return 0
        ins = self._db.insert(catalog)
        stmt = ins.on_conflict_do_update(
            index_elements=["pattern"],
            set_={c: ins.excluded[c] for c in ("launched", "discontinued", "source")},
            where=(catalog.c.launched.is_distinct_from(ins.excluded.launched)
                   | catalog.c.discontinued.is_distinct_from(ins.excluded.discontinued)
                   | catalog.c.source.is_distinct_from(ins.excluded.source)),
        ).returning(catalog.c.pattern)
        with self._db.unit() as c:
            return sum(len(c.execute(stmt, part).all()) for part in chunks(list(rows.values())))

    def get(self, pattern: str) -> CatalogEntry | None:
        """One entry."""
        with self._db.unit() as c:
            row = c.execute(select(catalog).where(catalog.c.pattern == pattern)).first()
        return None if row is None else CatalogEntry(*row)

    def all(self) -> list[CatalogEntry]:
        """Every entry, by pattern."""
        with self._db.unit() as c:
            rows = c.execute(select(catalog)).all()
        return sorted((CatalogEntry(*r) for r in rows), key=lambda e: e.pattern)

    def remove(self, pattern: str) -> bool:
        """Remove one entry."""
        with self._db.unit() as c:
            return c.execute(delete(catalog).where(catalog.c.pattern == pattern)).rowcount == 1


class SqlMeta:
    """Small JSON values by key."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def get(self, key: str, *, for_update: bool = False) -> Any:
        """The value, or None; ``for_update`` holds the key until the transaction ends (on
        PostgreSQL an advisory lock, which also covers a key not stored yet; SQLite transactions
        already take the write lock when they begin)."""
        with self._db.unit() as c:
            if for_update and self._db.dialect == "postgresql":
                c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(f"meta:{key}")})
            return c.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def prefixed(self, prefix: str) -> dict[str, Any]:
        """Every value whose key starts with ``prefix``, by key."""
        query = select(meta.c.key, meta.c.value).where(meta.c.key.startswith(prefix,
                                                                              autoescape=True))
        with self._db.unit() as c:
            return {key: value for key, value in c.execute(query)}

    def put(self, key: str, value: Any, now: datetime) -> None:
        """Set a JSON value."""
        self.put_many({key: value}, now)

    def put_many(self, values: Mapping[str, Any], now: datetime) -> None:
        """Set each key's JSON value: one executemany per chunk, not a round trip per key."""
        at = utc(now, "now")
        ins = self._db.insert(meta)
        stmt = ins.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at},
        )
        rows = [{"key": k, "value": v, "updated_at": at} for k, v in values.items()]
        with self._db.unit() as c:
            for part in chunks(rows):
                c.execute(stmt, part)

    def delete(self, key: str) -> bool:
        """Remove a key."""
        with self._db.unit() as c:
            return c.execute(delete(meta).where(meta.c.key == key)).rowcount == 1
