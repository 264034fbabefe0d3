"""Leader locks and the readiness check, over every backend; PostgreSQL across processes too."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from state import SchemaError, Store, StoreError, open_store
from state.sql.leader import lock_key
from tests.state_helpers import ROOT


def test_one_handle_holds_a_leader_lock_at_a_time(store: Store) -> None:
    first, second = store.leader("scheduler"), store.leader("scheduler")
    assert first.name == "scheduler" and not first.held
    assert first.acquire() and first.held
    assert first.acquire(), "acquiring again while holding confirms the lock"
    assert not second.acquire() and not second.held
    assert store.leader("digest").acquire(), "other names are independent"
    first.release()
    assert not first.held
    first.release()  # releasing twice does nothing
    assert second.acquire() and not first.acquire()
    second.release()


def test_closing_the_store_releases_its_locks(store_url: str) -> None:
    with open_store(store_url) as store:
        assert store.leader("scheduler").acquire()
    with open_store(store_url) as store:
        handle = store.leader("scheduler")
        assert handle.acquire()
        handle.release()


def test_check_passes_on_an_open_store(store: Store) -> None:
    store.check()


def test_check_fails_on_a_closed_tinydb_store(tmp_path: Path) -> None:
    store = open_store(f"tinydb:///{tmp_path}/state.json")
    store.check()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.check()


def test_postgresql_connections_give_up_on_a_cut_network(pg_url: str) -> None:
    """Only the leader's connection had keepalives: a query on a store connection cut by a
    partition waited for the kernel to give up (about 15 minutes)."""
    with open_store(pg_url) as store:
        raw = store._db.engine.raw_connection()  # type: ignore[attr-defined]
        try:
            params = raw.driver_connection.info.get_parameters()
        finally:
            raw.close()
        leader = store.leader("probe")
        assert leader.acquire()
        held = leader._conn.connection.driver_connection  # type: ignore[attr-defined]
        leader_params = held.info.get_parameters()
        leader.release()
    for found in (params, leader_params):
        assert found["keepalives"] == "1" and found["keepalives_idle"] == "30"
        assert found["tcp_user_timeout"] == "60000" and found["connect_timeout"] == "10"


def test_postgresql_lock_is_held_across_processes_and_freed_when_the_holder_dies(
    pg_url: str,
) -> None:
    code = (
        "import sys; from state import open_store\n"
        "s = open_store(sys.argv[1]); h = s.leader('scheduler')\n"
        "print('leader' if h.acquire() else 'standby', flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, pg_url], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "leader"
        with open_store(pg_url) as store:
            mine = store.leader("scheduler")
            assert not mine.acquire()
            child.kill()
            child.wait(timeout=10)
            assert _wait_for(mine.acquire), "the lock is freed when its session ends"
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("scheduler") == lock_key("scheduler") != lock_key("digest")
    assert -(2**63) <= lock_key("scheduler") < 2**63


def test_postgresql_leader_notices_a_dropped_session(pg_url: str) -> None:
    with open_store(pg_url) as store:
        mine, other = store.leader("scheduler"), store.leader("scheduler")
        assert mine.acquire()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                ("firmwatch leader scheduler",),
            )
        assert _wait_for(other.acquire), "a standby takes the lock the dead session held"
        assert not mine.acquire() and not mine.held


def test_check_reports_a_schema_behind_the_code(pg_url: str) -> None:
    with open_store(pg_url) as store, psycopg.connect(pg_url, autocommit=True) as admin:
        (revision,) = admin.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
        admin.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        try:
            with pytest.raises(SchemaError, match="newer than this firmwatch"):
                store.check()
        finally:
            admin.execute("UPDATE alembic_version SET version_num = %s", (revision,))
        store.check()


def _wait_for(attempt: Callable[[], bool], tries: int = 100) -> bool:
    """Call ``attempt`` until it returns True (PostgreSQL ends sessions asynchronously)."""
    for _ in range(tries):
        if attempt():
            return True
        time.sleep(0.05)
    return False
