"""Lifecycle reminders: device groups whose model changes stage soon (pure).

A reminder fires 90, 30 and 7 days before a stage change and on the day (configurable). When the
service was down on a reminder day, the next run sends the most urgent reminder still due, once:
its identity carries the change date and the lead time, so it is never sent twice. When it was
down on the day of the change itself, the next run says the model entered its stage on that day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from bot.catalog import ModelError, family_of, normalize_model
from bot.context import Context
from bot.finding import Finding, group_finding
from bot.indexviews import GroupLike
from bot.policy import Stage, StageInfo, stage_changes, stage_on


@dataclass(frozen=True)
class Upcoming:
    """A device group's next stage change."""

    group: GroupLike
    model: str
    change_on: date
    stage: Stage


def upcoming(groups: Iterable[GroupLike], ctx: Context, days: int) -> list[Upcoming]:
    """Device groups whose model changes stage within ``days`` of ``ctx.on``, soonest first."""
    until = ctx.on + timedelta(days=days)
    changes: dict[str, tuple[date, Stage, str] | None] = {}  # per model as written
    found: list[Upcoming] = []
    for group in groups:
        written = group.model
        if written in changes:
            nxt = changes[written]
        else:
            nxt = changes[written] = _next_change(written, ctx)
        if nxt and nxt[0] <= until:
            found.append(Upcoming(group, nxt[2], nxt[0], nxt[1]))
    return sorted(found, key=lambda u: (u.change_on, u.group.fleet, u.model))


class _Due(NamedTuple):
    """The reminder due for the groups of one model."""

    model: str
    item_key: str
    change_to: Stage
    change_on: date
    reason: str
    info: StageInfo


def reminder_findings(
    groups: Iterable[GroupLike],
    ctx: Context,
    lead_days: Sequence[int] = (90, 30, 7, 0),
    since: date | None = None,
) -> list[Finding]:
    """Reminders due on ``ctx.on``: the most urgent lead time already reached, per change.

    ``since`` is the first day no cycle has looked at yet (the day after the last one's): a
    stage change from then until before ``ctx.on`` went by unseen, and its most urgent reminder
    (on the day, by default) is due now. Worked out once per model (as written): a fleet has far
    fewer models than device groups.
    """
    leads = sorted(set(lead_days))
    dues: dict[str, list[_Due]] = {}
    findings: list[Finding] = []
    for group in groups:
        written = group.model
        due = dues.get(written)
        if due is None:
            due = dues[written] = _dues(written, ctx, leads, since)
        if not due:  # most groups on most days
            continue
        findings += [
            group_finding(
                "lifecycle", group, d.model, d.item_key, "stage-change", d.reason,
                d.info, change_to=d.change_to, change_on=d.change_on,
            )
            for d in due
        ]
    return findings


def _dues(written: str, ctx: Context, leads: Sequence[int], since: date | None) -> list[_Due]:
    """The reminders due on ``ctx.on`` for a model's groups: of a change missed since
    ``since``, and of the next change the smallest lead reached."""
    try:
        model = normalize_model(written)
    except ModelError:
        return []
    launched, discontinued = _dates(model, ctx)
    changes = [
        (day, stage)
        for day, stage in stage_changes(family_of(model).covered, launched, discontinued)
        if stage is not Stage.INTENSE  # launches are not changes
    ]
    due: list[tuple[str, Stage, date, str]] = []  # item key, stage, day, reason
    missed = [(d, s) for d, s in changes if since is not None and since <= d < ctx.on]
    if missed and leads:
        day, stage = missed[-1]
        due.append((_item_key(model, stage, day, leads[0]), stage, day,
                    f"entered {stage.value} on {day.isoformat()}"))
    nxt = next(((d, s) for d, s in changes if d >= ctx.on), None)
    if nxt is not None:
        day, stage = nxt
        left = (day - ctx.on).days
        reached = [n for n in leads if n >= left]
        if reached:
            due.append((_item_key(model, stage, day, reached[0]), stage, day,
                        f"enters {stage.value} in {left} days" if left else "changes stage today"))
    if not due:  # most models on most days: no stage worked out
        return []
    info = stage_on(family_of(model).covered, launched, discontinued, ctx.on)
    return [_Due(model, key, stage, day, reason, info) for key, stage, day, reason in due]


def _item_key(model: str, stage: Stage, day: date, lead: int) -> str:
    return f"lifecycle:{model}:{stage.value}:{day.isoformat()}:{lead}d"


def _dates(model: str, ctx: Context) -> tuple[date | None, date | None]:
    known = ctx.catalog.lookup(model)
    return (known.launched, known.discontinued) if known else (None, None)


def _next_change(written: str, ctx: Context) -> tuple[date, Stage, str] | None:
    """The first stage change on or after the context's date (launches are not changes)."""
    try:
        model = normalize_model(written)
    except ModelError:
        return None
    launched, discontinued = _dates(model, ctx)
    for day, stage in stage_changes(family_of(model).covered, launched, discontinued):
        if day >= ctx.on and stage is not Stage.INTENSE:
            return day, stage, model
    return None
