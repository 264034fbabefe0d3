"""Firmware release findings: "update available" for groups of a release's exact models (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.context import Context, stage_of
from bot.finding import Finding, copied, new_finding
from bot.fixes import AdvisoryFixes
from bot.indexviews import Indexed
from bot.items import Advisory, FirmwareRelease
from bot.matching import FleetIndex
from bot.rows import patterns_of
from bot.versions import VersionError, parse_version


def release_findings(
    release: FirmwareRelease,
    index: FleetIndex,
    ctx: Context,
    advisories: Sequence[Advisory],
    fixes: AdvisoryFixes | None = None,
) -> list[Finding]:
    """ "Update available" findings for groups of the release's exact models on older firmware.

    ``fixes`` are the advisories' fixes for (at least) the release's models: made once for all
    the releases of a cycle (`AdvisoryFixes.for_releases`), else here for this release.
    """
    try:
        version = parse_version(release.version)
    except VersionError:
        return []
    if fixes is None:
        fixes = AdvisoryFixes.for_releases(advisories, index, [release])
    findings: list[Finding] = []
    # Groups of one model share every field but their own, their firmware's reason and what
    # the release resolves for it: the model's first finding is made in full, the others are
    # copies of it (of one model on one firmware string, exact copies but the group's fields).
    firsts: dict[str, Finding] = {}
    shapes: dict[tuple[str, int], Finding] = {}
    likes: dict[tuple[str, tuple[str, ...]], Finding] = {}  # the first, with what it resolves
    for entry in match_release(release, index):
        model = entry.model
        shape = shapes.get((model, id(entry.version)))
        if shape is not None:  # the same firmware string: the same reason too
            findings.append(copied(shape, entry.group, release.key))
            continue
        resolves = fixes.resolves(version, model, entry.version) + release.cves
        reason = (
            f"{release.version} is newer than {entry.version}"
            if entry.version
            else f"{release.version} is available; the devices' firmware is not known"
        )
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
        shapes[model, id(entry.version)] = finding
        findings.append(finding)
    return findings


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
