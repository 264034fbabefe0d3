"""``fleets``, ``fleet NAME`` and ``upcoming [DAYS]``: fleets by support stage, one fleet, changes.

Everything is computed per (fleet, model) from the store's aggregate query, so a million device
groups cost one grouped read, and the stage of each model is judged once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.catalog import ModelError
from bot.context import Context, stage_of
from bot.lifecycle import upcoming
from bot.policy import Stage
from bot.slack.blocks import (
    Answer,
    clip,
    context,
    esc,
    header,
    list_section,
    note,
    plural,
    section,
    when,
)
from bot.slack.env import Env
from bot.slack.knowledge import (
    CYCLE_KEY,
    ItemIndex,
    Severity,
    advisory_name,
    findings_severity,
    model_name,
)
from state.fleetsync import unevaluated
from state.records import FleetTotals, SeverityCount

STAGES = tuple(Stage)
SHOWN_FLEETS = 40
SHOWN_MODELS = 25


@dataclass(frozen=True)
class ModelGroup:
    """All of one fleet's devices of one model, as one group (for ``lifecycle.upcoming``)."""

    fleet: str
    model: str
    count: int
    firmware: str | None = None
    site: str = ""
    key: str = field(default="")


def stage_devices(
    totals: Mapping[tuple[str, str], FleetTotals], ctx: Context
) -> dict[str, dict[Stage, int]]:
    """Devices per fleet and stage; each model's stage judged once."""
    stages: dict[str, Stage] = {}
    out: dict[str, dict[Stage, int]] = defaultdict(lambda: defaultdict(int))
    for (fleet, model), t in totals.items():
        if model not in stages:
            try:
                stages[model] = stage_of(model, ctx).stage
            except ModelError:
                stages[model] = Stage.UNKNOWN
        out[fleet][stages[model]] += t.devices
    return out


def stage_line(per_stage: Mapping[Stage, int]) -> str:
    """``dynamic 1,000 · security-only 40`` in policy order, stages with devices only."""
    return " · ".join(f"{s.value} {per_stage[s]:,}" for s in STAGES if per_stage.get(s)) or "—"


def fleets_answer(env: Env, share: bool = False) -> Answer:
    """Every fleet with its devices per support stage."""
    fleets = env.store.fleets.all()
    if not fleets:
        return note("No fleets yet: declare `[[fleets]]` in bot.toml or run"
                    " `firmwatch fleet import FILE`.")
    totals = env.store.fleets.totals()
    per = stage_devices(env.store.fleets.model_totals(), env.context())
    lines = [f"• *{esc(f.name)}*: {plural(totals[f.name].devices, 'device')} in"
             f" {plural(totals[f.name].groups, 'group')} — {stage_line(per.get(f.name, {}))}"
             for f in fleets]
    overall: dict[Stage, int] = defaultdict(int)
    for stages in per.values():
        for stage, n in stages.items():
            overall[stage] += n
    blocks = [header(f"Fleets ({len(fleets)})"),
              section(f"*All fleets* {stage_line(overall)}"),
              list_section("Devices per support stage", lines, "", "more fleets"),
              context(f"judged on {env.on.isoformat()} · `{env.settings.slack.command} fleet"
                      " NAME` for one fleet")]
    return Answer(f"{len(fleets)} fleets: {stage_line(overall)}", blocks, share)


def fleet_answer(env: Env, name: str, share: bool = False) -> Answer:
    """One fleet: settings, devices per model and stage, and its open findings."""
    fleet = env.fleet(name)
    if fleet is None:
        known = ", ".join(f.name for f in env.store.fleets.all()) or "none yet"
        return note(f"No fleet named `{esc(name)}` (fleets: {esc(clip(known, 1000))}).")
    ctx = env.context()
    totals = env.store.fleets.model_totals(fleet.name)
    devices = sum(t.devices for t in totals.values())
    groups = sum(t.groups for t in totals.values())
    facts = (f"{plural(devices, 'device')} in {plural(groups, 'group')} · receivers:"
             f" {esc(', '.join(fleet.receivers) or '-')} · min severity: {fleet.min_severity}"
             f" · from {'bot.toml' if fleet.origin == 'config' else 'import'}")
    if fleet.description:
        facts = f"{esc(fleet.description)}\n{facts}"
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1].devices, kv[0][1]))
    models = [f"• {esc(model_name(env.store, model, fleet.name))}:"
              f" {plural(t.devices, 'device')} in"
              f" {plural(t.groups, 'group')} · {_stage(model, ctx)}"
              for (_, model), t in ranked[:SHOWN_MODELS]]
    if len(ranked) > SHOWN_MODELS:
        models.append(f"…and {len(ranked) - SHOWN_MODELS} more models")
    severities = env.store.findings.severity_counts(fleet.name, "open")
    open_items = {k: sum(c.findings for c in per.values()) for k, per in severities.items()}
    index = env.cache.index()
    lines = open_item_lines(open_items, index, worst_of(severities, index))
    title = (f"Open findings ({sum(open_items.values()):,} for"
             f" {plural(len(open_items), 'item')}; worst CVSS per advisory)")
    since = unevaluated(env.store).get(fleet.name)
    if since:
        title = "Open findings: not evaluated yet"
        lines.insert(0, f":hourglass: {pending_text(env, since, bool(lines))}")
    blocks = [header(f"Fleet {fleet.name}"), section(facts),
              list_section(f"Models ({len(totals)})", models, "no device groups yet"),
              list_section(title, lines, "none", "more items")]
    return Answer(f"Fleet {fleet.name}: {devices:,} devices", blocks, share)


def pending_text(env: Env, since: str, stored: bool) -> str:
    """What to say of device groups changed after the last cycle read them."""
    cycle = env.store.meta.get(CYCLE_KEY)
    last = cycle.get("started") if isinstance(cycle, Mapping) else None
    after = f" (started {_moment(str(last))})" if last else ""
    before = "; the findings below are from before the change" if stored else ""
    return (f"*not evaluated yet*: device groups changed {_moment(since)}, after the last"
            f" cycle{after}{before}. The next scheduled cycle evaluates them, or run"
            " `firmwatch check` now.")


def _moment(text: str) -> str:
    """A stored ISO time as Slack shows it in each reader's timezone (as it is, if unreadable)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return esc(text[:19])
    return when(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def worst_of(
    severities: Mapping[str, Mapping[str, SeverityCount]], index: ItemIndex
) -> dict[str, Severity]:
    """Per advisory, the worst severity its open findings have (each judged on the CVEs of
    the rows naming its model, as the alerts say), with the advisory's KEV listing."""
    out: dict[str, Severity] = {}
    for key, per in severities.items():
        sev = index.severity.get(key)
        if sev is not None:
            out[key] = findings_severity(per, sev.kev)
    return out


def open_item_lines(
    counts: Mapping[str, int], index: ItemIndex, worst: Mapping[str, Severity] | None = None
) -> list[str]:
    """Open findings per item, the worst advisories first, then firmware and lifecycle;
    ``worst`` gives an advisory's severity by its findings (else the advisory's worst CVE)."""
    known = worst or {}

    def severity(key: str) -> Severity | None:
        sev = index.severity.get(key)
        return known.get(key, sev) if sev is not None else None

    def rank(key: str) -> tuple[int, float, str]:
        sev = severity(key)
        kind = 0 if sev else 1 if key in index.releases else 2
        return (kind, -(sev.score or 0.0) if sev else 0.0, key)

    lines = []
    for key in sorted(counts, key=rank):
        groups = plural(counts[key], "group")
        if (sev := severity(key)) is not None:
            a = index.advisories[key]
            score = f"CVSS {sev.score:.1f} " if sev.score is not None else ""
            kev = " · :rotating_light: KEV" if sev.kev else ""
            title = f" — {esc(clip(a.title, 80))}" if a.vendor_id else ""
            lines.append(f"• *{esc(advisory_name(a, 80))}* {score}{esc(sev.severity)}{kev}"
                         f"{title} ({groups})")
        elif (release := index.releases.get(key)) is not None:
            lines.append(f"• Firmware {esc(release.version)} available —"
                         f" {esc(clip(release.title, 80))} ({groups})")
        else:
            lines.append(f"• {esc(clip(key, 120))} ({groups})")
    return lines


def upcoming_answer(env: Env, days: int, share: bool = False) -> Answer:
    """Models (per fleet) entering a new support stage within ``days``."""
    ctx = env.context()
    totals = env.store.fleets.model_totals()
    groups = [ModelGroup(fleet, model, t.devices, key=f"{fleet}|{model}")
              for (fleet, model), t in totals.items()]
    changes = upcoming(groups, ctx, days)
    lines = [f"• {u.change_on.isoformat()} · *{esc(u.group.fleet)}* ·"
             f" {esc(model_name(env.store, u.model, u.group.fleet))} → *{u.stage.value}* ·"
             f" {plural(u.group.count, 'device')}" for u in changes]
    blocks = [header(f"Stage changes in the next {plural(days, 'day')}"),
              list_section(f"{plural(len(changes), 'change')}", lines,
                           "none: no model in your fleets changes stage in that time"
                           " (models without catalog dates are not counted)", "more changes"),
              context(f"from {env.on.isoformat()} · dates from the catalog"
                      " (bot.toml [[catalog]] and fleet imports)")]
    return Answer(f"{plural(len(changes), 'stage change')} in the next {plural(days, 'day')}",
                  blocks, share)


def _stage(model: str, ctx: Context) -> str:
    try:
        info = stage_of(model, ctx)
    except ModelError:
        return "stage unknown"
    ends = f" until {info.ends.isoformat()}" if info.ends else ""
    return f"{info.stage.value}{ends}"
