"""Findings: what an item means for one device group, with the policy's promise (pure).

A finding's key is (fleet, device group, item); its fields are the structured facts a risk note and
an alert are written from. An advisory's findings come as `Findings`: batches of the device groups
of one model that a row touches with one status (`FindingBatch`), whose shared fields are worked out
once; the finding objects themselves are made when read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import pairwise
from typing import cast

from bot.catalog import Catalog, family_of
from bot.finding import CveVerdict as CveVerdict
from bot.finding import Finding as Finding
from bot.finding import Kind as Kind
from bot.finding import finding_key as finding_key
from bot.finding import made
from bot.findingset import FindingBatch as FindingBatch
from bot.findingset import Findings as Findings
from bot.findingset import Shape, fields_of, new_batch
from bot.fleetviews import Indexed, Span, Status, new_span
from bot.items import Advisory, CveInfo, FirmwareRelease
from bot.matching import (
    FleetIndex,
    Hit,
    RowMatch,
    RowSpans,
    gc_paused,
    match_release,
)
from bot.policy import (
    DEFAULT_SEVERE_CVSS,
    FixPromise,
    Stage,
    StageInfo,
    combine,
    fix_promise,
    promise_class,
    stage_on,
)
from bot.releaseindex import ReleaseIndex, best_release, release_index
from bot.rows import resolves
from bot.versions import Version, VersionError, parse_version

_STATUS_RANK = {"affected": 0, "possibly-affected": 1, "review-needed": 2}


@dataclass(frozen=True)
class Context:
    """What judging needs besides the items: the catalog, the date and the severe threshold."""

    catalog: Catalog
    on: date
    severe_cvss: float = DEFAULT_SEVERE_CVSS


def stage_of(model: str, ctx: Context) -> StageInfo:
    """The stage of a (normalised) model on the context's date."""
    return _stage_facts(model, ctx, _stage_table(ctx))[0]


# What every row's batches of a model read of it, per context and release index: its stage
# facts (`_stage_facts`) and the releases for exactly it (empty without releases). One look-up
# per model and row: at fleet scale there are a million (row, model) pairs a cycle.
_ModelFacts = tuple[StageInfo, int, dict[str, object], list[tuple[Version, FirmwareRelease]]]


# Per context: model -> stage facts, promise class -> number, and the model table (above) of
# the latest release index.
_StageTables = tuple[
    dict[str, tuple[StageInfo, int, dict[str, object]]],
    dict[tuple[Stage, Stage | None], int],
    dict[ReleaseIndex | None, dict[str, _ModelFacts]],
]


def _stage_facts(
    model: str, ctx: Context, tables: _StageTables
) -> tuple[StageInfo, int, dict[str, object]]:
    """The stage of a model, a number standing for its `promise_class` (equal numbers, equal
    promises) and the finding fields they make (shared: never change them).

    A Context holds an immutable catalog, a date and a threshold, so the stage of a model under
    it never changes: it is worked out once per model and context (``tables``).
    """
    table, numbers, _ = tables
    facts = table.get(model)
    if facts is None:
        known = ctx.catalog.lookup(model)
        info = stage_on(
            family_of(model).covered,
            known.launched if known else None,
            known.discontinued if known else None,
            ctx.on,
        )
        number = numbers.setdefault(promise_class(info), len(numbers))
        fields: dict[str, object] = {
            "model": model, "stage": info.stage, "stage_ends": info.ends, "stage_since": info.since
        }
        facts = table[model] = (info, number, fields)
    return facts


@lru_cache(maxsize=8)
def _stage_table(ctx: Context) -> _StageTables:
    return {}, {}, {}


def _model_table(ctx: Context, lookup: ReleaseIndex | None) -> dict[str, _ModelFacts]:
    """The model table for this context and release index, kept with the context's stage tables
    (its promise numbers come from them) and for the latest release index only."""
    tables = _stage_table(ctx)[2]
    if lookup not in tables:
        tables.clear()
        tables[lookup] = {}
    return tables[lookup]


def advisory_findings(
    advisory: Advisory,
    index: FleetIndex,
    ctx: Context,
    releases: Sequence[FirmwareRelease] = (),
) -> Findings:
    """One finding per device group the advisory touches, each CVE judged on its own.

    Findings come row by row, in each row model by model (models sorted), then by firmware;
    a group several rows touch comes where its first row puts it.
    """
    with gc_paused():
        return _AdvisoryFindings(advisory, index, ctx, releases).run()


class _AdvisoryFindings:
    """The findings of one advisory.

    A device group is judged on all its hits together (`_from_hits`). Most groups are touched
    by one row only; those get the fields of the first finding of their row and status whose
    model gets the same promises, with their own model, stage, release, group and reason put
    in (`_shape`): what `_from_hits` would give, without redoing the shared work for each of
    possibly thousands of groups. Findings are made by the dataclass once per advisory, then
    by copying fields (tests/test_matching_fast.py checks them against the constructor's).
    """

    def __init__(
        self,
        advisory: Advisory,
        index: FleetIndex,
        ctx: Context,
        releases: Sequence[FirmwareRelease],
    ) -> None:
        self.advisory = advisory
        self.index = index
        self.ctx = ctx
        self.releases = releases
        self.cve_info = {c.id: c for c in advisory.cves}
        # Every score a verdict may be judged on (a CVE a row names but the advisory does not
        # list, or "(no CVE)", has none).
        self.scores = tuple(dict.fromkeys([*map(_score_of, advisory.cves), (None, None)]))
        # The promises for those scores, numbered: per stage number, and per distinct set.
        self.promises: dict[int, int] = {}
        self.promise_sets: dict[tuple[FixPromise, ...], int] = {}
        self.verdicts: dict[tuple[object, ...], tuple[CveVerdict, ...]] = {}
        # Verdict fields by (CVEs, status, promises); the fixed version by its id.
        self.templates: dict[tuple[object, ...], dict[str, object]] = {}
        self.fixed_parts: dict[int, dict[str, object]] = {}
        self.joint_templates: dict[tuple[object, ...], dict[str, object]] = {}  # by rows too
        self.release_parts: dict[int, dict[str, object]] = {}  # by id of the release
        self.first: dict[str, object] | None = None  # the fields of the first finding made
        self.lookup = release_index(releases) if releases else None
        self.stage_tables = _stage_table(ctx)
        self.model_table = _model_table(ctx, self.lookup)

    def run(self) -> Findings:
        index = self.index
        all_cves: tuple[str | None, ...] = tuple(c.id for c in self.advisory.cves) or (None,)
        rows: list[RowSpans | RowMatch] = []
        for row in self.advisory.rows:
            cves = (row.cve,) if row.cve else all_cves
            rows.append(index.row_spans(row, cves) or index.match_row(row, cves))
        together = self._overlapping(rows)
        out: list[Finding | FindingBatch | list[Hit]] = []
        merged: dict[str, int] = {}  # group key -> its place in out
        item = self.advisory.key
        joint, by_group = self._joint(rows, together or set())
        for rm in rows:
            if isinstance(rm, RowMatch):
                self._one_by_one(rm, together, out, merged)
                continue
            if not together:  # no model under two rows: a batch per span
                self._batches(rm, out, rm.spans)
                continue
            plain: list[Span] = []  # spans of models no other row covers
            for span in rm.spans:
                model = span.model
                if model not in together:
                    plain.append(span)
                elif model in by_group:
                    for position in span.positions():
                        entry = index.entry_at(position)
                        self._gather(out, merged, rm, entry, span.status, span.reason(position))
                elif model in joint:
                    out += self._joint_batches(rows, joint.pop(model))
                # else: its batches came with its first row
            self._batches(rm, out, plain)
        if merged:
            out = [self._from_hits(f) if isinstance(f, list) else f for f in out]
        return Findings(cast(list[Finding | FindingBatch], out), index, item)

    def _batches(
        self, rm: RowSpans, out: list[Finding | FindingBatch | list[Hit]], spans: list[Span]
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
        released: dict[str, object] = _NO_RELEASE
        promises = 0
        for span in spans:
            if span.model is not model:
                model = span.model
                fields, promises, released = self._model_parts(model, fixed)
            template = templates.get((cves, span.status, promises))
            if template is None:
                template = self._template(rm, model, span.status, promises, span)
            add(new_batch(((template, fixing, fields, released), span)))

    def _joint(
        self, rows: list[RowSpans | RowMatch], together: set[str]
    ) -> tuple[dict[str, list[tuple[int, Span]]], set[str]]:
        """The spans of each model several rows cover, and the models judged group by group.

        A group's finding follows from its model and the rows and statuses of its hits, and
        spans of one model are ranges of one list of its groups (`FleetIndex.row_spans`): the
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
            for span in rm.spans:
                if span.model in together:
                    joint.setdefault(span.model, []).append((at, span))
        for model in by_group:
            joint.pop(model, None)
        return joint, by_group

    def _joint_batches(
        self, rows: list[RowSpans | RowMatch], spans: list[tuple[int, Span]]
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
                shape = shapes[signature] = self._joint_shape(rows, model, over, source[start])
            first = over[0][1]
            status = cast(Status, shape[0]["status"])
            batches.append(new_batch((shape, new_span((model, status, source, start, stop,
                                                        first.reason)))))
        return batches

    def _joint_shape(
        self,
        rows: list[RowSpans | RowMatch],
        model: str,
        over: list[tuple[int, Span]],
        position: int,
    ) -> Shape:
        """The parts of the findings of a model's groups that the rows ``over`` all touch."""
        fixed = _highest(rows[at].fixed for at, span in over if span.status != "review-needed")
        fields, promises, released = self._model_parts(model, fixed)
        key = (tuple((at, span.status) for at, span in over), promises)
        template = self.joint_templates.get(key)
        if template is None:
            entry = self.index.entry_at(position)
            hits: list[Hit] = []
            for at, span in over:
                rm = rows[at]
                reason = span.reason(position)
                hits += [Hit(entry, c, span.status, reason, rm.row, rm.fixed) for c in rm.cves]
            if self.first is None:
                template = self._from_hits(hits).__dict__
            else:
                info, number, _ = self.stage_tables[0][model]
                found, verdicts, best = self._verdicts(hits, info, number)
                template = {**self.first, "status": found, **_verdict_fields(verdicts, best)}
            self.joint_templates[key] = template
        return template, self._fixing(fixed), fields, released

    def _one_by_one(
        self,
        rm: RowMatch,
        together: set[str] | None,
        out: list[Finding | FindingBatch | list[Hit]],
        merged: dict[str, int],
    ) -> None:
        """A row judged group by group (see `FleetIndex.row_spans`): a finding per group."""
        shapes: dict[tuple[str, str], dict[str, object]] = {}
        item = self.advisory.key
        for entry, outcome in zip(rm.entries, rm.outcomes, strict=True):
            model, status = entry.model, outcome[0]
            if together is None or model in together:
                self._gather(out, merged, rm, entry, *outcome)
                continue
            shape = shapes.get((model, status))
            if shape is None:
                shape = shapes[model, status] = fields_of(
                    self._shape(rm, model, status, (entry, outcome[1]))
                )
            group = entry.group
            fields = shape.copy()
            fields["key"] = f"{group.fleet}|{group.key}|{item}"  # finding_key, inlined
            fields["fleet"] = group.fleet
            fields["group_key"] = group.key
            fields["firmware"] = group.firmware
            fields["count"] = group.count
            fields["site"] = group.site
            fields["reason"] = outcome[1]
            out.append(made(fields))

    @staticmethod
    def _gather(
        out: list[Finding | FindingBatch | list[Hit]],
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

    def _overlapping(self, rows: list[RowSpans | RowMatch]) -> set[str] | None:
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
        info, number, _ = _stage_facts(entry.model, self.ctx, self.stage_tables)
        status, verdicts, fixed = self._verdicts(hits, info, number)
        release = self._release(entry.model, fixed) if self.releases else None
        if self.first is None:
            finding = _finding(
                "advisory",
                entry,
                self.advisory.key,
                status,
                hits[0].reason,
                info,
                **_verdict_fields(verdicts, fixed),
                **_release_fields(release),
            )
            self.first = finding.__dict__
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
            **_verdict_fields(verdicts, fixed),
            **_release_fields(release),
        }
        return made(fields)

    def _verdicts(
        self, hits: list[Hit], info: StageInfo, number: int
    ) -> tuple[Status, tuple[CveVerdict, ...], Version | None]:
        """A group's status, per-CVE verdicts and fixed version, from its hits."""
        status = min((h.status for h in hits), key=_STATUS_RANK.__getitem__)
        fixed = _highest(h.fixed for h in hits if h.status != "review-needed")
        # The verdicts follow from the hits' (CVE, status) and the promises for the scores.
        key = (tuple((h.cve, h.status) for h in hits), self._promises(info, number))
        verdicts = self.verdicts.get(key)
        if verdicts is None:
            threshold = self.ctx.severe_cvss

            def promise(score: float | None, version: str | None) -> FixPromise:
                return fix_promise(info, score, version, threshold)

            verdicts = self.verdicts[key] = _verdicts(hits, self.cve_info, promise)
        return status, verdicts, fixed

    def _promises(self, info: StageInfo, number: int) -> int:
        """A number for the promises a stage makes for every score of the advisory."""
        promises = self.promises.get(number)
        if promises is None:
            threshold = self.ctx.severe_cvss
            made = tuple(fix_promise(info, score, ver, threshold) for score, ver in self.scores)
            promises = self.promises[number] = self.promise_sets.setdefault(
                made, len(self.promise_sets)
            )
        return promises

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
            template = self._template(rm, model, status, promises, sample)
        return template, self._fixing(fixed), fields, released

    def _model_parts(
        self, model: str, fixed: Version | None
    ) -> tuple[dict[str, object], int, dict[str, object]]:
        """A model's fields, its promises' number and the fields of the release fixing it."""
        # Called for every model of every row: one look-up in the model table on a hit.
        facts = self.model_table.get(model) or self._model_facts(model)
        promises = self.promises.get(facts[1])
        if promises is None:
            promises = self._promises(facts[0], facts[1])
        if not facts[3]:  # most models: no release names them
            return facts[2], promises, _NO_RELEASE
        return facts[2], promises, self._released(best_release(facts[3], fixed))

    def _model_facts(self, model: str) -> _ModelFacts:
        info, number, fields = _stage_facts(model, self.ctx, self.stage_tables)
        candidates = self.lookup.candidates(model) if self.lookup is not None else []
        facts = self.model_table[model] = (info, number, fields, candidates)
        return facts

    def _released(self, release: FirmwareRelease | None) -> dict[str, object]:
        """The release fields, one dict per release."""
        if release is None:
            return _NO_RELEASE
        released = self.release_parts.get(id(release))
        if released is None:
            released = self.release_parts[id(release)] = _release_fields(release)
        return released

    def _template(
        self,
        rm: RowMatch | RowSpans,
        model: str,
        status: Status,
        promises: int,
        sample: Span | tuple[Indexed, str],
    ) -> dict[str, object]:
        """The verdict fields of a row's groups of one status under one set of promises."""
        if isinstance(sample, Span):
            first = sample.source[sample.start]
            entry, reason = self.index.entry_at(first), sample.reason(first)
        else:
            entry, reason = sample
        hits = [Hit(entry, cve, status, reason, rm.row, rm.fixed) for cve in rm.cves]
        if self.first is None:
            template = self._from_hits(hits).__dict__
        else:  # the fixed version, model, stage, release and group parts are put over it
            info, number, _ = self.stage_tables[0][model]
            found, verdicts, best = self._verdicts(hits, info, number)
            template = {**self.first, "status": found, **_verdict_fields(verdicts, best)}
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


_NO_RELEASE: dict[str, object] = {"download_url": None, "notes_url": None, "update_available": None}


def _score_of(cve: CveInfo) -> tuple[float | None, str | None]:
    score = cve.score
    return (score.base_score, score.version) if score else (None, None)


def release_findings(
    release: FirmwareRelease, index: FleetIndex, ctx: Context, advisories: Sequence[Advisory]
) -> list[Finding]:
    """ "Update available" findings for groups of the release's exact models on older firmware."""
    try:
        version = parse_version(release.version)
    except VersionError:
        return []
    findings: list[Finding] = []
    resolved: dict[tuple[str, object], tuple[str, ...]] = {}  # per model and current firmware
    for entry in match_release(release, index):
        where = (entry.model, entry.version)
        if where not in resolved:
            resolved[where] = tuple(resolves(version, entry.model, advisories, entry.version))
        reason = (
            f"{release.version} is newer than {entry.version}"
            if entry.version
            else f"{release.version} is available; the devices' firmware is not known"
        )
        findings.append(
            _finding(
                "firmware",
                entry,
                release.key,
                "update-available",
                reason,
                stage_of(entry.model, ctx),
                update_available=release.version,
                download_url=release.download_url,
                notes_url=release.notes_url,
                resolves=resolved[where] + release.cves,
            )
        )
    return findings


def _verdict_fields(verdicts: tuple[CveVerdict, ...], fixed: Version | None) -> dict[str, object]:
    """An advisory finding's fields that follow from its verdicts and fixed version."""
    return {
        "fix_promised": combine(v.promise for v in verdicts),
        "cves": verdicts,
        "fixed_version": str(fixed) if fixed else None,
    }


def _release_fields(release: FirmwareRelease | None) -> dict[str, object]:
    """An advisory finding's fields that follow from the release that fixes it."""
    return {
        "download_url": release.download_url if release else None,
        "notes_url": release.notes_url if release else None,
        "update_available": release.version if release else None,
    }


def _finding(
    kind: Kind,
    entry: Indexed,
    item_key: str,
    status: str,
    reason: str,
    info: StageInfo,
    **extra: object,
) -> Finding:
    group = entry.group
    return Finding(
        key=finding_key(group.fleet, group.key, item_key),
        kind=kind,
        fleet=group.fleet,
        group_key=group.key,
        model=entry.model,
        firmware=group.firmware,
        count=group.count,
        site=group.site,
        item_key=item_key,
        status=status,
        reason=reason,
        stage=info.stage,
        stage_ends=info.ends,
        stage_since=info.since,
        **extra,  # type: ignore[arg-type]
    )


def _verdicts(
    hits: list[Hit],
    cve_info: dict[str, CveInfo],
    promise_for: Callable[[float | None, str | None], FixPromise],
) -> tuple[CveVerdict, ...]:
    """Per CVE, its best hit with the vendor's promise for its score (`promise_for`)."""
    best: dict[str, Hit] = {}
    for hit in hits:
        key = hit.cve or "(no CVE)"
        if key not in best or _STATUS_RANK[hit.status] < _STATUS_RANK[best[key].status]:
            best[key] = hit
    verdicts: list[CveVerdict] = []
    for cve_id, hit in best.items():
        cve = cve_info.get(cve_id)
        score = cve.score if cve else None
        promise = promise_for(
            score.base_score if score else None, score.version if score else None
        )
        others = tuple(
            f"{s.source} CVSS {s.version} {s.base_score:.1f}"
            for s in (cve.scores if cve else ())
            if score and s != score and s.base_score != score.base_score
        )
        verdicts.append(
            CveVerdict(
                id=cve_id,
                status=hit.status,
                promise=promise.promise,
                score=score.base_score if score else None,
                severity=score.severity if score else None,
                cvss_version=score.version if score else None,
                vector=score.vector if score else None,
                kev_added=cve.kev_added if cve else None,
                cvss_note=promise.cvss_note,
                other_scores=others,
            )
        )
    return tuple(sorted(verdicts, key=lambda v: -(v.score or 0.0)))


def _highest(versions: Iterable[Version | None]) -> Version | None:
    known = [v for v in versions if v is not None]
    return max(known) if known else None
