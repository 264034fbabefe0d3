"""The finding record: what one item means for one device group (pure data).

A finding's key is (fleet, device group, item); its fields are the structured facts a risk note and
an alert are written from. `bot.findings` and `bot.releasefindings` make them (`new_finding`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from bot.indexviews import GroupLike, Indexed
from bot.policy import Promise, Stage, StageInfo

Kind = Literal["advisory", "firmware", "lifecycle"]


@dataclass(frozen=True)
class CveVerdict:
    """One CVE as it bears on one device group."""

    id: str
    status: str
    promise: Promise
    score: float | None = None
    severity: str | None = None
    cvss_version: str | None = None
    vector: str | None = None
    kev_added: date | None = None
    cvss_note: str | None = None
    other_scores: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """What one item means for one device group of one fleet."""

    key: str
    kind: Kind
    fleet: str
    group_key: str
    model: str
    firmware: str | None
    count: int
    site: str
    item_key: str
    status: str
    reason: str
    stage: Stage
    stage_ends: date | None = None
    stage_since: date | None = None
    fix_promised: Promise = Promise.UNKNOWN
    cves: tuple[CveVerdict, ...] = ()
    fixed_version: str | None = None
    download_url: str | None = None
    notes_url: str | None = None
    update_available: str | None = None
    resolves: tuple[str, ...] = ()
    change_to: Stage | None = None
    change_on: date | None = None
    tags: tuple[str, ...] = field(default=())

    @property
    def worst(self) -> CveVerdict | None:
        """The highest-scoring CVE verdict (the one that sets the finding's severity)."""
        scored = [c for c in self.cves if c.score is not None]
        return max(scored, key=lambda c: c.score or 0.0) if scored else None

    @property
    def kev_since(self) -> date | None:
        """The earliest KEV listing among the finding's CVEs."""
        dates = [c.kev_added for c in self.cves if c.kev_added]
        return min(dates) if dates else None


def finding_key(fleet: str, group_key: str, item_key: str) -> str:
    """The identity of a finding: (fleet, device group, item)."""
    return f"{fleet}|{group_key}|{item_key}"


def made(fields: dict[str, object]) -> Finding:
    """A finding from its fields, all of them, without the dataclass's checks (for fleet-scale
    copies of a finding made the ordinary way, whose fields they are)."""
    finding = _NEW(Finding)
    _SET(finding, "__dict__", fields)
    return finding


def copied(
    shape: dict[str, object], group: GroupLike, item_key: str, reason: str | None = None
) -> Finding:
    """Another group's finding of the same item and model (its fields ``shape``) for ``group``:
    the group's own fields put in, and its ``reason`` when it has its own."""
    fields = shape.copy()
    fields["key"] = f"{group.fleet}|{group.key}|{item_key}"  # finding_key, inlined
    fields["fleet"] = group.fleet
    fields["group_key"] = group.key
    fields["firmware"] = group.firmware
    fields["count"] = group.count
    fields["site"] = group.site
    if reason is not None:
        fields["reason"] = reason
    return made(fields)


_NEW = object.__new__
_SET = object.__setattr__


def new_finding(
    kind: Kind,
    entry: Indexed,
    item_key: str,
    status: str,
    reason: str,
    info: StageInfo,
    **extra: object,
) -> Finding:
    """A finding of one device group, from its index entry and its model's stage."""
    return group_finding(kind, entry.group, entry.model, item_key, status, reason, info, **extra)


def group_finding(
    kind: Kind,
    group: GroupLike,
    model: str,
    item_key: str,
    status: str,
    reason: str,
    info: StageInfo,
    **extra: object,
) -> Finding:
    """A finding of one device group of a (normalised) model, from its model's stage."""
    return Finding(
        key=finding_key(group.fleet, group.key, item_key),
        kind=kind,
        fleet=group.fleet,
        group_key=group.key,
        model=model,
        firmware=group.firmware,
        count=group.count,
        site=group.site,
        item_key=item_key,
        status=status,
        reason=reason,
        stage=info.stage,
        stage_ends=info.ends,
        stage_since=info.since,
        **extra,  # type: ignore[arg-type]
    )
