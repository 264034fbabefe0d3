"""Enrich advisories with NVD scores and CISA KEV listings (pure).

Per CVE named by an advisory: the vendor's scores from the advisory stay first and keep deciding
(through :func:`bot.items.pick_score`); NVD's scores are added beside them; the CNA's score as NVD
carries it counts as the vendor's only when the advisory states none; KEV (or NVD's copy of it,
``cisaExploitAdd``) marks the CVE exploited with the date added and the due date. The revision
hash covers all of it, so a KEV listing or a new score makes a new revision of the advisory and
an enrichment that changes nothing leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.items import Advisory, CveInfo, CvssScore, ExploitSignal, ScoreRecord


def enrich(
    advisories: Sequence[Advisory],
    scores: Mapping[str, ScoreRecord],
    kev: Mapping[str, ExploitSignal],
) -> list[Advisory]:
    """Advisories with NVD scores beside the vendor's and KEV dates on exploited CVEs."""
    out: list[Advisory] = []
    for advisory in advisories:
        cves = tuple(enrich_cve(c, scores.get(c.id), kev.get(c.id)) for c in advisory.cves)
        out.append(advisory if cves == advisory.cves else replace(advisory, cves=cves))
    return out


def enrich_cve(
    cve: CveInfo, record: ScoreRecord | None, signal: ExploitSignal | None
) -> CveInfo:
    """One CVE with NVD's scores added and KEV's dates set (KEV, else NVD's copy, else as was)."""
    scores = _merged(cve.scores, record.scores if record else ())
    added = (signal.date_added if signal else None) or (record.kev_added if record else None)
    due = (signal.due_date if signal else None) or (record.kev_due if record else None)
    return replace(
        cve, scores=scores, kev_added=added or cve.kev_added, kev_due=due or cve.kev_due
    )


def _merged(own: tuple[CvssScore, ...], nvd: tuple[CvssScore, ...]) -> tuple[CvssScore, ...]:
    """The advisory's scores, then NVD's; the CNA's copies only when the advisory has none."""
    vendor_stated = any(s.source == "vendor" for s in own)
    merged = list(own)
    for score in nvd:
        if score.source == "vendor" and vendor_stated:
            continue  # the advisory is the vendor's own word; its score decides
        if score not in merged:
            merged.append(score)
    merged.sort(key=lambda s: s.source != "vendor")  # stable: the vendor's first, order kept
    return tuple(merged)
