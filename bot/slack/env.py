"""What every answer reads: the store, the settings, the cached catalog and items, and now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.config import Settings
from bot.context import Context
from bot.fleets import Fleet
from bot.slack.knowledge import Cache, local_date
from state.api import Store


@dataclass(frozen=True)
class Env:
    """One request's view: answers are pure functions of it."""

    store: Store
    settings: Settings
    cache: Cache
    now: datetime

    @property
    def on(self) -> date:
        """The date stages are judged on (the schedule's timezone)."""
        return local_date(self.settings, self.now)

    def context(self) -> Context:
        """The matching context: catalog, date and severe threshold."""
        return Context(self.cache.catalog(), self.on, self.settings.policy.severe_cvss)

    def fleet(self, name: str) -> Fleet | None:
        """The fleet a person means by ``name``: that name, else the one fleet whose name it is
        but for case and spacing (``fleet hq campus`` for "HQ Campus"); None when none or
        several are."""
        found = self.store.fleets.get(name)
        if found is not None:
            return found
        def folded(text: str) -> str:
            return " ".join(text.split()).casefold()

        alike = [f for f in self.store.fleets.all() if folded(f.name) == folded(name)]
        return alike[0] if len(alike) == 1 else None
