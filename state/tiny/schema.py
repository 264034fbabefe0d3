"""The TinyDB file's tables, its schema version, and the migrations applied when it is opened."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import Any

from state.errors import SchemaError
from state.tiny.memory import Doc, MemTable, TableSpec
from state.tiny.storage import AtomicJSONStorage, Data

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA_TABLE = "_schema"


def _k(name: str) -> Callable[[Doc], Any]:
    return lambda d: d[name]


SPECS: dict[str, TableSpec] = {
    "sources": TableSpec(_k("name")),
    "items": TableSpec(_k("key"), {"kind": _k("kind")}),
    "item_revisions": TableSpec(lambda d: (d["item_key"], d["revision"]), {"item": _k("item_key")}),
    "fleets": TableSpec(_k("name")),
    "device_groups": TableSpec(_k("key"), {"fleet": _k("fleet"), "model": _k("model")}),
    "catalog": TableSpec(_k("pattern")),
    "findings": TableSpec(
        _k("key"), {"item": _k("item_key"), "fleet": _k("fleet"), "state": _k("state"),
                    "group": _k("group_key")}
    ),
    "outbox": TableSpec(lambda d: (d["receiver"], d["dedupe_key"]),
                        {"status": _k("status"), "alert": _k("alert_id")}, blob="payload"),
    "deliveries": TableSpec(None, {"outbox": _k("outbox_id")}),
    "silences": TableSpec(),
    "alert_states": TableSpec(_k("alert_id")),
    "slack_messages": TableSpec(_k("alert_id"), {"message": lambda d: (d["channel"], d["ts"])}),
    "meta": TableSpec(_k("key")),
    SCHEMA_TABLE: TableSpec(),
}


def _v0_to_v1(data: Data) -> None:
    """Version 0 is a file without a schema stamp (e.g. made by plain TinyDB): add the tables."""
    for name in SPECS:
        data.setdefault(name, {})


# MIGRATIONS[n] turns a version-n file into version n + 1, in place.
MIGRATIONS: dict[int, Callable[[Data], None]] = {0: _v0_to_v1}


def version_of(data: Data) -> int:
    """The schema version stamped in the file (0 when none)."""
    stamp = data.get(SCHEMA_TABLE, {}).get("1", {})
    version = stamp.get("version", 0)
    return version if isinstance(version, int) else 0


def migrate(data: Data, storage: AtomicJSONStorage, *, existed: bool) -> tuple[int, int]:
    """Bring ``data`` to SCHEMA_VERSION in place (backing up a file with content first)."""
    before = version_of(data)
    if before > SCHEMA_VERSION:
        raise SchemaError(
            f"state file {storage.path} has schema version {before}, newer than this firmwatch"
            f" understands ({SCHEMA_VERSION}); upgrade firmwatch, or restore an older file"
        )
    if before < SCHEMA_VERSION and existed and any(data.values()):
        backup = storage.path.with_name(f"{storage.path.name}.schema{before}-backup")
        shutil.copy2(storage.path, backup)
        log.info("migrating %s from schema %d; the old file is kept as %s",
                 storage.path, before, backup)
    for version in range(before, SCHEMA_VERSION):
        MIGRATIONS[version](data)
    data[SCHEMA_TABLE] = {"1": {"version": SCHEMA_VERSION, "app": "firmwatch"}}
    return before, SCHEMA_VERSION


def build_tables(data: Data, texts: dict[str, bytes]) -> dict[str, MemTable]:
    """Indexed tables over the (migrated) data; unknown tables are kept as they are.

    ``texts`` holds each table's JSON as read from the file, reused until the table changes.
    """
    for name in SPECS:
        data.setdefault(name, {})
    return {name: MemTable(name, SPECS.get(name, TableSpec()), docs, texts.get(name))
            for name, docs in data.items()}
