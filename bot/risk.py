"""Risk notes: one or two plain sentences a person on call can act on (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from bot.finding import CveVerdict, Finding
from bot.models import display_model, normalize_model
from bot.policy import DEFAULT_SEVERE_CVSS, SECURITY_ONLY_YEARS, Promise, Stage, add_years
from bot.versions import is_customised

_ENTERS = {
    Stage.DYNAMIC: "after that Hikvision fixes confirmed and potential risks until discontinuation",
    Stage.SECURITY_ONLY: "after that Hikvision fixes only severe vulnerabilities",
    Stage.END_OF_SUPPORT: "after that no fix will come",
    Stage.INTENSE: "Hikvision gives active updates for 2 years",
}


# Why alike findings of one status are so, when their own reasons differ (each quotes its group's
# firmware, or its row's problem): true of every one of them.
_SHARED_REASONS = {
    "affected": "the firmware of each device group is in the affected versions",
    "possibly-affected": "the firmware of each device group does not tell whether it is affected",
    "review-needed": "the advisory rows for these device groups could not be read",
}


@dataclass(frozen=True)
class NoteFacts:
    """What a note is written from: a finding, or several alike findings summed up, with a
    reason true of all of them (None: the finding's own)."""

    finding: Finding
    count: int
    reason: str | None = None
    sites: tuple[str, ...] | None = None  # None: the finding's own
    customised: tuple[str, ...] | None = None  # customised HikCentral builds; None: the finding's

    @classmethod
    def of(cls, findings: Sequence[Finding]) -> NoteFacts:
        """Sum up alike findings (same item, status, stage and promise) into one set of facts."""
        sites = tuple(dict.fromkeys(f.site for f in findings if f.site))
        builds = tuple(dict.fromkeys(b for f in findings for b in customised_builds(f)))
        return cls(
            findings[0], sum(f.count for f in findings), shared_reason(findings), sites, builds
        )


def customised_builds(f: Finding) -> tuple[str, ...]:
    """The finding's firmware when it is a customised HikCentral build (JKN, IPM, DZP), which
    Hikvision asks to check with its local office before any upgrade."""
    if f.firmware and normalize_model(f.model).startswith("HIKCENTRAL") and is_customised(
        f.firmware
    ):
        return (f.firmware,)
    return ()


def _customised_note(builds: Sequence[str]) -> str:
    noun = "Customised build" if len(builds) == 1 else "Customised builds"
    return f"{noun} ({', '.join(builds)}): confirm with Hikvision before upgrading."


def shared_reason(findings: Sequence[Finding]) -> str:
    """A reason true of every one of alike findings: theirs when they share it, else one that
    quotes no group's firmware."""
    first = findings[0].reason
    if all(f.reason == first for f in findings):
        return first
    return _SHARED_REASONS.get(findings[0].status, "each device group has its own reason")


def risk_note(facts: NoteFacts, severe_cvss: float = DEFAULT_SEVERE_CVSS) -> str:
    """The risk note for a finding (or alike findings) under the LTS policy."""
    f = facts.finding
    reason = f.reason if facts.reason is None else facts.reason
    if f.kind == "lifecycle":
        return _lifecycle(f, facts.count, (f.site,) if facts.sites is None else facts.sites)
    builds = customised_builds(f) if facts.customised is None else facts.customised
    if f.kind == "firmware":
        update = _update(f, facts.count)
        return f"{update} {_customised_note(builds)}" if builds else update
    parts: list[str] = []
    if f.kev_since:
        parts.append(f"Exploited in the wild (CISA KEV since {f.kev_since.isoformat()}).")
    if f.status == "possibly-affected":
        parts.append(f"Possibly affected: {reason}; check the firmware.")
    elif f.status == "review-needed":
        parts.append(f"Review needed: {reason}.")
    parts.append(_promise(f, facts.count, severe_cvss))
    if said := _cvss_note(f.cves):
        parts.append(said)
    if builds:
        parts.append(_customised_note(builds))
    return " ".join(parts)


def _cvss_note(cves: Sequence[CveVerdict]) -> str | None:
    """Say which CVEs were judged on a score other than CVSS 3.x (4.0 only), which the policy
    does not name: all of them, or by name when others have a 3.x score (a CVE denied a fix on
    its CVSS 4.0 score is judged so, whatever the worst CVE's score)."""
    scored = [c for c in cves if c.score is not None and c.cvss_version]
    other = [c for c in scored if not (c.cvss_version or "").startswith("3")]
    if not other:
        return None
    versions = " and ".join(sorted({c.cvss_version or "" for c in other}))
    which = "Scored" if len(other) == len(scored) else f"{joined([c.id for c in other])} scored"
    return f"({which} with CVSS {versions}; the policy names CVSS 3.0.)"


def _promise(f: Finding, count: int, threshold: float) -> str:
    """What the policy promises for these devices and what to do about it. A published fix is
    said first unless the stage promises one, and nothing after it says no fix will come."""
    fixed, devices = f.fixed_version, _devices(count)
    upgrade = f"Fixed in {fixed}: upgrade {devices}. " if fixed else ""
    if f.stage in (Stage.INTENSE, Stage.DYNAMIC) or (
        f.stage is Stage.UNKNOWN and f.stage_next is Stage.SECURITY_ONLY  # not discontinued yet
    ):
        support = f"supports this model {_support(f)}"
        if fixed:
            return f"Fixed in {fixed}. Hikvision {support}: upgrade {devices}."
        return (
            f"No fixed version is published yet; Hikvision promises a fix and {support}. "
            f"Restrict network access to {_these(count)} meanwhile."
        )
    if f.stage is Stage.SECURITY_ONLY:
        return _security_only(f, count, threshold)
    if f.stage is Stage.END_OF_SUPPORT:
        since = f"Out of support since {_day(f.stage_since)}"
        if fixed:
            return f"{upgrade}{since}: no further fix will come, so plan to replace {_them(count)}."
        return f"{since}: no fix will come. Isolate or replace {devices}."
    if f.stage is Stage.NOT_COVERED:
        no_fix = "no further fix" if fixed else "no fix"
        return f"{upgrade}This model is outside Hikvision's LTS policy: {no_fix} is promised."
    unknown = "Support stage unknown (the model's lifecycle dates are not in the catalog)"
    if fixed:
        return (
            f"{upgrade}{unknown}, so whether further fixes will come cannot be said: add the "
            "dates to the catalog."
        )
    return (
        f"{unknown}, so whether Hikvision will fix this cannot be said. Restrict network access "
        f"to {_these(count)} meanwhile, and add the dates to the catalog."
    )


def _support(f: Finding) -> str:
    """How long, and how, Hikvision fixes every risk of the model: intense ends in dynamic, or in
    security-only when the model is discontinued within its 2 years."""
    ends = _day(f.stage_ends)
    if f.stage is Stage.DYNAMIC:
        return "until discontinuation"
    if f.stage is Stage.UNKNOWN:  # launch not known: intense or dynamic until discontinuation
        return f"until its discontinuation on {ends}"
    if f.stage_next is Stage.SECURITY_ONLY:
        last = _day(add_years(f.stage_ends, SECURITY_ONLY_YEARS) if f.stage_ends else None)
        return (
            f"with active fixes until {ends} (its discontinuation), then for severe issues only "
            f"until {last}"
        )
    return f"with active fixes until {ends}, then with fixes until discontinuation"


def _security_only(f: Finding, count: int, threshold: float) -> str:
    """Security-only: a fix is promised for severe CVEs only; a published fix is said either way."""
    fixed, devices, worst = f.fixed_version, _devices(count), f.worst
    if f.fix_promised in (Promise.YES, Promise.PARTIAL):
        if f.fix_promised is Promise.YES:
            whom = f"severe issues like this one (CVSS {_score(worst)})"
        else:  # a CVE with no score yet is neither promised a fix nor denied one
            yes = _ids(c for c in f.cves if c.promise is Promise.YES)
            denied = [c for c in f.cves if c.promise is Promise.NO]
            whom = f"{yes} but not for {_ids(denied, threshold)}" if denied else yes
            pending = [c.id for c in f.cves if c.promise is Promise.UNKNOWN]
            if pending:
                verb, them = ("has", "it") if len(pending) == 1 else ("have", "them")
                whom += (f"; {joined(pending)} {verb} no CVSS score yet, so whether Hikvision "
                         f"promises a fix for {them} cannot be said")
        promise = (
            f"Security-only support {_until(f.stage_ends)}: Hikvision promises a fix for {whom}."
        )
        if fixed:
            return f"{promise} Fixed in {fixed}. Upgrade {devices}."
        return (
            f"{promise} No fixed version is published yet: restrict network access to "
            f"{_these(count)} until it is."
        )
    upgrade = f"Fixed in {fixed}: upgrade {devices}. " if fixed else ""
    only = f"Security-only support: Hikvision fixes only severe issues (CVSS ≥ {threshold:.1f})"
    if f.fix_promised is Promise.NO and worst is not None:  # every CVE scored, none severe
        if fixed:
            return (
                f"{upgrade}{only}, so for this one (CVSS {_score(worst)}) no further fix is "
                "promised."
            )
        return (
            f"{only}; this one scores {_score(worst)} and may never be fixed. Restrict network "
            f"access to {_these(count)}."
        )
    unscored = f"{'this one has' if worst is None else 'some of its CVEs have'} no CVSS score yet"
    if fixed:
        return (
            f"{upgrade}{only}, and {unscored}, so whether further fixes will come cannot be "
            "said."
        )
    return (
        f"{only}, and {unscored}, so whether a fix will come cannot be said. Restrict network "
        f"access to {_these(count)}."
    )


def _update(f: Finding, count: int) -> str:
    running = f" (you run {f.firmware})" if f.firmware else " (the devices' firmware is not known)"
    fixes = f"; it fixes {', '.join(f.resolves)}" if f.resolves else ""
    return f"{f.update_available} is available{running}{fixes}. Upgrade {_devices(count)}."


def _lifecycle(f: Finding, count: int, sites: Sequence[str]) -> str:
    when = f.change_on.isoformat() if f.change_on else "soon"
    to = f.change_to or f.stage
    named = [site for site in sites if site]
    if len(named) > _SITES_NAMED:
        where = f" at {len(named)} sites"
    elif named:
        where = " at " + joined(named)
    else:
        where = ""
    model = display_model(f.model)
    then = _ENTERS.get(to, "")
    if f.stage is to:  # told on the day, or after a day no cycle ran: the model has entered it
        verb, then = "entered", then.replace("after that", "since then", 1)
    else:
        verb = "enters" if count == 1 else "enter"
    return f"{count} {model}{where} {verb} {to.value} on {when}: {then}.".replace(": .", ".")


_SITES_NAMED = 3  # more are counted, not named


def _until(day: date | None) -> str:
    return f"until {_day(day)}"


def _day(day: date | None) -> str:
    return day.isoformat() if day else "a date not known"


def _score(verdict: CveVerdict | None) -> str:
    return f"{verdict.score:.1f}" if verdict and verdict.score is not None else "not known"


def _devices(count: int) -> str:
    return "the device" if count == 1 else f"the {count} devices"


def _these(count: int) -> str:
    return "this device" if count == 1 else "these devices"


def _them(count: int) -> str:
    return "it" if count == 1 else "them"


def joined(names: Sequence[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _ids(verdicts: Iterable[CveVerdict], below: float | None = None) -> str:
    """CVE ids with their scores, each said once (``below``: the threshold they fall short of)."""
    short = f", below {below:.1f}" if below is not None else ""
    items = [
        f"{c.id} (CVSS {c.score:.1f}{short})" if c.score is not None
        else f"{c.id} (no CVSS score yet)" if below is not None
        else c.id
        for c in verdicts
    ]
    return ", ".join(items) or "none"
