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
        if wanted:
            for at, advisory in enumerate(advisories):
                for row in advisory.rows:
                    hit = index.covered_models(row.product) & wanted
                    if not hit:
                        continue
                    fixed = _fixed(row.fixed)
                    if fixed is None:
                        continue
                    for model in hit:
                        fixes.setdefault(model, {}).setdefault(id(fixed), (fixed, []))[1].append(at)
        self.by_model = {model: list(found.values()) for model, found in fixes.items()}

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
        picked: set[int] = set()
        for fixed, advisories in self.by_model.get(model, ()):  # judged once per fixed version
            if current is not None and is_fixed(current, fixed):
                continue
            if is_fixed(release_version, fixed):
                picked.update(advisories)
        return [self.keys[at] for at in sorted(picked)]


@lru_cache(maxsize=1 << 14)  # one per distinct "Fixed Version" cell
def _fixed(text: str) -> Version | None:
    try:
        return parse_fixed(text)
    except VersionError:
        return None
