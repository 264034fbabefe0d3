"""Findings: what an item means for one device group, with the policy's promise (pure).

A finding's key is (fleet, device group, item); its fields are the structured facts a risk note and
an alert are written from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from bot.catalog import Catalog, family_of
from bot.items import Advisory, CveInfo, FirmwareRelease
from bot.matching import (
    FleetIndex,
    Hit,
    Indexed,
    match_advisory,
    match_release,
    patterns_of,
    resolves,
)
from bot.policy import (
    DEFAULT_SEVERE_CVSS,
    Promise,
    Stage,
    StageInfo,
    combine,
    fix_promise,
    stage_on,
)
from bot.versions import Version, VersionError, parse_version

Kind = Literal["advisory", "firmware", "lifecycle"]
_STATUS_RANK = {"affected": 0, "possibly-affected": 1, "review-needed": 2}


@dataclass(frozen=True)
class CveVerdict:
    """One CVE as it bears on one device group."""

    id: str
    status: str
    promise: Promise
    score: float | None = None
    severity: str | None = None
    cvss_version: str | None = None
    vector: str | None = None
    kev_added: date | None = None
    cvss_note: str | None = None
    other_scores: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """What one item means for one device group of one fleet."""

    key: str
    kind: Kind
    fleet: str
    group_key: str
    model: str
    firmware: str | None
    count: int
    site: str
    item_key: str
    status: str
    reason: str
    stage: Stage
    stage_ends: date | None = None
    stage_since: date | None = None
    fix_promised: Promise = Promise.UNKNOWN
    cves: tuple[CveVerdict, ...] = ()
    fixed_version: str | None = None
    download_url: str | None = None
    notes_url: str | None = None
    update_available: str | None = None
    resolves: tuple[str, ...] = ()
    change_to: Stage | None = None
    change_on: date | None = None
    tags: tuple[str, ...] = field(default=())

    @property
    def worst(self) -> CveVerdict | None:
        """The highest-scoring CVE verdict (the one that sets the finding's severity)."""
        scored = [c for c in self.cves if c.score is not None]
        return max(scored, key=lambda c: c.score or 0.0) if scored else None

    @property
    def kev_since(self) -> date | None:
        """The earliest KEV listing among the finding's CVEs."""
        dates = [c.kev_added for c in self.cves if c.kev_added]
        return min(dates) if dates else None


@dataclass(frozen=True)
class Context:
    """What judging needs besides the items: the catalog, the date and the severe threshold."""

    catalog: Catalog
    on: date
    severe_cvss: float = DEFAULT_SEVERE_CVSS


def stage_of(model: str, ctx: Context) -> StageInfo:
    """The stage of a (normalised) model on the context's date."""
    known = ctx.catalog.lookup(model)
    return stage_on(
        family_of(model).covered,
        known.launched if known else None,
        known.discontinued if known else None,
        ctx.on,
    )


def finding_key(fleet: str, group_key: str, item_key: str) -> str:
    """The identity of a finding: (fleet, device group, item)."""
    return f"{fleet}|{group_key}|{item_key}"


def advisory_findings(
    advisory: Advisory,
    index: FleetIndex,
    ctx: Context,
    releases: Sequence[FirmwareRelease] = (),
) -> list[Finding]:
    """One finding per device group the advisory touches, each CVE judged on its own."""
    by_group: dict[str, list[Hit]] = defaultdict(list)
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
        release = _release_for(entry.model, fixed, releases)
        findings.append(
            _finding(
                "advisory",
                entry,
                advisory.key,
                status,
                hits[0].reason,
                info,
                fix_promised=combine(v.promise for v in verdicts),
                cves=verdicts,
                fixed_version=str(fixed) if fixed else None,
                download_url=release.download_url if release else None,
                notes_url=release.notes_url if release else None,
                update_available=release.version if release else None,
            )
        )
    return findings


def release_findings(
    release: FirmwareRelease, index: FleetIndex, ctx: Context, advisories: Sequence[Advisory]
) -> list[Finding]:
    """ "Update available" findings for groups of the release's exact models on older firmware."""
    try:
        version = parse_version(release.version)
    except VersionError:
        return []
    findings: list[Finding] = []
    for entry in match_release(release, index):
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
                resolves=tuple(resolves(version, entry.model, advisories)) + release.cves,
            )
        )
    return findings


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
    hits: list[Hit], cve_info: dict[str, CveInfo], info: StageInfo, threshold: float
) -> tuple[CveVerdict, ...]:
    best: dict[str, Hit] = {}
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
    known = [v for v in versions if v is not None]
    return max(known) if known else None


def _release_for(
    model: str, fixed: Version | None, releases: Sequence[FirmwareRelease]
) -> FirmwareRelease | None:
    """The newest release for exactly this model that is at or past the fixed version."""
    best: tuple[Version, FirmwareRelease] | None = None
    for release in releases:
        if not any(p.matches_exact(model) for text in release.models for p in patterns_of(text)):
            continue
        try:
            version = parse_version(release.version)
        except VersionError:
            continue
        if fixed is not None and version < fixed:
            continue
        if best is None or version > best[0]:
            best = (version, release)
    return best[1] if best else None
