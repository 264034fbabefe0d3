"""The matching definition, written plainly: every candidate group judged one by one.

This is the algorithm bot/matching.py and bot/findings.py started from (before the fleet-scale
work), kept as the reference the fast paths must agree with, finding for finding and in order.
It shares only data types and text parsers with them: model patterns are matched with their
regexes, catalog entries are tried in rank order one by one, stages and promises are worked out
per group, releases are searched linearly.
"""

from __future__ import annotations

import bisect
import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.catalog import (
    Catalog,
    CatalogEntry,
    Lifecycle,
    ModelError,
    ModelPattern,
    PatternError,
    family_of,
    normalize_model,
)
from bot.context import Context
from bot.finding import CveVerdict, Finding, finding_key
from bot.indexviews import GroupLike, Indexed
from bot.items import Advisory, AffectedRow, CveInfo, FirmwareRelease
from bot.matching import FleetIndex
from bot.models import _compile
from bot.policy import StageInfo, combine, fix_promise, stage_on
from bot.rows import _MODEL_TOKEN
from bot.rows import row_patterns as _row_patterns
from bot.versions import (
    AffectedParseError,
    AffectedRule,
    Version,
    VersionError,
    is_fixed,
    parse_affected,
    parse_fixed,
    parse_version,
)

_STATUS_RANK = {"affected": 0, "possibly-affected": 1, "review-needed": 2}


@dataclass(frozen=True)
class RefHit:
    entry: Indexed
    cve: str | None
    status: str
    reason: str
    row: AffectedRow
    fixed: Version | None


def matches(pattern: ModelPattern, model: str) -> bool:
    return _compile(pattern.raw).loose.fullmatch(normalize_model(model)) is not None


def matches_exact(pattern: ModelPattern, model: str) -> bool:
    return _compile(pattern.raw).exact.fullmatch(normalize_model(model)) is not None


def build(groups: Iterable[GroupLike]) -> FleetIndex:
    index = FleetIndex()
    for group in groups:
        try:
            model = normalize_model(group.model)
        except ModelError:
            continue
        version, problem = _parse_firmware(group.firmware)
        index.by_model.setdefault(model, []).append(Indexed(group, model, version, problem))
    index.models = sorted(index.by_model)
    return index


def candidates(index: FleetIndex, pattern: ModelPattern) -> list[Indexed]:
    prefix = pattern.literal_prefix()
    start = bisect.bisect_left(index.models, prefix)
    found: list[Indexed] = []
    for model in index.models[start:]:
        if not model.startswith(prefix):
            break
        if matches(pattern, model):
            found += index.by_model[model]
    return found


def exact(index: FleetIndex, pattern: ModelPattern) -> list[Indexed]:
    prefix = pattern.literal_prefix()
    start = bisect.bisect_left(index.models, prefix)
    found: list[Indexed] = []
    for model in index.models[start:]:
        if not model.startswith(prefix):
            break
        if matches_exact(pattern, model):
            found += index.by_model[model]
    return found


def match_advisory(advisory: Advisory, index: FleetIndex) -> list[RefHit]:
    hits: list[RefHit] = []
    all_cves: list[str | None] = [c.id for c in advisory.cves] or [None]
    for row in advisory.rows:
        cves: list[str | None] = [row.cve] if row.cve else all_cves
        patterns = _row_patterns(row.product)
        rule, fixed, problem = _row_rule(row)
        if patterns is None:
            entries = _named_models(row.product, index)
            problem = problem or row.problem or "the product cell could not be read"
        else:
            entries = [e for p in patterns for e in candidates(index, p)]
        seen: set[str] = set()
        for entry in entries:
            if entry.group.key in seen:
                continue
            seen.add(entry.group.key)
            judged = _judge(entry, rule, fixed, problem)
            if judged is None:
                continue
            status, reason = judged
            hits += [RefHit(entry, cve, status, reason, row, fixed) for cve in cves]
    return hits


def lookup(catalog: Catalog, model: str) -> Lifecycle | None:
    """Catalog.lookup as first written: exact entry, else every pattern entry in rank order."""
    key = normalize_model(model)
    exact_entries, ranked = _ranked(catalog)
    found = exact_entries.get(key)
    if found is None:
        found = next((e for p, e in ranked if matches(p, key)), None)
    if found is None:
        return None
    return Lifecycle(key, found.launched, found.discontinued, found.source)


@lru_cache(maxsize=64)
def _ranked(
    catalog: Catalog,
) -> tuple[dict[str, CatalogEntry], list[tuple[ModelPattern, CatalogEntry]]]:
    exact_entries: dict[str, CatalogEntry] = {}
    ranked = []
    for order, entry in enumerate(catalog.entries()):
        pattern = ModelPattern(entry.pattern)
        if (plain := pattern.as_model()) is not None:
            exact_entries.setdefault(plain, entry)
        rank = (-len(pattern.literal_prefix()), pattern.wildcard_count(), order)
        ranked.append((rank, pattern, entry))
    ranked.sort(key=lambda r: r[0])
    return exact_entries, [(p, e) for _, p, e in ranked]


def stage_of(model: str, ctx: Context) -> StageInfo:
    known = lookup(ctx.catalog, model)
    return stage_on(
        family_of(model).covered,
        known.launched if known else None,
        known.discontinued if known else None,
        ctx.on,
    )


def advisory_findings(
    advisory: Advisory,
    index: FleetIndex,
    ctx: Context,
    releases: Sequence[FirmwareRelease] = (),
) -> list[Finding]:
    by_group: dict[str, list[RefHit]] = defaultdict(list)
    for hit in match_advisory(advisory, index):
        by_group[hit.entry.group.key].append(hit)
    cve_info = {c.id: c for c in advisory.cves}
    findings: list[Finding] = []
    for hits in by_group.values():
        entry = hits[0].entry
        info = stage_of(entry.model, ctx)
        verdicts = _verdicts(hits, cve_info, info, ctx.severe_cvss)
        status = min((h.status for h in hits), key=_STATUS_RANK.__getitem__)
        fixed = _highest(h.fixed for h in hits if h.status != "review-needed")
        release = release_for(entry.model, fixed, releases)
        group = entry.group
        findings.append(
            Finding(
                key=finding_key(group.fleet, group.key, advisory.key),
                kind="advisory",
                fleet=group.fleet,
                group_key=group.key,
                model=entry.model,
                firmware=group.firmware,
                count=group.count,
                site=group.site,
                item_key=advisory.key,
                status=status,
                reason=hits[0].reason,
                stage=info.stage,
                stage_ends=info.ends,
                stage_since=info.since,
                stage_next=info.next_stage,
                fix_promised=combine(v.promise for v in verdicts),
                cves=verdicts,
                fixed_version=str(fixed) if fixed else None,
                download_url=release.download_url if release else None,
                notes_url=release.notes_url if release else None,
                update_available=release.version if release else None,
            )
        )
    return findings


def release_for(
    model: str, fixed: Version | None, releases: Sequence[FirmwareRelease]
) -> FirmwareRelease | None:
    best: tuple[Version, FirmwareRelease] | None = None
    for release in releases:
        patterns = [p for text in release.models for p in (_row_patterns(text) or ())]
        if not any(matches_exact(p, model) for p in patterns):
            continue
        try:
            version = parse_version(release.version)
        except VersionError:
            continue
        if fixed is None or version < fixed:  # no fixed version: no release is known to fix it
            continue
        if best is None or version > best[0]:
            best = (version, release)
    return best[1] if best else None


def release_findings(
    release: FirmwareRelease, index: FleetIndex, ctx: Context, advisories: Sequence[Advisory]
) -> list[Finding]:
    """An "update available" finding per group of a model the release names exactly, on older
    firmware, with every advisory one of whose rows for the model it fixes (and the group's
    firmware does not)."""
    try:
        version = parse_version(release.version)
    except VersionError:
        return []
    findings: list[Finding] = []
    seen: set[str] = set()
    patterns = [p for text in release.models for p in (_row_patterns(text) or ())]
    for entry in [e for p in patterns for e in exact(index, p)]:
        if entry.group.key in seen or (entry.version is not None and entry.version >= version):
            continue
        seen.add(entry.group.key)
        resolves: list[str] = []
        for advisory in advisories:
            for row in advisory.rows:
                if not any(matches(p, entry.model) for p in _row_patterns(row.product) or ()):
                    continue
                try:
                    fixed = parse_fixed(row.fixed)
                except VersionError:
                    continue
                if fixed is None or (entry.version and is_fixed(entry.version, fixed)):
                    continue
                if is_fixed(version, fixed):
                    resolves.append(advisory.key)
                    break
        group = entry.group
        info = stage_of(entry.model, ctx)
        findings.append(
            Finding(
                key=finding_key(group.fleet, group.key, release.key),
                kind="firmware",
                fleet=group.fleet,
                group_key=group.key,
                model=entry.model,
                firmware=group.firmware,
                count=group.count,
                site=group.site,
                item_key=release.key,
                status="update-available",
                reason=f"{release.version} is newer than {entry.version}"
                if entry.version
                else f"{release.version} is available; the devices' firmware is not known"
                if not (entry.group.firmware or "").strip()
                else f"{release.version} is available; the devices' {entry.version_problem}",
                stage=info.stage,
                stage_ends=info.ends,
                stage_since=info.since,
                stage_next=info.next_stage,
                update_available=release.version,
                download_url=release.download_url,
                notes_url=release.notes_url,
                resolves=(*resolves, *release.cves),
            )
        )
    return findings


def _verdicts(
    hits: list[RefHit], cve_info: dict[str, CveInfo], info: StageInfo, threshold: float
) -> tuple[CveVerdict, ...]:
    best: dict[str, RefHit] = {}
    for hit in hits:
        key = hit.cve or "(no CVE)"
        if key not in best or _STATUS_RANK[hit.status] < _STATUS_RANK[best[key].status]:
            best[key] = hit
    verdicts: list[CveVerdict] = []
    for cve_id, hit in best.items():
        cve = cve_info.get(cve_id)
        score = cve.score if cve else None
        promise = fix_promise(
            info, score.base_score if score else None, score.version if score else None, threshold
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
    """The highest fixed version, or None when a row has none: no version fixes that one."""
    known = list(versions)
    return None if not known or None in known else max(v for v in known if v is not None)


def _judge(
    entry: Indexed, rule: AffectedRule | None, fixed: Version | None, problem: str | None
) -> tuple[str, str] | None:
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
        words = rule.describe()
        verb = (
            "is" if words.startswith(("below ", "after "))
            else "has a" if words.startswith("build date ") else "is in"
        )
        return "affected", f"firmware {entry.version} {verb} {words}"
    return None


def _parse_firmware(text: str | None) -> tuple[Version | None, str | None]:
    if not text or not text.strip():
        return None, "firmware version not known"
    try:
        return parse_version(text), None
    except VersionError:
        return None, f"firmware {text!r} could not be read as a version"


def _row_rule(row: AffectedRow) -> tuple[AffectedRule | None, Version | None, str | None]:
    try:
        rule = parse_affected(row.affected)
        fixed = parse_fixed(row.fixed)
    except (AffectedParseError, VersionError, ValueError) as exc:
        return None, None, str(exc)
    return rule, fixed, None


def _named_models(product: str, index: FleetIndex) -> list[Indexed]:
    """Each model-like word of an unreadable cell as a pattern (its family), else as a model."""
    found: list[Indexed] = []
    for token in _MODEL_TOKEN.findall(product):
        try:
            pattern = ModelPattern(token)
        except PatternError:
            with contextlib.suppress(ModelError):
                found += index.by_model.get(normalize_model(token), [])
            continue
        found += candidates(index, pattern)
    return found
