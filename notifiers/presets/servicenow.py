"""ServiceNow: one incident per item through the Table API, updated by later alerts.

``correlation_id`` is (receiver, item), hashed when longer than 100 characters. A query for an
open incident with it runs first: none found, the alert creates one (a resolution creates
nothing); found, the alert adds a work note to it (raising its urgency when the alert is more
urgent) instead of filing a second incident, unless the incident is this alert's own (a retry
after a lost answer). Closing is left to the assignee: close codes differ per instance.
``url`` is the instance (``https://example.service-now.com``); ``auth_env`` holds ``user:password``.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote, urlencode

from bot.sources.fetcher import FetchResult
from notifiers.base import AlertDoc
from notifiers.presets.base import (
    Call,
    Context,
    Preset,
    Request,
    clip,
    finding_body,
    finding_head,
    headline,
    is_resolved,
    item_key,
    line,
    reply,
    reply_json,
    title,
    urgency,
    urgent,
)

SHORT_DESCRIPTION = 160
DESCRIPTION = 4000
WORK_NOTES = 4000
CORRELATION_ID = 100
TABLE = "/api/now/table/incident"
URGENCY = {"critical": "1", "high": "2", "medium": "2"}  # else "3"; "1" = high
OPEN = "^active=true^state!=6"  # neither closed nor resolved (6)


def headers(ctx: Context) -> dict[str, str]:
    """Basic authentication with ``user:password``."""
    token = base64.b64encode(ctx.secrets.get("auth", "").encode()).decode()
    return {"Authorization": f"Basic {token}"}


def correlation_id(doc: AlertDoc, ctx: Context) -> str:
    """(receiver, item), or its hash when it does not fit or holds query syntax."""
    return item_key(doc, ctx, CORRELATION_ID)


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """The incident record."""
    devices = int((doc.get("totals") or {}).get("devices") or 0)
    record = {
        "short_description": line(headline(doc), SHORT_DESCRIPTION),
        "description": clip(_description(doc), DESCRIPTION),
        "correlation_id": correlation_id(doc, ctx),
        "correlation_display": "firmwatch",
        "urgency": _urgency(doc),
        "impact": "1" if devices >= 100 else "2" if devices >= 10 else "3",
    }
    if ctx.options.get("assignment_group"):
        record["assignment_group"] = ctx.options["assignment_group"]
    return record


def exchange(doc: AlertDoc, ctx: Context, call: Call) -> FetchResult:
    """Query the item's open incident; note the alert on it, or create one when there is none."""
    base = ctx.url.rstrip("/") + TABLE
    query = urlencode(
        {
            "sysparm_query": f"correlation_id={correlation_id(doc, ctx)}{OPEN}",
            "sysparm_fields": "sys_id,number,description,urgency",
            "sysparm_limit": "1",
        }
    )
    found = call(Request("GET", f"{base}?{query}"))
    if not 200 <= found.status < 300:
        return found
    answer = reply_json(found)
    rows = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(rows, list):
        return reply(
            502, found.url, {"error": "the ServiceNow query answered without a result list"}
        )
    if not rows:
        if is_resolved(doc):
            return reply(200, found.url, {"skipped": "no open incident to resolve"})
        return call(Request("POST", base, payload(doc, ctx)))
    row = rows[0] if isinstance(rows[0], dict) else {}
    if str(row.get("description") or "").startswith(_first_line(doc)):  # this alert filed it
        return reply(200, found.url, {"existing": row.get("number")})
    sys_id = quote(str(row.get("sys_id") or ""), safe="")
    return call(Request("PATCH", f"{base}/{sys_id}", work_note(doc, str(row.get("urgency")))))


def work_note(doc: AlertDoc, current_urgency: str) -> dict[str, str]:
    """The update of an open incident: a work note, and the urgency when this alert raises it."""
    update = {"work_notes": clip(f"{headline(doc)}\n{_description(doc)}", WORK_NOTES)}
    if current_urgency in ("1", "2", "3") and _urgency(doc) < current_urgency:
        update["urgency"] = _urgency(doc)
    return update


def _urgency(doc: AlertDoc) -> str:
    return "1" if urgent(doc) else URGENCY.get(urgency(doc), "3")


def _first_line(doc: AlertDoc) -> str:
    return f"firmwatch alert {doc.get('id')}\n"


def _description(doc: AlertDoc) -> str:
    item = doc.get("item") or {}
    parts = [_first_line(doc) + str(doc.get("summary") or ""), title(doc)]
    parts.append(str(item.get("url") or ""))
    parts += [f"Changed: {c}" for c in doc.get("changes") or []]
    for f in doc.get("findings") or []:
        parts += ["", finding_head(f), finding_body(f)]
    return "\n".join(parts)


PRESET = Preset("servicenow", payload, headers, exchange)
