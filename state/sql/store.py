"""The SQL Store: PostgreSQL for several processes, SQLite for one machine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from state.sql.engine import SqlDb
from state.sql.migrate import check_db, upgrade_db
from state.sql.repo_core import SqlCatalog, SqlItems, SqlMeta, SqlSources
from state.sql.repo_delivery import SqlDeliveries, SqlOutbox
from state.sql.repo_fleets import SqlFindings, SqlFleets
from state.sql.repo_people import SqlAcks, SqlSilences, SqlSlack
from state.urls import StateUrl


class SqlStore:
    """The Store over SQLAlchemy Core; each thread has its own unit of work."""

    def __init__(self, url: StateUrl, *, migrate: bool) -> None:
        self._db = db = SqlDb(url)
        self.url = db.url
        ready = False
        try:
            if migrate:
                upgrade_db(db)
            else:
                check_db(db)
            ready = True
        finally:
            if not ready:
                db.dispose()
        self.sources = SqlSources(db)
        self.items = SqlItems(db)
        self.fleets = SqlFleets(db)
        self.catalog = SqlCatalog(db)
        self.findings = SqlFindings(db)
        self.outbox = SqlOutbox(db)
        self.deliveries = SqlDeliveries(db)
        self.silences = SqlSilences(db)
        self.acks = SqlAcks(db)
        self.slack = SqlSlack(db)
        self.meta = SqlMeta(db)

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A unit of work (a savepoint when nested); commits when the block ends cleanly."""
        with self._db.transaction():
            yield

    def close(self) -> None:
        """Close every pooled connection."""
        self._db.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
