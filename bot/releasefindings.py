"""Firmware release findings: "update available" for groups of a release's exact models (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.context import Context, stage_of
from bot.finding import Finding, new_finding
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
    for entry in match_release(release, index):
        where = (entry.model, entry.version)
        if where not in resolved:
            resolved[where] = tuple(fixes.resolves(version, entry.model, entry.version))
        reason = (
            f"{release.version} is newer than {entry.version}"
            if entry.version
            else f"{release.version} is available; the devices' firmware is not known"
        )
        findings.append(
            new_finding(
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
