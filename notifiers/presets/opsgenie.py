"""Jira Service Management / Opsgenie: create an alert, note its updates, close it when resolved.

``alias`` is (receiver, item), hashed when over 512 characters, like PagerDuty's ``dedup_key``:
Opsgenie folds a create with an open alert's alias into that alert, so a retry or a revision of
the item never opens a second one; an update's changes are added to it as a note, and a resolved
document closes it (``POST …/{alias}/close?identifierType=alias``). ``url`` is the alert API
(``https://api.opsgenie.com/v2/alerts``, or the EU one); ``auth_env`` holds the API key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.sources.fetcher import FetchResult
from notifiers.base import AlertDoc
from notifiers.presets.base import (
    Call,
    Context,
    Preset,
    Request,
    clip,
    dedupe_label,
    finding_body,
    finding_head,
    headline,
    is_resolved,
    item_key,
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
NOTE = 25_000
PRIORITY = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}  # else P5


def headers(ctx: Context) -> dict[str, str]:
    """``Authorization: GenieKey <key>``."""
    return {"Authorization": f"GenieKey {ctx.secrets.get('auth', '')}"}


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """The create-alert request body, or the close-alert body when the document is resolved."""
    if is_resolved(doc):
        return _note(doc, ctx)
    item = doc.get("item") or {}
    fleets = sorted({str(f.get("fleet")) for f in doc.get("findings") or []})
    tags = ["firmwatch", dedupe_label(doc), f"severity-{severity(doc)}", str(doc.get("kind"))]
    tags += (["kev"] if urgent(doc) else []) + [f"fleet-{name}" for name in fleets]
    return {
        "message": line(headline(doc), MESSAGE),
        "alias": alias(doc, ctx),
        "description": clip(_description(doc), DESCRIPTION),
        "tags": list(dict.fromkeys(line(t, TAG) for t in tags if t))[:TAGS],
        "details": _details(doc),
        "entity": line(item.get("id") or item.get("key"), ENTITY),
        "source": line(f"firmwatch/{ctx.receiver}", SOURCE),
        "priority": "P1" if urgent(doc) else PRIORITY.get(urgency(doc), "P5"),
    }


def alias(doc: AlertDoc, ctx: Context) -> str:
    """The alert's alias: the same for every revision of the item and for its resolution."""
    return item_key(doc, ctx, ALIAS)


def exchange(doc: AlertDoc, ctx: Context, call: Call) -> FetchResult:
    """Close the item's alert when resolved; else create (or fold into) it and note the changes."""
    base = ctx.url.rstrip("/")
    action = f"{base}/{quote(alias(doc, ctx), safe='')}/{{}}?identifierType=alias"
    if is_resolved(doc):
        return call(Request("POST", action.format("close"), payload(doc, ctx)))
    created = call(Request("POST", base, payload(doc, ctx)))
    if not 200 <= created.status < 300 or not doc.get("changes"):
        return created
    return call(Request("POST", action.format("notes"), _note(doc, ctx)))


def _note(doc: AlertDoc, ctx: Context) -> dict[str, str]:
    """A note on the open alert (an update's changes, or why it is closed)."""
    text = "\n".join([headline(doc), *(f"Changed: {c}" for c in doc.get("changes") or [])])
    return {"source": line(f"firmwatch/{ctx.receiver}", SOURCE), "note": clip(text, NOTE)}


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


PRESET = Preset("opsgenie", payload, headers, exchange)
