"""``/firmware lookup MODEL``: the model card with advisories, firmware and the team's devices.

Reads the device groups of one model and the item keys of their open findings (both indexed
queries) and the in-memory item index; nothing here scans the fleets or the advisories, and no
finding is copied out of the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.catalog import ModelError, display_model
from bot.fleets import DeviceGroup
from bot.items import Advisory, FirmwareRelease, pick_score
from bot.modelcard import ModelCard, model_card
from bot.policy import Promise, combine, fix_promise
from bot.slack.blocks import (
    Answer,
    Block,
    clip,
    context,
    esc,
    header,
    link,
    list_section,
    note,
    plural,
    section,
)
from bot.slack.env import Env
from bot.slack.knowledge import ItemIndex, Severity, rows_for
from bot.versions import try_parse_version

SHOWN_ADVISORIES = 12


@dataclass
class Exposure:
    """The team's devices of this model with an open finding for one advisory."""

    devices: int = 0
    fleets: set[str] = field(default_factory=set)


def lookup_answer(env: Env, text: str, share: bool = False) -> Answer:
    """The model card for ``text`` as Block Kit."""
    try:
        card = model_card(text, env.cache.catalog(), env.on,
                          severe_cvss=env.settings.policy.severe_cvss)
    except ModelError as exc:
        return note(f"`{esc(text)}` is not a model number firmwatch can read: {esc(exc)}")
    index = env.cache.index()
    groups = env.store.fleets.groups_of_model(card.model)
    items = env.store.findings.items_by_group([g.key for g in groups], "open") if groups else {}
    blocks: list[Block] = [header(display_model(card.model)), section(card_text(card))]
    blocks.append(advisories_section(card, index, exposures(groups, items, index),
                                     bool(groups), env.settings.policy.severe_cvss))
    blocks.append(firmware_section(card.model, index.latest_release(card.model), groups))
    blocks.append(devices_section(groups))
    blocks.append(context(f"firmwatch · judged on {card.on.isoformat()} · details:"
                          f" `{env.settings.slack.command} advisory ID`"))
    text_line = f"{display_model(card.model)}: {card.info.stage.value}. {card.promise}"
    return Answer(text_line, blocks, share)


def card_text(card: ModelCard) -> str:
    """The policy part of the card: family, coverage, stage, dates, promise, notes."""
    info = card.info
    coverage = "covered by the LTS policy" if card.covered else "*not covered* by the LTS policy"
    if card.inferred:
        coverage += " (family inferred)"
    stage = f"*{info.stage.value}*"
    if info.since:
        stage += f" since {info.since.isoformat()}"
    if info.next_stage:
        stage += (f", {info.next_stage.value} from {info.ends.isoformat()}" if info.ends
                  else f", then {info.next_stage.value} (date not known)")
    dates = (f"launched {_day(card.launched)} · discontinued {_day(card.discontinued)}"
             f" · dates from {esc(card.dates_source or 'nowhere: not in the catalog')}")
    lines = [f"*Family* {esc(card.family)}: {coverage}", f"*Stage* {stage}",
             f"*Dates* {dates}", f"*Promise* {esc(card.promise)}"]
    lines += [f"_{esc(n)}_" for n in card.notes]
    return "\n".join(lines)


def advisories_section(
    card: ModelCard, index: ItemIndex, exposure: Mapping[str, Exposure], has_devices: bool,
    severe: float,
) -> Block:
    """Advisories naming the model, the ones open for the team's devices first."""
    advisories = {a.key: a for a in index.naming(card.model)}
    advisories.update({k: index.advisories[k] for k in exposure})
    ranked = sorted(advisories.values(), key=lambda a: (
        a.key not in exposure, -(index.severity[a.key].score or 0.0), a.key))
    lines = [advisory_line(a, index.severity[a.key], card, exposure.get(a.key), has_devices,
                           severe) for a in ranked[:SHOWN_ADVISORIES]]
    if len(ranked) > SHOWN_ADVISORIES:
        lines.append(f"…and {len(ranked) - SHOWN_ADVISORIES} more")
    title = f"Advisories ({len(ranked)}"
    title += f", {len(exposure)} open for your devices)" if has_devices else ")"
    return list_section(title, lines, "none stored for this model")


def exposures(
    groups: Sequence[DeviceGroup], items: Mapping[str, list[str]], index: ItemIndex
) -> dict[str, Exposure]:
    """Per advisory with open findings: the devices and fleets it affects."""
    out: dict[str, Exposure] = {}
    for g in groups:
        for key in items.get(g.key, ()):
            if key in index.advisories:
                e = out.setdefault(key, Exposure())
                e.devices += g.count
                e.fleets.add(g.fleet)
    return out


def advisory_line(
    a: Advisory, sev: Severity, card: ModelCard, exposed: Exposure | None, has_devices: bool,
    severe: float,
) -> str:
    """One advisory: ID and title, score, KEV, fixed version for the model, our exposure."""
    title = clip(" ".join(a.title.split()), 90)
    parts = [f"• *{link(a.url, a.vendor_id or a.key)}* {esc(title)}"]
    if sev.score is not None:
        parts.append(f"CVSS {sev.score:.1f} {esc(sev.severity)}")
    if sev.kev:
        parts.append(f":rotating_light: KEV since {sev.kev.isoformat()}")
    fixed = _fixed_text(a, card.model)
    if fixed:
        parts.append(f"fixed in {esc(fixed)}")
    if exposed is not None:
        fleets = ", ".join(sorted(exposed.fleets))
        parts.append(f"*{exposed.devices:,} of your devices affected* ({esc(clip(fleets, 80))})")
        parts.append(f"fix promised: {promise_of(a, card, severe).value}")
    elif has_devices:
        parts.append("your devices: not affected")
    return " · ".join(parts)


def promise_of(a: Advisory, card: ModelCard, severe: float) -> Promise:
    """What the vendor promises for this advisory in the model's stage, judged per CVE."""
    scores = [pick_score(c.scores) for c in a.cves] or [None]
    return combine(fix_promise(card.info, s.base_score if s else None, s.version if s else None,
                               severe).promise for s in scores)


def firmware_section(
    model: str, release: FirmwareRelease | None, groups: Sequence[DeviceGroup]
) -> Block:
    """The newest stored release for the model, and how many of the team's devices run older."""
    if release is None:
        return section("*Latest firmware* none stored for this model")
    line = f"*Latest firmware* {link(release.download_url, release.version)}"
    if release.released:
        line += f" ({release.released.isoformat()})"
    if release.notes_url:
        line += f" · {link(release.notes_url, 'release notes')}"
    newest = try_parse_version(release.version)
    if groups and newest is not None:
        older = sum(g.count for g in groups if (v := g.version()) is not None and v < newest)
        unknown = sum(g.count for g in groups if g.version() is None)
        line += f" · {plural(older, 'of your devices runs', 'of your devices run')} older firmware"
        if unknown:
            line += f", {plural(unknown, 'runs', 'run')} firmware not known"
    return section(line)


def devices_section(groups: Sequence[DeviceGroup]) -> Block:
    """The team's devices of this model per fleet and site, with their firmware."""
    per: dict[tuple[str, str], list[DeviceGroup]] = defaultdict(list)
    for g in groups:
        per[(g.fleet, g.site)].append(g)
    lines = []
    for (fleet, site), found in sorted(per.items(), key=lambda kv: -sum(g.count for g in kv[1])):
        firmware = sorted({g.firmware or "firmware not known" for g in found})
        shown = ", ".join(esc(f) for f in firmware[:3]) + (
            f" +{len(firmware) - 3} more" if len(firmware) > 3 else "")
        devices = plural(sum(g.count for g in found), "device")
        lines.append(f"• *{esc(fleet)}* · {esc(site or 'no site')}: {devices} ({shown})")
    total = sum(g.count for g in groups)
    fleets = len({g.fleet for g in groups})
    title = (f"Your devices: {plural(total, 'device')} in {plural(fleets, 'fleet')}" if groups
             else "Your devices")
    return list_section(title, lines, "none of this model in your fleets", "more sites")


def _fixed_text(a: Advisory, model: str) -> str | None:
    fixed = sorted({r.fixed.strip() for r in rows_for(a, model) if r.fixed.strip()})
    return ", ".join(fixed[:3]) if fixed else None


def _day(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else "not known"


