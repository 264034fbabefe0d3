"""ServiceNow: create an incident through the Table API, once per alert.

``correlation_id`` is the alert's dedupe key (hashed when longer than 100 characters); a query for
it runs before the create, so a retry finds the incident made the first time. ``url`` is the
instance (``https://example.service-now.com``); ``auth_env`` holds ``user:password``.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

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
    fit_id,
    headline,
    line,
    reply,
    reply_json,
    title,
    urgency,
    urgent,
)

SHORT_DESCRIPTION = 160
DESCRIPTION = 4000
CORRELATION_ID = 100
TABLE = "/api/now/table/incident"
URGENCY = {"critical": "1", "high": "2", "medium": "2"}  # else "3"; "1" = high


def headers(ctx: Context) -> dict[str, str]:
    """Basic authentication with ``user:password``."""
    token = base64.b64encode(ctx.secrets.get("auth", "").encode()).decode()
    return {"Authorization": f"Basic {token}"}


def correlation_id(doc: AlertDoc) -> str:
    """The dedupe key, or its hash when it does not fit or holds query syntax."""
    return fit_id(str(doc.get("dedupe_key", "")), CORRELATION_ID)


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """The incident record."""
    devices = int((doc.get("totals") or {}).get("devices") or 0)
    record = {
        "short_description": line(headline(doc), SHORT_DESCRIPTION),
        "description": clip(_description(doc), DESCRIPTION),
        "correlation_id": correlation_id(doc),
        "correlation_display": "firmwatch",
        "urgency": "1" if urgent(doc) else URGENCY.get(urgency(doc), "3"),
        "impact": "1" if devices >= 100 else "2" if devices >= 10 else "3",
    }
    if ctx.options.get("assignment_group"):
        record["assignment_group"] = ctx.options["assignment_group"]
    return record


def exchange(doc: AlertDoc, ctx: Context, call: Call) -> FetchResult:
    """Query by correlation_id; create only when no incident has it."""
    base = ctx.url.rstrip("/") + TABLE
    query = urlencode(
        {
            "sysparm_query": f"correlation_id={correlation_id(doc)}",
            "sysparm_fields": "sys_id,number",
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
    if rows:
        return reply(200, found.url, {"existing": rows[0].get("number")})
    return call(Request("POST", base, payload(doc, ctx)))


def _description(doc: AlertDoc) -> str:
    item = doc.get("item") or {}
    parts = [f"firmwatch alert {doc.get('id')}", str(doc.get("summary") or ""), title(doc)]
    parts.append(str(item.get("url") or ""))
    parts += [f"Changed: {c}" for c in doc.get("changes") or []]
    for f in doc.get("findings") or []:
        parts += ["", finding_head(f), finding_body(f)]
    return "\n".join(parts)


PRESET = Preset("servicenow", payload, headers, exchange)
