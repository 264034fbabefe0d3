"""Named leader locks for PostgreSQL: a session advisory lock on a dedicated connection.

The connection is not pooled, so closing it (or the process dying, or the server dropping the
session) frees the lock for a standby. It runs in autocommit mode: no transaction stays open.
"""

from __future__ import annotations

import hashlib
import threading

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from state.errors import StoreError
from state.sql.engine import PG_CONNECT, SqlDb


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a lock name."""
    digest = hashlib.sha256(f"firmwatch.leader:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PgLeader:
    """``pg_try_advisory_lock`` held by one dedicated connection."""

    def __init__(self, db: SqlDb, name: str) -> None:
        self.name = name
        self.key = lock_key(name)
        self._db = db
        self._engine: Engine = create_engine(
            db.engine.url, poolclass=NullPool,
            connect_args={**PG_CONNECT, "application_name": f"firmwatch leader {name}"},
        )
        self._conn: Connection | None = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        """True while this handle believes it holds the lock (``acquire`` checks)."""
        return self._conn is not None

    def acquire(self) -> bool:
        """Take the lock or confirm the session holding it is alive; False when another has it.

        Raises StoreError when the database cannot be reached (the lock is then not held).
        """
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.exec_driver_sql("SELECT 1")
                    return True
                except SQLAlchemyError:
                    self._drop()  # the session is gone, and the lock with it: try again
            try:
                conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except SQLAlchemyError as exc:
                raise StoreError(f"cannot reach {self._db.url} for the {self.name!r} lock: "
                                 f"{self._db._first_line(exc)}") from None
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
                taken = bool(got.scalar())
            except SQLAlchemyError as exc:
                conn.close()
                raise StoreError(f"cannot take the {self.name!r} lock at {self._db.url}: "
                                 f"{self._db._first_line(exc)}") from None
            if not taken:
                conn.close()
                return False
            self._conn = conn
            return True

    def release(self) -> None:
        """Give the lock up by closing its session (nothing happens when it is not held)."""
        with self._mutex:
            self._drop()

    def close(self) -> None:
        """Release the lock and the engine."""
        self.release()
        self._engine.dispose()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except SQLAlchemyError:
                conn.invalidate()
