"""The SQL Store: PostgreSQL for several processes, SQLite for one machine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from state.leader import FileLeader
from state.sql.engine import SqlDb
from state.sql.leader import PgLeader
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
        self._state_url = url
        self._leaders: list[PgLeader | FileLeader] = []
        self._leaders_mutex = threading.Lock()
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

    def leader(self, name: str) -> PgLeader | FileLeader:
        """A leader lock: a PostgreSQL advisory lock, or a file lock beside a SQLite file."""
        handle: PgLeader | FileLeader
        if self._state_url.backend == "postgresql":
            handle = PgLeader(self._db, name)
        else:
            handle = FileLeader(Path(self._state_url.target), name)
        with self._leaders_mutex:
            self._leaders.append(handle)
        return handle

    def check(self) -> None:
        """Raise StoreError unless the database answers and is at the scripts' head revision."""
        check_db(self._db)

    def close(self) -> None:
        """Release the leader locks, then close every pooled connection."""
        with self._leaders_mutex:
            leaders, self._leaders = self._leaders, []
        for handle in leaders:
            if isinstance(handle, PgLeader):
                handle.close()
            else:
                handle.release()
        self._db.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
