"""Findings: what an item means for one device group, with the policy's promise (pure).

A finding's key is (fleet, device group, item); its fields are the structured facts a risk note and
an alert are written from. An advisory's findings come as `Findings`: batches of the device groups
of one model that a row touches with one status (`FindingBatch`; `ColumnBatch` holds a row's
batches as arrays), whose shared fields are worked out once; the finding objects themselves are
made when read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import cast

import numpy as np

from bot.context import (
    Context,
    ModelColumns,
    ModelFacts,
    model_table,
    stage_facts,
    stage_tables,
)
from bot.finding import Finding, copied, finding_key, made, new_finding
from bot.findingset import (
    ColumnBatch,
    FindingBatch,
    Findings,
    Kind,
    Part,
    Shape,
    fields_of,
    new_batch,
)
from bot.indexviews import Indexed, Span, Status, new_span
from bot.items import Advisory, AffectedRow, FirmwareRelease
from bot.matching import (
    FleetIndex,
    Hit,
    Judged,
    RowMatch,
    RowSpans,
    gc_paused,
)
from bot.releaseindex import ReleaseIndex, best_release, newest, release_index
from bot.segments import KINDS, RowColumns, Segments
from bot.verdicts import (
    NO_RELEASE,
    AdvisoryVerdicts,
    fixed_for_all,
    release_fields,
    verdict_fields,
)
from bot.versions import Version


def advisory_findings(
    advisory: Advisory,
    index: FleetIndex,
    ctx: Context,
    releases: Sequence[FirmwareRelease] | ReleaseIndex = (),
) -> Findings:
    """One finding per device group the advisory touches, each CVE judged on its own.

    Findings come row by row, in each row model by model (models sorted), then by firmware;
    a group several rows touch comes where its first row puts it. ``releases`` (or their
    `release_index`, made once for a cycle's advisories) give the download links.
    """
    with gc_paused():
        judged = index.judge_rows(_cve_rows(advisory))
        return _AdvisoryFindings(advisory, index, ctx, releases).run(*judged)


def advisories_findings(
    advisories: Sequence[Advisory],
    index: FleetIndex,
    ctx: Context,
    releases: Sequence[FirmwareRelease] | ReleaseIndex = (),
    chunk: int = 256,
) -> Iterator[Findings]:
    """`advisory_findings` of each advisory, in order; the rows of ``chunk`` advisories at a
    time judged together (`FleetIndex.judge_advisories`: one pass of numpy for many)."""
    lookup = _lookup(releases) or ()
    for start in range(0, len(advisories), chunk):
        some = advisories[start : start + chunk]
        with gc_paused():
            judged = index.judge_advisories([_cve_rows(advisory) for advisory in some])
        for advisory, (rows, segments) in zip(some, judged, strict=True):
            with gc_paused():
                found = _AdvisoryFindings(advisory, index, ctx, lookup).run(rows, segments)
            yield found


def _lookup(releases: Sequence[FirmwareRelease] | ReleaseIndex) -> ReleaseIndex | None:
    """The release index of these releases (None for none)."""
    if isinstance(releases, ReleaseIndex):
        return releases
    return release_index(releases) if releases else None


def _cve_rows(advisory: Advisory) -> list[tuple[AffectedRow, tuple[str | None, ...]]]:
    """The advisory's rows, each with the CVEs its verdicts apply to: its own, else all."""
    all_cves: tuple[str | None, ...] = tuple(c.id for c in advisory.cves) or (None,)
    return [(row, (row.cve,) if row.cve else all_cves) for row in advisory.rows]


class _AdvisoryFindings:
    """The findings of one advisory.

    A device group is judged on all its hits together (`_from_hits`). Most groups are touched
    by one row only; those get the fields of the first finding of their row and status whose
    model gets the same promises, with their own model, stage, release, group and reason put
    in (`_shape`): what `_from_hits` would give, without redoing the shared work for each of
    possibly thousands of groups. A finding is made by its constructor once per advisory; the
    others are made from shared fields (`made`) and copied for each group (`copied`);
    tests/test_matching_fast.py checks them against the constructor's.
    """

    def __init__(
        self,
        advisory: Advisory,
        index: FleetIndex,
        ctx: Context,
        releases: Sequence[FirmwareRelease] | ReleaseIndex,
    ) -> None:
        self.advisory = advisory
        self.index = index
        self.ctx = ctx
        # Verdict fields by (CVEs, status, promises); the fixed version by its id.
        self.templates: dict[tuple[object, ...], dict[str, object]] = {}
        self.fixed_parts: dict[int, dict[str, object]] = {}
        self.joint_templates: dict[tuple[object, ...], dict[str, object]] = {}  # by rows too
        self.joint_fixed: dict[tuple[tuple[int, str], ...], Version | None] = {}
        self.release_parts: dict[int, dict[str, object]] = {}  # by id of the release
        self.first: dict[str, object] | None = None  # the fields of the first finding made
        self.lookup = _lookup(releases)
        self.stage_tables = stage_tables(ctx)
        self.verdicts = AdvisoryVerdicts(advisory.cves, ctx.severe_cvss, self.stage_tables[3])
        self.model_table = model_table(self.stage_tables, self.lookup)

    def run(self, rows: list[Judged], segments: Segments | None) -> Findings:
        """The findings, from the advisory's rows as `FleetIndex.judge_rows` judged them."""
        index = self.index
        together = self._overlapping(rows)
        columns = self._columns(rows, segments, together) if segments is not None else {}
        out: list[Part | list[Hit]] = []
        merged: dict[str, int] = {}  # group key -> its place in out
        item = self.advisory.key
        joint, by_group = self._joint(rows, together or set())
        for at, rm in enumerate(rows):
            if isinstance(rm, RowMatch):
                self._one_by_one(rm, together, out, merged)
                continue
            if isinstance(rm, RowSpans) and not together:  # no model under two rows
                self._batches(rm, out, rm.spans)
            elif isinstance(rm, RowSpans) and together:
                plain: list[Span] = []  # spans of models no other row covers
                for span in rm.spans:
                    model = span.model
                    if model not in together:
                        plain.append(span)
                    elif model in by_group:
                        for position in span.positions():
                            entry = index.entry_at(position)
                            reason = span.reason(position)
                            self._gather(out, merged, rm, entry, span.status, reason)
                    elif model in joint:
                        out += self._joint_batches(rows, joint.pop(model))
                    # else: its batches came with its first row
                self._batches(rm, out, plain)
            if at in columns:
                out.append(columns[at])
        if merged:
            out = [self._from_hits(f) if isinstance(f, list) else f for f in out]
        return Findings(cast(list[Part], out), index, item)

    def _columns(
        self,
        rows: list[Judged],
        segments: Segments,
        together: set[str] | None,
    ) -> dict[int, ColumnBatch]:
        """The batches of rows judged column-wise, by row, with what their segments share worked
        out once per row and kind (`_template`): the verdicts follow from the row's CVEs, the
        status and the promises of the model's stage, numbered for all segments at once.

        Segments of models another row covers too (``together``) become spans, and their rows
        `RowSpans` of those spans, for `_joint` to put together.
        """
        index = self.index
        prep_flat = index.positions()
        ids, starts, stops, kinds_of, at_rows = segments
        originals = {at: rm for at, rm in enumerate(rows) if isinstance(rm, RowColumns)}
        if together:
            flags = np.zeros(len(index.models), dtype=np.bool_)
            flags[[index.number(m) for m in together]] = True
            shared = flags[ids]
            if shared.any():
                spans: dict[int, list[Span]] = {}
                picked = np.flatnonzero(shared)
                for at, number, start, stop, kind in zip(
                    at_rows[picked].tolist(), ids[picked].tolist(), starts[picked].tolist(),
                    stops[picked].tolist(), kinds_of[picked].tolist(), strict=True,
                ):
                    status, reason = KINDS[kind][0], originals[at].reason(kind)
                    spans.setdefault(at, []).append(new_span(
                        (index.models[number], status, prep_flat, start, stop, reason)
                    ))
                for at, found in spans.items():
                    rm = originals[at]
                    rows[at] = RowSpans(rm.row, rm.cves, rm.fixed, found, rm.models)
                keep = ~shared
                ids, starts, stops = ids[keep], starts[keep], stops[keep]
                kinds_of, at_rows = kinds_of[keep], at_rows[keep]
        if not len(ids):
            return {}
        table = self.model_table.columns_for(index.models)
        numbers = table.numbers_of(ids, self._fill)
        promises_of = np.bincount(numbers)  # then, for each number present, its promises
        for number in np.flatnonzero(promises_of).tolist():
            promises_of[number] = self.verdicts.promises(table.infos[number], number)
        codes = promises_of[numbers] * len(KINDS) + kinds_of
        # Each row's codes (a kind under a set of promises), with the first segment of each.
        width = int(codes.max()) + 1
        keys = at_rows * width + codes
        firsts = np.zeros(len(rows) * width, dtype=np.int64)
        firsts[keys[::-1]] = np.arange(len(keys) - 1, -1, -1)  # the last write is the first
        present = np.flatnonzero(np.bincount(keys))
        kinds: dict[int, dict[int, Kind]] = {}
        templates, last = self.templates, -1
        row_kinds: dict[int, Kind] = {}
        for pair, i in zip(present.tolist(), firsts[present].tolist(), strict=True):
            at, code = divmod(pair, width)
            if at != last:  # pairs come row by row
                last, rm = at, originals[at]
                cves, fixing, reasons = rm.cves, self._fixing(rm.fixed), rm.reasons
                row_kinds = kinds[at] = {}
            promises, kind = divmod(code, len(KINDS))
            status, which = KINDS[kind]
            reason = reasons[which]
            template = templates.get((cves, status, promises))
            if template is None:
                sample = None  # a group and its reason: only the first finding reads them
                if self.first is None:
                    position = prep_flat[int(starts[i])]
                    sample = (index.entry_at(position), reason(position))
                template = self._template(rm, status, promises, sample)
            row_kinds[code] = (template, fixing, reason)
        # A segment's model has a release that fixes it when its newest release is at or past
        # the row's fixed version (`best_release`): by rank, for all segments at once.
        rank = self.lookup.rank if self.lookup is not None else None
        fixes = np.zeros(len(rows), dtype=np.int64)
        if rank is not None:
            for at, rm in originals.items():
                fixes[at] = rank(rm.fixed)
        released = table.newest[ids] >= fixes[at_rows]
        ends = at_rows.searchsorted(np.arange(len(rows) + 1))
        sizes = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(stops - starts, out=sizes[1:])
        bounds, sized = ends.tolist(), sizes[ends].tolist()  # a row's segments and groups
        batches: dict[int, ColumnBatch] = {}
        for at in kinds:
            lo, hi = bounds[at], bounds[at + 1]
            batches[at] = ColumnBatch(
                (ids[lo:hi], starts[lo:hi], stops[lo:hi], codes[lo:hi], released[lo:hi]),
                sized[at + 1] - sized[at], kinds[at], table, prep_flat,
            )
        return batches

    def _batches(
        self, rm: RowSpans, out: list[Part | list[Hit]], spans: list[Span]
    ) -> None:
        """A batch per span of a row (`_shape`, with what a model's spans share worked out once:
        they come model by model)."""
        if not spans:
            return
        templates, cves, add = self.templates, rm.cves, out.append
        fixed = rm.fixed if spans[0].status != "review-needed" else None  # all or none are
        fixing = self._fixing(fixed)
        model: str | None = None
        fields: dict[str, object] = {}
        released: dict[str, object] = NO_RELEASE
        promises = 0
        for span in spans:
            if span.model is not model:
                model = span.model
                fields, promises, released = self._model_parts(model, fixed)
            template = templates.get((cves, span.status, promises))
            if template is None:
                template = self._template(rm, span.status, promises, span)
            add(new_batch(((template, fixing, fields, released), span)))

    def _joint(
        self, rows: list[Judged], together: set[str]
    ) -> tuple[dict[str, list[tuple[int, Span]]], set[str]]:
        """The spans of each model several rows cover, and the models judged group by group.

        A group's finding follows from its model and the rows and statuses of its hits, and
        spans of one model are ranges of one list of its groups (`FleetIndex.judge_rows`): the
        groups such a model's spans cover the same way share a batch. Models a row judged group
        by group go group by group.
        """
        joint: dict[str, list[tuple[int, Span]]] = {}
        by_group: set[str] = set()
        if not together:
            return joint, by_group
        for at, rm in enumerate(rows):
            if isinstance(rm, RowMatch):
                by_group |= rm.models & together
                continue
            if isinstance(rm, RowColumns):  # its shared models' segments became a RowSpans
                continue
            for span in rm.spans:
                if span.model in together:
                    joint.setdefault(span.model, []).append((at, span))
        for model in by_group:
            joint.pop(model, None)
        return joint, by_group

    def _joint_batches(
        self, rows: list[Judged], spans: list[tuple[int, Span]]
    ) -> list[FindingBatch]:
        """Batches of one model's groups, cut where the rows' spans start and stop.

        The groups of a piece share their hits' rows and statuses (its signature): their
        verdicts follow from it and the model's promises, their fixed version from the rows.
        """
        cuts = sorted({c for _, span in spans for c in (span.start, span.stop)})
        shapes: dict[tuple[tuple[int, str], ...], Shape] = {}
        batches: list[FindingBatch] = []
        model, source = spans[0][1].model, spans[0][1].source
        for start, stop in pairwise(cuts):
            over = [(at, span) for at, span in spans if span.start <= start and stop <= span.stop]
            if not over:
                continue
            signature = tuple((at, span.status) for at, span in over)
            shape = shapes.get(signature)
            if shape is None:
                shape = shapes[signature] = self._joint_shape(
                    rows, model, over, signature, source[start]
                )
            first = over[0][1]
            status = cast(Status, shape[0]["status"])
            batches.append(new_batch((shape, new_span((model, status, source, start, stop,
                                                        first.reason)))))
        return batches

    def _joint_shape(
        self,
        rows: list[Judged],
        model: str,
        over: list[tuple[int, Span]],
        signature: tuple[tuple[int, str], ...],
        position: int,
    ) -> Shape:
        """The parts of the findings of a model's groups that the rows ``over`` all touch (their
        rows and statuses: ``signature``)."""
        if signature in self.joint_fixed:  # signatures recur across the advisory's models
            fixed = self.joint_fixed[signature]
        else:
            fixed = self.joint_fixed[signature] = fixed_for_all(
                rows[at].fixed for at, span in over if span.status != "review-needed"
            )
        fields, promises, released = self._model_parts(model, fixed)
        key = (signature, promises)
        template = self.joint_templates.get(key)
        if template is None:
            entry = self.index.entry_at(position)
            hits: list[Hit] = []
            for at, span in over:
                rm = rows[at]
                reason = span.reason(position) if self.first is None else ""  # read by it only
                hits += [Hit(entry, c, span.status, reason, rm.row, rm.fixed) for c in rm.cves]
            if self.first is None:
                template = self._from_hits(hits)._asdict()
            else:
                info, number, _ = self.stage_tables[0][model]
                found, verdicts, best = self.verdicts.for_hits(hits, info, number)
                template = {**self.first, "status": found, **verdict_fields(verdicts, best)}
            self.joint_templates[key] = template
        return template, self._fixing(fixed), fields, released

    def _one_by_one(
        self,
        rm: RowMatch,
        together: set[str] | None,
        out: list[Part | list[Hit]],
        merged: dict[str, int],
    ) -> None:
        """A row judged group by group (see `FleetIndex.judge_rows`): a finding per group."""
        shapes: dict[tuple[str, str], Finding] = {}
        item = self.advisory.key
        for entry, outcome in zip(rm.entries, rm.outcomes, strict=True):
            model, status = entry.model, outcome[0]
            if together is None or model in together:
                self._gather(out, merged, rm, entry, *outcome)
                continue
            shape = shapes.get((model, status))
            if shape is None:
                shape = shapes[model, status] = made(fields_of(
                    self._shape(rm, model, status, (entry, outcome[1]))
                ))
            out.append(copied(shape, entry.group, item, outcome[1]))

    @staticmethod
    def _gather(
        out: list[Part | list[Hit]],
        merged: dict[str, int],
        rm: RowMatch | RowSpans,
        entry: Indexed,
        status: Status,
        reason: str,
    ) -> None:
        """Add a group's hits from one row to its place in ``out`` (made at its first hit)."""
        hits = [Hit(entry, cve, status, reason, rm.row, rm.fixed) for cve in rm.cves]
        place = merged.get(entry.group.key)
        if place is None:
            merged[entry.group.key] = len(out)
            out.append(hits)
        else:
            pending = out[place]
            assert isinstance(pending, list)
            pending += hits

    def _overlapping(self, rows: list[Judged]) -> set[str] | None:
        """Models more than one row covers (their groups may have several rows' hits).

        None means every group must be judged on its hits together: the index has device
        groups sharing a key, which the definition folds into one finding.
        """
        if not self.index.keys_unique():
            return None
        seen: set[str] = set()
        twice: set[str] = set()
        for rm in rows:
            twice |= seen & rm.models
            seen |= rm.models
        return twice

    def _from_hits(self, hits: list[Hit]) -> Finding:
        """One group's finding from all its hits."""
        entry = hits[0].entry
        info, number, _ = stage_facts(entry.model, self.ctx, self.stage_tables)
        status, verdicts, fixed = self.verdicts.for_hits(hits, info, number)
        release = self._release(entry.model, fixed)
        if self.first is None:
            finding = new_finding(
                "advisory",
                entry,
                self.advisory.key,
                status,
                hits[0].reason,
                info,
                **verdict_fields(verdicts, fixed),
                **release_fields(release),
            )
            self.first = finding._asdict()
            return finding
        # The same fields, on the first finding's (which has every other field right).
        group = entry.group
        fields = {
            **self.first,
            "key": finding_key(group.fleet, group.key, self.advisory.key),
            "fleet": group.fleet,
            "group_key": group.key,
            "model": entry.model,
            "firmware": group.firmware,
            "count": group.count,
            "site": group.site,
            "status": status,
            "reason": hits[0].reason,
            "stage": info.stage,
            "stage_ends": info.ends,
            "stage_since": info.since,
            "stage_next": info.next_stage,
            **verdict_fields(verdicts, fixed),
            **release_fields(release),
        }
        return made(fields)

    def _shape(
        self,
        rm: RowMatch | RowSpans,
        model: str,
        status: Status,
        sample: Span | tuple[Indexed, str],
    ) -> Shape:
        """The fields the groups of one model that only row ``rm`` touches share, by status.

        In parts shared by every batch they fit: the verdicts (per row CVEs, status and the
        promises of the model's stage), the row's fixed version, the model and its stage, the
        release that fixes it. ``sample`` is a group of them with its reason, or a span of them.
        """
        fixed = rm.fixed if status != "review-needed" else None
        fields, promises, released = self._model_parts(model, fixed)
        template = self.templates.get((rm.cves, status, promises))
        if template is None:
            template = self._template(rm, status, promises, sample)
        return template, self._fixing(fixed), fields, released

    def _model_parts(
        self, model: str, fixed: Version | None
    ) -> tuple[dict[str, object], int, dict[str, object]]:
        """A model's fields, its promises' number and the fields of the release fixing it."""
        # Called for every model of every row: one look-up in the model table on a hit.
        facts = self.model_table.get(model) or self._model_facts(model)
        promises = self.verdicts.numbers.get(facts[1])
        if promises is None:
            promises = self.verdicts.promises(facts[0], facts[1])
        if not facts[3]:  # most models: no release names them
            return facts[2], promises, NO_RELEASE
        return facts[2], promises, self._released(best_release(facts[3], fixed))

    def _fill(self, table: ModelColumns, number: int) -> None:
        """Fill in a model's entries in the model table's columns, its promise number last: a
        number set tells other threads sharing the table that the entries are there."""
        model = table.models[number]
        info, promises, fields, candidates = self.model_table.get(model) or self._model_facts(
            model
        )
        table.fields[number] = fields
        table.infos.setdefault(promises, info)
        found = newest(candidates)
        if found is not None and self.lookup is not None:
            table.newest[number] = self.lookup.rank(found[0])
            table.releases[number] = self._released(found[1])
        table.numbers[number] = promises

    def _model_facts(self, model: str) -> ModelFacts:
        info, number, fields = stage_facts(model, self.ctx, self.stage_tables)
        candidates = self.lookup.candidates(model) if self.lookup is not None else []
        facts = self.model_table[model] = (info, number, fields, candidates)
        return facts

    def _released(self, release: FirmwareRelease | None) -> dict[str, object]:
        """The release fields, one dict per release."""
        if release is None:
            return NO_RELEASE
        released = self.release_parts.get(id(release))
        if released is None:
            released = self.release_parts[id(release)] = release_fields(release)
        return released

    def _template(
        self,
        rm: Judged,
        status: Status,
        promises: int,
        sample: Span | tuple[Indexed, str] | None,
    ) -> dict[str, object]:
        """The verdict fields of a row's groups of one status under one set of promises;
        ``sample`` is one of the groups with its reason, or a span of them (the advisory's
        first finding is made from it: it may be None once that is made)."""
        if self.first is None:
            assert sample is not None
            if isinstance(sample, Span):
                first = sample.source[sample.start]
                entry, reason = self.index.entry_at(first), sample.reason(first)
            else:
                entry, reason = sample
            hits = [Hit(entry, cve, status, reason, rm.row, rm.fixed) for cve in rm.cves]
            template = self._from_hits(hits)._asdict()
        else:  # the fixed version, model, stage, release and group parts are put over it
            verdicts = self.verdicts.same_status(rm.cves, status, promises)
            fixed = rm.fixed if status != "review-needed" else None
            template = {**self.first, "status": status, **verdict_fields(verdicts, fixed)}
        self.templates[rm.cves, status, promises] = template
        return template

    def _fixing(self, fixed: Version | None) -> dict[str, object]:
        """The fixed-version field, one dict per version."""
        fixing = self.fixed_parts.get(id(fixed))
        if fixing is None:
            fixing = self.fixed_parts[id(fixed)] = {"fixed_version": str(fixed) if fixed else None}
        return fixing

    def _release(self, model: str, fixed: Version | None) -> FirmwareRelease | None:
        return self.lookup.best(model, fixed) if self.lookup is not None else None
