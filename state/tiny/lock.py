"""An exclusive lock on the state file for one process, naming its holder."""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

from state.errors import StoreLocked


class FileLock:
    """``fcntl.flock`` on ``<file>.lock``; the kernel drops it when the holder dies."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.with_name(target.name + ".lock")
        self._fd: int | None = None
        self._mutex = threading.Lock()  # release may race (a close from two threads)

    def acquire(self) -> None:
        """Take the lock or raise StoreLocked naming the process that holds it."""
        with self._mutex:
            self._acquire()

    def _acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLocked(
                f"state file {self.target} is in use by {self.holder()}. TinyDB state serves"
                " one process: stop the other one (or run web and worker against PostgreSQL)."
            ) from None
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        holder = f"pid {os.getpid()} on host {socket.gethostname()} since {since}\n"
        os.pwrite(fd, holder.encode(), 0)
        self._fd = fd

    def holder(self) -> str:
        """Who holds the lock, as written in the lock file."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        return text or "another process (it has not written its pid yet)"

    def release(self) -> None:
        """Drop the lock (the lock file stays; removing it would race with a new holder).

        Once: a second release, from any thread, does nothing (closing the descriptor twice
        would close whatever the process opened under that number since).
        """
        with self._mutex:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
