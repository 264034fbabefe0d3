"""The one Slack Block Kit builder: alert document → ``{"text", "blocks"}`` within Slack's limits.

Pure. Every text is escaped for mrkdwn and cut to its limit; lists that do not fit end with
"…and N more". Buttons carry only the opaque alert id (``doc["id"]``) as their value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from notifiers.base import AlertDoc, headline
from notifiers.mrkdwn import clip, clip_esc, esc, fit_lines, join_some, link, web_url

MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_URL = 3000
BUTTON_VALUE = 2000
ACTIONS_ELEMENTS = 25
CONTEXT_TEXT = 2000
FALLBACK_TEXT = 3000
LINK_BUTTONS = 6
GROUP_LINES = 12
ACTIONS = (
    ("fw_ack", "Acknowledge", "primary"),
    ("fw_snooze", "Snooze", None),
    ("fw_ticket", "Open ticket", None),
)
NO_ACTIONS = frozenset({"notice", "digest", "source"})
KEV_BADGE = ":rotating_light: *Exploited in the wild*"
Block = dict[str, Any]


def build_message(doc: AlertDoc) -> dict[str, Any]:
    """The ``chat.postMessage`` arguments ``text`` and ``blocks`` for one alert document."""
    top: list[Block] = [_header(doc), _section(_summary(doc))]
    changes = [str(c) for c in doc.get("changes") or []]
    if changes:
        top.append(
            _section(fit_lines(["*What changed*"] + [f"• {esc(c)}" for c in changes], SECTION_TEXT))
        )
    findings: list[Mapping[str, Any]] = list(doc.get("findings") or [])
    stages = _stage_fields(findings)
    if stages:
        top.append({"type": "section", "fields": stages})
    bottom: list[Block] = [b for b in (_links(doc, findings), _actions(doc)) if b]
    bottom.append(_context(doc))
    room = MAX_BLOCKS - len(top) - len(bottom) - 1  # one divider
    shown = findings if len(findings) <= room else findings[: room - 1]
    middle: list[Block] = [{"type": "divider"}] + [_section(_finding(f)) for f in shown]
    if len(shown) < len(findings):
        rest = findings[len(shown) :]
        devices = sum(_int(f.get("devices")) for f in rest)
        middle.append(_section(f"…and {len(rest)} more finding(s) ({devices} devices)"))
    return {"text": fallback(doc), "blocks": top + (middle if findings else []) + bottom}


def fallback(doc: AlertDoc) -> str:
    """The plain ``text`` shown in notifications and where blocks cannot be shown."""
    kev = " [EXPLOITED: CISA KEV]" if doc.get("kev") else ""
    head = f"[{_severity(doc)}]{kev} {_title(doc)}"
    return clip_esc(f"{head} — {_s(doc.get('summary'))}".rstrip(" —"), FALLBACK_TEXT)


def _header(doc: AlertDoc) -> Block:
    text = clip(f"{_severity(doc)} · {_title(doc)}", HEADER_TEXT)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _summary(doc: AlertDoc) -> str:
    lines: list[str] = []
    if doc.get("kev"):
        lines.append(f"{KEV_BADGE} · listed in CISA KEV since {esc(_s(doc.get('kev')))}")
    if _s(doc.get("summary")):
        lines.append(clip_esc(_s(doc["summary"]), 1500))
    item: Mapping[str, Any] = doc.get("item") or {}
    facts = [link(item.get("url"), clip(_s(item.get("id")) or "item", 200))]
    if doc.get("score") is not None:
        version = esc(_s(doc.get("cvss_version")))  # none for a digest: it sums up several
        facts.append(" ".join(p for p in ("CVSS", version, esc(_s(doc["score"]))) if p))
    facts.append(esc(clip(_s(doc.get("kind")), 40)))
    lines.append(" · ".join(f for f in facts if f))
    return fit_lines(lines, SECTION_TEXT)


def _stage_fields(findings: Sequence[Mapping[str, Any]]) -> list[Block]:
    """Per stage: devices, fleets and sites (the overview before the detail)."""
    groups: dict[str, dict[tuple[str, ...], int]] = {}  # a group listed twice counts once
    fleets: dict[str, set[str]] = {}
    sites: dict[str, set[str]] = {}
    for at, f in enumerate(findings):
        stage = _s(f.get("stage")) or "unknown"
        counted = groups.setdefault(stage, {})
        listed = f.get("device_groups") or []
        for g in listed:
            names = ("model", "firmware", "site")
            counted[(_s(f.get("fleet")), *(_s(g.get(n)) for n in names))] = _int(g.get("count"))
        if not listed:
            counted[(str(at),)] = _int(f.get("devices"))
        fleets.setdefault(stage, set()).add(_s(f.get("fleet")))
        sites.setdefault(stage, set()).update(
            _s(g.get("site")) for g in f.get("device_groups") or [] if g.get("site")
        )
    fields = []
    for stage, counted in groups.items():
        count, many = sum(counted.values()), len(fleets[stage])
        lines = [
            f"*{clip_esc(stage, 100)}*",
            f"{_plural(count, 'device')} in {_plural(many, 'fleet')}",
            "fleets: " + clip_esc(", ".join(sorted(fleets[stage])), 800),
        ]
        if sites[stage]:
            lines.append("sites: " + clip_esc(", ".join(sorted(sites[stage])), 800))
        fields.append({"type": "mrkdwn", "text": fit_lines(lines, FIELD_TEXT)})
    if len(fields) > FIELDS:
        more = {"type": "mrkdwn", "text": f"…and {len(fields) - FIELDS + 1} more"}
        fields = [*fields[: FIELDS - 1], more]
    return fields


def _finding(f: Mapping[str, Any]) -> str:
    stage = _s(f.get("stage"))
    if f.get("stage_ends"):
        stage += f" until {_s(f['stage_ends'])}"
    about: Mapping[str, Any] = f.get("item") or {}  # a digest's: which item it is about
    head = [
        f"*{clip_esc(_s(f.get('fleet')), 200)}*",
        link(about.get("url"), clip(_s(about.get("id")), 200)) if about.get("id") else "",
        clip_esc(_s(f.get("status")), 100),
        clip_esc(stage, 200),
        _plural(_int(f.get("devices")), "device"),
    ]
    lines = [" · ".join(h for h in head if h)]
    groups = [_group(g) for g in f.get("device_groups") or []]
    if len(groups) > GROUP_LINES:
        groups = [*groups[: GROUP_LINES - 1], f"…and {len(groups) - GROUP_LINES + 1} more"]
    lines += groups
    if _s(f.get("risk_note")):
        lines.append(clip_esc(_s(f.get("risk_note")), 1200))
    fix = []
    if f.get("fixed_version"):
        fix.append(f"*Fixed in* {clip_esc(_s(f['fixed_version']), 100)}")
    if f.get("update_available"):
        fix.append(f"*Update* {clip_esc(_s(f['update_available']), 100)}")
    if f.get("download_url"):
        fix.append(link(f["download_url"], "download"))
    if fix:
        lines.append(" · ".join(fix))
    cves = [_cve(c) for c in f.get("cves") or []]
    if cves:
        lines.append(join_some(cves, 600))
    return fit_lines(lines, SECTION_TEXT)


def _group(g: Mapping[str, Any]) -> str:
    where = f" @ {clip_esc(_s(g.get('site')), 100)}" if g.get("site") else ""
    firmware = clip_esc(_s(g.get("firmware")) or "firmware unknown", 100)
    devices = _plural(_int(g.get("count")), "device")
    return f"• {clip_esc(_s(g.get('model')), 100)} {firmware}: {devices}{where}"


def _cve(c: Mapping[str, Any]) -> str:
    score = f" {esc(_s(c.get('score')))}" if c.get("score") is not None else ""
    kev = " :rotating_light: KEV" if c.get("kev") else ""
    promise = f" (fix promised: {clip_esc(_s(c.get('fix_promised')), 40)})"
    return f"{clip_esc(_s(c.get('id')), 60)}{score}{promise if c.get('fix_promised') else ''}{kev}"


def _links(doc: AlertDoc, findings: Sequence[Mapping[str, Any]]) -> Block | None:
    item: Mapping[str, Any] = doc.get("item") or {}
    wanted: list[tuple[str, object]] = []
    for f in findings:
        version = _s(f.get("update_available") or f.get("fixed_version"))
        wanted.append((f"Download {version}".strip(), f.get("download_url")))
        wanted.append((f"Release notes {version}".strip(), f.get("notes_url")))
    kind = _s(item.get("kind"))
    wanted.insert(0, ("Release notes" if kind == "firmware" else "Advisory", item.get("url")))
    buttons: list[Block] = []
    seen: set[str] = set()
    for label, url in wanted:
        text = _s(url)
        if not web_url(text) or len(text) > BUTTON_URL or text in seen:
            continue
        seen.add(text)
        buttons.append(
            {
                "type": "button",
                "action_id": f"fw_link_{len(buttons)}",
                "url": text,
                "text": {"type": "plain_text", "text": clip(label, BUTTON_TEXT)},
            }
        )
        if len(buttons) == min(LINK_BUTTONS, ACTIONS_ELEMENTS):
            break
    return {"type": "actions", "elements": buttons} if buttons else None


def _actions(doc: AlertDoc) -> Block | None:
    alert_id = _s(doc.get("id"))
    if _s(doc.get("kind")) in NO_ACTIONS or not alert_id.strip() or len(alert_id) > BUTTON_VALUE:
        return None
    if doc.get("resolved"):  # nothing left to acknowledge, snooze or file a ticket for
        return None
    elements: list[Block] = []
    for action_id, label, style in ACTIONS:
        button: Block = {
            "type": "button",
            "action_id": action_id,
            "value": alert_id,
            "text": {"type": "plain_text", "text": label},
        }
        if style:
            button["style"] = style
        elements.append(button)
    return {"type": "actions", "elements": elements}


def _context(doc: AlertDoc) -> Block:
    parts = ["firmwatch", f"alert {clip_esc(_s(doc.get('id')), 100)}"]
    if doc.get("created_at"):
        parts.append(clip_esc(_s(doc["created_at"]), 60))
    text = clip(" · ".join(parts), CONTEXT_TEXT)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _section(text: str) -> Block:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT) if text.strip() else "—"},
    }


def _severity(doc: AlertDoc) -> str:
    return headline(doc)


def _title(doc: AlertDoc) -> str:
    item: Mapping[str, Any] = doc.get("item") or {}
    title = " ".join(_s(item.get("title")).split()) or _s(item.get("id")).strip()
    return title or "firmwatch alert"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _s(value: object) -> str:
    return "" if value is None else str(value)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
