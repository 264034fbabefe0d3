"""Firmware release findings: "update available" for groups of a release's exact models (pure).

Given every release known (``releases``), a group is told of the newest release for its model
only: an older one is superseded for it (a careful analyst would not send a site to install a
release a newer one replaces), and the newest says it resolves what the releases it supersedes for
the group listed too (firmware is cumulative: versions are ordered, and a fix stays fixed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.context import Context, stage_of
from bot.finding import Finding, copied, new_finding
from bot.fixes import AdvisoryFixes
from bot.indexviews import Indexed
from bot.items import Advisory, FirmwareRelease
from bot.matching import FleetIndex
from bot.releaseindex import ReleaseIndex, newest
from bot.rows import FIRMWARE_NOT_KNOWN, patterns_of
from bot.versions import Version, VersionError, parse_version


@dataclass(frozen=True)
class ReleaseOutcome:
    """A release's findings, and the newer releases that supersede it for the device groups it
    would otherwise be found for (they get those releases' findings instead)."""

    findings: list[Finding]
    superseded_by: tuple[FirmwareRelease, ...] = ()


def release_findings(
    release: FirmwareRelease,
    index: FleetIndex,
    ctx: Context,
    advisories: Sequence[Advisory],
    fixes: AdvisoryFixes | None = None,
) -> list[Finding]:
    """ "Update available" findings for groups of the release's exact models on older firmware
    (every one: no other release is looked at; see `release_outcome`)."""
    return release_outcome(release, index, ctx, advisories, fixes).findings


def release_outcome(
    release: FirmwareRelease,
    index: FleetIndex,
    ctx: Context,
    advisories: Sequence[Advisory],
    fixes: AdvisoryFixes | None = None,
    releases: ReleaseIndex | None = None,
) -> ReleaseOutcome:
    """ "Update available" findings for groups of the release's exact models on older firmware,
    but (given every release known, ``releases``) not for groups whose model has a newer release.

    ``fixes`` are the advisories' fixes for (at least) the release's models: made once for all
    the releases of a cycle (`AdvisoryFixes.for_releases`), else here for this release.
    """
    try:
        version = parse_version(release.version)
    except VersionError:
        return ReleaseOutcome([])
    newer: dict[str, FirmwareRelease | None] = {}  # per model: the newest release, if newer
    superseding: dict[str, FirmwareRelease] = {}
    if fixes is None:
        fixes = AdvisoryFixes.for_releases(advisories, index, [release])
    findings: list[Finding] = []
    # Groups of one model share every field but their own, their firmware's reason and what
    # the release resolves for it: the model's first finding is made in full, the others are
    # copies of it (of one model on one firmware string, exact copies but the group's fields).
    # Firmware is told apart by its version object, or by why it has none (which quotes it).
    firsts: dict[str, Finding] = {}
    shapes: dict[tuple[str, int | str], Finding] = {}
    likes: dict[tuple[str, tuple[str, ...]], Finding] = {}  # the first, with what it resolves
    for entry in match_release(release, index):
        model = entry.model
        if releases is not None:
            if model not in newer:
                newer[model] = _newer(releases, model, version)
            if (later := newer[model]) is not None:
                superseding.setdefault(later.key, later)
                continue
        firmware = entry.version_problem or id(entry.version)
        shape = shapes.get((model, firmware))
        if shape is not None:  # the same firmware string: the same reason too
            findings.append(copied(shape, entry.group, release.key))
            continue
        resolves = fixes.resolves(version, model, entry.version) + release.cves
        if releases is not None:
            resolves += _carried(releases, model, entry.version, version, resolves)
        reason = _reason(release, entry)
        first = firsts.get(model)
        if first is None:
            finding = new_finding(
                "firmware",
                entry,
                release.key,
                "update-available",
                reason,
                stage_of(model, ctx),
                update_available=release.version,
                download_url=release.download_url,
                notes_url=release.notes_url,
                resolves=resolves,
            )
            firsts[model] = finding
        else:  # groups of a model on different firmware often resolve the same
            like = likes.get((model, resolves))
            if like is None:
                like = likes[model, resolves] = first._replace(resolves=resolves)
            finding = copied(like, entry.group, release.key, reason)
        shapes[model, firmware] = finding
        findings.append(finding)
    return ReleaseOutcome(findings, tuple(superseding.values()))


def _newer(releases: ReleaseIndex, model: str, version: Version) -> FirmwareRelease | None:
    """The newest release for exactly this model, when it is newer than ``version``."""
    found = newest(releases.candidates(model))
    return found[1] if found is not None and found[0] > version else None


def _carried(
    releases: ReleaseIndex,
    model: str,
    current: Version | None,
    version: Version,
    said: tuple[str, ...],
) -> tuple[str, ...]:
    """The CVEs listed by the model's releases this one supersedes for a group on ``current``
    (newer than it, older than ``version``; any older one when ``current`` is not known) that
    ``said`` does not name yet."""
    carried = [
        cve
        for v, older in releases.candidates(model)
        if v < version and (current is None or current < v)
        for cve in older.cves
    ]
    return tuple(c for c in dict.fromkeys(carried) if c not in said)


def _reason(release: FirmwareRelease, entry: Indexed) -> str:
    """Why a group gets the update: its version is older, or it has none (not known, or its
    firmware text could not be read)."""
    if entry.version is not None:
        return f"{release.version} is newer than {entry.version}"
    if entry.version_problem in (None, FIRMWARE_NOT_KNOWN):
        return f"{release.version} is available; the devices' firmware is not known"
    return f"{release.version} is available; the devices' {entry.version_problem}"


def match_release(release: FirmwareRelease, index: FleetIndex) -> list[Indexed]:
    """Device groups of exactly a model the release applies to, running older firmware."""
    try:
        version = parse_version(release.version)
    except VersionError:
        return []
    found: dict[str, Indexed] = {}
    older: dict[int, bool] = {}  # per firmware (groups share their firmware's version object)
    release_key = version.sort_key()  # compared as Version compares them: by sort key
    for text in release.models:
        for pattern in patterns_of(text):
            for entry in index.exact(pattern):
                current = entry.version
                below = older.get(id(current))
                if below is None:
                    below = older[id(current)] = current is None or current.sort_key() < release_key
                if below:
                    found.setdefault(entry.group.key, entry)
    return list(found.values())
