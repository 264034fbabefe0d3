"""Firmware release findings: "update available" for groups of a release's exact models (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.context import Context, stage_of
from bot.finding import Finding, finding_key, made, new_finding
from bot.fixes import AdvisoryFixes
from bot.items import Advisory, FirmwareRelease
from bot.matching import FleetIndex, match_release
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
    resolved: dict[tuple[str, object], tuple[str, ...]] = {}  # per model and current firmware
    # Groups of one model on one firmware string (one parsed version object) share every field
    # but their own: the first one's finding is made in full, the others are copies of it.
    shapes: dict[tuple[str, int], dict[str, object]] = {}
    for entry in match_release(release, index):
        shape = shapes.get((entry.model, id(entry.version)))
        if shape is not None:
            group = entry.group
            fields = shape.copy()
            fields["key"] = finding_key(group.fleet, group.key, release.key)
            fields["fleet"] = group.fleet
            fields["group_key"] = group.key
            fields["firmware"] = group.firmware
            fields["count"] = group.count
            fields["site"] = group.site
            findings.append(made(fields))
            continue
        where = (entry.model, entry.version)
        if where not in resolved:
            resolved[where] = tuple(fixes.resolves(version, entry.model, entry.version))
        reason = (
            f"{release.version} is newer than {entry.version}"
            if entry.version
            else f"{release.version} is available; the devices' firmware is not known"
        )
        finding = new_finding(
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
        shapes[entry.model, id(entry.version)] = finding.__dict__
        findings.append(finding)
    return findings
