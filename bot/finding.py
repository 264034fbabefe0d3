"""The finding record: what one item means for one device group (pure data).

A finding's key is (fleet, device group, item); its fields are the structured facts a risk note and
an alert are written from. `bot.findings` and `bot.releasefindings` make them (`new_finding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Literal, NamedTuple

from bot.indexviews import GroupLike, Indexed
from bot.models import shown_model
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


class Finding(NamedTuple):
    """What one item means for one device group of one fleet.

    A named tuple, its group's own fields first (`GROUP_FIELDS`): a cycle at fleet scale makes
    millions, each a copy of another finding of the same item and model with the group's fields
    put in (`copied`: one tuple, a quarter of a dataclass's size).
    """

    key: str
    fleet: str
    group_key: str
    firmware: str | None
    count: int  # type: ignore[assignment]  # shadows tuple.count, which findings never use
    site: str
    reason: str
    kind: Kind
    model: str
    item_key: str
    status: str
    stage: Stage
    stage_ends: date | None = None
    stage_since: date | None = None
    stage_next: Stage | None = None  # what follows the stage (its note says so)
    fix_promised: Promise = Promise.UNKNOWN
    cves: tuple[CveVerdict, ...] = ()
    fixed_version: str | None = None
    download_url: str | None = None
    notes_url: str | None = None
    update_available: str | None = None
    resolves: tuple[str, ...] = ()
    change_to: Stage | None = None
    change_on: date | None = None
    tags: tuple[str, ...] = ()

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


GROUP_FIELDS = 7  # key, fleet, group_key, firmware, count, site, reason: the group's own
_NAMES = Finding._fields
_NEW = partial(tuple.__new__, Finding)


def finding_key(fleet: str, group_key: str, item_key: str) -> str:
    """The identity of a finding: (fleet, device group, item)."""
    return f"{fleet}|{group_key}|{item_key}"


def made(fields: Mapping[str, object]) -> Finding:
    """A finding from its fields, all of them by name, without the checks of a call (for a
    shape of many findings, made once from the fields of a finding made the ordinary way)."""
    return _NEW([fields[name] for name in _NAMES])


def copied(like: Finding, group: GroupLike, item_key: str, reason: str | None = None) -> Finding:
    """Another group's finding of the same item and model as ``like``: the group's own fields
    put in, and its ``reason`` when it has its own."""
    own = (
        f"{group.fleet}|{group.key}|{item_key}",  # finding_key, inlined
        group.fleet,
        group.key,
        group.firmware,
        group.count,
        group.site,
        like[GROUP_FIELDS - 1] if reason is None else reason,
    )
    return _NEW(own + like[GROUP_FIELDS:])  # concatenated: a third faster than unpacking


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
        stage_next=info.next_stage,
        **extra,  # type: ignore[arg-type]
    )

def vendor_model(f: Finding) -> str:
    """A finding's model as the vendor writes it (``iDS-…``): for want of the fleet registry's
    model as registered (`alert_document`)."""
    return shown_model(f.model)
