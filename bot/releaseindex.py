"""The newest firmware release for a model at or past a fixed version (pure).

A finding names the release that fixes it, with its download link. At fleet scale that question is
asked for every model of every advisory row: `ReleaseIndex` answers it from the releases indexed
by the exact models they apply to; `release_for` is the plain definition.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from bot.catalog import ModelPattern
from bot.items import FirmwareRelease
from bot.rows import patterns_of
from bot.versions import Version, VersionError, parse_version


def release_for(
    model: str, fixed: Version | None, releases: Sequence[FirmwareRelease]
) -> FirmwareRelease | None:
    """The newest release for exactly this model that is at or past the fixed version; none
    without a fixed version ("N/A", or a row that could not be read): no release is known to
    fix it, and the newest may be older than the devices' own firmware."""
    if fixed is None:
        return None
    best: tuple[Version, FirmwareRelease] | None = None
    for release in releases:
        if not any(p.matches_exact(model) for text in release.models for p in patterns_of(text)):
            continue
        try:
            version = parse_version(release.version)
        except VersionError:
            continue
        if version < fixed:
            continue
        if best is None or version > best[0]:
            best = (version, release)
    return best[1] if best else None


class ReleaseIndex:
    """Releases by the exact models they apply to, for `release_for` look-ups at fleet scale."""

    def __init__(self, releases: Sequence[FirmwareRelease]) -> None:
        self.releases = tuple(releases)
        self.versions: list[Version | None] = []
        self.by_model: dict[str, list[int]] = {}  # listed patterns: exact model -> positions
        self.by_prefix: dict[str, list[tuple[int, ModelPattern]]] = {}  # the other patterns
        self.memo: dict[str, list[tuple[Version, FirmwareRelease]]] = {}  # per model
        for at, release in enumerate(self.releases):
            try:
                self.versions.append(parse_version(release.version))
            except VersionError:
                self.versions.append(None)
            for text in release.models:
                for pattern in patterns_of(text):
                    if pattern.listed():
                        for head in pattern.heads():
                            self.by_model.setdefault(head, []).append(at)
                    else:
                        self.by_prefix.setdefault(pattern.literal_prefix(), []).append(
                            (at, pattern)
                        )
        self.order = sorted({v.sort_key() for v in self.versions if v is not None})
        self.lengths = sorted({len(prefix) for prefix in self.by_prefix})  # of by_prefix's keys

    def rank(self, version: Version | None) -> int:
        """How many of the releases' distinct versions are older than ``version``: a model's
        newest release is at or past a fixed version when its rank is at least the fixed
        version's. None (no fixed version) ranks past every release: none fixes it."""
        if version is None:
            return len(self.order) + 1
        return bisect.bisect_left(self.order, version.sort_key())

    def candidates(self, model: str) -> list[tuple[Version, FirmwareRelease]]:
        """The releases for exactly this (normalised) model, remembered (``memo``)."""
        candidates = self.memo.get(model)
        if candidates is None:
            if len(self.memo) >= _MEMO:
                self.memo.clear()
            candidates = self.memo[model] = self._for_model(model)
        return candidates

    def best(self, model: str, fixed: Version | None) -> FirmwareRelease | None:
        """What `release_for` gives for this (normalised) model and fixed version."""
        return best_release(self.candidates(model), fixed)

    def _for_model(self, model: str) -> list[tuple[Version, FirmwareRelease]]:
        """The releases applying exactly to the model with a readable version, in order."""
        places = set(self.by_model.get(model, ()))
        for end in self.lengths:
            if end > len(model):
                break
            for at, pattern in self.by_prefix.get(model[:end], ()):
                if at not in places and pattern.matches_exact(model):
                    places.add(at)
        found = []
        for at in sorted(places):
            version = self.versions[at]
            if version is not None:
                found.append((version, self.releases[at]))
        return found


def best_release(
    candidates: Sequence[tuple[Version, FirmwareRelease]], fixed: Version | None
) -> FirmwareRelease | None:
    """The newest of a model's releases (`ReleaseIndex.candidates`) at or past ``fixed``: versions
    are totally ordered, so that is the newest of them all when it is at or past ``fixed``.
    None without a fixed version (`release_for`)."""
    if fixed is None:
        return None
    found = newest(candidates)
    return found[1] if found and not found[0] < fixed else None


def newest(
    candidates: Sequence[tuple[Version, FirmwareRelease]],
) -> tuple[Version, FirmwareRelease] | None:
    """The newest of a model's releases (the first of equally new ones), with its version."""
    best: tuple[Version, FirmwareRelease] | None = None
    for version, release in candidates:
        if best is None or version > best[0]:
            best = (version, release)
    return best


_LAST: list[ReleaseIndex] = []
_MEMO = 1 << 17


def release_index(releases: Sequence[FirmwareRelease]) -> ReleaseIndex:
    """The release index for these releases, kept while the same releases keep coming."""
    snapshot = tuple(releases)
    if _LAST and _LAST[0].releases == snapshot:
        # Equal releases read again (the next cycle): keep these objects, so that the calls to
        # come compare by identity rather than field by field (a call per advisory).
        _LAST[0].releases = snapshot
        return _LAST[0]
    made = ReleaseIndex(snapshot)
    _LAST[:] = [made]
    return made
