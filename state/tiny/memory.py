"""The TinyDB file held in memory: indexed tables, an undo log, one file write per commit.

Tables keep TinyDB's layout (``{table: {"1": {...}}}``) so plain TinyDB can open the file. TinyDB's
own Table API rebuilds the whole table on every write (33 ms per insert at 100,000 documents even
in memory), so the repositories use these indexed tables instead. Documents are never mutated in
place: a write replaces the document, and the undo log keeps the old one for rollback.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from state.errors import StoreError
from state.tiny.storage import AtomicJSONStorage

Doc = dict[str, Any]
KeyFn = Callable[[Doc], Hashable]


def dumps(doc: object) -> str:
    """Compact JSON; refuse NaN and non-JSON values."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class TableSpec:
    """A table's unique key and its secondary (grouping) indexes."""

    unique: KeyFn | None = None
    groups: Mapping[str, KeyFn] = field(default_factory=dict)
    blob: str | None = None  # a large field that rewrites keep as it is: its JSON is reused


class MemTable:
    """One table: documents by id, JSON text per document, and its indexes."""

    def __init__(
        self, name: str, spec: TableSpec, docs: dict[str, Doc], body: bytes | None = None
    ) -> None:
        self.name = name
        self.spec = spec
        self.docs = docs
        # The table's JSON, encoded, while it is unchanged (from the file, or the last write):
        # a commit encodes only the tables it changed, not the whole file again.
        self.body = body
        self.texts: dict[str, str] = {}
        self.blobs: dict[str, tuple[object, str, int]] = {}  # id → (blob, text, where in it)
        self.by_key: dict[Hashable, str] = {}
        self.by_group: dict[str, dict[Hashable, set[str]]] = {g: {} for g in spec.groups}
        self.next_id = max(map(int, docs), default=0) + 1
        for doc_id, doc in docs.items():
            self._index(doc_id, doc)

    def find(self, key: Hashable) -> tuple[str, Doc] | None:
        """The document with this unique key."""
        doc_id = self.by_key.get(key)
        return None if doc_id is None else (doc_id, self.docs[doc_id])

    def get(self, doc_id: int | str) -> Doc | None:
        """The document with this id."""
        return self.docs.get(str(doc_id))

    def ids_in(self, group: str, value: Hashable) -> list[str]:
        """Ids of the documents in one group, in insertion order."""
        return sorted(self.by_group[group].get(value, ()), key=int)

    def text(self, doc_id: str) -> str:
        """The document's JSON (cached)."""
        text = self.texts.get(doc_id)
        if text is None:
            text = self.texts[doc_id] = dumps(self.docs[doc_id])
        return text

    def encode(self, doc_id: str, doc: Doc) -> str:
        """``doc``'s JSON, the blob field last. While the blob is the very same object (a rewrite
        of the other fields; documents are never changed in place) its text is cut from the
        text it was last encoded in, which is normally the document's current one."""
        name = self.spec.blob
        if name is None or name not in doc:
            return dumps(doc)
        value = doc[name]
        rest = dumps({k: v for k, v in doc.items() if k != name})
        head = f"{rest[:-1]}{',' if len(rest) > 2 else ''}{dumps(name)}:"
        cached = self.blobs.get(doc_id)
        if cached is not None and cached[0] is value:
            blob = cached[1][cached[2] : -1]
        else:
            blob = dumps(value)
        text = head + blob + "}"
        self.blobs[doc_id] = (value, text, len(head))
        return text

    def fresh(self, doc_id: str) -> Doc:
        """A private copy of the document, safe to hand to callers."""
        copy: Doc = json.loads(self.text(doc_id))
        return copy

    def _index(self, doc_id: str, doc: Doc) -> None:
        if self.spec.unique is not None:
            self.by_key[self.spec.unique(doc)] = doc_id
        for group, fn in self.spec.groups.items():
            self.by_group[group].setdefault(fn(doc), set()).add(doc_id)

    def _unindex(self, doc_id: str, doc: Doc) -> None:
        if self.spec.unique is not None:
            self.by_key.pop(self.spec.unique(doc), None)
        for group, fn in self.spec.groups.items():
            members = self.by_group[group].get(fn(doc))
            if members is not None:
                members.discard(doc_id)
                if not members:
                    del self.by_group[group][fn(doc)]

    def _set(self, doc_id: str, doc: Doc | None, text: str | None) -> None:
        self.body = None
        old = self.docs.get(doc_id)
        if old is not None:
            self._unindex(doc_id, old)
            del self.docs[doc_id]
            self.texts.pop(doc_id, None)
            if doc is None:
                self.blobs.pop(doc_id, None)
        if doc is not None:
            self.docs[doc_id] = doc
            if text is not None:
                self.texts[doc_id] = text
            self._index(doc_id, doc)


class Memory:
    """All tables, the transaction depth and the undo log; commits write the file once."""

    def __init__(self, storage: AtomicJSONStorage, tables: dict[str, MemTable]) -> None:
        self.storage = storage
        self.tables = tables
        self.lock = threading.RLock()
        self._undo: list[tuple[MemTable, str, Doc | None, str | None]] = []
        self._depth = 0

    def __getitem__(self, name: str) -> MemTable:
        return self.tables[name]

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """Join or start a unit of work; an inner block that raises is undone on its own.

        An outermost block that is not ``durable`` keeps its changes in memory only: the next
        durable commit writes them with its own. It suits what only this process needs to know
        (a delivery lease: the file serves one process, and a lease dies with it anyway).
        """
        with self.lock:
            mark = len(self._undo)
            outermost = self._depth == 0
            self._depth += 1
            done = False
            try:
                yield
                done = True
            finally:
                self._depth -= 1
                if not done:
                    self._rollback(mark)
            if outermost and self._undo:
                if durable:
                    self._commit()
                else:
                    self._undo.clear()  # the tables stay dirty until the next durable commit

    def put(self, table: str, doc: Doc, doc_id: str | None = None, *, copy: bool = False) -> str:
        """Insert (no id) or replace a document; ``copy`` detaches caller-owned JSON values."""
        self._require_transaction()
        t = self.tables[table]
        new_id = str(t.next_id) if doc_id is None else doc_id
        try:
            text = t.encode(new_id, doc)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"cannot store this {table} record: not JSON data ({exc})") from None
        if copy:
            doc = json.loads(text)
            blob = t.spec.blob
            if blob is not None and blob in doc and (cached := t.blobs.get(new_id)) is not None:
                t.blobs[new_id] = (doc[blob], cached[1], cached[2])  # the copy's value now
        if doc_id is None:
            doc_id = new_id
            t.next_id += 1
        self._undo.append((t, doc_id, t.docs.get(doc_id), t.texts.get(doc_id)))
        t._set(doc_id, doc, text)
        return doc_id

    def delete(self, table: str, doc_ids: Iterable[str]) -> int:
        """Delete documents by id; the number deleted."""
        self._require_transaction()
        t = self.tables[table]
        n = 0
        for doc_id in list(doc_ids):
            if doc_id in t.docs:
                self._undo.append((t, doc_id, t.docs[doc_id], t.texts.get(doc_id)))
                t._set(doc_id, None, None)
                n += 1
        return n

    def parts(self) -> Iterator[bytes]:
        """The database as TinyDB JSON in UTF-8, one table per line, from cached table and
        document text."""
        yield b"{"
        for n, (name, t) in enumerate(self.tables.items()):
            if t.body is None:
                text = "{" + ",".join(f'"{i}":{t.text(i)}' for i in t.docs) + "}"
                t.body = text.encode("utf-8")
            yield f"{',' if n else ''}\n{dumps(name)}:".encode()
            yield t.body
        yield b"\n}\n"

    def serialize(self) -> bytes:
        """The whole file."""
        return b"".join(self.parts())

    def _require_transaction(self) -> None:
        if self._depth == 0:
            raise RuntimeError("state writes must run inside Memory.transaction()")

    def _commit(self) -> None:
        try:
            self.storage.write_parts(self.parts())
        except OSError as exc:
            self._rollback(0)
            raise StoreError(
                f"could not write state file {self.storage.path}: {exc.strerror or exc};"
                " nothing from this unit of work was saved"
            ) from None
        self._undo.clear()

    def _rollback(self, mark: int) -> None:
        while len(self._undo) > mark:
            t, doc_id, doc, text = self._undo.pop()
            t._set(doc_id, doc, text)
