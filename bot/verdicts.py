"""A device group's per-CVE verdicts and the finding fields that follow from them (pure).

`bot.findings` judges a group on its hits (one per row and CVE that touch it); what it makes of
them, and of the release that fixes the group, is here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.finding import CveVerdict
from bot.indexviews import Status
from bot.items import CveInfo, FirmwareRelease
from bot.matching import Hit
from bot.policy import FixPromise, combine
from bot.versions import Version

STATUS_RANK = {"affected": 0, "possibly-affected": 1, "review-needed": 2}


NO_RELEASE: dict[str, object] = {"download_url": None, "notes_url": None, "update_available": None}


def score_of(cve: CveInfo) -> tuple[float | None, str | None]:
    score = cve.score
    return (score.base_score, score.version) if score else (None, None)


def verdict_fields(verdicts: tuple[CveVerdict, ...], fixed: Version | None) -> dict[str, object]:
    """An advisory finding's fields that follow from its verdicts and fixed version."""
    return {
        "fix_promised": combine(v.promise for v in verdicts),
        "cves": verdicts,
        "fixed_version": str(fixed) if fixed else None,
    }


def release_fields(release: FirmwareRelease | None) -> dict[str, object]:
    """An advisory finding's fields that follow from the release that fixes it."""
    return {
        "download_url": release.download_url if release else None,
        "notes_url": release.notes_url if release else None,
        "update_available": release.version if release else None,
    }


def best_statuses(hits: Iterable[Hit]) -> dict[str, Status]:
    """Per CVE ("(no CVE)" for a row naming none), the best status its hits give."""
    best: dict[str, Status] = {}
    for hit in hits:
        key = hit.cve or "(no CVE)"
        if key not in best or STATUS_RANK[hit.status] < STATUS_RANK[best[key]]:
            best[key] = hit.status
    return best


def cve_verdict(
    cve_id: str,
    status: Status,
    cve: CveInfo | None,
    promise_for: Callable[[float | None, str | None], FixPromise],
) -> CveVerdict:
    """One CVE's verdict: its status, its score and the vendor's promise for that score."""
    score = cve.score if cve else None
    promise = promise_for(score.base_score if score else None, score.version if score else None)
    others = tuple(
        f"{s.source} CVSS {s.version} {s.base_score:.1f}"
        for s in (cve.scores if cve else ())
        if score and s != score and s.base_score != score.base_score
    )
    return CveVerdict(
        id=cve_id,
        status=status,
        promise=promise.promise,
        score=score.base_score if score else None,
        severity=score.severity if score else None,
        cvss_version=score.version if score else None,
        vector=score.vector if score else None,
        kev_added=cve.kev_added if cve else None,
        cvss_note=promise.cvss_note,
        other_scores=others,
    )


def by_score(verdicts: Iterable[CveVerdict]) -> tuple[CveVerdict, ...]:
    """Verdicts, highest score first (unscored last; ties keep their order)."""
    return tuple(sorted(verdicts, key=lambda v: -(v.score or 0.0)))


def highest(versions: Iterable[Version | None]) -> Version | None:
    known = [v for v in versions if v is not None]
    return max(known) if known else None
