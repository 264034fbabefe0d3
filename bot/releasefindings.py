"""Firmware release findings: "update available" for groups of a release's exact models (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.context import Context, stage_of
from bot.finding import Finding, copied, new_finding
from bot.fixes import AdvisoryFixes
from bot.indexviews import Indexed
from bot.items import Advisory, FirmwareRelease
from bot.matching import FleetIndex
from bot.rows import FIRMWARE_NOT_KNOWN, patterns_of
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
    # Firmware is told apart by its version object, or by why it has none (which quotes it).
    firsts: dict[str, Finding] = {}
    shapes: dict[tuple[str, int | str], Finding] = {}
    likes: dict[tuple[str, tuple[str, ...]], Finding] = {}  # the first, with what it resolves
    for entry in match_release(release, index):
        model = entry.model
        firmware = entry.version_problem or id(entry.version)
        shape = shapes.get((model, firmware))
        if shape is not None:  # the same firmware string: the same reason too
            findings.append(copied(shape, entry.group, release.key))
            continue
        resolves = fixes.resolves(version, model, entry.version) + release.cves
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
    return findings


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
