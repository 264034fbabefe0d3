"""Cycles that overlap on PostgreSQL: two source jobs at once, a run past its deadline still going
when the next starts, an old leader finishing while the new one polls. Each must see what the
other stored: nothing held for a digest is lost.

The overlap is made, not hoped for: the test holds the last cycle's meta row, which every cycle
writes last, so the first cycle waits there with its work done and not committed, and the second
one runs up to its own waiting point (a lock of the first one's, or one taken to wait its turn).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from bot.fleets import parse_fleet_csv
from bot.pipeline import CYCLE_KEY, DIGEST_KEY, run_cycle, run_digest
from bot.sources.fetcher import Fetcher
from state import Store, open_store
from state.fleetsync import import_fleets
from tests.state_helpers import clean_pg
from tests.test_pipeline import FLEETS, NOW, World, planning_route, sample_world

WAIT = 60.0  # seconds: a bound for conditions, never an expectation of speed


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    clean_pg(pg_url)
    with open_store(pg_url) as store:
        yield store


def _waiting_on_locks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'firmwatch' AND wait_event_type = 'Lock'").fetchone()
    return int(row[0]) if row else 0


def _until(condition: Callable[[], bool], what: str, failed: list[BaseException]) -> None:
    end = time.monotonic() + WAIT
    while not condition():
        if failed:
            raise failed[0]
        assert time.monotonic() < end, f"not within {WAIT:g} s: {what}"
        time.sleep(0.05)


def test_two_cycles_at_once_lose_no_alert_held_for_a_digest(
    tmp_path: Path, pg_url: str, pg_store: Store
) -> None:
    world: World = sample_world(tmp_path)
    # The fleet comes from an import (the REST API, `fleet import`), not from bot.toml.
    receivers, catalog = FLEETS.split("[[fleets]]")[0], FLEETS.split("[[catalog]]", 1)[1]
    world.fleets = f"{receivers}[[catalog]]{catalog}"
    world.extra = planning_route("daily")  # the advisory and the firmware release go there
    import_fleets(pg_store, parse_fleet_csv(
        "fleet,model,firmware,count,site\nhq,DS-2CD3321G2-I,V5.5.0 build 200911,40,Site A\n",
        "cmdb"))
    settings = world.config()
    failed: list[BaseException] = []

    def cycle(only: tuple[str, ...]) -> None:
        try:
            with Fetcher(settings.network) as fetcher:
                run_cycle(pg_store, settings, NOW, fetcher=fetcher, base=tmp_path, only=only)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test thread
            failed.append(exc)

    cycle(())  # polls nothing: stores the cycle's record, which the test then holds
    assert pg_store.meta.get(CYCLE_KEY) is not None
    threads = [threading.Thread(target=cycle, args=(only,)) for only in (("hik",), ("fw",))]
    with psycopg.connect(pg_url) as holder:
        holder.execute("SELECT value FROM meta WHERE key = %s FOR UPDATE", (CYCLE_KEY,))
        threads[0].start()
        _until(lambda: _waiting_on_locks(pg_url) == 1, "the advisory cycle waits", failed)
        threads[1].start()
        _until(lambda: _waiting_on_locks(pg_url) == 2, "the firmware cycle waits", failed)
        holder.rollback()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert not failed, failed
    held = pg_store.meta.get(DIGEST_KEY)["planning"]["daily"]
    assert sorted(d["item"]["id"] for d in held) == [
        "Firmware V5.9.72 build 260713", "HSRC-202109-01"]
    assert run_digest(pg_store, settings, NOW + timedelta(days=1)) == 1
    (entry,) = pg_store.outbox.all(receiver="planning")
    assert len(entry.payload["alerts"]) == 2
