"""The readiness probe's store check, bounded in time: a store that stops answering (a stalled
server, a partition) makes ``/readyz`` say so within :data:`READY_WITHIN` seconds instead of holding
the request (and one of the server's threads) for as long as the call blocks, maybe for ever.

The check runs in a thread of its own; one at a time: probes arriving while it still hangs wait
for that same check (within their own bound) rather than starting more.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from state import Store, StoreError

READY_WITHIN = 5.0  # seconds


@dataclass
class _Check:
    done: threading.Event = field(default_factory=threading.Event)
    result: str = "ok"


class StoreProbe:
    """``check()``: "ok", or "failed: …" with the reason, within ``within`` seconds."""

    def __init__(self, store: Store, *, within: float = READY_WITHIN) -> None:
        self.store = store
        self.within = within
        self._lock = threading.Lock()
        self._current: _Check | None = None

    def check(self) -> str:
        """Check the store (or join the check in flight); its outcome in words."""
        with self._lock:
            run = self._current
            if run is None or run.done.is_set():
                run = self._current = _Check()
                threading.Thread(target=self._run, args=(run,), name="readyz-store",
                                 daemon=True).start()
        if not run.done.wait(self.within):
            return (f"failed: the store did not answer within {self.within:g} s (a database that"
                    " stopped answering, or a network partition)")
        return run.result

    def _run(self, run: _Check) -> None:
        try:
            self.store.check()
        except StoreError as exc:
            run.result = f"failed: {exc}"
        finally:
            run.done.set()
