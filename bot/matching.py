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
  groups as one or two ranges of that list (`Span`): `FleetIndex.row_spans` costs per model, not
  per device group.

Everything remembered hangs off the index, which does not change once built: call
`FleetIndex.clear_caches` after changing ``by_model`` by hand. Results are those of judging every
candidate group one by one (`match_row` keeps that order), which `_judge` still does for the rare
cases (an unreadable product cell, device groups sharing a key).
"""

from __future__ import annotations

import bisect
import gc
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, groupby
from typing import Literal, NamedTuple, Protocol

from bot.catalog import ModelError, ModelPattern, normalize_model
from bot.items import Advisory, AffectedRow, FirmwareRelease
from bot.rows import patterns_of, read_firmware, row_patterns, row_rule, row_words
from bot.versions import (
    AffectedRule,
    Version,
    VersionError,
    VersionOrder,
    VersionRange,
    is_fixed,
    parse_version,
)

Status = Literal["affected", "possibly-affected", "review-needed"]
Outcome = tuple[Status, str]
_MODEL_TOKEN = re.compile(r"(?:i?DS-[A-Z0-9][A-Z0-9()/.+_-]*|HikCentral[\w -]*)", re.I)
_SEPARATORS = "-/("  # what may follow a pattern's text in a model it covers
_RULE_MEMO = 4096  # judged (rule, fixed) pairs kept per index for rules judged rank by rank


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while making many objects that form no cycles.

    At fleet scale matching makes millions of small objects (index entries, findings). The
    collector runs every few hundred allocations and, as survivors pile up, rescans them and the
    rest of the heap (a million device groups) again and again. These objects form no reference
    cycles, so reference counting frees them all the same; the collector resumes afterwards
    (and is left alone when something else has paused it).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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


@dataclass(frozen=True)
class Hit:
    """One device group judged against one CVE of one row."""

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


class _View:
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
        flat: bool = False,
        unknown_reason: Callable[[int], str] | None = None,
    ) -> None:
        self.models = models
        self.ranks = ranks
        self.buckets = buckets
        self.unknown = unknown
        # With ``flat`` (one model's view, which spans use): every position in rank order, the
        # unknown ones last; ``buckets[i]`` is ``flat[cuts[i]:cuts[i + 1]]``.
        self.flat: list[int] = []
        self.cuts: list[int] = [0]
        if flat:
            self.flat = list(chain(chain.from_iterable(buckets), unknown))
            for bucket in buckets:
                self.cuts.append(self.cuts[-1] + len(bucket))
        # Every readable row picks a model's groups of unknown firmware, for the same reason.
        self.unknown_span: Span | None = None
        if flat and unknown and unknown_reason is not None:
            self.unknown_span = new_span(
                (models[0], "possibly-affected", self.flat, self.cuts[-1], len(self.flat),
                 unknown_reason)
            )
        # What a product cell's layout holds of a one-model view (see FleetIndex.row_spans).
        self.part: _LayoutPart | None = None
        if flat:
            self.part = (models[0], ranks, self.cuts, self.flat, self.unknown_span)


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


class RowSpans(NamedTuple):
    """One advisory row judged model by model: `RowMatch` with spans instead of groups."""

    row: AffectedRow
    cves: tuple[str | None, ...]
    fixed: Version | None
    spans: list[Span]
    models: frozenset[str]


# Per model a product cell covers: the model, its view's ranks, cuts and flat positions, and the
# span of its groups of unknown firmware (the same for every readable row); then the models.
_LayoutPart = tuple[str, list[int], list[int], list[int], "Span | None"]
_Layout = tuple[tuple[_LayoutPart, ...], frozenset[str]]


# The last index's models with what patterns cover and name among them (see _Prepared).
_LOOKUPS: list[tuple[tuple[str, ...], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]] = []


def _unknown_reason(samples: list[Indexed], fid_of: list[int]) -> Callable[[int], str]:
    """Why the group at a position, of unknown firmware, is possibly affected (as `_judge` says).

    A closure over the lists, not a method: views keep it, and a method would tie the index's
    derived structures into a reference cycle (freed only by a full collection).
    """

    def reason(position: int) -> str:
        return samples[fid_of[position]].version_problem or "firmware version not known"

    return reason


class _Prepared:
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
        self.samples, self.fid_of = samples, fid_of
        self.order = VersionOrder(e.version.sort_key() for e in self.samples if e.version)
        self.rank_of_fid = [
            -1 if e.version is None else self.order.rank(e.version) for e in self.samples
        ]
        by_rank: dict[int, Indexed] = {}
        for fid, rank in enumerate(self.rank_of_fid):
            if rank >= 0:
                by_rank.setdefault(rank, self.samples[fid])
        self.rank_samples = [by_rank[r] for r in range(len(self.order))]  # rank -> an entry
        self.texts: list[str | None] = [None] * len(self.samples)  # str(version), made lazily
        if unique is None:
            unique = len({e.group.key for e in entries}) == len(entries)
        self.unique = unique
        self.unknown_reason = _unknown_reason(samples, fid_of)
        self.model_views = self._model_views(by_model, models)
        self.views: dict[str, _View] = {}
        # The models a pattern covers or names depend on the models alone: an index over the
        # same models as the last one built (the next cycle, fleets unchanged) shares them.
        known = tuple(models)
        if _LOOKUPS and _LOOKUPS[0][0] == known:
            _, self.covered, self.named = _LOOKUPS[0]
        else:
            self.covered, self.named = {}, {}
            _LOOKUPS[:] = [(known, self.covered, self.named)]
        # Every model under each text a listed pattern may name it by: the whole model and
        # each head of it followed by - / or ( (sorted, as models is).
        self.stems: dict[str, list[str]] = {}
        for model in models:
            for end in [i for i, ch in enumerate(model) if ch in _SEPARATORS] + [len(model)]:
                self.stems.setdefault(model[:end], []).append(model)
        self.judged: dict[tuple[AffectedRule, Version | None], dict[int, bool]] = {}
        self.layouts: dict[str, _Layout] = {}  # product cell -> its models' lists
        self.ranked: dict[tuple[str, str], _Ranked] = {}  # (affected, fixed) -> ranks picked

    def _model_views(
        self, by_model: dict[str, list[Indexed]], models: list[str]
    ) -> dict[str, _View]:
        """Each model's groups bucketed by firmware rank (positions ascending in a bucket)."""
        rank_of_fid = self.rank_of_fid
        rank_at = [rank_of_fid[fid] for fid in self.fid_of].__getitem__
        views: dict[str, _View] = {}
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
            views[model] = _View((model,), ranks, buckets, unknown, flat=True,
                                 unknown_reason=self.unknown_reason)
        return views


@dataclass
class FleetIndex:
    """Device groups by normalised model, with the models sorted for prefix look-ups.

    Build it with `build`; it does not change afterwards, and remembers what it has looked up
    (call `clear_caches` after changing ``by_model`` or ``models`` by hand). Building also
    numbers the positions, firmware strings and versions the look-ups work with.
    """

    by_model: dict[str, list[Indexed]] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    _prepared: _Prepared | None = field(default=None, init=False, repr=False, compare=False)

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
        index._prepared = _Prepared(by_model, index.models, unique=len(keys) == indexed)
        return index

    def keys_unique(self) -> bool:
        """Whether no two device groups share a key (as the fleet registry guarantees)."""
        return self._prep().unique

    def clear_caches(self) -> None:
        """Derive everything from ``by_model`` and ``models`` again, forgetting past look-ups."""
        with gc_paused():
            self._prepared = _Prepared(self.by_model, self.models)

    def candidates(self, pattern: ModelPattern) -> list[Indexed]:
        """Device groups whose model the pattern matches."""
        return [e for model in self._covered(pattern) for e in self.by_model[model]]

    def exact(self, pattern: ModelPattern) -> list[Indexed]:
        """Device groups whose model is exactly the pattern's (modulo variants)."""
        return [e for model in self._named(pattern) for e in self.by_model[model]]

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
            positions = _dedupe([_all_positions(v) for v in views])
            return RowMatch(
                row, cves, fixed, [prep.entries[p] for p in positions], [outcome] * len(positions),
                models,
            )
        if isinstance(rule, VersionRange):
            ranked = self._ranges(rule, fixed)
        else:
            ranked = self._ranks_one_by_one(rule, fixed)
        positions = _dedupe([_pick(v, ranked) for v in views])
        # Outcomes are per firmware string: the status follows the version, the reason quotes it.
        known: dict[int, Outcome] = {}
        outcomes: list[Outcome] = []
        fid_of = prep.fid_of
        for pos in positions:
            fid = fid_of[pos]
            found = known.get(fid)
            if found is None:
                found = known[fid] = self._outcome(fid, rule, fixed, row, ranked)
            outcomes.append(found)
        everything = prep.entries
        return RowMatch(row, cves, fixed, [everything[p] for p in positions], outcomes, models)

    def entry_at(self, position: int) -> Indexed:
        """The device group at a position (as `Span` gives them)."""
        return self._prep().entries[position]

    def row_spans(self, row: AffectedRow, cves: tuple[str | None, ...]) -> RowSpans | None:
        """`match_row` as spans, at a cost per model rather than per device group.

        None when the row must be judged group by group (an unreadable product cell, device
        groups sharing keys): `match_row` does that.
        """
        patterns = row_patterns(row.product)
        prep = self._prep()
        if patterns is None or not prep.unique:
            return None
        rule, fixed, problem = row_rule(row)
        layout, models = prep.layouts.get(row.product) or self._layout(row.product, patterns)
        spans: list[Span] = []
        if problem is not None or rule is None:
            said = f"the advisory row could not be read: {problem}"

            def unread(position: int) -> str:
                return said

            for model, _, _, flat, _ in layout:
                spans.append(new_span((model, "review-needed", flat, 0, len(flat), unread)))
            return RowSpans(row, cves, fixed, spans, models)
        ranked = prep.ranked.get((row.affected, row.fixed))
        if ranked is None:  # the same wording recurs across rows and advisories
            if isinstance(rule, VersionRange):
                ranked = self._ranges(rule, fixed)
            else:
                ranked = self._ranks_one_by_one(rule, fixed)
            prep.ranked[row.affected, row.fixed] = ranked
        fid_of = prep.fid_of

        def inside(position: int) -> str:
            return _inside_reason(self._text(fid_of[position]), row_words(row))

        decide, start, end = ranked.decide, ranked.start, ranked.end
        add = spans.append
        if decide is None and not ranked.odd:  # a range of versions: one bisection a side
            cut = bisect.bisect_left
            for model, ranks, cuts, flat, unknown in layout:
                lo, hi = cut(ranks, start), cut(ranks, end)
                if lo < hi:
                    add(new_span((model, "affected", flat, cuts[lo], cuts[hi], inside)))
                if unknown is not None:
                    add(unknown)
            return RowSpans(row, cves, fixed, spans, models)
        known: dict[int, Outcome] = {}

        def outcome(position: int) -> Outcome:
            fid = fid_of[position]
            found = known.get(fid)
            if found is None:
                found = known[fid] = self._outcome(fid, rule, fixed, row, ranked)
            return found

        def judged(position: int) -> str:
            return outcome(position)[1]

        odd = sorted(ranked.odd)
        for model, ranks, cuts, flat, unknown in layout:
            single: list[int] = []  # rank indexes judged firmware by firmware
            if decide is not None:
                single = [i for i, rank in enumerate(ranks) if decide(rank)]
            else:
                lo = bisect.bisect_left(ranks, start)
                hi = bisect.bisect_left(ranks, end)
                at = lo
                for rank in odd:
                    i = bisect.bisect_left(ranks, rank)
                    if i == len(ranks) or ranks[i] != rank:
                        continue
                    if lo <= i < hi:
                        if at < i:
                            add(new_span((model, "affected", flat, cuts[at], cuts[i], inside)))
                        at = i + 1
                    if ranked.odd[rank]:
                        single.append(i)
                if at < hi:
                    add(new_span((model, "affected", flat, cuts[at], cuts[hi], inside)))
            for i in single:  # a rank is picked as a whole, its status is the version's
                status = outcome(flat[cuts[i]])[0]
                add(new_span((model, status, flat, cuts[i], cuts[i + 1], judged)))
            if unknown is not None:
                add(unknown)
        return RowSpans(row, cves, fixed, spans, models)

    def _layout(self, product: str, patterns: Sequence[ModelPattern]) -> _Layout:
        """The models a product cell covers, each with its view's lists (remembered per cell)."""
        covered = [self._covered(p) for p in patterns]
        models = covered[0] if len(covered) == 1 else sorted(set(chain.from_iterable(covered)))
        prep = self._prep()
        views = prep.model_views
        parts = [(views.get(m) or self._model_view(m)).part for m in models]
        layout = (tuple([p for p in parts if p is not None]), frozenset(models))  # never None
        prep.layouts[product] = layout
        return layout

    def _outcome(
        self,
        fid: int,
        rule: AffectedRule,
        fixed: Version | None,
        row: AffectedRow,
        ranked: _Ranked,
    ) -> Outcome:
        """The outcome of a picked firmware: affected inside the range, else as `_judge` says."""
        prep = self._prep()
        sample = prep.samples[fid]
        if sample.version is not None and ranked.inside(prep.rank_of_fid[fid]):
            return "affected", _inside_reason(self._text(fid), row_words(row))
        judged = _judge(sample, rule, fixed, None)
        if judged is None:
            raise AssertionError(f"picked firmware {sample.version} is not affected")
        return judged

    # --- derived structures -------------------------------------------------------------------

    def _prep(self) -> _Prepared:
        if self._prepared is None:
            self._prepared = _Prepared(self.by_model, self.models)
        return self._prepared

    def _text(self, fid: int) -> str:
        prep = self._prep()
        text = prep.texts[fid]
        if text is None:
            text = prep.texts[fid] = str(prep.samples[fid].version)
        return text

    def _covered(self, pattern: ModelPattern) -> tuple[str, ...]:
        """The models the pattern matches, sorted."""
        prep = self._prep()
        found = prep.covered.get(pattern.raw)
        if found is None:
            if pattern.listed():
                stems = prep.stems
                named = stems.keys() & pattern.heads()  # in C: up to 1,000 heads, few named
                found = tuple(sorted({m for h in named for m in stems[h]}))
            else:
                found = self._scan(pattern, pattern.matches)
            prep.covered[pattern.raw] = found
        return found

    def _named(self, pattern: ModelPattern) -> tuple[str, ...]:
        """The models the pattern names exactly, sorted."""
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

    def _model_view(self, model: str) -> _View:
        prep = self._prep()
        view = prep.model_views.get(model)
        if view is None:  # a model added to by_model by hand (then clear_caches is due)
            start = prep.start[model]
            by_rank: dict[int, list[int]] = {}
            unknown: list[int] = []
            for pos in range(start, start + len(self.by_model[model])):
                rank = prep.rank_of_fid[prep.fid_of[pos]]
                if rank < 0:
                    unknown.append(pos)
                elif rank in by_rank:
                    by_rank[rank].append(pos)
                else:
                    by_rank[rank] = [pos]
            ranks = sorted(by_rank)
            view = _View((model,), ranks, [by_rank[r] for r in ranks], unknown, flat=True,
                         unknown_reason=prep.unknown_reason)
            prep.model_views[model] = view
        return view

    def _view(self, pattern: ModelPattern) -> _View:
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
                view = _View(models, ranks, [by_rank[r] for r in ranks], unknown)
            prep.views[pattern.raw] = view
        return view

    # --- judging ------------------------------------------------------------------------------

    def _ranges(self, rule: VersionRange, fixed: Version | None) -> _Ranked:
        """The ranks a version range picks, by bisection (see VersionOrder)."""
        prep = self._prep()
        order = prep.order
        start, end, odd = order.span(rule)
        if fixed is not None:  # at or past the fixed version is never affected
            end = min(end, order.first_at_or_past(fixed))
        odd_picked = {r: _judge(prep.rank_samples[r], rule, fixed, None) is not None for r in odd}
        return _Ranked(start, end, odd_picked)

    def _ranks_one_by_one(self, rule: AffectedRule, fixed: Version | None) -> _Ranked:
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

        return _Ranked(0, 0, {}, decide)

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


@dataclass(frozen=True)
class _Ranked:
    """The version ranks a row picks: [start, end) but the ``odd`` ones, then the odd ones it
    picks; or, for rules judged rank by rank, those ``decide`` picks."""

    start: int
    end: int
    odd: dict[int, bool]
    decide: Callable[[int], bool] | None = None

    def inside(self, rank: int) -> bool:
        """Whether a rank is affected by the range itself (not one of the odd ones)."""
        return self.start <= rank < self.end and rank not in self.odd


def _pick(view: _View, ranked: _Ranked) -> list[int]:
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


def _all_positions(view: _View) -> list[int]:
    return sorted(chain(chain.from_iterable(view.buckets), view.unknown))


def _dedupe(parts: list[list[int]]) -> list[int]:
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


def match_release(release: FirmwareRelease, index: FleetIndex) -> list[Indexed]:
    """Device groups of exactly a model the release applies to, running older firmware."""
    try:
        version = parse_version(release.version)
    except VersionError:
        return []
    found: dict[str, Indexed] = {}
    for text in release.models:
        for pattern in patterns_of(text):
            for entry in index.exact(pattern):
                if entry.version is None or entry.version < version:
                    found.setdefault(entry.group.key, entry)
    return list(found.values())


def _inside_reason(version: object, described: str) -> str:
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
    """The groups whose exact model an unreadable product cell still names."""
    found: list[Indexed] = []
    for token in _MODEL_TOKEN.findall(product):
        try:
            found += index.by_model.get(normalize_model(token), [])
        except ModelError:
            continue
    return found
