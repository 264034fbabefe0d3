"""The readiness probe's store check, bounded in time: a store that stops answering (a stalled
server, a partition) makes ``/readyz`` say so within :data:`READY_WITHIN` seconds instead of holding
the request (and one of the server's threads) for as long as the call blocks, maybe for ever
(`bot.service.bounded`: probes arriving while a check still hangs wait for that same check).
"""

from __future__ import annotations

from bot.service.bounded import Bounded
from state import Store, StoreError

READY_WITHIN = 5.0  # seconds


class StoreProbe:
    """``check()``: "ok", or "failed: …" with the reason, within ``within`` seconds."""

    def __init__(self, store: Store, *, within: float = READY_WITHIN) -> None:
        self.store = store
        self.within = within
        self._check = Bounded(store.check, within, "readyz-store")

    def check(self) -> str:
        """Check the store (or join the check in flight); its outcome in words."""
        try:
            self._check()
        except TimeoutError:
            return (f"failed: the store did not answer within {self.within:g} s (a database that"
                    " stopped answering, or a network partition)")
        except StoreError as exc:
            return f"failed: {exc}"
        return "ok"
