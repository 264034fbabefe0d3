"""The readiness probe's store check, bounded in time: a store that stops answering (a stalled
server, a partition) makes ``/readyz`` say so within :data:`READY_WITHIN` seconds instead of holding
the request (and one of the server's threads) for as long as the call blocks, maybe for ever
(`bot.service.bounded`: probes arriving while a check still hangs wait for that same check).
A store's own error names the database or the state file: it is for the API token and the log.
"""

from __future__ import annotations

import logging

from bot.service.bounded import Bounded
from state import Store, StoreError

log = logging.getLogger("firmwatch.web")
READY_WITHIN = 5.0  # seconds
WITHHELD = ("failed: the store did not answer (the reason is logged, and shown here to a request"
            " with the API token)")


class StoreProbe:
    """``check()``: "ok", or "failed: …" with the reason, within ``within`` seconds."""

    def __init__(self, store: Store, *, within: float = READY_WITHIN) -> None:
        self.store = store
        self.within = within
        self._check = Bounded(store.check, within, "readyz-store")
        self._logged: str | None = None  # the last failure logged

    def check(self, *, details: bool = True) -> str:
        """Check the store (or join the check in flight); its outcome in words. The store's own
        error names the database (host, user, name) or the state file: without ``details`` it
        is withheld; it is logged once each time it changes."""
        try:
            self._check()
        except TimeoutError:
            return (f"failed: the store did not answer within {self.within:g} s (a database that"
                    " stopped answering, or a network partition)")
        except StoreError as exc:
            reason = f"failed: {exc}"
            if reason != self._logged:
                log.warning("readiness: the store did not answer", extra={"reason": reason})
                self._logged = reason
            return reason if details else WITHHELD
        self._logged = None
        return "ok"
