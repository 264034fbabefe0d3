"""A device group's per-CVE verdicts and the finding fields that follow from them (pure).

`bot.findings` judges a group on its hits (one per row and CVE that touch it); what it makes of
them, and of the release that fixes the group, is here, with an advisory's verdicts made once each
(`AdvisoryVerdicts`).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.finding import CveVerdict
from bot.indexviews import Status
from bot.items import CveInfo, FirmwareRelease
from bot.matching import Hit
from bot.policy import FixPromise, StageInfo, combine, fix_promise
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
    cve_id: str, status: Status, cve: CveInfo | None, promise: FixPromise
) -> CveVerdict:
    """One CVE's verdict: its status, its score and the vendor's promise for that score."""
    score = cve.score if cve else None
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


def fixed_for_all(versions: Iterable[Version | None]) -> Version | None:
    """The version that fixes every row touching a group (their fixed versions): the highest,
    or None when one of them has none ("N/A"): no published version fixes that CVE, so none
    fixes the group, and upgrading to another row's fix is no fix for it."""
    found: Version | None = None
    for v in versions:
        if v is None:
            return None
        if found is None or v > found:
            found = v
    return found


# (promise class number, an advisory's scores) -> the promises a stage of that class makes for
# them: the same for every advisory with those scores (kept with a context's stage tables).
PromiseMemo = dict[tuple[int, tuple[tuple[float | None, str | None], ...]], tuple[FixPromise, ...]]


class AdvisoryVerdicts:
    """One advisory's per-CVE verdicts, made once each and shared by its findings.

    The promises a stage makes for every score of the advisory are numbered (per promise class
    number, as `bot.context.stage_facts` gives it, and per distinct set): a CVE's verdict follows
    from its status and the promise for its score, a group's verdicts from its hits.
    """

    def __init__(self, cves: Iterable[CveInfo], severe: float, memo: PromiseMemo) -> None:
        listed = tuple(cves)
        self.cve_info = {c.id: c for c in listed}
        # Every score a verdict may be judged on (a CVE a row names but the advisory does not
        # list, or "(no CVE)", has none), and each CVE's place among them.
        scored = [score_of(c) for c in listed]
        self.scores = tuple(dict.fromkeys([*scored, (None, None)]))
        self.score_at = {c.id: self.scores.index(s) for c, s in zip(listed, scored, strict=True)}
        self.no_score = self.scores.index((None, None))
        self.severe = severe
        self.memo = memo
        self.numbers: dict[int, int] = {}  # promise class number -> the number of its promises
        self.sets: dict[tuple[FixPromise, ...], int] = {}
        self.by_number: list[tuple[FixPromise, ...]] = []  # the sets, by number
        self.of_hits: dict[tuple[object, ...], tuple[CveVerdict, ...]] = {}
        self.ids: dict[tuple[str | None, ...], tuple[str, ...]] = {}  # rows' CVEs, distinct
        # A CVE's verdict by (CVE, status, promise, CVSS note): what it is made of.
        self.one: dict[tuple[object, ...], CveVerdict] = {}

    def promises(self, info: StageInfo, number: int) -> int:
        """The number of the promises a stage (of promise class ``number``) makes for every
        score of the advisory."""
        promises = self.numbers.get(number)
        if promises is None:
            made = self.memo.get((number, self.scores))
            if made is None:
                made = self.memo[number, self.scores] = tuple(
                    fix_promise(info, score, version, self.severe)
                    for score, version in self.scores
                )
            promises = self.sets.get(made, -1)
            if promises < 0:
                promises = self.sets[made] = len(self.by_number)
                self.by_number.append(made)
            self.numbers[number] = promises
        return promises

    def for_hits(
        self, hits: list[Hit], info: StageInfo, number: int
    ) -> tuple[Status, tuple[CveVerdict, ...], Version | None]:
        """A group's status, per-CVE verdicts and fixed version, from its hits."""
        status = min((h.status for h in hits), key=STATUS_RANK.__getitem__)
        fixed = fixed_for_all(h.fixed for h in hits if h.status != "review-needed")
        promises = self.promises(info, number)
        key = (tuple((h.cve, h.status) for h in hits), promises)
        verdicts = self.of_hits.get(key)
        if verdicts is None:
            verdicts = self.of_hits[key] = by_score([
                self.cve(cve_id, best, promises) for cve_id, best in best_statuses(hits).items()
            ])
        return status, verdicts, fixed

    def same_status(
        self, cves: tuple[str | None, ...], status: Status, promises: int
    ) -> tuple[CveVerdict, ...]:
        """`for_hits` of a row's hits that share one status (a batch's), without the hits."""
        ids = self.ids.get(cves)
        if ids is None:
            ids = self.ids[cves] = tuple(dict.fromkeys([cve or "(no CVE)" for cve in cves]))
        return by_score([self.cve(cve_id, status, promises) for cve_id in ids])

    def cve(self, cve_id: str, status: Status, promises: int) -> CveVerdict:
        """A CVE's verdict under the promises numbered ``promises``."""
        promise = self.by_number[promises][self.score_at.get(cve_id, self.no_score)]
        key = (cve_id, status, promise.promise, promise.cvss_note)
        one = self.one.get(key)
        if one is None:
            one = self.one[key] = cve_verdict(cve_id, status, self.cve_info.get(cve_id), promise)
        return one
