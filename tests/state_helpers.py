"""Helpers for the state tests (the fixtures are in tests/state_fixtures.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import psycopg
import pytest

from bot import cli
from bot.commands import db as db_command
from bot.commands import fleet as fleet_command

ADMIN_URL = os.environ.get(
    "FIRMWATCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("tinydb", "sqlite", "postgresql")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TABLES = ("sources", "items", "item_revisions", "device_groups", "fleets", "catalog", "findings",
          "outbox", "deliveries", "silences", "alert_states", "slack_messages", "meta")


def pg_unavailable(reason: str) -> NoReturn:
    """Skip (or, with FIRMWATCH_REQUIRE_POSTGRES=1, fail) saying how to run the tests."""
    message = (
        f"PostgreSQL is not reachable ({reason}). Start it (e.g. `pg_ctlcluster 15 main start`)"
        " or point FIRMWATCH_TEST_POSTGRES_URL at a server where this user may create databases."
    )
    if os.environ.get("FIRMWATCH_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " FIRMWATCH_REQUIRE_POSTGRES=1 makes this a failure.")
    pytest.skip(message)


def clean_pg(url: str) -> None:
    """Empty every firmwatch table (ids restart)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE")


def url_for(backend: str, folder: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store URL of one backend."""
    if backend == "tinydb":
        return f"tinydb:///{folder / 'state.json'}"
    if backend == "sqlite":
        return f"sqlite:///{folder / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    clean_pg(url)
    return url


COMMANDS: tuple[ModuleType, ...] = (fleet_command, db_command)


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    """Run ``firmwatch`` in-process with the fleet and db commands registered."""
    missing = tuple(m for m in COMMANDS if m not in cli.COMMANDS)
    if missing:
        monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + missing)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


ROOT = Path(__file__).parent.parent


@contextmanager
def spawn(*args: str) -> Iterator[subprocess.Popen[str]]:
    """Run ``python -m tests.state_workers ARGS`` with pipes; killed and reaped on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.state_workers", *args], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
