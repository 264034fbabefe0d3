"""What a fleet index derives from its device groups, for judging rows at a cost per model.

`Prepared` numbers the index's positions, firmware strings and versions (`VersionOrder` ranks),
and keeps each model's groups in firmware order (`View`); a product cell's `Layout` lists its
models' views, so `FleetIndex.judge_rows` picks a model's groups as ranges of that list (`Span`).
`Columns` (``bot.segments``) holds every model's ranks and cuts in arrays, for judging many
rows' models at once (`FleetIndex.judge_rows`). `Ranked` is what a row's rule picks of the
version order. No I/O; the module-level memos are what patterns and product cells cover among
the last index's models (`_LOOKUPS`), and what wordings pick of the last index's version order
(`_WORDINGS`). See ``bot.matching``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import chain, groupby
from typing import Literal, NamedTuple, Protocol

import numpy as np

from bot.segments import Columns, RowPlan
from bot.versions import AffectedRule, SortKey, Version, VersionOrder

Status = Literal["affected", "possibly-affected", "review-needed"]
Outcome = tuple[Status, str]
_SEPARATORS = "-/("  # what may follow a pattern's text in a model it covers
_COUNTED = re.compile(r"[A-Z](\d+)(?=[-/(]|\Z)")  # a letter, then a count ending a segment


class GroupLike(Protocol):
    """What matching needs of a device group (bot.fleets.DeviceGroup satisfies it)."""

    @property
    def key(self) -> str: ...
    @property
    def fleet(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def firmware(self) -> str | None: ...
    @property
    def count(self) -> int: ...
    @property
    def site(self) -> str: ...


class Indexed(NamedTuple):
    """A device group with its model normalised and its firmware parsed once.

    A named tuple: an index makes one per device group, a million of them at fleet scale.
    """

    group: GroupLike
    model: str
    version: Version | None
    version_problem: str | None


class View:
    """A pattern's device groups as positions in the index, bucketed by version rank.

    ``buckets[i]`` holds the positions (ascending) of the groups whose firmware has rank
    ``ranks[i]``; ``unknown`` those whose firmware is missing or unreadable.
    """

    __slots__ = ("buckets", "cuts", "flat", "models", "part", "ranks", "unknown", "unknown_span")

    def __init__(
        self,
        models: tuple[str, ...],
        ranks: list[int],
        buckets: list[list[int]],
        unknown: list[int],
        *,
        into: list[int] | None = None,
        unknown_reason: Callable[[int], str] | None = None,
    ) -> None:
        self.models = models
        self.ranks = ranks
        self.buckets = buckets
        self.unknown = unknown
        # With ``into`` (one model's view, which spans use): its positions in rank order, the
        # unknown ones last, are appended to ``into`` (the index's `Prepared.flat`), and
        # ``buckets[i]`` is ``flat[cuts[i]:cuts[i + 1]]``.
        self.flat: list[int] = [] if into is None else into
        self.cuts: list[int] = [len(self.flat)]
        if into is not None:
            for bucket in buckets:
                into += bucket
                self.cuts.append(len(into))
            into += unknown
        # Every readable row picks a model's groups of unknown firmware, for the same reason.
        self.unknown_span: Span | None = None
        if into is not None and unknown and unknown_reason is not None:
            self.unknown_span = new_span(
                (models[0], "possibly-affected", into, self.cuts[-1], len(into), unknown_reason)
            )
        # What a product cell's layout holds of a one-model view (see FleetIndex.judge_rows).
        self.part: LayoutPart | None = None
        if into is not None:
            self.part = (models[0], ranks, self.cuts, into, self.unknown_span)


class Span(NamedTuple):
    """Device groups of one model that a row picks with one status: positions of the index,
    ``source[start:stop]``, read only when the groups themselves are wanted.

    ``reason(position)`` is the group's reason (it quotes the group's firmware). A named tuple
    (`new_span` makes one without a Python-level call): a cycle makes millions.
    """

    model: str
    status: Status
    source: list[int]
    start: int
    stop: int
    reason: Callable[[int], str]

    @property
    def size(self) -> int:
        """How many device groups."""
        return self.stop - self.start

    def positions(self) -> list[int]:
        """The positions, in the index, of the span's device groups."""
        return self.source[self.start : self.stop]


new_span: Callable[[tuple[str, Status, list[int], int, int, Callable[[int], str]]], Span] = (
    partial(tuple.__new__, Span)
)


# Per model a product cell covers: the model, its view's ranks, cuts and flat positions, and the
# span of its groups of unknown firmware (the same for every readable row); then the models.
LayoutPart = tuple[str, list[int], list[int], list[int], "Span | None"]
Layout = tuple[tuple[LayoutPart, ...], frozenset[str]]


# The last index's models with what patterns cover and name among them, and product cells
# cover (see Prepared).
_LOOKUPS: list[tuple[
    tuple[str, ...],
    dict[str, tuple[str, ...]],
    dict[str, tuple[str, ...]],
    dict[str, tuple[np.ndarray, frozenset[str]]],
]] = []

# The last index's version order with what rules and wordings pick of it (see Prepared).
_WORDINGS: list[tuple[
    list[SortKey],
    dict[tuple[AffectedRule, Version | None], dict[int, bool]],
    dict[tuple[str, str], Ranked],
    dict[tuple[str, str], tuple[tuple[int, int, int], ...]],
    dict[tuple[str, str], np.ndarray],
]] = []


def _unknown_reason(samples: list[Indexed], fid_of: list[int]) -> Callable[[int], str]:
    """Why the group at a position, of unknown firmware, is possibly affected (as `_judge` says).

    A closure over the lists, not a method: views keep it, and a method would tie the index's
    derived structures into a reference cycle (freed only by a full collection).
    """

    def reason(position: int) -> str:
        return samples[fid_of[position]].version_problem or "firmware version not known"

    return reason


class Firmwares:
    """An index's distinct firmware: a sample group per firmware id, each position's firmware id
    and each firmware's rank (-1: none), and its version as text (made when first asked for).

    Kept apart from `Prepared`, which holds it, so that reasons quoting firmware can close over
    it: `Prepared` keeps such reasons (`RowPlan`), and a reference back would be a cycle.
    """

    __slots__ = ("fid_of", "rank_of_fid", "samples", "texts")

    def __init__(self, samples: list[Indexed], fid_of: list[int], rank_of_fid: list[int]) -> None:
        self.samples, self.fid_of, self.rank_of_fid = samples, fid_of, rank_of_fid
        self.texts: list[str | None] = [None] * len(samples)

    def text(self, fid: int) -> str:
        """The firmware's version as text."""
        text = self.texts[fid]
        if text is None:
            text = self.texts[fid] = str(self.samples[fid].version)
        return text


def _day(build: date | None) -> int:
    return build.toordinal() if build is not None else -1


class Prepared:
    """What the index derives from ``by_model`` on first use (see FleetIndex)."""

    def __init__(
        self, by_model: dict[str, list[Indexed]], models: list[str], unique: bool | None = None
    ) -> None:
        entries: list[Indexed] = []
        self.start: dict[str, int] = {}
        for model in models:
            self.start[model] = len(entries)
            entries += by_model[model]
        self.entries = entries
        # A firmware id per distinct parsed firmware (the same Version object, or the same
        # problem when there is none); ranks order the distinct versions.
        ids: dict[int | str | None, int] = {}  # id(version), else the problem
        samples: list[Indexed] = []  # fid -> an entry with that firmware
        fid_of: list[int] = []
        for entry in entries:
            version = entry.version
            token = entry.version_problem if version is None else id(version)
            fid = ids.get(token)
            if fid is None:
                fid = ids[token] = len(samples)
                samples.append(entry)
            fid_of.append(fid)
        self.order = VersionOrder(e.version.sort_key() for e in samples if e.version)
        rank_of_fid = [-1 if e.version is None else self.order.rank(e.version) for e in samples]
        self.firmwares = Firmwares(samples, fid_of, rank_of_fid)
        by_rank: dict[int, Indexed] = {}
        for fid, rank in enumerate(rank_of_fid):
            if rank >= 0:
                by_rank.setdefault(rank, samples[fid])
        self.rank_samples = [by_rank[r] for r in range(len(self.order))]  # rank -> an entry
        # Each rank's build date (a day number; -1 for none): a rank's versions share it.
        self.rank_builds = np.array(
            [_day(e.version.build if e.version else None) for e in self.rank_samples],
            dtype=np.int64,
        )
        if unique is None:
            unique = len({e.group.key for e in entries}) == len(entries)
        self.unique = unique
        self.unknown_reason = _unknown_reason(samples, fid_of)
        self.flat: list[int] = []  # every model's positions, as its view orders them (View)
        self.model_views = self._model_views(by_model, models)
        self.number = {model: n for n, model in enumerate(models)}  # its place in models
        self.columns = Columns([self.model_views[m] for m in models], len(self.order))
        self.views: dict[str, View] = {}
        # The models a pattern covers or names, and the numbers of those a product cell covers
        # (`FleetIndex._cell`), depend on the models alone: an index over the same models as
        # the last one built (the next cycle, fleets unchanged) shares them.
        known = tuple(models)
        if _LOOKUPS and _LOOKUPS[0][0] == known:
            _, self.covered, self.named, self.cells = _LOOKUPS[0]
        else:
            self.covered, self.named, self.cells = {}, {}, {}
            _LOOKUPS[:] = [(known, self.covered, self.named, self.cells)]
        # Every model under each text a listed pattern may name it by: the whole model and
        # each head of it followed by - / or ( (sorted, as models is).
        self.stems: dict[str, list[str]] = {}
        # And under each head of it followed by a count ending a segment (``DS-7608NI-I`` for
        # ``DS-7608NI-I2/8P``), for patterns that take counts (`ModelPattern.takes_counts`).
        self.count_stems: dict[str, list[str]] = {}
        for model in models:
            for end in [i for i, ch in enumerate(model) if ch in _SEPARATORS] + [len(model)]:
                self.stems.setdefault(model[:end], []).append(model)
            for found in _COUNTED.finditer(model):
                self.count_stems.setdefault(model[: found.start(1)], []).append(model)
        self.layouts: dict[str, Layout] = {}  # product cell -> its models' lists
        self.plans: dict[tuple[str, str], RowPlan] = {}  # (affected, fixed) -> how it is judged
        # What a rule or wording picks depends on the version order alone (a rank's versions
        # share their sort key, which is all a rule reads): an index over the same versions as
        # the last one built (the next cycle, firmware unchanged) shares it.
        self.judged: dict[tuple[AffectedRule, Version | None], dict[int, bool]]
        self.ranked: dict[tuple[str, str], Ranked]  # (affected, fixed) -> ranks picked
        self.pieces: dict[tuple[str, str], tuple[tuple[int, int, int], ...]]  # the same, cut
        self.rank_kinds: dict[tuple[str, str], np.ndarray]  # the same, rank by rank
        if _WORDINGS and _WORDINGS[0][0] == self.order.keys:
            _, self.judged, self.ranked, self.pieces, self.rank_kinds = _WORDINGS[0]
        else:
            self.judged, self.ranked, self.pieces, self.rank_kinds = {}, {}, {}, {}
            _WORDINGS[:] = [
                (self.order.keys, self.judged, self.ranked, self.pieces, self.rank_kinds)
            ]

    def _model_views(
        self, by_model: dict[str, list[Indexed]], models: list[str]
    ) -> dict[str, View]:
        """Each model's groups bucketed by firmware rank (positions ascending in a bucket)."""
        rank_of_fid = self.firmwares.rank_of_fid
        rank_at = [rank_of_fid[fid] for fid in self.firmwares.fid_of].__getitem__
        views: dict[str, View] = {}
        for model in models:
            start = self.start[model]
            ranks: list[int] = []
            buckets: list[list[int]] = []
            unknown: list[int] = []
            # A stable sort: positions stay ascending within a rank; unknown (-1) come first.
            ordered = sorted(range(start, start + len(by_model[model])), key=rank_at)
            for rank, bucket in groupby(ordered, key=rank_at):
                if rank < 0:
                    unknown = list(bucket)
                else:
                    ranks.append(rank)
                    buckets.append(list(bucket))
            views[model] = View((model,), ranks, buckets, unknown, into=self.flat,
                                 unknown_reason=self.unknown_reason)
        return views


@dataclass(frozen=True)
class Ranked:
    """The version ranks a row picks: [start, end) but the ``odd`` ones, then the odd ones it
    picks; or, for rules judged rank by rank, those ``decide`` picks."""

    start: int
    end: int
    odd: dict[int, bool]
    decide: Callable[[int], bool] | None = None

    def inside(self, rank: int) -> bool:
        """Whether a rank is affected by the range itself (not one of the odd ones)."""
        return self.start <= rank < self.end and rank not in self.odd


def pick(view: View, ranked: Ranked) -> list[int]:
    """Positions of the view's groups the row picks (to be judged), ascending."""
    ranks = view.ranks
    if ranked.decide is not None:
        decide = ranked.decide
        parts = [bucket for rank, bucket in zip(ranks, view.buckets, strict=True) if decide(rank)]
        if view.unknown:
            parts.append(view.unknown)
        return parts[0] if len(parts) == 1 else sorted(chain.from_iterable(parts))
    lo = bisect.bisect_left(ranks, ranked.start)
    hi = bisect.bisect_left(ranks, ranked.end)
    parts = [view.buckets[i] for i in range(lo, hi) if ranks[i] not in ranked.odd]
    for rank, picked in ranked.odd.items():
        at = bisect.bisect_left(ranks, rank)
        if picked and at < len(ranks) and ranks[at] == rank:
            parts.append(view.buckets[at])
    if view.unknown:
        parts.append(view.unknown)
    if len(parts) == 1:
        return parts[0]
    return sorted(chain.from_iterable(parts))


def all_positions(view: View) -> list[int]:
    return sorted(chain(chain.from_iterable(view.buckets), view.unknown))


def dedupe(parts: list[list[int]]) -> list[int]:
    """Concatenate position lists, keeping the first occurrence of each."""
    if len(parts) <= 1:
        return parts[0] if parts else []
    seen: set[int] = set()
    out: list[int] = []
    for part in parts:
        for pos in part:
            if pos not in seen:
                seen.add(pos)
                out.append(pos)
    return out
