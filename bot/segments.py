"""Rows judged column-wise: the groups rows pick as arrays of segments (pure, numpy).

`FleetIndex.judge_rows` judges the rows of an advisory whose rule is a range of versions or a
build date together: each range row's picked rank ranges (pieces, each of a kind: `KINDS`) are
found for every model of its product cell at once, by a search in `Columns` (every model's ranks
and cuts of the index's flat positions, in arrays); a build-date row's kind of each rank is read
for each rank of each model. Both give `Segments`: one entry per (row, model, kind), or per
(row, model, rank), with its groups' positions. See ``bot.matching`` and ``bot.findings``
(`ColumnBatch`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from bot.indexviews import Status, View
    from bot.items import AffectedRow
    from bot.versions import Version

# The kinds of segment (`Segments`): a status, and which of a `RowColumns`' reasons its groups'
# reasons are: inside the range; of unknown firmware; a version the range cannot decide on its own
# (see `VersionOrder`) judged affected, or possibly affected (no build date to test).
AFFECTED, UNKNOWN, JUDGED_AFFECTED, JUDGED_POSSIBLY = 0, 1, 2, 3
KINDS: tuple[tuple[Status, int], ...] = (
    ("affected", 0), ("possibly-affected", 1), ("affected", 2), ("possibly-affected", 2)
)
Piece = tuple[int, int, int]  # ranks [start, stop) a row picks, and their kind


class RowColumns(NamedTuple):
    """One advisory row judged column-wise (`FleetIndex.judge_rows`): its groups are the
    segments of the rows' `Segments` that name it; ``reasons`` give a group's reason by kind
    (`KINDS`)."""

    row: AffectedRow
    cves: tuple[str | None, ...]
    fixed: Version | None
    models: frozenset[str]
    reasons: tuple[Callable[[int], str], ...]

    def reason(self, kind: int) -> Callable[[int], str]:
        """The reason of a group of a segment of this kind, at a position."""
        return self.reasons[KINDS[kind][1]]


class RowPlan(NamedTuple):
    """How `FleetIndex.judge_rows` judges rows of one wording (affected and fixed texts) on one
    index: ``how`` is `MATCH_ROW` (group by group), `UNREAD` (review needed: ``problem``),
    `RANGE` (the rank ranges it picks: ``pieces``) or `DATED` (the kind of each rank:
    ``rank_kinds``); ``reasons`` are a `RowColumns`' (shared by the rows of the wording: a
    group's reason follows from it)."""

    how: int
    fixed: Version | None
    problem: str | None = None
    reasons: tuple[Callable[[int], str], ...] = ()
    pieces: tuple[Piece, ...] = ()
    rank_kinds: np.ndarray = np.empty(0, dtype=np.int8)


MATCH_ROW, UNREAD, RANGE, DATED = 0, 1, 2, 3  # `RowPlan.how`


class Segments(NamedTuple):
    """Groups that rows pick, as arrays with one entry per segment: the groups of one model a
    row picks with one status and reason, ``Prepared.flat[starts[i]:stops[i]]``.

    ``ids`` are the models' numbers (places in `FleetIndex.models`), ``kinds`` their kinds
    (`KINDS`), ``rows`` the rows' places in the list judged, ascending.
    """

    ids: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    kinds: np.ndarray
    rows: np.ndarray


class Columns:
    """Every model's ranks and cuts in two arrays, so that a version range is found for all the
    models of a row at once (numpy's searchsorted in place of a bisection per model).

    Model number ``m`` (its place in the sorted models) has a key ``m * stride + rank`` per
    rank of its groups, ascending, then a last key ``m * stride + stride - 1``, past every rank;
    ``cuts[k]`` is where key k's groups start in `Prepared.flat` (for the last key, where the
    model's groups of unknown firmware start: ``unknown_start[m]``; they end at ``ends[m]``).
    """

    __slots__ = ("cuts", "ends", "first", "keys", "last", "stride", "unknown_start")

    def __init__(self, views: list[View], ranks: int) -> None:
        self.stride = stride = ranks + 2  # ranks are 0 .. ranks - 1, a range's end <= ranks
        keys: list[int] = []
        cuts: list[int] = []
        ends: list[int] = []
        for number, view in enumerate(views):
            base = number * stride
            keys += [base + rank for rank in view.ranks]
            keys.append(base + stride - 1)
            cuts += view.cuts  # one per rank, then where the unknown ones start
            ends.append(view.cuts[-1] + len(view.unknown))
        self.keys = np.array(keys, dtype=np.int64)
        self.cuts = np.array(cuts, dtype=np.int64)
        self.ends = np.array(ends, dtype=np.int64)
        # Where each model's keys start, and its last key's place.
        self.last = np.cumsum([len(v.ranks) + 1 for v in views], dtype=np.int64) - 1
        self.first = np.concatenate(([0], self.last[:-1] + 1)) if views else self.last
        self.unknown_start = self.cuts[self.last] if views else np.zeros(0, dtype=np.int64)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Where the groups of each (model number * stride + rank) key's rank start."""
        found: np.ndarray = self.cuts[self.keys.searchsorted(keys)]
        return found


def cut_segments(
    columns: Columns,
    plain: list[tuple[int, tuple[Piece, ...], np.ndarray]],
    dated: list[tuple[int, np.ndarray, np.ndarray]],
) -> Segments:
    """The segments of rows judged column-wise (`FleetIndex.judge_rows`).

    ``plain`` rows are given as their place, their pieces and their product cell's model
    numbers: rows with as many pieces together, a search for both ends of each piece of each
    model, in one pass. ``dated`` rows (build-date rules) as their place, the kind of each rank
    (-1: not picked; then `UNKNOWN`, for the last key) and the model numbers: each rank of each
    model is looked at, in one pass.
    """
    parts: list[tuple[np.ndarray, ...]] = []
    if dated:
        parts.append(_rank_segments(columns, dated))
    by_count: dict[int, list[tuple[int, tuple[Piece, ...], np.ndarray]]] = {}
    for judged in plain:
        by_count.setdefault(len(judged[1]), []).append(judged)
    for count, members in by_count.items():
        lengths = [len(ids) for _, _, ids in members]
        ids = np.concatenate([ids for _, _, ids in members])
        shape = (len(ids), count + 1)  # per model: its pieces, then its unknown groups
        starts = np.empty(shape, dtype=np.int64)
        stops = np.empty(shape, dtype=np.int64)
        kinds = np.empty(shape, dtype=np.int64)
        if count:
            ranges = np.repeat(np.array([p for _, p, _ in members]), lengths, axis=0)
            base = (ids * columns.stride)[:, None]
            starts[:, :count] = columns.find(base + ranges[:, :, 0])
            stops[:, :count] = columns.find(base + ranges[:, :, 1])
            kinds[:, :count] = ranges[:, :, 2]
        starts[:, count] = columns.unknown_start[ids]
        stops[:, count] = columns.ends[ids]
        kinds[:, count] = UNKNOWN
        rows = np.repeat(np.array([at for at, _, _ in members]), lengths)
        parts.append((np.repeat(ids, count + 1), starts.ravel(), stops.ravel(),
                      kinds.ravel(), np.repeat(rows, count + 1)))
    if len(parts) == 1:
        ids, starts, stops, kinds, rows = parts[0]
    else:  # back in row order
        ids, starts, stops, kinds, rows = (np.concatenate(c) for c in zip(*parts, strict=True))
        order = np.argsort(rows, kind="stable")
        ids, starts, stops, kinds, rows = ids[order], starts[order], stops[order], \
            kinds[order], rows[order]
    keep = starts < stops
    return Segments(ids[keep], starts[keep], stops[keep], kinds[keep], rows[keep])


def _rank_segments(
    columns: Columns, dated: list[tuple[int, np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, ...]:
    """A segment per rank of each model that a row's rank kinds pick, then the model's unknown
    groups (`cut_segments`): model by model, every key of each model read once."""
    counts = [len(ids) for _, _, ids in dated]
    ids = np.concatenate([ids for _, _, ids in dated])
    if not len(ids):
        return (ids,) * 5
    first, last = columns.first[ids], columns.last[ids]
    sizes = last - first + 1  # a model's ranks, then its last key
    ends = np.cumsum(sizes)
    keys = np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(first - (ends - sizes), sizes)
    models = np.repeat(ids, sizes)
    table = np.stack([kinds for _, kinds, _ in dated])  # a row per rule: rank -> kind
    row_of = np.repeat(np.repeat(np.arange(len(dated)), counts), sizes)
    ranks = np.minimum(columns.keys[keys] - models * columns.stride, table.shape[1] - 1)
    kinds = table[row_of, ranks].astype(np.int64)  # the last key's rank: past all, UNKNOWN
    starts = columns.cuts[keys]
    stops = columns.cuts[np.minimum(keys + 1, len(columns.cuts) - 1)]
    stops[ends - 1] = columns.ends[ids]  # the unknown groups end where the model's do
    rows = np.array([at for at, _, _ in dated], dtype=np.int64)[row_of]
    return models, starts, np.where(kinds >= 0, stops, starts), kinds, rows
