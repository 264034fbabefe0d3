"""Hard deadlines for job bodies: each runs in a daemon thread the scheduler waits on.

A body that passes its deadline is abandoned (Python cannot stop a thread): the scheduler records a
timeout and its later runs go ahead. A job whose abandoned bodies pile up is refused further runs
until they end, so a body that hangs forever cannot multiply. Shutdown waits for bodies still in
flight, then ``abort`` makes every waiter give up at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

MAX_ABANDONED = 2


class JobTimeout(Exception):
    """The body passed its deadline; it was abandoned and may still be running."""


class JobInterrupted(Exception):
    """Shutdown stopped waiting for the body."""


class JobStuck(Exception):
    """Earlier runs of this job are still hung; this run was not started."""


@dataclass
class _Run:
    job: str
    done: bool = False
    value: object = None
    error: BaseException | None = None


class DeadlineRunner:
    """Runs bodies with deadlines and knows which are still in flight."""

    def __init__(self, *, max_abandoned: int = MAX_ABANDONED) -> None:
        self.max_abandoned = max_abandoned
        self._cv = threading.Condition()
        self._running: list[_Run] = []
        self._aborted = False

    def run(self, job: str, body: Callable[[], object], deadline: float) -> object:
        """Run ``body`` in a new thread; its result, or its exception, or JobTimeout."""
        run = _Run(job)
        with self._cv:
            if self._aborted:
                raise JobInterrupted(f"{job}: shutting down")
            hung = sum(1 for r in self._running if r.job == job)
            if hung >= self.max_abandoned:
                raise JobStuck(f"{job}: {hung} earlier run(s) still hung; not starting another")
            self._running.append(run)
        thread = threading.Thread(target=self._body, args=(run, body), daemon=True,
                                  name=f"job-{job}")
        thread.start()
        with self._cv:
            self._cv.wait_for(lambda: run.done or self._aborted, timeout=deadline)
            if not run.done:
                if self._aborted:
                    raise JobInterrupted(f"{job}: shutdown stopped waiting for the run")
                raise JobTimeout(f"{job}: passed its deadline of {deadline:g} s; abandoned")
        if run.error is not None:
            raise run.error
        return run.value

    def _body(self, run: _Run, body: Callable[[], object]) -> None:
        try:
            run.value = body()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which raises it
            run.error = exc
        finally:
            with self._cv:
                run.done = True
                self._running.remove(run)
                self._cv.notify_all()

    @property
    def in_flight(self) -> int:
        """Bodies still running (including abandoned ones)."""
        with self._cv:
            return len(self._running)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no body runs; False when some still do after ``timeout`` seconds."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._running, timeout=max(timeout, 0.0))

    def abort(self) -> None:
        """Make every waiter give up now and refuse new runs (shutdown)."""
        with self._cv:
            self._aborted = True
            self._cv.notify_all()
