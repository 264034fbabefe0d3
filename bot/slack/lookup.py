"""``/firmware lookup MODEL``: the model card with advisories, firmware and the team's devices.

Reads the device groups of one model (an indexed query) and the in-memory item index, and judges
the advisories naming the model against those groups with the cycle's own finding code
(`bot.findings.advisory_findings`): what the card says of an advisory for the team's devices
(its CVEs, score and promise) is what their findings and alerts say, also for device groups
registered since the last cycle. A probe group of the model on firmware not known gives the
model's CVEs of an advisory none of the team's devices has. Nothing here scans the fleets or
the advisories.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.catalog import ModelError, display_model
from bot.context import Context
from bot.finding import CveVerdict, Finding
from bot.findings import advisories_findings
from bot.fleets import DeviceGroup
from bot.items import Advisory, FirmwareRelease
from bot.matching import FleetIndex
from bot.modelcard import ModelCard, model_card
from bot.policy import Promise, combine
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
from bot.slack.knowledge import ItemIndex, Severity, advisory_name, rows_for, verdicts_severity
from bot.versions import try_parse_version

SHOWN_ADVISORIES = 12
PROBE_FLEET = "\x00probe"  # the fleet of the probe group: no fleet's name holds a NUL


@dataclass
class Exposure:
    """The team's devices of this model with a finding for one advisory, and their verdicts."""

    devices: int = 0
    fleets: set[str] = field(default_factory=set)
    cves: dict[str, CveVerdict] = field(default_factory=dict)
    promises: list[Promise] = field(default_factory=list)

    def add(self, f: Finding) -> None:
        """Count a finding of one device group."""
        self.devices += f.count
        self.fleets.add(f.fleet)
        self.promises.append(f.fix_promised)
        for v in f.cves:
            self.cves.setdefault(v.id, v)

    @property
    def promise(self) -> Promise:
        """What the vendor promises for these devices (as their findings say)."""
        return combine(self.promises)


@dataclass
class Judged:
    """The advisories naming a model, judged for its device groups and for the model."""

    exposure: dict[str, Exposure] = field(default_factory=dict)
    model: dict[str, tuple[CveVerdict, ...]] = field(default_factory=dict)  # by the probe

    def severity(self, a: Advisory, index: ItemIndex) -> Severity:
        """The advisory for the model: the team's devices' verdicts, else the model's."""
        exposed = self.exposure.get(a.key)
        if exposed is not None:
            return verdicts_severity(exposed.cves.values())
        if a.key in self.model:
            return verdicts_severity(self.model[a.key])
        return index.severity[a.key]


def lookup_answer(env: Env, text: str, share: bool = False) -> Answer:
    """The model card for ``text`` as Block Kit."""
    try:
        card = model_card(text, env.cache.catalog(), env.on,
                          severe_cvss=env.settings.policy.severe_cvss)
    except ModelError as exc:
        return note(f"`{esc(text)}` is not a model number firmwatch can read: {esc(exc)}")
    index = env.cache.index()
    groups = env.store.fleets.groups_of_model(card.model)
    stored = env.store.findings.items_by_group([g.key for g in groups], "open") if groups else {}
    keys = dict.fromkeys([a.key for a in index.naming(card.model)]
                         + [k for ks in stored.values() for k in ks if k in index.advisories])
    advisories = [index.advisories[k] for k in keys]
    judged = judge(card.model, groups, advisories, env.context())
    name = shown_name(text, groups)
    blocks: list[Block] = [header(name), section(card_text(card))]
    blocks.append(advisories_section(card, index, advisories, judged, bool(groups)))
    blocks.append(firmware_section(card.model, index.latest_release(card.model), groups))
    blocks.append(devices_section(groups))
    blocks.append(context(f"firmwatch · judged on {card.on.isoformat()} · details:"
                          f" `{env.settings.slack.command} advisory ID`"))
    text_line = f"{name}: {card.info.stage.value}. {card.promise}"
    return Answer(text_line, blocks, share)


def shown_name(text: str, groups: Sequence[DeviceGroup]) -> str:
    """The model as a fleet registered it, else as asked (in the vendor's spelling)."""
    written = [g.model_as_written for g in groups]
    for candidate in (max(set(written), key=written.count) if written else None, text):
        if candidate:
            try:
                return display_model(candidate)
            except ModelError:
                continue
    return text


def judge(
    model: str, groups: Sequence[DeviceGroup], advisories: Sequence[Advisory], ctx: Context
) -> Judged:
    """The findings the advisories give the model's device groups (and a probe group of the
    model on firmware not known), made by the cycle's code."""
    probe = DeviceGroup(PROBE_FLEET, model, model, None, 1)
    index = FleetIndex.build([*groups, probe])
    out = Judged()
    for advisory, found in zip(advisories, advisories_findings(advisories, index, ctx),
                               strict=True):
        for f in found:
            if f.fleet == PROBE_FLEET:
                out.model[advisory.key] = _merged(out.model.get(advisory.key, ()), f.cves)
            else:
                out.exposure.setdefault(advisory.key, Exposure()).add(f)
    return out


def _merged(
    known: Iterable[CveVerdict], more: Iterable[CveVerdict]
) -> tuple[CveVerdict, ...]:
    by_id = {v.id: v for v in known}
    for v in more:
        by_id.setdefault(v.id, v)
    return tuple(by_id.values())


def card_text(card: ModelCard) -> str:
    """The policy part of the card: family, coverage, stage, dates, promise, notes."""
    info = card.info
    coverage = "covered by the LTS policy" if card.covered else "*not covered* by the LTS policy"
    if card.inferred:
        coverage += " (family inferred)"
    stage = f"*{info.stage.value}*"
    if info.since and info.since > card.on:  # a launch still ahead
        stage += f" from {info.since.isoformat()} (not launched yet)"
    elif info.since:
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
    card: ModelCard, index: ItemIndex, advisories: Sequence[Advisory], judged: Judged,
    has_devices: bool,
) -> Block:
    """Advisories naming the model, the ones open for the team's devices first."""
    exposure = judged.exposure
    severity = {a.key: judged.severity(a, index) for a in advisories}
    ranked = sorted(advisories, key=lambda a: (
        a.key not in exposure, -(severity[a.key].score or 0.0), a.key))
    lines = [advisory_line(a, severity[a.key], card, exposure.get(a.key), has_devices)
             for a in ranked[:SHOWN_ADVISORIES]]
    if len(ranked) > SHOWN_ADVISORIES:
        lines.append(f"…and {len(ranked) - SHOWN_ADVISORIES} more")
    title = f"Advisories ({len(ranked)}"
    title += f", {len(exposure)} open for your devices)" if has_devices else ")"
    return list_section(title, lines, "none stored for this model")


def advisory_line(
    a: Advisory, sev: Severity, card: ModelCard, exposed: Exposure | None, has_devices: bool,
) -> str:
    """One advisory: ID and title, score, KEV, fixed version for the model, our exposure.

    ``sev`` is the advisory for this model (`Judged.severity`), and the promise is the one of
    the findings of the team's devices: both judged on the CVEs of the rows naming the model."""
    title = clip(" ".join(a.title.split()), 90)
    if a.vendor_id:
        parts = [f"• *{link(a.url, a.vendor_id)}* {esc(title)}"]
    else:
        parts = [f"• *{link(a.url, advisory_name(a))}*"]
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
        parts.append(f"fix promised: {exposed.promise.value}")
    elif has_devices:
        parts.append("your devices: not affected")
    return " · ".join(parts)


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


