"""PagerDuty Events API v2: trigger (and resolve) an alert.

``dedup_key`` is (receiver, item), hashed when long: every revision of an item updates the same
PagerDuty alert, a retry is collapsed, and a resolution closes it. A document with
``"resolved": true`` (advisory withdrawn, fleet fixed) sends ``event_action: resolve``.
"""

from __future__ import annotations

from typing import Any

from notifiers.base import AlertDoc
from notifiers.presets.base import (
    Context,
    Preset,
    clip,
    created,
    finding_head,
    is_resolved,
    item_key,
    label,
    line,
    size,
    title,
    urgency,
    urgent,
    web_url,
)

SUMMARY = 1024
DEDUP_KEY = 255
SOURCE = 255
MAX_EVENT = 512 * 1024
MAX_LINKS = 10
SEVERITY = {"critical": "critical", "high": "error", "medium": "warning"}  # else "info"


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """An Events v2 ``trigger`` event, or ``resolve`` when the document is resolved."""
    base = {
        "routing_key": ctx.secrets.get("routing_key", ""),
        "dedup_key": item_key(doc, ctx, DEDUP_KEY),
    }
    if is_resolved(doc):
        return {**base, "event_action": "resolve"}
    level = "critical" if urgent(doc) else SEVERITY.get(urgency(doc), "info")
    item = doc.get("item") or {}
    findings = list(doc.get("findings") or [])
    event: dict[str, Any] = {
        **base,
        "event_action": "trigger",
        "client": "firmwatch",
        "payload": {
            "summary": line(
                f"[{label(doc)}] {doc.get('summary') or title(doc)}", SUMMARY
            ),
            "source": line(f"firmwatch/{ctx.receiver}", SOURCE),
            "severity": level,
            "component": line(item.get("id") or item.get("key"), 255),
            "group": line(", ".join(sorted({str(f.get("fleet")) for f in findings})), 255),
            "class": line(doc.get("kind"), 255),
            "custom_details": _details(doc, findings),
        },
        "links": _links(doc),
    }
    if created(doc):
        event["payload"]["timestamp"] = created(doc)
    if web_url(item.get("url")):
        event["client_url"] = item["url"]
    if size(event) > MAX_EVENT:
        _fit(event)
    return event


def _fit(event: dict[str, Any]) -> None:
    """Keep the longest head of the findings that fits MAX_EVENT and say how many are left out.

    Measured finding by finding (an alert may list thousands of device groups): the event is
    encoded a few times, not once per finding dropped.
    """
    details = event["payload"]["custom_details"]
    listed: list[Any] = details["findings"]
    details["findings"], details["more_findings"] = [], len(listed)
    room = MAX_EVENT - size(event)  # for the findings' JSON between the list's brackets
    kept = used = 0
    for finding in listed:
        used += size(finding) + (1 if kept else 0)  # and a comma before all but the first
        if used > room:
            break
        kept += 1
    # Fewer left out may need fewer digits: one more may fit (the whole list never does).
    while kept + 1 < len(listed):
        details["findings"], details["more_findings"] = listed[: kept + 1], len(listed) - kept - 1
        if size(event) > MAX_EVENT:
            break
        kept += 1
    details["findings"], details["more_findings"] = listed[:kept], len(listed) - kept


def _details(doc: AlertDoc, findings: list[Any]) -> dict[str, Any]:
    item = doc.get("item") or {}
    details = {
        "alert_id": doc.get("id"),
        "title": clip(title(doc), 1024),
        "kind": doc.get("kind"),
        "score": doc.get("score"),
        "cvss_version": doc.get("cvss_version"),
        "kev": doc.get("kev"),
        "advisory": item.get("url"),
        "totals": doc.get("totals"),
        "changes": [clip(c, 1024) for c in doc.get("changes") or []][:50],
        "findings": [
            {
                "what": clip(finding_head(f), 1024),
                "cves": [c.get("id") for c in f.get("cves") or []][:100],
                "fixed_version": f.get("fixed_version"),
                "download_url": f.get("download_url"),
                "risk_note": clip(f.get("risk_note"), 4096),
            }
            for f in findings
        ],
    }
    if isinstance(doc.get("source"), dict):  # a source-health notice: the source's facts
        details["source"] = doc["source"]
    return details


def _links(doc: AlertDoc) -> list[dict[str, str]]:
    item = doc.get("item") or {}
    found = [(item.get("url"), f"Advisory {line(item.get('id'), 200)}".strip())]
    for f in doc.get("findings") or []:
        found.append((f.get("download_url"), f"Firmware {line(f.get('fixed_version'), 200)}"))
        found.append((f.get("notes_url"), "Release notes"))
    links: dict[str, str] = {}
    for href, text in found:
        url = web_url(href)
        if url and url not in links and len(links) < MAX_LINKS:
            links[url] = text
    return [{"href": href, "text": text} for href, text in links.items()]


PRESET = Preset("pagerduty", payload)
