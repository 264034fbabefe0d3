"""The TinyDB Store: one locked JSON file, migrated on open, held in memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from state.errors import StoreError
from state.leader import LocalLeader, LocalLeaders
from state.tiny.memory import Memory
from state.tiny.repo_core import TinyCatalog, TinyItems, TinyMeta, TinySources
from state.tiny.repo_delivery import TinyDeliveries, TinyOutbox
from state.tiny.repo_fleets import TinyFindings, TinyFleets
from state.tiny.repo_people import TinyAcks, TinySilences, TinySlack
from state.tiny.schema import build_tables, migrate
from state.tiny.storage import AtomicJSONStorage


class TinyStore:
    """The Store over one TinyDB file (one process at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"tinydb:///{path}"
        try:
            storage = AtomicJSONStorage(path)
        except OSError as exc:
            raise _cannot_open(path, exc) from None
        opened = False
        try:
            raw = storage.read()
            data = raw if raw is not None else {}
            self.created = raw is None
            self.schema_before, self.schema_version = migrate(data, storage,
                                                              existed=raw is not None)
            same = self.schema_before == self.schema_version
            self._mem = Memory(storage, build_tables(data, storage.table_texts if same else {}))
            if raw is None or self.schema_before != self.schema_version:
                storage.write_parts([self._mem.serialize()])
            opened = True
        except OSError as exc:
            raise _cannot_open(path, exc) from None
        finally:
            if not opened:
                storage.close()
        self._closed = False
        self._leaders = LocalLeaders()
        mem = self._mem
        self.sources = TinySources(mem)
        self.items = TinyItems(mem)
        self.fleets = TinyFleets(mem)
        self.catalog = TinyCatalog(mem)
        self.findings = TinyFindings(mem)
        self.outbox = TinyOutbox(mem)
        self.deliveries = TinyDeliveries(mem)
        self.silences = TinySilences(mem)
        self.acks = TinyAcks(mem)
        self.slack = TinySlack(mem)
        self.meta = TinyMeta(mem)

    def __repr__(self) -> str:
        return f"TinyStore({self.url!r})"

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A unit of work: one file write when the outermost block ends without error."""
        with self._mem.transaction():
            yield

    def leader(self, name: str) -> LocalLeader:
        """A leader lock; this process owns the file, so it only arbitrates between handles."""
        return self._leaders.handle(name)

    def check(self) -> None:
        """Raise StoreError once the store is closed (it was migrated when opened)."""
        if self._closed:
            raise StoreError(f"state file {self.path} is closed")

    def close(self) -> None:
        """Release the leader locks and the file lock."""
        if not self._closed:
            self._closed = True
            self._leaders.close()
            self._mem.storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cannot_open(path: Path, exc: OSError) -> StoreError:
    return StoreError(
        f"cannot open state file {path}: {exc.strerror or exc}; check [state] url (or the"
        " variable its url_env names): it must name a file in a folder firmwatch can write"
    )
