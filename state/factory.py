"""Open a Store from a URL; upgrade a store's schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from state.api import Store
from state.urls import parse_state_url


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` did: the schema version (or Alembic revision) before and after."""

    url: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        """True when a migration ran."""
        return self.before != self.after


def open_store(url: str, *, migrate: bool | None = None) -> Store:
    """Open the store named by ``url`` (tinydb:///…, sqlite:///…, postgresql://…).

    Embedded stores (TinyDB, SQLite) are migrated on open; PostgreSQL is only checked unless
    ``migrate=True`` (run ``firmwatch db upgrade`` once per release instead).
    """
    parsed = parse_state_url(url)
    if parsed.backend == "tinydb":
        from state.tiny.store import TinyStore

        return TinyStore(Path(parsed.target))
    from state.sql.store import SqlStore

    return SqlStore(parsed, migrate=parsed.backend == "sqlite" if migrate is None else migrate)


def upgrade(url: str) -> Upgrade:
    """Bring the store's schema up to date (Alembic for SQL; the file's version for TinyDB)."""
    parsed = parse_state_url(url)
    if parsed.backend == "tinydb":
        from state.tiny.store import TinyStore

        with TinyStore(Path(parsed.target)) as tiny:
            before = "none" if tiny.created else str(tiny.schema_before)
            return Upgrade(str(parsed), before, str(tiny.schema_version))
    from state.sql.migrate import upgrade_sql

    before, after = upgrade_sql(parsed)
    return Upgrade(str(parsed), before, after)
