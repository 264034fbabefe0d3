"""Named leader locks for the embedded backends: in-process for TinyDB, a file lock for SQLite.

A leader lock is held by at most one handle at a time and never waits: ``acquire`` answers at once.
The TinyDB file already belongs to one process, so its locks only arbitrate between handles inside
that process; SQLite may be shared by processes on one machine, so it uses ``flock`` on a file.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from pathlib import Path


def lock_slug(name: str) -> str:
    """A file-name-safe form of a lock name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "leader"


class LocalLeaders:
    """The leader locks of one in-process store; ``close`` releases them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[str, LocalLeader] = {}

    def handle(self, name: str) -> LocalLeader:
        """A new handle on the named lock (not yet taken)."""
        return LocalLeader(self, name)

    def _take(self, leader: LocalLeader) -> bool:
        with self._lock:
            holder = self._holders.setdefault(leader.name, leader)
            return holder is leader

    def _holds(self, leader: LocalLeader) -> bool:
        with self._lock:
            return self._holders.get(leader.name) is leader

    def _drop(self, leader: LocalLeader) -> None:
        with self._lock:
            if self._holders.get(leader.name) is leader:
                del self._holders[leader.name]

    def close(self) -> None:
        """Release every lock."""
        with self._lock:
            self._holders.clear()


class LocalLeader:
    """A lock arbitrated inside this process (the TinyDB file lock keeps other processes out)."""

    def __init__(self, registry: LocalLeaders, name: str) -> None:
        self.name = name
        self._registry = registry

    @property
    def held(self) -> bool:
        """True while this handle holds the lock."""
        return self._registry._holds(self)

    def acquire(self) -> bool:
        """Take the lock or confirm it is still held; False when another handle has it."""
        return self._registry._take(self)

    def release(self) -> None:
        """Give the lock up (nothing happens when it is not held)."""
        self._registry._drop(self)


class FileLeader:
    """``flock`` on ``<database>.leader-<name>.lock``; the kernel drops it when the holder dies."""

    def __init__(self, database: Path, name: str) -> None:
        self.name = name
        self.path = database.with_name(f"{database.name}.leader-{lock_slug(name)}.lock")
        self._fd: int | None = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        """True while this handle holds the lock."""
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock or confirm it is still held; False when another handle has it."""
        with self._mutex:
            if self._fd is not None:
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def release(self) -> None:
        """Give the lock up (nothing happens when it is not held)."""
        with self._mutex:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
