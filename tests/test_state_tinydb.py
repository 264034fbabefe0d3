"""The TinyDB backend's promises: one locked file, read once, replaced atomically, never lost."""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from tinydb import Query, TinyDB

from bot.fleets import Fleet, make_group
from state import (
    Attempt,
    SchemaError,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    open_store,
    upgrade,
)
from state.tiny.lock import FileLock
from state.tiny.storage import AtomicJSONStorage
from state.tiny.store import TinyStore
from tests.state_helpers import T0, spawn


def test_a_unit_of_work_is_one_file_write_and_reads_come_from_memory(tmp_path: Path) -> None:
    with TinyStore(tmp_path / "state.json") as store:
        storage = store._mem.storage
        writes = storage.writes
        with store.transaction():
            store.fleets.put(Fleet("hq"))
            store.fleets.put_groups(make_group("hq", "DS-2CD3321G2-I", f"V5.7.{i}", 1)
                                    for i in range(200))
            for i in range(100):
                store.items.put(f"adv-{i}", "advisory", "r1", {"i": i}, T0)
        assert storage.writes == writes + 1
        for _ in range(3):
            assert len(store.fleets.groups("hq")) == 200 and store.items.count() == 100
        assert storage.reads <= 1
        store.meta.put("x", 1, T0)
        assert storage.writes == writes + 2


def test_nothing_is_written_when_nothing_changed(tmp_path: Path) -> None:
    with TinyStore(tmp_path / "state.json") as store:
        store.fleets.put(Fleet("hq"))
        writes = store._mem.storage.writes
        with store.transaction():
            store.fleets.put(Fleet("hq"))
            store.meta.get("x")
        assert store._mem.storage.writes == writes


def test_the_file_is_plain_tinydb(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with TinyStore(path) as store:
        store.fleets.put(Fleet("hq"))
        store.fleets.put_groups([make_group("hq", "DS-2CD3321G2-I", "V5.7.13", 40, "Site A")])
    with TinyDB(path, access_mode="r") as db:
        found = db.table("device_groups").search(Query().site == "Site A")
        assert [d["count"] for d in found] == [40]
        assert db.table("_schema").get(doc_id=1) == {"version": 1, "app": "firmwatch"}


def test_the_storage_serves_plain_tinydb_too(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    with TinyDB(path, storage=AtomicJSONStorage) as db:
        db.insert({"a": 1})
        db.insert({"a": 2})
        assert len(db.search(Query().a > 0)) == 2
    assert json.loads(path.read_text())["_default"]["2"] == {"a": 2}
    assert not list(tmp_path.glob("other.json.tmp-*"))


def test_a_file_that_does_not_parse_is_moved_aside_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    garbage = b'{"fleets": {"1": {"name": "hq"'  # a truncated file
    path.write_bytes(garbage)
    with pytest.raises(StoreCorrupt) as caught:
        open_store(f"tinydb:///{path}")
    aside = list(tmp_path.glob("state.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage and not path.exists()
    assert aside[0].name in str(caught.value) and "did not parse" in str(caught.value)
    with open_store(f"tinydb:///{path}") as store:
        assert store.fleets.all() == []
    assert aside[0].read_bytes() == garbage


@pytest.mark.parametrize("text", ['["not", "tables"]', '{"fleets": {"one": {}}}', "\x00\xff"])
def test_a_file_of_the_wrong_shape_is_corrupt_too(tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(StoreCorrupt):
        open_store(f"tinydb:///{path}")
    assert len(list(tmp_path.glob("state.json.corrupt-*"))) == 1


def test_an_unversioned_file_is_migrated_on_open_and_backed_up(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with TinyDB(path) as db:  # what plain TinyDB writes: no schema stamp
        db.insert({"note": "kept"})
    before = path.read_bytes()
    done = upgrade(f"tinydb:///{path}")
    assert (done.before, done.after, done.changed) == ("0", "1", True)
    assert (tmp_path / "state.json.schema0-backup").read_bytes() == before
    data = json.loads(path.read_text())
    assert data["_schema"]["1"]["version"] == 1 and data["_default"]["1"] == {"note": "kept"}
    again = upgrade(f"tinydb:///{path}")
    assert (again.before, again.after, again.changed) == ("1", "1", False)
    with open_store(f"tinydb:///{path}") as store:
        store.meta.put("x", 1, T0)
    assert json.loads(path.read_text())["_default"]["1"] == {"note": "kept"}


def test_device_groups_stored_before_origins_were_kept_read_as_imported(tmp_path: Path) -> None:
    """Groups written before groups had an origin: bot.toml's next sync claims the ones it lists."""
    path = tmp_path / "state.json"
    with open_store(f"tinydb:///{path}") as store:
        store.fleets.put(Fleet("hq"))
        store.fleets.put_groups([make_group("hq", "DS-2CD3321G2-I", "V5", 2, origin="config")])
    data = json.loads(path.read_text())
    for doc in data["device_groups"].values():
        del doc["origin"]
    path.write_text(json.dumps(data))
    with open_store(f"tinydb:///{path}") as store:
        assert [g.origin for g in store.fleets.groups()] == ["import"]

def test_a_file_from_a_newer_firmwatch_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    text = '{"_schema": {"1": {"version": 99}}, "fleets": {}}'
    path.write_text(text)
    with pytest.raises(SchemaError, match="newer than this firmwatch"):
        open_store(f"tinydb:///{path}")
    assert path.read_text() == text


def test_stale_temp_files_from_a_dead_writer_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with TinyStore(path) as store:
        store.meta.put("x", 1, T0)
    (tmp_path / "state.json.tmp-99999").write_text("half a write")
    with TinyStore(path) as store:
        assert store.meta.get("x") == 1
    assert not list(tmp_path.glob("state.json.tmp-*"))


def test_a_second_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    url = f"tinydb:///{tmp_path / 'state.json'}"
    with spawn("hold", url) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked) as caught:
            open_store(url)
        message = str(caught.value)
        assert f"pid {holder.pid}" in message and socket.gethostname() in message
        assert "state.json is in use" in message
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=10) == 0
    with open_store(url) as store:  # the lock went with the process
        assert store.meta.get("x") is None


def test_the_same_process_cannot_open_the_file_twice(tmp_path: Path) -> None:
    url = f"tinydb:///{tmp_path / 'state.json'}"
    with open_store(url), pytest.raises(StoreLocked, match=r"in use by pid \d+"):
        open_store(url)
    with open_store(url):
        pass


def test_a_failed_write_is_reported_and_undone_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with TinyStore(path) as store:
        store.meta.put("x", 1, T0)
        path.unlink()
        path.mkdir()  # the rename over it now fails
        with (pytest.raises(StoreError, match=r"could not write state file .*nothing from this"),
              store.transaction()):
            store.meta.put("x", 2, T0)
            store.meta.put("y", 3, T0)
        assert (store.meta.get("x"), store.meta.get("y")) == (1, None)
        path.rmdir()
        store.meta.put("y", 4, T0)
    with TinyStore(path) as store:
        assert (store.meta.get("x"), store.meta.get("y")) == (1, 4)


def _outbox_on_disk(path: Path) -> dict[str, dict[str, object]]:
    table: dict[str, dict[str, object]] = json.loads(path.read_text())["outbox"]
    return table


def test_a_lease_stays_in_memory_until_the_next_durable_write(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    lease = timedelta(minutes=2)
    with TinyStore(path) as store:
        entry_id = store.outbox.enqueue("hook", "k1", {"id": "fw_1", "n": [1, 2]}, T0)
        writes = store._mem.storage.writes
        (claimed,) = store.outbox.claim("w1", T0, lease=lease)
        assert store._mem.storage.writes == writes  # a lease is this process's business
        assert store.outbox.claim("w2", T0, lease=lease) == []  # but it holds in memory
        assert _outbox_on_disk(path)[str(entry_id)]["claimed_by"] is None
        store.meta.put("x", 1, T0)  # any durable write carries it along
        assert _outbox_on_disk(path)[str(entry_id)]["claimed_by"] == "w1"
        assert claimed.payload == {"id": "fw_1", "n": [1, 2]}
    with TinyStore(path) as store:  # after a crash the lease is what the file says: at worst,
        assert store.outbox.claim("w3", T0 + lease, lease=lease)  # a resend with the same id


def test_rewrites_reuse_the_payload_text_and_the_file_stays_exact(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    payload = {"id": "fw_1", "text": 'quotes " and , "payload": inside', "list": [1, {"a": None}]}
    with TinyStore(path) as store:
        entry_id = store.outbox.enqueue("hook", "k1", payload, T0)
        assert entry_id is not None
        store.outbox.claim("w1", T0, lease=timedelta(minutes=2))
        with pytest.raises(RuntimeError), store.transaction():  # undone: the text cache too
            store.outbox.record(entry_id, Attempt("sent", T0, "w1", 204))
            raise RuntimeError("crash in the middle of a unit of work")
        store.outbox.record(entry_id, Attempt("retry", T0, "w1", 500, "HTTP 500", T0, 3))
        store.outbox.replay(entry_id, T0)
        entry = store.outbox.get(entry_id)
        assert entry is not None and (entry.status, entry.attempts) == ("pending", 0)
    with TinyDB(path, access_mode="r") as db:
        (doc,) = db.table("outbox").all()
        assert doc["payload"] == payload and doc["status"] == "pending"
        assert doc["last_status"] == 500 and doc["receiver"] == "hook"


def test_the_file_lock_is_released_once_when_two_threads_release_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second release must not close the descriptor again: by then the number may belong to
    something else the process opened (a socket, a pipe)."""
    lock = FileLock(tmp_path / "state.json")
    lock.acquire()
    truncated: list[int] = []
    second = threading.Event()
    real = os.ftruncate

    def slow(fd: int, length: int) -> None:  # holds the first release until a second arrives
        truncated.append(fd)
        if len(truncated) == 1:
            second.wait(0.5)
        else:
            second.set()
        real(fd, length)

    monkeypatch.setattr(os, "ftruncate", slow)
    errors: list[BaseException] = []

    def release() -> None:
        try:
            lock.release()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=release) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert errors == [] and len(truncated) == 1


@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_a_state_path_that_cannot_be_a_file_is_a_clear_error(tmp_path: Path, where: str) -> None:
    if where == "a folder":
        path = tmp_path / "state.json"
        path.mkdir()
    else:
        (tmp_path / "plain").write_text("not a folder")
        path = tmp_path / "plain" / "state.json"
    with pytest.raises(StoreError, match=rf"cannot open state file {path}: .*\[state\] url"):
        open_store(f"tinydb:///{path}")
    with pytest.raises(StoreError, match=r"cannot open state file"):
        upgrade(f"tinydb:///{path}")
    assert (where == "a folder") == path.is_dir()  # nothing was moved or replaced
    if where != "a folder":
        assert (tmp_path / "plain").read_text() == "not a folder"


def test_groups_listed_again_reflect_every_write_and_rollback(tmp_path: Path) -> None:
    """Groups are made once per document and reused while it stands: an update, a removal and
    a rolled-back unit of work each show in the next listing."""
    with TinyStore(tmp_path / "s.json") as store:
        with store.transaction():
            store.fleets.put(Fleet("hq"))
            store.fleets.put_groups([make_group("hq", "DS-2CD3321G2-I", "V5.7.13", 40, "A"),
                                     make_group("hq", "DS-2CD2143G2-I", "V5.7.13", 3, "B")])
        first = store.fleets.groups()
        assert store.fleets.groups() == first and store.fleets.groups()[0] is first[0]
        store.fleets.put_groups([make_group("hq", "DS-2CD3321G2-I", "V5.7.13", 41, "A")])
        assert [g.count for g in store.fleets.groups()] == [3, 41]
        assert [g.count for g in store.fleets.groups("hq")] == [3, 41]
        with pytest.raises(RuntimeError), store.transaction():
            store.fleets.put_groups([make_group("hq", "DS-2CD3321G2-I", "V5.7.13", 99, "A")])
            assert [g.count for g in store.fleets.groups()] == [3, 99]
            raise RuntimeError("undone")
        assert [g.count for g in store.fleets.groups()] == [3, 41]
        store.fleets.remove_groups([first[0].key])
        assert [g.model for g in store.fleets.groups()] == ["DS-2CD3321G2-I"]
