"""A call bounded in time: work that may block for ever (a store that stopped answering) runs in a
thread of its own, one at a time, and callers wait for it at most a few seconds (pure threading).

A caller arriving while the last run still hangs waits for that same run rather than starting
another, so a stalled store holds at most one thread, however often it is asked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Run(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: Exception | None = None


class Bounded(Generic[T]):
    """``work()`` run in its own thread, waited for at most ``within`` seconds per call."""

    def __init__(self, work: Callable[[], T], within: float, name: str) -> None:
        self.work = work
        self.within = within
        self.name = name
        self._lock = threading.Lock()
        self._current: _Run[T] | None = None

    def __call__(self) -> T:
        """The work's result (or its exception); TimeoutError when it takes longer."""
        with self._lock:
            run = self._current
            if run is None or run.done.is_set():
                run = self._current = _Run()
                threading.Thread(target=self._run, args=(run,), name=self.name,
                                 daemon=True).start()
        if not run.done.wait(self.within):
            raise TimeoutError(f"no answer within {self.within:g} s")
        if run.error is not None:
            raise run.error
        return run.value  # type: ignore[return-value]  # set when done and no error

    def _run(self, run: _Run[T]) -> None:
        try:
            run.value = self.work()
        except Exception as exc:  # noqa: BLE001 - handed to every caller waiting for this run
            run.error = exc
        finally:
            run.done.set()
