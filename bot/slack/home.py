"""The App Home tab: fleets by stage, open findings by severity, stage changes, sources' health."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from bot.lifecycle import upcoming
from bot.policy import Stage
from bot.slack.blocks import (
    HOME_BLOCKS,
    Block,
    clip,
    context,
    divider,
    esc,
    fit,
    header,
    list_section,
    plural,
    section,
    when,
)
from bot.slack.env import Env
from bot.slack.fleetviews import ModelGroup, stage_devices, stage_line
from bot.slack.knowledge import ItemIndex, findings_severity, model_name
from bot.slack.ops import status_answer
from state.fleetsync import unevaluated
from state.records import SeverityCount

SEVERITY_ORDER = ("critical", "high", "medium", "low", "none")
MARKS = {"critical": ":red_circle:", "high": ":large_orange_circle:",
         "medium": ":large_yellow_circle:", "low": ":white_circle:", "none": ":white_circle:"}
HOME_DAYS = 90
SHOWN = 10


def home_view(env: Env) -> dict[str, Any]:
    """The Home tab view for ``views.publish`` (the same for every user)."""
    totals = env.store.fleets.model_totals()
    ctx = env.context()
    per = stage_devices(totals, ctx)
    overall: dict[Stage, int] = defaultdict(int)
    for stages in per.values():
        for stage, n in stages.items():
            overall[stage] += n
    fleet_lines = [f"• *{esc(fleet)}* {stage_line(stages)}" for fleet, stages in sorted(
        per.items(), key=lambda kv: -sum(kv[1].values()))]
    changes = upcoming([ModelGroup(f, m, t.devices, key=f"{f}|{m}")
                        for (f, m), t in totals.items()], ctx, HOME_DAYS)
    change_lines = [f"• {u.change_on.isoformat()} · *{esc(u.group.fleet)}* ·"
                    f" {esc(model_name(env.store, u.model, u.group.fleet))} →"
                    f" *{u.stage.value}* · {plural(u.group.count, 'device')}"
                    for u in changes[:SHOWN]]
    if len(changes) > SHOWN:
        change_lines.append(f"…and {len(changes) - SHOWN} more"
                            f" (`{env.settings.slack.command} upcoming`)")
    status = status_answer(env).blocks
    blocks: list[Block] = [
        header("firmwatch"),
        section(f"*All fleets* ({plural(sum(overall.values()), 'device')}):"
                f" {stage_line(overall)}"),
        list_section("Fleets by support stage", fleet_lines[:SHOWN * 2],
                     "no fleets yet: declare [[fleets]] in bot.toml or `firmwatch fleet import`",
                     "more fleets"),
        divider(),
        list_section("Open findings by advisory severity (worst CVSS of the findings)",
                     pending_lines(env) + severity_lines(
                         env.store.findings.severity_counts(state="open"), env.cache.index()),
                     "none open"),
        divider(),
        list_section(f"Stage changes in the next {HOME_DAYS} days", change_lines, "none"),
        divider(),
        *status[1:],
        context(f"updated {when(env.now)} · try"
                f" `{env.settings.slack.command} help`"),
    ]
    return {"type": "home", "blocks": fit(blocks, HOME_BLOCKS)}


def pending_lines(env: Env) -> list[str]:
    """Fleets whose device groups changed after the last cycle read them."""
    names = sorted(set(unevaluated(env.store)) & {f.name for f in env.store.fleets.all()})
    if not names:
        return []
    return [f":hourglass: *not evaluated yet*: {esc(clip(', '.join(names), 300))} (device groups"
            " changed after the last cycle; the next cycle evaluates them, or run"
            " `firmwatch check`)"]


def severity_lines(
    severities: Mapping[str, Mapping[str, SeverityCount]], index: ItemIndex
) -> list[str]:
    """Advisories (and their open findings) per severity, KEV called out; then the rest. An
    advisory counts at the worst severity its findings have (each judged on the CVEs of the
    rows naming its models), as the alerts say."""
    advisories: dict[str, list[int]] = {s: [0, 0, 0] for s in SEVERITY_ORDER}
    updates = reminders = other = 0
    for key, per in severities.items():
        n = sum(c.findings for c in per.values())
        sev = index.severity.get(key)
        if sev is not None:
            sev = findings_severity(per, sev.kev)
            row = advisories[sev.severity if sev.severity in advisories else "none"]
            row[0] += 1
            row[1] += n
            row[2] += 1 if sev.kev else 0
        elif key in index.releases:
            updates += n
        elif key.startswith("lifecycle:"):
            reminders += n
        else:
            other += n
    lines = []
    for name in SEVERITY_ORDER:
        found, groups, kev = advisories[name]
        if found:
            exploited = f" · :rotating_light: {kev} in CISA KEV" if kev else ""
            lines.append(f"{MARKS[name]} *{name}*: {plural(found, 'advisory', 'advisories')},"
                         f" {plural(groups, 'device group')}{exploited}")
    if updates:
        lines.append(f":package: firmware updates available for {plural(updates, 'device group')}")
    if reminders:
        lines.append(f":calendar: stage-change reminders for {plural(reminders, 'device group')}")
    if other:
        lines.append(f"other open findings: {other:,}")
    return lines
