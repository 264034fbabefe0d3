"""Microsoft Teams through a Workflows webhook: a message with one Adaptive Card.

Teams cannot collapse duplicates, so the card shows the alert id. The Workflows URL carries its
own signature: give it with ``url_env``. Teams refuses messages over about 28 KB, so fleet entries
are dropped ("…and N more") until the card fits.
"""

from __future__ import annotations

from typing import Any

from notifiers.base import AlertDoc
from notifiers.presets.base import (
    Context,
    Preset,
    clip,
    finding_body,
    finding_head,
    headline,
    line,
    severity,
    size,
    title,
    web_url,
)

MAX_MESSAGE = 27_000  # bytes of JSON; Teams' limit is about 28 KB
TEXT = 2_000
FACT = 500
ACTIONS = 5
COLOR = {"critical": "Attention", "high": "Attention", "medium": "Warning"}  # else "Default"


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """A ``message`` whose attachment is an Adaptive Card (version 1.4)."""
    findings = list(doc.get("findings") or [])
    shown = len(findings)
    message = _message(doc, findings, shown)
    while size(message) > MAX_MESSAGE and shown > 0:
        shown = max(0, shown - max(1, shown // 4))
        message = _message(doc, findings, shown)
    return message


def _message(doc: AlertDoc, findings: list[Any], shown: int) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text(line(headline(doc), 300), weight="Bolder", size="Medium", color=_color(doc)),
        _text(line(title(doc), 500), isSubtle=True),
        {"type": "FactSet", "facts": _facts(doc)},
    ]
    body += [_text(clip(f"Changed: {c}", FACT)) for c in (doc.get("changes") or [])[:10]]
    for f in findings[:shown]:
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    _text(line(finding_head(f), 300), weight="Bolder"),
                    _text(finding_body(f)),
                ],
            }
        )
    if shown < len(findings):
        body.append(_text(f"…and {len(findings) - shown} more fleet entries", isSubtle=True))
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": _actions(doc),
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": clip(text, TEXT) or "-", "wrap": True, **style}


def _color(doc: AlertDoc) -> str:
    return COLOR.get(severity(doc), "Default")


def _facts(doc: AlertDoc) -> list[dict[str, str]]:
    totals = doc.get("totals") or {}
    facts = [
        ("Severity", severity(doc)),
        (
            "Score",
            f"{doc.get('score')} (CVSS {doc.get('cvss_version')})" if doc.get("score") else "",
        ),
        ("Exploited (KEV)", f"listed {doc['kev']}" if doc.get("kev") else ""),
        ("Devices", f"{totals.get('devices', 0)} in {totals.get('fleets', 0)} fleet(s)"),
        ("Alert id", str(doc.get("id") or "")),
    ]
    return [{"title": name, "value": line(value, FACT)} for name, value in facts if value]


def _actions(doc: AlertDoc) -> list[dict[str, str]]:
    item = doc.get("item") or {}
    wanted = [("Open advisory" if item.get("kind") == "advisory" else "Open", item.get("url"))]
    wanted += [
        (f"Download {f.get('fixed_version') or 'firmware'}", f.get("download_url"))
        for f in doc.get("findings") or []
    ]
    actions: dict[str, str] = {}
    for label, url in wanted:
        href = web_url(url)
        if href and href not in actions and len(actions) < ACTIONS:
            actions[href] = line(label, 100)
    return [{"type": "Action.OpenUrl", "title": t, "url": u} for u, t in actions.items()]


PRESET = Preset("teams", payload)
