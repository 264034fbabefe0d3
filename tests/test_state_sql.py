"""The SQL backend: migrations, schema checks, URLs and passwords, two processes claiming."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy import create_engine, text

from bot.config import StateSettings
from state import (
    FindingData,
    SchemaError,
    StoreError,
    finding_key,
    open_store,
    parse_state_url,
    redact,
    upgrade,
)
from state.sql.migrate import alembic_config, head
from state.sql.schema import metadata
from state.urls import resolve_state_url
from tests.state_helpers import ADMIN_URL, T0, spawn, url_for


@pytest.fixture
def empty_pg(pg_url: str) -> Iterator[str]:
    """A second, empty PostgreSQL database (no tables), dropped after the test."""
    name = f"firmwatch_test_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_build_exactly_the_tables_in_the_code(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = parse_state_url(url_for(backend, tmp_path, request))
    upgrade(url.url() if backend == "sqlite" else url.target)
    engine = create_engine(url.url() if backend == "sqlite" else url.target)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_postgresql_is_not_migrated_behind_your_back(empty_pg: str) -> None:
    with pytest.raises(SchemaError, match="run `firmwatch db upgrade`"):
        open_store(empty_pg)
    first = upgrade(empty_pg)
    assert (first.before, first.after) == ("none", head())
    assert not upgrade(empty_pg).changed
    with open_store(empty_pg) as store:
        store.meta.put("x", 1, T0)
        assert store.meta.get("x") == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrading_from_0002_keeps_the_findings_and_takes_long_revisions(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """0003 widens findings.revision (a reminder's is its item key) on a database in use."""
    url = parse_state_url(url_for(backend, tmp_path, request))
    engine = create_engine(url.url() if backend == "sqlite" else url.target)
    try:
        with engine.begin() as conn:  # a database at 0002, as the last release left it
            if MigrationContext.configure(conn).get_current_revision() is None:
                command.upgrade(alembic_config(conn), "0002")
            else:
                command.downgrade(alembic_config(conn), "0002")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO findings (key, fleet, group_key, item_key, revision, state, data,"
                " first_seen, updated_at) VALUES ('hq|g|adv-1', 'hq', 'g', 'adv-1', 'r1', 'open',"
                " '{}', '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')"))
            command.upgrade(alembic_config(conn), "head")
    finally:
        engine.dispose()
    key = "lifecycle:" + "DS-2DF8C842IXS-AELW(T5)" * 4 + ":security-only:2027-03-01:90d"
    with open_store(url.url() if backend == "sqlite" else url.target) as store:
        assert [f.key for f in store.findings.all("open")] == ["hq|g|adv-1"]
        store.findings.put_many([FindingData("hq", "g2", key, key, {})], T0)
        got = store.findings.get(finding_key("hq", "g2", key))
        assert got is not None and got.revision == key


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrading_from_0003_keeps_the_device_groups_as_imported(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """0004 gives device groups an origin; the groups already stored count as imported (bot.toml's
    next sync claims the ones it lists)."""
    url = parse_state_url(url_for(backend, tmp_path, request))
    engine = create_engine(url.url() if backend == "sqlite" else url.target)
    try:
        with engine.begin() as conn:  # a database at 0003, as the last release left it
            if MigrationContext.configure(conn).get_current_revision() is None:
                command.upgrade(alembic_config(conn), "0003")
            else:
                command.downgrade(alembic_config(conn), "0003")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO fleets (name, description, receivers, tags, min_severity, origin)"
                " VALUES ('hq', '', '[]', '[]', 'none', 'config')"))
            conn.execute(text(
                "INSERT INTO device_groups (key, fleet, model, model_as_written, firmware, count,"
                " site, tags, serials) VALUES ('k1', 'hq', 'DS-2CD3321G2-I', 'DS-2CD3321G2-I',"
                " 'V5', 2, '', '[]', '[]')"))
            command.upgrade(alembic_config(conn), "head")
    finally:
        engine.dispose()
    with open_store(url.url() if backend == "sqlite" else url.target) as store:
        assert [(g.model, g.count, g.origin) for g in store.fleets.groups("hq")] == [
            ("DS-2CD3321G2-I", 2, "import")]

def test_findings_are_listed_in_code_point_order_under_a_language_collation() -> None:
    """Hosted PostgreSQL often sorts text by language (en-US: case and punctuation last); the
    first findings by key must be the same as on every other backend."""
    name = f"firmwatch_test_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL(
            "CREATE DATABASE {} LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            " TEMPLATE template0").format(sql.Identifier(name)))
        try:
            url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
            upgrade(url)
            with open_store(url) as store:
                store.findings.put_many(
                    [FindingData("edge", g, "adv-1", "r1", {}) for g in ("g-b", "G-z", "g-_")], T0)
                assert [f.group_key for f in store.findings.all(limit=2)] == ["G-z", "g-_"]
                assert [f.group_key for f in store.findings.for_fleet("edge", limit=1)] == ["G-z"]
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_sqlite_is_migrated_on_open(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'a' / 'state.db'}") as store:
        assert store.fleets.all() == []
    assert not upgrade(f"sqlite:///{tmp_path / 'a' / 'state.db'}").changed


def test_passwords_never_reach_an_error_or_a_repr() -> None:
    url = "postgresql://fw:hunter2secret@127.0.0.1:1/firmwatch"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert "hunter2secret" not in str(caught.value) and "fw:***@127.0.0.1" in str(caught.value)
    assert redact(url) == "postgresql://fw:***@127.0.0.1:1/firmwatch"
    assert redact("postgresql://h/db?user=a&password=p1") == "postgresql://h/db?user=a&password=***"
    assert "hunter2secret" not in str(parse_state_url(url))


@pytest.mark.parametrize("password", ["hun/ter2", "hun@ter2", "hunter2?x", "hun:ter2"])
def test_a_password_holding_url_punctuation_is_hidden_whole(password: str) -> None:
    url = f"postgresql://fw:{password}@127.0.0.1:1/firmwatch"
    with pytest.raises(StoreError) as caught:
        open_store(url)  # refused, or fails to connect to port 1
    for shown in (str(caught.value), redact(url)):
        assert "ter2" not in shown and "fw:***@" in shown, shown
    if "@" in password:  # the host SQLAlchemy would read: refused before any driver sees it
        assert "percent-encode" in str(caught.value)
    else:
        assert "ter2" not in str(parse_state_url(url))


@pytest.mark.parametrize(
    ("url", "backend", "target"),
    [
        ("tinydb:///state/firmwatch.json", "tinydb", "state/firmwatch.json"),
        ("tinydb:////var/lib/fw.json", "tinydb", "/var/lib/fw.json"),
        ("sqlite:///fw.db", "sqlite", "fw.db"),
        ("postgres://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
    ],
)
def test_state_urls(url: str, backend: str, target: str) -> None:
    parsed = parse_state_url(url)
    assert (parsed.backend, parsed.target) == (backend, target)


@pytest.mark.parametrize("url", ["mysql://h/db", "tinydb://state.json", "tinydb:///", "nonsense"])
def test_bad_state_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError, match="state url"):
        parse_state_url(url)


def test_the_environment_variable_wins_and_paths_follow_the_config(tmp_path: Path) -> None:
    state = StateSettings(url="tinydb:///data/fw.json", url_env="MY_DB")
    assert resolve_state_url(state, {}, tmp_path) == f"tinydb:///{tmp_path}/data/fw.json"
    assert resolve_state_url(state, {"MY_DB": "postgres://u:p@h/db"}, tmp_path) == (
        "postgresql+psycopg://u:p@h/db")
    assert resolve_state_url(state, {"MY_DB": " "}, tmp_path).startswith("tinydb:////")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_claim_every_entry_exactly_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = url_for(backend, tmp_path, request)
    with open_store(url) as store, store.transaction():
        for i in range(300):
            store.outbox.enqueue("ops", f"alert-{i}", {"i": i}, T0)
    claimed: list[list[int]] = []
    with spawn("claim", url, "w0") as w0, spawn("claim", url, "w1") as w1:
        for w in (w0, w1):
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        for w in (w0, w1):
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.close()
        for w in (w0, w1):
            assert w.stdout is not None
            claimed.append([int(line) for line in w.stdout.read().split()])
            assert w.wait(timeout=60) == 0
    every = claimed[0] + claimed[1]
    assert sorted(every) == sorted(set(every)), "an entry was claimed twice"
    with open_store(url) as store:
        assert sorted(every) == sorted(e.id for e in store.outbox.all())
        assert store.outbox.counts()["sent"] == 300
    if backend == "postgresql":
        assert all(claimed), "both workers should have taken a share"
