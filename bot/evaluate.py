"""Evaluation: every stored item against every device group, on one date (pure).

A cycle re-evaluates everything it knows rather than only what changed, so a new fleet, a fleet
upgrade, a KEV listing, a new NVD score, a catalog date or simply the passing of time (a model
entering security-only) all show up without special cases; routing's dedupe keeps that from
re-alerting. Matching costs in proportion to the affected rows, not to the fleet size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.context import Context
from bot.enrich import enrich
from bot.finding import Finding
from bot.findings import advisories_findings
from bot.fixes import AdvisoryFixes
from bot.indexviews import GroupLike
from bot.items import Advisory, ExploitSignal, FirmwareRelease, Item, ScoreRecord
from bot.lifecycle import reminder_findings
from bot.matching import FleetIndex, gc_paused
from bot.releasefindings import release_outcome
from bot.releaseindex import release_index
from bot.routing import ItemHeader


@dataclass
class Knowledge:
    """Everything the sources have told us, by kind."""

    advisories: list[Advisory] = field(default_factory=list)
    releases: list[FirmwareRelease] = field(default_factory=list)
    scores: dict[str, ScoreRecord] = field(default_factory=dict)
    kev: dict[str, ExploitSignal] = field(default_factory=dict)

    @classmethod
    def of(cls, items: Iterable[Item]) -> Knowledge:
        """Sort items by kind; later items with the same key replace earlier ones."""
        known = cls()
        advisories: dict[str, Advisory] = {}
        releases: dict[str, FirmwareRelease] = {}
        for item in items:
            if isinstance(item, Advisory):
                advisories[item.key] = item
            elif isinstance(item, FirmwareRelease):
                releases[item.key] = item
            elif isinstance(item, ScoreRecord):
                known.scores[item.key] = item
            else:
                known.kev[item.key] = item
        known.advisories = list(advisories.values())
        known.releases = list(releases.values())
        return known


@dataclass(frozen=True)
class Evaluation:
    """Findings per item, each with the header its alerts show; and the firmware releases that
    newer ones supersede for device groups they would have been found for (release key -> the
    superseding releases' labels, ``Firmware V…``)."""

    items: list[tuple[ItemHeader, list[Finding]]]
    superseded: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        """Every finding of every item."""
        return [f for _, found in self.items for f in found]


def evaluate(
    known: Knowledge,
    groups: Sequence[GroupLike],
    ctx: Context,
    reminder_days: Sequence[int] = (90, 30, 7, 0),
    since: date | None = None,
) -> Evaluation:
    """Advisory, firmware and lifecycle findings for every group, grouped by item; ``since``
    is the first day no evaluation has seen (stage changes since then were missed)."""
    with gc_paused():  # millions of objects without cycles: collected once, afterwards
        index = FleetIndex.build(groups)
        advisories = enrich(known.advisories, known.scores, known.kev)
        items: list[tuple[ItemHeader, list[Finding]]] = []
        lookup = release_index(known.releases)  # made once, not once per advisory
        judged = advisories_findings(advisories, index, ctx, lookup)
        for advisory, batched in zip(advisories, judged, strict=True):
            if batched:  # routing reads every finding, several times: made once here
                items.append((advisory_header(advisory), list(batched)))
        fixes = AdvisoryFixes.for_releases(advisories, index, known.releases)
        superseded: dict[str, tuple[str, ...]] = {}
        for release in known.releases:
            outcome = release_outcome(release, index, ctx, advisories, fixes, lookup)
            if outcome.findings:
                items.append((release_header(release), outcome.findings))
            if outcome.superseded_by:
                superseded[release.key] = tuple(
                    release_label(r) for r in outcome.superseded_by
                )
        for key, found in _by_item(reminder_findings(groups, ctx, reminder_days, since)).items():
            items.append((lifecycle_header(key, found[0]), found))
    return Evaluation(items, superseded)


def advisory_header(advisory: Advisory) -> ItemHeader:
    """What alerts say about an advisory (its revision includes scores and KEV dates)."""
    return ItemHeader(
        advisory.key,
        "advisory",
        advisory.title,
        advisory.url,
        advisory.revision,
        advisory.vendor_id,
    )


def release_header(release: FirmwareRelease) -> ItemHeader:
    """What alerts say about a firmware release."""
    return ItemHeader(
        release.key,
        "firmware",
        release.title or f"Firmware {release.version}",
        release.notes_url or release.download_url or "",
        release.revision,
        release_label(release),
    )


def release_label(release: FirmwareRelease) -> str:
    """A release's short label in alerts: ``Firmware V5.9.72 build 260713``."""
    return f"Firmware {release.version}"


def lifecycle_header(key: str, finding: Finding) -> ItemHeader:
    """A stage change is its own item: ``lifecycle:MODEL:STAGE:DATE:LEADd``."""
    assert finding.change_to is not None and finding.change_on is not None
    title = f"{finding.model} enters {finding.change_to.value} on {finding.change_on.isoformat()}"
    return ItemHeader(key, "lifecycle", title, "", key, f"{finding.model} lifecycle")


def _by_item(findings: Iterable[Finding]) -> Mapping[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.item_key, []).append(f)
    return out
