"""A TinyDB storage that never loses or corrupts the file.

TinyDB's JSONStorage rewrites its file in place on every write. This one holds an exclusive lock
for the life of the process, reads the file once, and writes by temp file + fsync + ``os.replace``
+ fsync of the folder, so the file is always either the old or the new version. A file that does
not parse is moved aside, never overwritten. Usable directly: ``TinyDB(path, storage=...)``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from state.errors import StoreCorrupt
from state.tiny.lock import FileLock

log = logging.getLogger(__name__)
Data = dict[str, dict[str, Any]]


class AtomicJSONStorage(Storage):
    """TinyDB storage: locked, read once into memory, replaced atomically on write."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(self.path)
        self._lock.acquire()
        self._data: Data | None = None
        self._loaded = False
        self.table_texts: dict[str, bytes] = {}
        self.reads = 0
        self.writes = 0
        self._remove_stale_temp_files()

    def read(self) -> Data | None:
        """The database as TinyDB sees it (None when the file is new or empty)."""
        if not self._loaded:
            self._data = self._load()
            self._loaded = True
        return self._data

    def write(self, data: Data) -> None:
        """Replace the file with ``data`` atomically."""
        self.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        self._data = data

    def write_text(self, text: str) -> None:
        """Replace the file with ``text`` atomically."""
        self.write_parts([text.encode("utf-8")])

    def write_parts(self, parts: Iterable[bytes]) -> None:
        """Replace the file with the parts: temp file, fsync, rename over, fsync the folder."""
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o600
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            with os.fdopen(fd, "wb") as fh:
                for part in parts:
                    fh.write(part)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        self._fsync_folder()
        self.writes += 1

    def close(self) -> None:
        """Release the lock; the in-memory copy is dropped."""
        self._lock.release()
        self._data = None

    def _load(self) -> Data | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        self.reads += 1
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
            _check_shape(data)
        except (ValueError, UnicodeDecodeError) as exc:
            aside = self._move_aside()
            log.error("state file %s did not parse; moved it to %s", self.path, aside)
            raise StoreCorrupt(
                f"state file {self.path} did not parse ({exc}). It was moved to {aside} and left"
                " untouched; the next start begins with empty state. To keep the old state,"
                f" repair {aside.name} and move it back to {self.path.name} before starting."
            ) from None
        self.table_texts = _table_lines(raw, data)
        return data  # type: ignore[no-any-return]

    def _move_aside(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        os.replace(self.path, aside)
        self._fsync_folder()
        return aside

    def _remove_stale_temp_files(self) -> None:
        # We hold the lock, so any temp file is left over from a process that died mid-write.
        for stale in self.path.parent.glob(f"{self.path.name}.tmp-*"):
            stale.unlink(missing_ok=True)

    def _fsync_folder(self) -> None:
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_shape(data: object) -> None:
    """Raise ValueError unless ``data`` is TinyDB's ``{table: {int id: {document}}}``."""
    if not isinstance(data, dict):
        raise ValueError("the top level is not a JSON object of tables")
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"table {name!r} is not a JSON object")
        for doc_id, doc in table.items():
            if not doc_id.isdigit() or not isinstance(doc, dict):
                raise ValueError(f"table {name!r} has a bad document {doc_id!r}")


def _table_lines(raw: bytes, data: Data) -> dict[str, bytes]:
    """Each table's JSON (UTF-8) when the file has our one-table-per-line layout, else nothing.

    JSON text holds no raw newline, and UTF-8 none inside a character: the file's lines are
    its tables' lines."""
    lines = raw.split(b"\n")
    if lines[0] != b"{" or lines[-2:] != [b"}", b""] or len(lines) != len(data) + 3:
        return {}
    texts: dict[str, bytes] = {}
    for name, line in zip(data, lines[1:-2], strict=True):
        head = (json.dumps(name, ensure_ascii=False) + ":").encode("utf-8")
        if not line.startswith(head):
            return {}
        texts[name] = line[len(head):].removesuffix(b",")
    return texts
