"""Which advisories a firmware release fixes for a model, at a cost per model (pure).

An "update available" finding lists the open advisories the release resolves for the devices'
model (`bot.rows.resolves` is the definition: every row of every advisory, tried one by one).
Asked for every (model, firmware) of every release, the definition costs releases x advisory
rows; `AdvisoryFixes` reads each row once, keeps the fixed versions of the rows that cover the
models the releases name, and answers from those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from bot.items import Advisory, FirmwareRelease
from bot.matching import FleetIndex
from bot.rows import patterns_of
from bot.versions import Version, VersionError, is_fixed, parse_fixed


class AdvisoryFixes:
    """The fixed versions of the advisory rows that cover each model the releases name.

    ``models`` are the index's models (normalised) the releases apply to exactly; `resolves`
    answers for them (and nothing for other models).
    """

    def __init__(
        self, advisories: Sequence[Advisory], index: FleetIndex, models: Iterable[str]
    ) -> None:
        self.keys = [advisory.key for advisory in advisories]
        wanted = frozenset(models)
        # model -> (advisory number, fixed version) of each row covering it, in row order
        self.by_model: dict[str, list[tuple[int, Version]]] = {}
        if not wanted:
            return
        for at, advisory in enumerate(advisories):
            for row in advisory.rows:
                hit = index.covered_models(row.product) & wanted
                if not hit:
                    continue
                fixed = _fixed(row.fixed)
                if fixed is None:
                    continue
                for model in hit:
                    self.by_model.setdefault(model, []).append((at, fixed))

    @classmethod
    def for_releases(
        cls,
        advisories: Sequence[Advisory],
        index: FleetIndex,
        releases: Iterable[FirmwareRelease],
    ) -> AdvisoryFixes:
        """The fixes for every model of the index that one of the releases names exactly."""
        models = {
            model
            for release in releases
            for text in release.models
            for pattern in patterns_of(text)
            for model in index.named_models(pattern)
        }
        return cls(advisories, index, models)

    def resolves(
        self, release_version: Version, model: str, current: Version | None = None
    ) -> list[str]:
        """What `bot.rows.resolves` says: the keys of the advisories whose rows for ``model``
        the release version fixes and the ``current`` firmware (when known) does not."""
        keys: list[str] = []
        last = -1
        for at, fixed in self.by_model.get(model, ()):
            if at == last or (current is not None and is_fixed(current, fixed)):
                continue
            if is_fixed(release_version, fixed):
                keys.append(self.keys[at])
                last = at
        return keys


@lru_cache(maxsize=1 << 14)  # one per distinct "Fixed Version" cell
def _fixed(text: str) -> Version | None:
    try:
        return parse_fixed(text)
    except VersionError:
        return None
