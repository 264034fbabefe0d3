"""``/firmware advisory ID|CVE``: score, KEV, affected models and the fleets an advisory hits."""

from __future__ import annotations

import re
from collections import defaultdict

from bot.items import Advisory, CvssScore, ExploitSignal, ScoreRecord
from bot.slack.blocks import (
    Answer,
    Block,
    clip,
    context,
    divider,
    esc,
    header,
    link,
    list_section,
    note,
    plural,
    section,
)
from bot.slack.env import Env
from bot.slack.knowledge import ItemIndex, advisory_name, model_name
from state.fleetsync import unevaluated

SHOWN = 3
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


def advisory_answer(env: Env, ref: str, share: bool = False) -> Answer:
    """One advisory (by key or SN No.), or every advisory naming a CVE."""
    index = env.cache.index()
    found = index.find(ref)
    cve = ref.upper() if _CVE.match(ref.upper()) else None
    if not found:
        if cve and (cve in index.scores or cve in index.kev):
            return cve_answer(cve, index.scores.get(cve), index.kev.get(cve), share)
        return note(f"No stored advisory or CVE matches `{esc(ref)}`. Give the SN No."
                    " (e.g. HSRC-202409-01), the advisory's key, or a CVE ID.")
    blocks: list[Block] = []
    for advisory in found[:SHOWN]:
        if blocks:
            blocks.append(divider())
        blocks += advisory_blocks(env, advisory, index, cve)
    if len(found) > SHOWN:
        blocks.append(context(f"…and {len(found) - SHOWN} more advisories name {esc(ref)}"))
    first = found[0]
    return Answer(f"{advisory_name(first)}: {first.title}" if first.vendor_id
                  else advisory_name(first, 3000), blocks, share)


def advisory_blocks(env: Env, a: Advisory, index: ItemIndex, focus: str | None) -> list[Block]:
    """Header, facts, CVEs, affected models and the fleets hit."""
    sev = index.severity[a.key]
    facts = [f"*{link(a.url, advisory_name(a, 150))}*"]
    if a.published:
        facts.append(f"published {a.published.isoformat()}")
    if a.updated:
        facts.append(f"updated {a.updated.isoformat()}")
    if sev.score is not None:
        facts.append(f"worst CVSS {sev.score:.1f} {esc(sev.severity)}")
    if sev.kev:
        facts.append(f":rotating_light: *exploited in the wild* (CISA KEV since"
                     f" {sev.kev.isoformat()})")
    cves = sorted(a.cves, key=lambda c: (c.id != focus, c.id))
    cve_lines = [cve_line(c.id, c.scores, c.kev_added, c.kev_due) for c in cves]
    rows = [f"• `{esc(clip(r.product, 120))}`{f' ({esc(r.cve)})' if r.cve else ''}:"
            f" {esc(clip(r.affected, 200)) or 'versions not given'}"
            f" → fixed in {esc(clip(r.fixed, 120)) or 'not given'}"
            + (" _(could not be read; reviewed by hand)_" if r.problem else "")
            for r in a.rows]
    return [header(clip(a.title, 150) or a.key), section(" · ".join(facts)),
            list_section(f"CVEs ({len(cves)})", cve_lines, "none named"),
            list_section(f"Affected products ({len(rows)})", rows, "no affected-versions table",
                         "more rows"),
            fleets_section(env, a.key), *_unevaluated(env)]


def _unevaluated(env: Env) -> list[Block]:
    """A line naming the fleets changed since the last cycle: the fleets hit are its findings,
    which do not count them yet (`lookup` judges live and may say more)."""
    changed = sorted(unevaluated(env.store))
    if not changed:
        return []
    names = esc(clip(", ".join(changed), 500))
    return [context(f"Not evaluated yet: {names} (device groups changed after the last cycle;"
                    " the next cycle, or `firmwatch check`, counts them)")]


def cve_line(
    cve: str, scores: tuple[CvssScore, ...], kev_added: object = None, kev_due: object = None
) -> str:
    """One CVE: every known score (the deciding one first) and its KEV listing."""
    parts = [f"• *{esc(cve)}*"]
    for s in scores[:3]:
        parts.append(f"CVSS {esc(s.version)} {s.base_score:.1f} {esc(s.severity.lower())}"
                     f" ({esc(s.source)})")
    if kev_added:
        due = f", due {kev_due}" if kev_due else ""
        parts.append(f":rotating_light: KEV since {kev_added}{due}")
    return " · ".join(parts)


def fleets_section(env: Env, item_key: str) -> Block:
    """The fleets with open findings for this item: devices, groups and models."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    models: dict[str, set[str]] = defaultdict(set)
    for f in env.store.findings.for_item(item_key):
        if f.state != "open":
            continue
        devices = f.data.get("devices")
        per[f.fleet][0] += devices if isinstance(devices, int) else 0
        per[f.fleet][1] += 1
        if isinstance(f.data.get("model"), str):
            models[f.fleet].add(f.data["model"])
    lines = []
    for fleet, (devices, groups) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        shown = sorted(models[fleet])
        names = ", ".join(esc(model_name(env.store, m, fleet)) for m in shown[:4]) + (
            f" +{len(shown) - 4} more" if len(shown) > 4 else "")
        lines.append(f"• *{esc(fleet)}*: {plural(devices, 'device')} in"
                     f" {plural(groups, 'group')} ({names})")
    return list_section(f"Your fleets hit ({len(lines)})", lines, "none of your fleets",
                        "more fleets")


def cve_answer(
    cve: str, record: ScoreRecord | None, signal: ExploitSignal | None, share: bool
) -> Answer:
    """A CVE that no stored advisory names: NVD's scores and description, and KEV."""
    blocks: list[Block] = [header(cve)]
    blocks.append(section(cve_line(cve, record.scores if record else (),
                                   signal.date_added if signal else None,
                                   signal.due_date if signal else None)))
    if record and record.description:
        blocks.append(section(esc(clip(record.description, 1500))))
    if signal and signal.required_action:
        blocks.append(section(f"*CISA's required action* {esc(clip(signal.required_action, 800))}"))
    blocks.append(context("No stored Hikvision advisory names this CVE, so no fleet is matched"
                          " to it."))
    return Answer(f"{cve}: no stored advisory names it", blocks, share)
