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
        self._between: dict[tuple[str, int, int], tuple[str, ...]] = {}  # keys per stretch
        # A device group's firmware is in the index's version order: a fixed version is reached
        # by the ranks from the first at or past it on (`VersionOrder.first_at_or_past`), so a
        # model's stretch for a rank is a bisection of those first ranks (`_first_ranks`).
        self._order = index.version_order()
        self._firsts: dict[str, list[int]] = {}
        self._ranks: dict[int, tuple[Version, int | None]] = {}  # by id: groups share versions
        self._first_of: dict[int, int] = {}  # by id of a fixed version of ``by_model``

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
        start = 0 if current is None else self._reached_by(model, current, fixes)
        end = self._reached_by(model, release_version, fixes)
        if start >= end:
            return ()
        keys = self._between.get((model, start, end))
        if keys is None:
            picked = {at for _, advisories in fixes[start:end] for at in advisories}
            keys = self._between[model, start, end] = tuple(self.keys[at] for at in sorted(picked))
        return keys

    def _first_ranks(self, fixes: list[tuple[Version, list[int]]]) -> list[int]:
        """The first rank of the order at or past each fixed version (in version order): they
        rise with the fixed versions, as what a version fixes is a first stretch (`_reached`).
        Each version's is worked out once (models share fixed versions: one object per text)."""
        firsts = self._first_of
        for fixed, _ in fixes:
            if id(fixed) not in firsts:
                firsts[id(fixed)] = self._order.first_at_or_past(fixed)
        return [firsts[id(fixed)] for fixed, _ in fixes]

    def _reached_by(
        self, model: str, version: Version, fixes: list[tuple[Version, list[int]]]
    ) -> int:
        """`_reached`: by the version's rank when the index's firmware has it, else remembered
        per model and version (a cycle asks for each release of a model again; equal versions
        compare alike: `is_fixed` reads the sort key)."""
        known = self._ranks.get(id(version))
        if known is None:  # the version is kept with its rank, so that its id stays its own
            known = self._ranks[id(version)] = (version, self._order.find(version))
        rank = known[1]
        if rank is not None:
            firsts = self._firsts.get(model)
            if firsts is None:
                firsts = self._firsts[model] = self._first_ranks(fixes)
            return bisect_right(firsts, rank)
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
