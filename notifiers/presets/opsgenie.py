"""Jira Service Management / Opsgenie: create an alert.

``alias`` is the alert's dedupe key (hashed when over 512 characters): Opsgenie folds a second
create with an open alert's alias into that alert, so a retry is collapsed. ``url`` is the alert
API (``https://api.opsgenie.com/v2/alerts``, or the EU one); ``auth_env`` holds the API key.
"""

from __future__ import annotations

from typing import Any

from notifiers.base import AlertDoc
from notifiers.presets.base import (
    Context,
    Preset,
    clip,
    dedupe_label,
    finding_body,
    finding_head,
    fit_id,
    headline,
    line,
    severity,
    title,
    urgency,
    urgent,
)

MESSAGE = 130
ALIAS = 512
DESCRIPTION = 15_000
ENTITY = 512
SOURCE = 100
TAGS = 20
TAG = 50
DETAILS = 8_000  # keys and values together
PRIORITY = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}  # else P5


def headers(ctx: Context) -> dict[str, str]:
    """``Authorization: GenieKey <key>``."""
    return {"Authorization": f"GenieKey {ctx.secrets.get('auth', '')}"}


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """The create-alert request body."""
    item = doc.get("item") or {}
    fleets = sorted({str(f.get("fleet")) for f in doc.get("findings") or []})
    tags = ["firmwatch", dedupe_label(doc), f"severity-{severity(doc)}", str(doc.get("kind"))]
    tags += (["kev"] if urgent(doc) else []) + [f"fleet-{name}" for name in fleets]
    return {
        "message": line(headline(doc), MESSAGE),
        "alias": fit_id(str(doc.get("dedupe_key", "")), ALIAS),
        "description": clip(_description(doc), DESCRIPTION),
        "tags": list(dict.fromkeys(line(t, TAG) for t in tags if t))[:TAGS],
        "details": _details(doc),
        "entity": line(item.get("id") or item.get("key"), ENTITY),
        "source": line(f"firmwatch/{ctx.receiver}", SOURCE),
        "priority": "P1" if urgent(doc) else PRIORITY.get(urgency(doc), "P5"),
    }


def _description(doc: AlertDoc) -> str:
    item = doc.get("item") or {}
    parts = [str(doc.get("summary") or ""), title(doc), str(item.get("url") or "")]
    parts += [f"Changed: {c}" for c in doc.get("changes") or []]
    for f in doc.get("findings") or []:
        parts += ["", finding_head(f), finding_body(f)]
    return "\n".join(parts)


def _details(doc: AlertDoc) -> dict[str, str]:
    item = doc.get("item") or {}
    totals = doc.get("totals") or {}
    wanted = {
        "alert_id": doc.get("id"),
        "severity": severity(doc),
        "score": doc.get("score"),
        "kev": doc.get("kev"),
        "devices": totals.get("devices"),
        "fleets": totals.get("fleets"),
        "advisory": item.get("id"),
        "advisory_url": item.get("url"),
        "title": item.get("title"),
    }
    details: dict[str, str] = {}
    room = DETAILS
    for key, value in wanted.items():
        if value is None or value == "":
            continue
        text = clip(value, max(room - len(key), 0))
        if not text:
            break
        details[key] = text
        room -= len(key) + len(text)
    return details


PRESET = Preset("opsgenie", payload, headers)
