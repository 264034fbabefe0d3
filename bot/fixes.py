"""Which advisories a firmware release fixes for a model, at a cost per model (pure).

An "update available" finding lists the open advisories the release resolves for the devices'
model (`bot.rows.resolves` is the definition: every row of every advisory, tried one by one).
Asked for every (model, firmware) of every release, the definition costs releases x advisory
rows; `AdvisoryFixes` reads each row once, keeps the fixed versions of the rows that cover the
models the releases name, and answers from those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.items import Advisory, FirmwareRelease
from bot.matching import FleetIndex
from bot.rows import patterns_of, row_fixed
from bot.versions import Version, is_fixed


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
        # In version order: a version fixes a first stretch of them (`_reached`).
        self.by_model = {
            model: sorted(found.values(), key=lambda fix: fix[0].sort_key())
            for model, found in fixes.items()
        }
        self._reached: dict[tuple[str, Version], int] = {}
        self._between: dict[tuple[str, int, int], list[str]] = {}  # advisory keys per stretch

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
        fixes = self.by_model.get(model)
        if not fixes:
            return []
        start = 0 if current is None else self._reached_by(model, current, fixes)
        end = self._reached_by(model, release_version, fixes)
        if start >= end:
            return []
        keys = self._between.get((model, start, end))
        if keys is None:
            picked = {at for _, advisories in fixes[start:end] for at in advisories}
            keys = self._between[model, start, end] = [self.keys[at] for at in sorted(picked)]
        return keys.copy()

    def _reached_by(
        self, model: str, version: Version, fixes: list[tuple[Version, list[int]]]
    ) -> int:
        """`_reached`, remembered per model and version: a cycle asks for each release and
        firmware of a model again (equal versions compare alike: `is_fixed` reads the sort key)."""
        reached = self._reached.get((model, version))
        if reached is None:
            reached = self._reached[model, version] = _reached(version, fixes)
        return reached


def _reached(version: Version, fixes: list[tuple[Version, list[int]]]) -> int:
    """How many of the fixed versions (in version order) ``version`` is at or past.

    `is_fixed` compares at the fixed version's precision, yet what a version fixes is always a
    first stretch of them in version order (a fixed version below one it fixes has no more
    precision to fail on): a bisection finds its end.
    """
    lo, hi = 0, len(fixes)
    while lo < hi:
        mid = (lo + hi) // 2
        if is_fixed(version, fixes[mid][0]):
            lo = mid + 1
        else:
            hi = mid
    return lo
