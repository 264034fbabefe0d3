"""The engine, the per-thread unit of work, and database errors translated into StoreError."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.pool import ConnectionPoolEntry

from state.errors import StoreError
from state.urls import StateUrl

Insert = postgresql.Insert | sqlite.Insert
CHUNK = 1000


def _json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store this record: not JSON data ({exc})") from None


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take transaction control from the driver (so SAVEPOINT works) and fsync every commit.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                   "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # One writer at a time, decided up front: no lock upgrades that fail half-way.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# libpq options of every PostgreSQL connection: give up connecting after 10 s; probe an idle
# connection after 30 s (then every 10 s, 3 times); drop one whose sent data goes unacknowledged
# for 60 s. Without them a query on a connection cut by a partition waits for the kernel's
# retransmissions to give up (about 15 minutes), holding its cycle, probe or worker that long.
PG_CONNECT: dict[str, int] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}


def make_engine(url: StateUrl) -> Engine:
    """An engine for the URL (psycopg 3 for PostgreSQL; WAL and full fsync for SQLite)."""
    if url.backend == "sqlite":
        Path(url.target).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url.url(), json_serializer=_json)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url.target, json_serializer=_json, pool_pre_ping=True,
        connect_args={**PG_CONNECT, "application_name": "firmwatch"},
    )


class SqlDb:
    """The engine plus the connection of the unit of work open in this thread, if any."""

    def __init__(self, url: StateUrl) -> None:
        self.url = str(url)
        self._password = make_url(url.url()).password
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._current: ContextVar[Connection | None] = ContextVar(f"unit-{id(self)}",
                                                                  default=None)

    def insert(self, table: Table) -> Insert:
        """An INSERT that supports ON CONFLICT on this dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Start a unit of work, or a savepoint inside the one already open in this thread."""
        conn = self._current.get()
        with self.errors():
            if conn is not None:
                with conn.begin_nested():
                    yield conn
                return
            with self.engine.begin() as conn:
                token = self._current.set(conn)
                try:
                    yield conn
                finally:
                    self._current.reset(token)

    @contextmanager
    def unit(self) -> Iterator[Connection]:
        """Join the open unit of work, or run one of its own (one repository call)."""
        conn = self._current.get()
        if conn is None:
            with self.transaction() as conn:
                yield conn
        else:
            with self.errors():
                yield conn

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Translate database errors into StoreError, without the password."""
        try:
            yield
        except IntegrityError as exc:
            raise StoreError(f"the database refused a write: {self._first_line(exc.orig)}") from exc
        except StatementError as exc:
            if isinstance(exc.orig, StoreError):  # raised by _json while binding
                raise exc.orig from None
            raise StoreError(f"database error at {self.url}: {self._first_line(exc.orig)}"
                             ) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"database error at {self.url}: {self._first_line(exc)}") from exc

    def _first_line(self, error: object) -> str:
        text = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return text.replace(self._password, "***") if self._password else text

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def chunks(values: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """Slices of a list, for IN clauses and batched writes."""
    for i in range(0, len(values), size):
        yield values[i : i + size]
