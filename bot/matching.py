"""Match items to the registered fleets' device groups (pure).

The fleets are indexed once by normalised model, so matching an advisory costs in proportion to
its affected rows and the device groups they touch, not to the number of devices. At fleet scale
(a million device groups over tens of thousands of models, sharing a few thousand firmware
strings) the index also:

* parses each distinct firmware string once and puts the distinct versions in order
  (`VersionOrder`): an affected range is then a slice of that order found by bisection, and a row
  is judged once per firmware string, not once per device group;
* finds a product pattern's models once, by its listed texts (``DS-2CD2xx3G2`` is 100 of them,
  looked up by model stem) or by bisecting the sorted models on its heads, and remembers them
  (across indexes over the same models, as the next cycle builds);
* lists each model's device groups in firmware order when built, so that a row picks a model's
  groups as ranges of that list (`Span`, `Segments`): judging a row costs per model, not per
  device group;
* judges the rows of an advisory whose rule is a range of versions or a build date (all but
  unreadable rows) together, in arrays (`FleetIndex.judge_rows`, `Segments`): one numpy search
  for the ends of every model's ranges, or one look at each of its ranks, rather than a
  bisection per (row, model) pair in Python.

The derived structures (positions, version ranks, model views, layouts) live in
``bot.indexviews``. Everything remembered hangs off the index, which does not change once built:
call `FleetIndex.clear_caches` after changing ``by_model`` by hand. Results are those of judging
every candidate group one by one (`match_row` keeps that order), which `_judge` still does for the
rare cases (an unreadable product cell, device groups sharing a key).
"""

from __future__ import annotations

import bisect
import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import NamedTuple, Protocol

import numpy as np

from bot.catalog import ModelError, ModelPattern, normalize_model
from bot.indexviews import (
    Firmwares,
    GroupLike,
    Indexed,
    Layout,
    Outcome,
    Prepared,
    Ranked,
    Span,
    Status,
    View,
    all_positions,
    dedupe,
    new_span,
    pick,
)
from bot.items import Advisory, AffectedRow
from bot.rows import named_patterns, read_firmware, row_patterns, row_rule, row_words
from bot.segments import (
    AFFECTED,
    DATED,
    JUDGED_AFFECTED,
    JUDGED_POSSIBLY,
    MATCH_ROW,
    RANGE,
    UNKNOWN,
    UNREAD,
    Piece,
    RowColumns,
    RowPlan,
    Segments,
    cut_segments,
)
from bot.versions import (
    AffectedRule,
    BuildDateRule,
    Version,
    VersionRange,
    is_fixed,
)

_BY_RANK = Ranked(0, 0, {})  # a rule judged rank by rank: no range inside which all are picked
_RULE_MEMO = 4096  # judged (rule, fixed) pairs kept per index for rules judged rank by rank


class gc_paused:  # lower case: used as a function, ``with gc_paused():``
    """Pause CPython's cyclic garbage collector while making many objects that form no cycles.

    At fleet scale matching makes millions of small objects (index entries, findings). The
    collector runs every few hundred allocations and, as survivors pile up, rescans them and the
    rest of the heap (a million device groups) again and again. These objects form no reference
    cycles, so reference counting frees them all the same; the collector resumes afterwards
    (and is left alone when something else has paused it). A class rather than a generator:
    a cycle enters it once per advisory and once per chunk of them.
    """

    __slots__ = ("_resume",)

    def __enter__(self) -> None:
        self._resume = gc.isenabled()
        if self._resume:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._resume:
            gc.enable()


class Hit(NamedTuple):
    """One device group judged against one CVE of one row (a named tuple: cheap to make)."""

    entry: Indexed
    cve: str | None
    status: Status
    reason: str
    row: AffectedRow
    fixed: Version | None


@dataclass(frozen=True)
class RowMatch:
    """One advisory row judged against the fleets: the groups it touches, in candidate order.

    ``outcomes[i]`` is the (status, reason) of ``entries[i]``; ``cves`` are the CVEs the row's
    verdicts apply to; ``models`` holds every model the row's patterns cover (a superset of the
    entries' models), so callers can tell rows that cannot share a device group.
    """

    row: AffectedRow
    cves: tuple[str | None, ...]
    fixed: Version | None
    entries: list[Indexed]
    outcomes: list[Outcome]
    models: frozenset[str]


class RowSpans(NamedTuple):
    """One advisory row judged model by model: `RowMatch` with spans instead of groups."""

    row: AffectedRow
    cves: tuple[str | None, ...]
    fixed: Version | None
    spans: list[Span]
    models: frozenset[str]


Judged = RowColumns | RowSpans | RowMatch  # a row as `FleetIndex.judge_rows` judges it


@dataclass
class FleetIndex:
    """Device groups by normalised model, with the models sorted for prefix look-ups.

    Build it with `build`; it does not change afterwards, and remembers what it has looked up
    (call `clear_caches` after changing ``by_model`` or ``models`` by hand). Building also
    numbers the positions, firmware strings and versions the look-ups work with.
    """

    by_model: dict[str, list[Indexed]] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    _prepared: Prepared | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def build(cls, groups: Iterable[GroupLike]) -> FleetIndex:
        """Index device groups; groups whose model cannot be read are skipped."""
        with gc_paused():
            return cls._build(groups)

    @classmethod
    def _build(cls, groups: Iterable[GroupLike]) -> FleetIndex:
        index = cls()
        by_model = index.by_model
        models: dict[str, str | None] = {}  # as written -> normalised, None when unreadable
        firmware: dict[str | None, tuple[Version | None, str | None]] = {}
        keys: set[str] = set()
        indexed = 0
        for group in groups:
            written = group.model
            if written in models:
                model = models[written]
            else:
                try:
                    model = models[written] = normalize_model(written)
                except ModelError:
                    model = models[written] = None
            if model is None:
                continue
            text = group.firmware
            parsed = firmware.get(text)
            if parsed is None:
                parsed = firmware[text] = read_firmware(text)
            entry = Indexed(group, model, parsed[0], parsed[1])
            if model in by_model:
                by_model[model].append(entry)
            else:
                by_model[model] = [entry]
            keys.add(group.key)
            indexed += 1
        index.models = sorted(by_model)
        index._prepared = Prepared(by_model, index.models, unique=len(keys) == indexed)
        return index

    def keys_unique(self) -> bool:
        """Whether no two device groups share a key (as the fleet registry guarantees)."""
        return self._prep().unique

    def clear_caches(self) -> None:
        """Derive everything from ``by_model`` and ``models`` again, forgetting past look-ups
        but those that depend only on the models or on the versions, which indexes over equal
        ones share (see ``bot.indexviews``: `_LOOKUPS`, `_WORDINGS`)."""
        with gc_paused():
            self._prepared = Prepared(self.by_model, self.models)

    def candidates(self, pattern: ModelPattern) -> list[Indexed]:
        """Device groups whose model the pattern matches."""
        return [e for model in self._covered(pattern) for e in self.by_model[model]]

    def exact(self, pattern: ModelPattern) -> list[Indexed]:
        """Device groups whose model is exactly the pattern's (modulo variants)."""
        return [e for model in self.named_models(pattern) for e in self.by_model[model]]

    def covered_models(self, product: str) -> frozenset[str]:
        """The index's models a product cell covers (none when the cell cannot be read)."""
        patterns = row_patterns(product)
        if patterns is None:
            return frozenset()
        return (self._prep().cells.get(product) or self._cell(product, patterns))[1]

    def match_row(self, row: AffectedRow, cves: tuple[str | None, ...]) -> RowMatch:
        """Judge one advisory row against every device group it covers."""
        patterns = row_patterns(row.product)
        prep = self._prep()
        if patterns is None or not prep.unique:
            return self._match_row_one_by_one(row, cves, patterns)
        rule, fixed, problem = row_rule(row)
        views = [self._view(p) for p in patterns]
        models = frozenset(chain.from_iterable(v.models for v in views))
        if problem is not None or rule is None:
            outcome: Outcome = ("review-needed", f"the advisory row could not be read: {problem}")
            positions = dedupe([all_positions(v) for v in views])
            return RowMatch(
                row, cves, fixed, [prep.entries[p] for p in positions], [outcome] * len(positions),
                models,
            )
        if isinstance(rule, VersionRange):
            ranked = self._ranges(rule, fixed)
        else:
            ranked = self._ranks_one_by_one(rule, fixed)
        positions = dedupe([pick(v, ranked) for v in views])
        # Outcomes are per firmware string: the status follows the version, the reason quotes it.
        known: dict[int, Outcome] = {}
        outcomes: list[Outcome] = []
        fid_of = prep.firmwares.fid_of
        for pos in positions:
            fid = fid_of[pos]
            found = known.get(fid)
            if found is None:
                found = known[fid] = _outcome(prep.firmwares, fid, rule, fixed, row, ranked)
            outcomes.append(found)
        everything = prep.entries
        return RowMatch(row, cves, fixed, [everything[p] for p in positions], outcomes, models)

    def positions(self) -> list[int]:
        """Every model's positions, as spans and segments cut them (`Prepared.flat`)."""
        return self._prep().flat

    def number(self, model: str) -> int:
        """A model's place in ``models`` (as `Segments` number models)."""
        return self._prep().number[model]

    def entry_at(self, position: int) -> Indexed:
        """The device group at a position (as `Span` gives them)."""
        return self._prep().entries[position]

    def entries(self) -> list[Indexed]:
        """Every device group, by position (`entry_at` of each): for reading many at once."""
        return self._prep().entries

    def _unread_spans(
        self,
        row: AffectedRow,
        cves: tuple[str | None, ...],
        patterns: Sequence[ModelPattern],
        fixed: Version | None,
        problem: str | None,
    ) -> RowSpans:
        """A row whose rule could not be read, as spans: review needed for every group of every
        model its product cell covers (the cell itself was read)."""
        prep = self._prep()
        layout, models = prep.layouts.get(row.product) or self._layout(row.product, patterns)
        said = f"the advisory row could not be read: {problem}"

        def unread(position: int) -> str:
            return said

        spans: list[Span] = []
        for model, _, cuts, flat, unknown in layout:
            stop = cuts[-1] if unknown is None else unknown.stop
            spans.append(new_span((model, "review-needed", flat, cuts[0], stop, unread)))
        return RowSpans(row, cves, fixed, spans, models)

    def judge_rows(
        self, rows: Sequence[tuple[AffectedRow, tuple[str | None, ...]]]
    ) -> tuple[list[Judged], Segments | None]:
        """Rows (each with the CVEs its verdicts apply to) judged as `match_row` would, in
        order; those whose rule is a range of versions or a build date, nearly all, together and
        column-wise: a `RowColumns` each, their groups in the `Segments` returned. Rows whose
        rule could not be read come as spans (`RowSpans`).

        A segment is the groups of one model a row picks with one status and reason (`KINDS`):
        model by model as the product cell's layout lists them (models sorted), those inside the
        range, then those of versions the range cannot decide on its own (see `VersionOrder`)
        it picks, or those of each rank a build-date rule picks, then those of unknown firmware.
        """
        judged, plain, dated = self._plan_rows(rows, 0)
        if not plain and not dated:
            return judged, None
        return judged, cut_segments(self._prep().columns, plain, dated)

    def judge_advisories(
        self, advisories: Sequence[Sequence[tuple[AffectedRow, tuple[str | None, ...]]]]
    ) -> list[tuple[list[Judged], Segments | None]]:
        """`judge_rows` for each advisory's rows, the segments of all of them cut in one pass
        (a cycle's advisories: one numpy pass per many advisories, not per advisory)."""
        planned: list[tuple[list[Judged], int, bool]] = []
        plain: list[tuple[int, tuple[Piece, ...], np.ndarray]] = []
        dated: list[tuple[int, np.ndarray, np.ndarray]] = []
        offset = 0
        for rows in advisories:
            judged, its_plain, its_dated = self._plan_rows(rows, offset)
            planned.append((judged, offset, bool(its_plain or its_dated)))
            plain += its_plain
            dated += its_dated
            offset += len(rows)
        if not plain and not dated:
            return [(judged, None) for judged, _, _ in planned]
        ids, starts, stops, kinds, at_rows = cut_segments(self._prep().columns, plain, dated)
        offsets = [start for _, start, _ in planned]
        bounds = at_rows.searchsorted([*offsets, offset]).tolist()
        out: list[tuple[list[Judged], Segments | None]] = []
        for (judged, start, cut), lo, hi in zip(planned, bounds, bounds[1:], strict=False):
            out.append((judged, Segments(
                ids[lo:hi], starts[lo:hi], stops[lo:hi], kinds[lo:hi], at_rows[lo:hi] - start
            ) if cut else None))
        return out

    def _plan_rows(
        self, rows: Sequence[tuple[AffectedRow, tuple[str | None, ...]]], offset: int
    ) -> tuple[
        list[Judged],
        list[tuple[int, tuple[Piece, ...], np.ndarray]],
        list[tuple[int, np.ndarray, np.ndarray]],
    ]:
        """`judge_rows` but the cutting: the rows judged, and those judged column-wise as
        `cut_segments` takes them (their places counted from ``offset``)."""
        prep = self._prep()
        judged: list[Judged] = []
        plain: list[tuple[int, tuple[Piece, ...], np.ndarray]] = []
        dated: list[tuple[int, np.ndarray, np.ndarray]] = []
        plans = prep.plans
        for at, (row, cves) in enumerate(rows, offset):
            patterns = row_patterns(row.product)
            if patterns is None and prep.unique:  # review needed for the models it names
                named, others = named_patterns(row.product)
                if named and not others:  # as spans, not group by group
                    _, fixed, problem = row_rule(row)
                    said = problem or row.problem or "the product cell could not be read"
                    judged.append(self._unread_spans(row, cves, named, fixed, said))
                    continue
            if patterns is None or not prep.unique:
                judged.append(self.match_row(row, cves))
                continue
            plan = plans.get((row.affected, row.fixed)) or self._plan(row)
            how = plan.how
            if how == MATCH_ROW:
                judged.append(self.match_row(row, cves))
            elif how == UNREAD:
                judged.append(self._unread_spans(row, cves, patterns, plan.fixed, plan.problem))
            else:
                ids, models = prep.cells.get(row.product) or self._cell(row.product, patterns)
                judged.append(RowColumns(row, cves, plan.fixed, models, plan.reasons))
                if how == RANGE:
                    plain.append((at, plan.pieces, ids))
                else:
                    dated.append((at, plan.rank_kinds, ids))
        return judged, plain, dated

    def _plan(self, row: AffectedRow) -> RowPlan:
        """How rows of ``row``'s wording are judged on this index (remembered: `Prepared.plans`).

        A range picks rank ranges (`_pieces`), a build-date rule is judged rank by rank
        (`_rank_kinds`); any other rule group by group. The reasons follow from the wording
        and a group's firmware, so the wording's rows share them.
        """
        prep = self._prep()
        rule, fixed, problem = row_rule(row)
        if problem is not None or rule is None:
            plan = RowPlan(UNREAD, fixed, problem)
        elif isinstance(rule, BuildDateRule):  # judged rank by rank: every kind is judged
            said = self._judged(row, rule, fixed, _BY_RANK)
            reasons: tuple[Callable[[int], str], ...] = (said, prep.unknown_reason, said)
            plan = RowPlan(DATED, fixed, reasons=reasons,
                           rank_kinds=self._rank_kinds(row, rule, fixed))
        elif isinstance(rule, VersionRange):
            ranked = self._ranked(row, rule, fixed)
            reasons = (self._inside(row), prep.unknown_reason)
            if ranked.odd:
                reasons += (self._judged(row, rule, fixed, ranked),)
            plan = RowPlan(RANGE, fixed, reasons=reasons,
                           pieces=self._pieces(row, rule, fixed, ranked))
        else:  # no such rule is read yet
            plan = RowPlan(MATCH_ROW, fixed)
        prep.plans[row.affected, row.fixed] = plan
        return plan

    def _pieces(
        self, row: AffectedRow, rule: VersionRange, fixed: Version | None, ranked: Ranked
    ) -> tuple[Piece, ...]:
        """The rank ranges a row picks, each with its kind (`KINDS`), as spans would cut them:
        the range but its odd ranks, then each odd rank it picks (remembered by wording)."""
        prep = self._prep()
        pieces = prep.pieces.get((row.affected, row.fixed))
        if pieces is None:
            found: list[Piece] = []
            at, end = ranked.start, ranked.end
            for rank in sorted(ranked.odd):
                if ranked.start <= rank < end:
                    if at < rank:
                        found.append((at, rank, AFFECTED))
                    at = rank + 1
            if at < end:
                found.append((at, end, AFFECTED))
            for rank, picked in sorted(ranked.odd.items()):
                judged = _judge(prep.rank_samples[rank], rule, fixed, None) if picked else None
                if judged is not None:
                    kind = JUDGED_AFFECTED if judged[0] == "affected" else JUDGED_POSSIBLY
                    found.append((rank, rank + 1, kind))
            pieces = prep.pieces[row.affected, row.fixed] = tuple(found)
        return pieces

    def _rank_kinds(
        self, row: AffectedRow, rule: BuildDateRule, fixed: Version | None
    ) -> np.ndarray:
        """The kind of each rank a build-date rule picks (-1: not picked), then `UNKNOWN`
        (remembered by wording): a build date before the day is affected, none is possibly
        affected (`_judge`), short of the fixed version (`is_fixed`: the ranks at or past it)."""
        prep = self._prep()
        kinds = prep.rank_kinds.get((row.affected, row.fixed))
        if kinds is None:
            builds = prep.rank_builds
            day = rule.before.toordinal() + (1 if rule.inclusive else 0)
            kinds = np.full(len(builds) + 1, UNKNOWN, dtype=np.int8)
            kinds[:-1] = np.where(
                builds < 0, JUDGED_POSSIBLY, np.where(builds < day, JUDGED_AFFECTED, -1)
            )
            if fixed is not None:  # the versions it cannot compare with sort before it
                kinds[prep.order.first_at_or_past(fixed):-1] = -1
            prep.rank_kinds[row.affected, row.fixed] = kinds
        return kinds

    def _ranked(self, row: AffectedRow, rule: AffectedRule, fixed: Version | None) -> Ranked:
        """The ranks a readable row's rule picks (remembered by wording: it recurs)."""
        prep = self._prep()
        ranked = prep.ranked.get((row.affected, row.fixed))
        if ranked is None:
            if isinstance(rule, VersionRange):
                ranked = self._ranges(rule, fixed)
            else:
                ranked = self._ranks_one_by_one(rule, fixed)
            prep.ranked[row.affected, row.fixed] = ranked
        return ranked

    def _judged(
        self, row: AffectedRow, rule: AffectedRule, fixed: Version | None, ranked: Ranked
    ) -> Callable[[int], str]:
        """The reason of a group at a position a row picks, as `_outcome` judges it."""
        firmwares = self._prep().firmwares
        return _per_firmware(
            firmwares, lambda fid: _outcome(firmwares, fid, rule, fixed, row, ranked)[1]
        )

    def _inside(self, row: AffectedRow) -> Callable[[int], str]:
        """The reason of a group at a position the row's range picks."""
        firmwares = self._prep().firmwares
        return _per_firmware(
            firmwares, lambda fid: _inside_reason(firmwares.text(fid), row_words(row))
        )

    def _cell(
        self, product: str, patterns: Sequence[ModelPattern]
    ) -> tuple[np.ndarray, frozenset[str]]:
        """The numbers of the models a product cell covers, ascending, and those models
        (remembered per cell, across indexes over the same models: `Prepared.cells`)."""
        models = self._cell_models(patterns)
        prep = self._prep()
        number = prep.number
        cell = prep.cells[product] = (
            np.array([number[m] for m in models], dtype=np.int64), frozenset(models)
        )
        return cell

    def _cell_models(self, patterns: Sequence[ModelPattern]) -> Sequence[str]:
        """The models a product cell's patterns cover, sorted."""
        covered = [self._covered(p) for p in patterns]
        return covered[0] if len(covered) == 1 else sorted(set(chain.from_iterable(covered)))

    def _layout(self, product: str, patterns: Sequence[ModelPattern]) -> Layout:
        """The models a product cell covers, each with its view's lists (remembered per cell)."""
        models = self._cell_models(patterns)
        prep = self._prep()
        views = prep.model_views
        parts = [(views.get(m) or self._model_view(m)).part for m in models]
        layout = (tuple([p for p in parts if p is not None]), frozenset(models))  # never None
        prep.layouts[product] = layout
        return layout

    # --- derived structures -------------------------------------------------------------------

    def _prep(self) -> Prepared:
        if self._prepared is None:
            self._prepared = Prepared(self.by_model, self.models)
        return self._prepared

    def _covered(self, pattern: ModelPattern) -> tuple[str, ...]:
        """The models the pattern matches, sorted."""
        prep = self._prep()
        found = prep.covered.get(pattern.raw)
        if found is None:
            if pattern.listed():
                stems = prep.stems
                named = stems.keys() & pattern.heads()  # in C: up to 1,000 heads, few named
                covered = {m for h in named for m in stems[h]}
                if pattern.takes_counts():
                    counted = prep.count_stems
                    covered.update(m for h in counted.keys() & pattern.heads() for m in counted[h])
                found = tuple(sorted(covered))
            else:
                found = self._scan(pattern, pattern.matches)
            prep.covered[pattern.raw] = found
        return found

    def named_models(self, pattern: ModelPattern) -> tuple[str, ...]:
        """The index's models the pattern names exactly (modulo variants), sorted."""
        prep = self._prep()
        found = prep.named.get(pattern.raw)
        if found is None:
            if pattern.listed():
                found = tuple(sorted(h for h in pattern.heads() if h in self.by_model))
            else:
                found = self._scan(pattern, pattern.matches_exact)
            prep.named[pattern.raw] = found
        return found

    def _scan(self, pattern: ModelPattern, test: _ModelTest) -> tuple[str, ...]:
        """Models starting with one of the pattern's heads that pass the test, sorted."""
        found: set[str] = set()
        for head in pattern.heads():
            at = bisect.bisect_left(self.models, head)
            while at < len(self.models) and self.models[at].startswith(head):
                if test(self.models[at]):
                    found.add(self.models[at])
                at += 1
        return tuple(sorted(found))

    def _model_view(self, model: str) -> View:
        prep = self._prep()
        view = prep.model_views.get(model)
        if view is None:  # a model added to by_model by hand (then clear_caches is due)
            start = prep.start[model]
            by_rank: dict[int, list[int]] = {}
            unknown: list[int] = []
            for pos in range(start, start + len(self.by_model[model])):
                rank = prep.firmwares.rank_of_fid[prep.firmwares.fid_of[pos]]
                if rank < 0:
                    unknown.append(pos)
                elif rank in by_rank:
                    by_rank[rank].append(pos)
                else:
                    by_rank[rank] = [pos]
            ranks = sorted(by_rank)
            view = View((model,), ranks, [by_rank[r] for r in ranks], unknown, into=prep.flat,
                         unknown_reason=prep.unknown_reason)
            prep.model_views[model] = view
        return view

    def _view(self, pattern: ModelPattern) -> View:
        prep = self._prep()
        view = prep.views.get(pattern.raw)
        if view is None:
            models = self._covered(pattern)
            if len(models) == 1:
                view = self._model_view(models[0])
            else:
                by_rank: dict[int, list[int]] = {}
                unknown: list[int] = []
                for model in models:  # in position order, so every bucket stays ascending
                    part = self._model_view(model)
                    for rank, bucket in zip(part.ranks, part.buckets, strict=True):
                        if rank in by_rank:
                            by_rank[rank] += bucket
                        else:
                            by_rank[rank] = bucket[:]
                    unknown += part.unknown
                ranks = sorted(by_rank)
                view = View(models, ranks, [by_rank[r] for r in ranks], unknown)
            prep.views[pattern.raw] = view
        return view

    # --- judging ------------------------------------------------------------------------------

    def _ranges(self, rule: VersionRange, fixed: Version | None) -> Ranked:
        """The ranks a version range picks, by bisection (see VersionOrder)."""
        prep = self._prep()
        order = prep.order
        start, end, odd = order.span(rule)
        if fixed is not None:  # at or past the fixed version is never affected
            end = min(end, order.first_at_or_past(fixed))
        odd_picked = {r: _judge(prep.rank_samples[r], rule, fixed, None) is not None for r in odd}
        return Ranked(start, end, odd_picked)

    def _ranks_one_by_one(self, rule: AffectedRule, fixed: Version | None) -> Ranked:
        """The ranks any other rule (a build-date rule) picks: one version of each judged."""
        prep = self._prep()
        key = (rule, fixed)
        decided = prep.judged.get(key)
        if decided is None:
            if len(prep.judged) >= _RULE_MEMO:
                prep.judged.clear()
            decided = prep.judged[key] = {}
        samples = prep.rank_samples

        def decide(rank: int) -> bool:
            picked = decided.get(rank)
            if picked is None:
                picked = decided[rank] = _judge(samples[rank], rule, fixed, None) is not None
            return picked

        return Ranked(0, 0, {}, decide)

    def _match_row_one_by_one(
        self,
        row: AffectedRow,
        cves: tuple[str | None, ...],
        patterns: Sequence[ModelPattern] | None,
    ) -> RowMatch:
        """Judge each candidate group on its own (unreadable cells, device groups sharing keys)."""
        rule, fixed, problem = row_rule(row)
        if patterns is None:
            candidates = _named_models(row.product, self)
            problem = problem or row.problem or "the product cell could not be read"
            models = frozenset(e.model for e in candidates)
        else:
            candidates = [e for p in patterns for e in self.candidates(p)]
            models = frozenset(m for p in patterns for m in self._covered(p))
        seen: set[str] = set()
        entries: list[Indexed] = []
        outcomes: list[Outcome] = []
        for entry in candidates:
            if entry.group.key in seen:
                continue
            seen.add(entry.group.key)
            judged = _judge(entry, rule, fixed, problem)
            if judged is not None:
                entries.append(entry)
                outcomes.append(judged)
        return RowMatch(row, cves, fixed, entries, outcomes, models)


class _ModelTest(Protocol):
    def __call__(self, model: str, /) -> bool: ...


def match_rows(advisory: Advisory, index: FleetIndex) -> list[RowMatch]:
    """Each row of the advisory judged against the index, in row order."""
    all_cves: tuple[str | None, ...] = tuple(c.id for c in advisory.cves) or (None,)
    return [
        index.match_row(row, (row.cve,) if row.cve else all_cves) for row in advisory.rows
    ]


def match_advisory(advisory: Advisory, index: FleetIndex) -> list[Hit]:
    """Every (device group, CVE) the advisory's rows touch, each judged on its own."""
    hits: list[Hit] = []
    for rm in match_rows(advisory, index):
        for entry, (status, reason) in zip(rm.entries, rm.outcomes, strict=True):
            hits += [Hit(entry, cve, status, reason, rm.row, rm.fixed) for cve in rm.cves]
    return hits


def _outcome(
    firmwares: Firmwares,
    fid: int,
    rule: AffectedRule,
    fixed: Version | None,
    row: AffectedRow,
    ranked: Ranked,
) -> Outcome:
    """The outcome of a picked firmware: affected inside the range, else as `_judge` says."""
    sample = firmwares.samples[fid]
    if sample.version is not None and ranked.inside(firmwares.rank_of_fid[fid]):
        return "affected", _inside_reason(firmwares.text(fid), row_words(row))
    judged = _judge(sample, rule, fixed, None)
    if judged is None:
        raise AssertionError(f"picked firmware {sample.version} is not affected")
    return judged


def _per_firmware(firmwares: Firmwares, reason: Callable[[int], str]) -> Callable[[int], str]:
    """A group's reason at a position, from its firmware's (``reason`` of the firmware id):
    worked out once per firmware, the groups on one firmware share one string. A closure over
    `Firmwares`, not the index: plans keep it (`RowPlan`), with no reference cycle."""
    fid_of = firmwares.fid_of
    known: dict[int, str] = {}

    def at(position: int) -> str:
        fid = fid_of[position]
        found = known.get(fid)
        if found is None:
            found = known[fid] = reason(fid)
        return found

    return at


def _inside_reason(version: object, described: str) -> str:
    """Why a firmware is affected, in English whatever the rule's words (`VersionRange`,
    `BuildDateRule`): "is below V5.6.820", "has a build date before …", "is in V5.5.800 and
    earlier"."""
    if described.startswith(("below ", "after ")):
        return f"firmware {version} is {described}"
    if described.startswith("build date "):
        return f"firmware {version} has a {described}"
    return f"firmware {version} is in {described}"


def _judge(
    entry: Indexed, rule: AffectedRule | None, fixed: Version | None, problem: str | None
) -> Outcome | None:
    if problem is not None or rule is None:
        return "review-needed", f"the advisory row could not be read: {problem}"
    if entry.version is None:
        return "possibly-affected", entry.version_problem or "firmware version not known"
    if fixed is not None and is_fixed(entry.version, fixed):
        return None
    inside = rule.contains(entry.version)
    if inside is None:
        return "possibly-affected", (
            f"firmware {entry.version} has no build date to test against {rule.describe()}"
        )
    if inside:
        return "affected", _inside_reason(entry.version, rule.describe())
    return None


def _named_models(product: str, index: FleetIndex) -> list[Indexed]:
    """The groups of the models an unreadable product cell still names (`named_patterns`: a
    family covers its models, as in a readable cell; other words name an exact model)."""
    patterns, others = named_patterns(product)
    found = [e for pattern in patterns for e in index.candidates(pattern)]
    for token in others:
        try:
            found += index.by_model.get(normalize_model(token), [])
        except ModelError:
            continue
    return found
