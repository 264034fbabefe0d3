"""Risk notes: one or two plain sentences a person on call can act on (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from bot.finding import CveVerdict, Finding
from bot.policy import DEFAULT_SEVERE_CVSS, Promise, Stage

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

    @classmethod
    def of(cls, findings: Sequence[Finding]) -> NoteFacts:
        """Sum up alike findings (same item, status, stage and promise) into one set of facts."""
        return cls(findings[0], sum(f.count for f in findings), shared_reason(findings))


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
        return _lifecycle(f, facts.count)
    if f.kind == "firmware":
        return _update(f, facts.count)
    parts: list[str] = []
    if f.kev_since:
        parts.append(f"Exploited in the wild (CISA KEV since {f.kev_since.isoformat()}).")
    if f.status == "possibly-affected":
        parts.append(f"Possibly affected: {reason}; check the firmware.")
    elif f.status == "review-needed":
        parts.append(f"Review needed: {reason}.")
    parts.append(_promise(f, facts.count, severe_cvss))
    worst = f.worst
    if worst and worst.cvss_version and not worst.cvss_version.startswith("3"):
        parts.append(f"(Scored with CVSS {worst.cvss_version}; the policy names CVSS 3.0.)")
    return " ".join(parts)


def _promise(f: Finding, count: int, threshold: float) -> str:
    devices = _devices(count)
    fixed = f"Fixed in {f.fixed_version}. " if f.fixed_version else ""
    worst = f.worst
    if f.stage in (Stage.INTENSE, Stage.DYNAMIC):
        until = "until discontinuation" if f.stage is Stage.DYNAMIC else _until(f.stage_ends)
        if f.fixed_version:
            return f"{fixed}Hikvision supports this model {until}: upgrade {devices}."
        return (
            f"No fixed version is published yet; Hikvision supports this model {until} and "
            f"promises a fix. Restrict network access to {_these(count)} meanwhile."
        )
    if f.stage is Stage.SECURITY_ONLY:
        if f.fix_promised is Promise.PARTIAL:
            yes = _ids(c for c in f.cves if c.promise is Promise.YES)
            no = _ids(c for c in f.cves if c.promise is not Promise.YES)
            return (
                f"Security-only support {_until(f.stage_ends)}: Hikvision promises a fix for "
                f"{yes} but not for {no} (CVSS < {threshold:.1f}). {fixed}"
                f"Restrict network access to {_these(count)}."
            ).replace(". .", ".")
        if f.fix_promised is Promise.YES and worst and worst.score is not None:
            tail = f" {fixed}Upgrade {devices}." if f.fixed_version else ""
            return (
                f"Security-only support {_until(f.stage_ends)}: Hikvision promises a fix for "
                f"severe issues like this one (CVSS {worst.score:.1f}).{tail}"
            )
        if worst and worst.score is not None:
            tail = f" {fixed}Upgrade {devices}." if f.fixed_version else ""
            return (
                f"Security-only support: Hikvision fixes only severe issues (CVSS ≥ "
                f"{threshold:.1f}); this one scores {worst.score:.1f} and may never be fixed. "
                f"Restrict network access to {_these(count)}.{tail}"
            )
        return (
            "Security-only support: Hikvision fixes only severe issues, and this one has no "
            f"CVSS score yet, so whether a fix will come cannot be said. {fixed}".strip()
        )
    if f.stage is Stage.END_OF_SUPPORT:
        since = f.stage_since.isoformat() if f.stage_since else "an unknown date"
        return f"Out of support since {since}: no fix will come. Isolate or replace {devices}."
    if f.stage is Stage.NOT_COVERED:
        tail = f" {fixed}Upgrade {devices}." if f.fixed_version else ""
        return f"This model is outside Hikvision's LTS policy: no fix is promised.{tail}"
    return (
        "Support stage unknown (the model's lifecycle dates are not in the catalog), so whether "
        f"Hikvision will fix this cannot be said. {fixed}Add the dates to the catalog."
    )


def _update(f: Finding, count: int) -> str:
    running = f" (you run {f.firmware})" if f.firmware else " (the devices' firmware is not known)"
    fixes = f"; it fixes {', '.join(f.resolves)}" if f.resolves else ""
    return f"{f.update_available} is available{running}{fixes}. Upgrade {_devices(count)}."


def _lifecycle(f: Finding, count: int) -> str:
    when = f.change_on.isoformat() if f.change_on else "soon"
    to = f.change_to or f.stage
    site = f" at {f.site}" if f.site else ""
    return f"{count} {f.model}{site} enter {to.value} on {when}: {_ENTERS.get(to, '')}.".replace(
        ": .", "."
    )


def _until(day: date | None) -> str:
    return f"until {day.isoformat()}" if day else "until a date not known"


def _devices(count: int) -> str:
    return "the device" if count == 1 else f"the {count} devices"


def _these(count: int) -> str:
    return "this device" if count == 1 else "these devices"


def _ids(verdicts: Iterable[CveVerdict]) -> str:
    items = [f"{c.id} (CVSS {c.score:.1f})" if c.score is not None else c.id for c in verdicts]
    return ", ".join(items) or "none"
