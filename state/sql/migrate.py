"""Alembic, driven from code: the scripts live in state/migrations and ship with the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from state.errors import SchemaError
from state.sql.engine import SqlDb
from state.urls import StateUrl

SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(conn: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts (and at ``conn`` when given)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("path_separator", "os")
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    """The newest revision in the scripts."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: Connection) -> str | None:
    """The revision the database is at (None when it has no firmwatch tables)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_db(db: SqlDb) -> tuple[str, str]:
    """Apply pending migrations in one transaction; (revision before, after)."""
    with db.transaction() as conn:
        if db.dialect == "postgresql":  # one migrator at a time across processes
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7253360001)")
        before = current(conn) or "none"
        command.upgrade(alembic_config(conn), "head")
        return before, current(conn) or "none"


def check_db(db: SqlDb) -> None:
    """Raise SchemaError unless the database is at the scripts' head revision."""
    with db.transaction() as conn:
        at = current(conn)
    want = head()
    if at == want:
        return
    if at is None:
        raise SchemaError(f"database {db.url} has no firmwatch tables yet: run `firmwatch db"
                          " upgrade` (the Procfile's release step does)")
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if at not in known:
        raise SchemaError(f"database {db.url} is at schema revision {at}, newer than this"
                          " firmwatch knows; upgrade firmwatch")
    raise SchemaError(f"database {db.url} is at schema revision {at}, firmwatch needs {want}:"
                      " run `firmwatch db upgrade`")


def upgrade_sql(url: StateUrl) -> tuple[str, str]:
    """Open the database, migrate it to head, close it."""
    db = SqlDb(url)
    try:
        return upgrade_db(db)
    finally:
        db.dispose()
