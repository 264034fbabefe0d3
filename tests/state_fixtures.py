"""Fixtures for the state tests: a store per backend and a throwaway PostgreSQL database.

Loaded for every test by ``tests/conftest.py``. PostgreSQL: a database
``firmwatch_test_<random>`` is created once per session on the server named by
$FIRMWATCH_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped at
the end. Without a server those tests are skipped, unless FIRMWATCH_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from state import Store, open_store, upgrade
from tests.state_helpers import ADMIN_URL, BACKENDS, pg_unavailable, url_for


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated throwaway database for this session (dropped at the end)."""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pg_unavailable(str(exc).strip().splitlines()[0])
    name = f"firmwatch_test_{secrets.token_hex(4)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        try:
            upgrade(url)
            yield url
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store URL, once per backend."""
    return url_for(request.param, tmp_path, request)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, empty store, once per backend."""
    with open_store(store_url) as opened:
        yield opened


