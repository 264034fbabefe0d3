"""Hikvision's long-term support (LTS) policy: stages, stage changes and fix promises.

Pure: every function takes the dates it needs and an explicit ``on`` date. The decisions the
product makes (see DOMAIN.md): discontinuation ends ``intense``/``dynamic`` even within two years of
launch; a stage starts on its first day; "severe" is a CVSS base score at or above a configurable
threshold (7.0); CVSS 3.x decides, and a CVSS 4.0-only score is used with a note that the
policy names 3.0.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

INTENSE_YEARS = 2
SECURITY_ONLY_YEARS = 5
DEFAULT_SEVERE_CVSS = 7.0
# The days firmwatch reckons with. A lifecycle date outside them is a placeholder or a typo
# (9999-12-31 for "never"), and the policy's arithmetic (+5 years, reminders) would leave the
# calendar; a day before 1900 does not survive the stored timestamps' text.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


class Stage(StrEnum):
    """Where a model stands under the LTS policy."""

    INTENSE = "intense"
    DYNAMIC = "dynamic"
    SECURITY_ONLY = "security-only"
    END_OF_SUPPORT = "end-of-support"
    NOT_COVERED = "not-covered"
    UNKNOWN = "unknown"


class Promise(StrEnum):
    """What the vendor promises for a vulnerability (or, per advisory, across its CVEs)."""

    YES = "yes"
    NO = "no"
    ONLY_IF_SEVERE = "only-if-severe"
    PARTIAL = "partial"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StageInfo:
    """A model's stage on a date, when that stage ends and what follows it."""

    stage: Stage
    ends: date | None
    next_stage: Stage | None
    reason: str
    since: date | None = None


@dataclass(frozen=True)
class FixPromise:
    """The vendor's promise for one vulnerability in one stage, with the reason in words."""

    promise: Promise
    reason: str
    cvss_note: str | None = None


def reckonable(day: date) -> date:
    """``day`` when firmwatch can reckon with it, else ValueError saying which days it can."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"expected a date from {FIRST_DAY} to {LAST_DAY}")
    return day


def add_years(day: date, years: int) -> date:
    """Return ``day`` plus whole years; 29 February becomes 28 February in common years."""
    year = day.year + years
    last = calendar.monthrange(year, day.month)[1]
    return day.replace(year=year, day=min(day.day, last))


def stage_on(
    covered: bool, launched: date | None, discontinued: date | None, on: date
) -> StageInfo:
    """Return the stage of a model with these dates on ``on``."""
    if not covered:
        return StageInfo(
            Stage.NOT_COVERED, None, None, "the model is outside the LTS policy's families"
        )
    if discontinued is not None:
        eos = add_years(discontinued, SECURITY_ONLY_YEARS)
        if on >= eos:
            return StageInfo(Stage.END_OF_SUPPORT, None, None, "5 years after discontinuation", eos)
        if on >= discontinued:
            return StageInfo(
                Stage.SECURITY_ONLY, eos, Stage.END_OF_SUPPORT, "discontinued", discontinued
            )
    if launched is None:
        reason = (
            "the launch date is not known, so intense and dynamic cannot be told apart"
            if discontinued
            else "neither the launch nor the discontinuation date is known"
        )
        nxt = Stage.SECURITY_ONLY if discontinued else None
        return StageInfo(Stage.UNKNOWN, discontinued, nxt, reason)
    dynamic_from = add_years(launched, INTENSE_YEARS)
    if on < dynamic_from:
        # before a launch still ahead, the model enters intense at launch: say so
        ahead = f"not launched yet: launch on {launched.isoformat()}, intense from then"
        if discontinued is not None and discontinued <= dynamic_from:
            return StageInfo(
                Stage.INTENSE,
                discontinued,
                Stage.SECURITY_ONLY,
                ahead if on < launched
                else "within 2 years of launch; discontinued before the 2 years end",
                launched,
            )
        return StageInfo(
            Stage.INTENSE, dynamic_from, Stage.DYNAMIC,
            ahead if on < launched else "within 2 years of launch", launched
        )
    if discontinued is None:
        return StageInfo(
            Stage.DYNAMIC,
            None,
            Stage.SECURITY_ONLY,
            "more than 2 years after launch; no discontinuation date is known",
            dynamic_from,
        )
    return StageInfo(
        Stage.DYNAMIC,
        discontinued,
        Stage.SECURITY_ONLY,
        "more than 2 years after launch and not yet discontinued",
        dynamic_from,
    )


def stage_changes(
    covered: bool, launched: date | None, discontinued: date | None
) -> list[tuple[date, Stage]]:
    """Every known date on which the model enters a new stage, in order."""
    if not covered:
        return []
    changes: list[tuple[date, Stage]] = []
    if launched is not None:
        changes.append((launched, Stage.INTENSE))
        dynamic_from = add_years(launched, INTENSE_YEARS)
        if discontinued is None or discontinued > dynamic_from:
            changes.append((dynamic_from, Stage.DYNAMIC))
    if discontinued is not None:
        changes.append((discontinued, Stage.SECURITY_ONLY))
        changes.append((add_years(discontinued, SECURITY_ONLY_YEARS), Stage.END_OF_SUPPORT))
    return changes


def stage_promise(info: StageInfo) -> Promise:
    """The promise a stage makes for any vulnerability, before its score is known (as
    `fix_promise` reads it: launch unknown but not yet discontinued promises a fix)."""
    stage = info.stage
    if stage is Stage.UNKNOWN and info.next_stage is Stage.SECURITY_ONLY:
        return Promise.YES
    return {
        Stage.INTENSE: Promise.YES,
        Stage.DYNAMIC: Promise.YES,
        Stage.SECURITY_ONLY: Promise.ONLY_IF_SEVERE,
        Stage.END_OF_SUPPORT: Promise.NO,
        Stage.NOT_COVERED: Promise.NO,
        Stage.UNKNOWN: Promise.UNKNOWN,
    }[stage]


def is_severe(score: float, threshold: float = DEFAULT_SEVERE_CVSS) -> bool:
    """Whether a CVSS base score counts as severe under the policy."""
    return score >= threshold


def promise_class(info: StageInfo) -> tuple[Stage, Stage | None]:
    """What `fix_promise` reads of a stage: equal classes, equal promises for every score."""
    return info.stage, info.next_stage if info.stage is Stage.UNKNOWN else None


def fix_promise(
    info: StageInfo,
    score: float | None,
    cvss_version: str | None,
    threshold: float = DEFAULT_SEVERE_CVSS,
) -> FixPromise:
    """What the vendor promises for one vulnerability of this score in this stage."""
    note = None
    if score is not None and cvss_version and not cvss_version.startswith("3"):
        note = f"the policy names CVSS 3.0; this is judged on the CVSS {cvss_version} score"
    stage = info.stage
    if stage in (Stage.INTENSE, Stage.DYNAMIC):
        return FixPromise(Promise.YES, f"{stage.value} support covers every security risk", note)
    if stage is Stage.UNKNOWN and info.next_stage is Stage.SECURITY_ONLY:
        # launch unknown but not yet discontinued: intense or dynamic, and both promise a fix
        return FixPromise(Promise.YES, "not yet discontinued: every security risk is covered", note)
    if stage is Stage.SECURITY_ONLY:
        if score is None:
            return FixPromise(
                Promise.UNKNOWN, "security-only support depends on a CVSS score, and none is known"
            )
        if is_severe(score, threshold):
            return FixPromise(
                Promise.YES, f"severe (CVSS {score:.1f} ≥ {threshold:.1f}) in security-only", note
            )
        return FixPromise(
            Promise.NO,
            f"not severe (CVSS {score:.1f} < {threshold:.1f}); security-only fixes severe issues",
            note,
        )
    if stage is Stage.END_OF_SUPPORT:
        return FixPromise(Promise.NO, "out of support: no fixes", None)
    if stage is Stage.NOT_COVERED:
        return FixPromise(Promise.NO, "outside the LTS policy: no fix is promised", None)
    return FixPromise(Promise.UNKNOWN, "the model's lifecycle dates are not known", None)


def combine(promises: Iterable[Promise]) -> Promise:
    """Fold per-CVE promises into one for an advisory: yes, no, partial or unknown (also
    promises already folded, such as several device groups' for one advisory: a partial one
    keeps the result partial)."""
    seen = set(promises)
    if not seen:
        return Promise.UNKNOWN
    if seen == {Promise.YES}:
        return Promise.YES
    if seen == {Promise.NO}:
        return Promise.NO
    if Promise.YES in seen or Promise.PARTIAL in seen:
        return Promise.PARTIAL
    return Promise.UNKNOWN if Promise.UNKNOWN in seen else Promise.NO


def promise_sentence(info: StageInfo, threshold: float = DEFAULT_SEVERE_CVSS) -> str:
    """One plain sentence on what the vendor promises now for a model in this stage."""
    until = f"until {info.ends.isoformat()}" if info.ends else "until it is discontinued"
    if info.stage is Stage.INTENSE:
        return (
            "Active updates: Hikvision ships security fixes and third-party library updates "
            f"for this model {until}."
        )
    if info.stage is Stage.DYNAMIC:
        if info.ends is None:
            return (
                "Hikvision fixes confirmed and potential security risks for this model until it "
                "is discontinued (no discontinuation date is known)."
            )
        return f"Hikvision fixes confirmed and potential security risks for this model {until}."
    if info.stage is Stage.SECURITY_ONLY:
        return (
            "Security-only support: Hikvision ships fixed firmware only for severe "
            f"vulnerabilities (CVSS ≥ {threshold:.1f}) {until}."
        )
    if info.stage is Stage.END_OF_SUPPORT:
        since = info.since.isoformat() if info.since else "an unknown date"
        return f"Out of support since {since}: Hikvision promises no further fixes."
    if info.stage is Stage.NOT_COVERED:
        return "This model is outside Hikvision's LTS policy: no fix is promised."
    if info.next_stage is Stage.SECURITY_ONLY:
        return (
            "Hikvision fixes security risks for this model until its discontinuation on "
            f"{until.removeprefix('until ')}; its launch date is not known, so whether it still "
            "gets active updates cannot be said."
        )
    return (
        "The LTS policy covers this model, but its launch and discontinuation dates are not "
        "known, so what Hikvision promises cannot be said: add them to the catalog."
    )
