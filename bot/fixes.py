"""Which advisories a firmware release fixes for a model, at a cost per model (pure).

An "update available" finding lists the open advisories the release resolves for the devices'
model (`bot.rows.resolves` is the definition: every row of every advisory, tried one by one).
Asked for every (model, firmware) of every release, the definition costs releases x advisory
rows; `AdvisoryFixes` reads each row once, keeps the fixed versions of the rows that cover the
models the releases name, and answers from those.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

from bot.items import Advisory, FirmwareRelease
from bot.matching import FleetIndex
from bot.rows import patterns_of, row_fixed
from bot.versions import Version


class AdvisoryFixes:
    """The fixed versions of the advisory rows that cover each model the releases name, each
    with the advisories whose rows name it.

    ``models`` are the index's models (normalised) the releases apply to exactly; `resolves`
    answers for them (and nothing for other models).
    """

    def __init__(
        self, advisories: Sequence[Advisory], index: FleetIndex, models: Iterable[str]
    ) -> None:
        self.keys = [advisory.key for advisory in advisories]
        wanted = frozenset(models)
        # model -> each fixed version its rows name (one object per text) -> those advisories
        fixes: dict[str, dict[int, tuple[Version, list[int]]]] = {}
        hits: dict[str, frozenset[str]] = {}  # per product cell: feeds repeat them
        if wanted:
            for at, advisory in enumerate(advisories):
                for row in advisory.rows:
                    hit = hits.get(row.product)
                    if hit is None:
                        hit = hits[row.product] = index.covered_models(row.product) & wanted
                    if not hit:
                        continue
                    fixed = row_fixed(row)
                    if fixed is None:
                        continue
                    for model in hit:
                        fixes.setdefault(model, {}).setdefault(id(fixed), (fixed, []))[1].append(at)
        # In version order, with their sort keys: a version fixes a first stretch of them,
        # those whose key is at or below its own (`bot.versions.is_fixed`).
        self.by_model = {
            model: sorted(found.values(), key=lambda fix: fix[0].sort_key())
            for model, found in fixes.items()
        }
        self._keys = {
            model: [fixed.sort_key() for fixed, _ in found]
            for model, found in self.by_model.items()
        }
        self._between: dict[tuple[str, int, int], tuple[str, ...]] = {}  # keys per stretch

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
    ) -> tuple[str, ...]:
        """What `bot.rows.resolves` says: the keys of the advisories whose rows for ``model``
        the release version fixes and the ``current`` firmware (when known) does not."""
        fixes = self.by_model.get(model)
        if not fixes:
            return ()
        ordered = self._keys[model]  # how many fixed versions a version reaches: a bisection
        start = 0 if current is None else bisect_right(ordered, current.sort_key())
        end = bisect_right(ordered, release_version.sort_key())
        if start >= end:
            return ()
        keys = self._between.get((model, start, end))
        if keys is None:
            picked = {at for _, advisories in fixes[start:end] for at in advisories}
            keys = self._between[model, start, end] = tuple(self.keys[at] for at in sorted(picked))
        return keys
