"""Jira Cloud: create an issue, after a search that makes a retry find the first one.

The issue carries the label ``fw-<hash of the dedupe key>``; before creating, a JQL search for that
label in the project returns the existing issue, so at-least-once delivery never files twice.
``url`` is the site (``https://example.atlassian.net``); ``auth_env`` holds ``email:api-token``.
"""

from __future__ import annotations

import base64
from typing import Any

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
    line,
    reply,
    reply_json,
    severity,
    urgent,
    web_url,
)

SUMMARY = 255
DESCRIPTION = 32_000  # Jira's limit is 32,767 characters of text
TEXT_NODE = 4_000
LABEL = 255
SEARCH = "/rest/api/3/search/jql"
CREATE = "/rest/api/3/issue"


def headers(ctx: Context) -> dict[str, str]:
    """Basic authentication with ``email:api-token``."""
    token = base64.b64encode(ctx.secrets.get("auth", "").encode()).decode()
    return {"Authorization": f"Basic {token}"}


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """The issue-create body: project, type, summary, ADF description and labels."""
    labels = ["firmwatch", dedupe_label(doc), f"severity-{severity(doc)}"]
    if urgent(doc):
        labels.append("kev")
    return {
        "fields": {
            "project": {"key": ctx.options.get("project", "")},
            "issuetype": {"name": ctx.options.get("issue_type") or "Task"},
            "summary": line(headline(doc), SUMMARY),
            "description": description(doc),
            "labels": [line(x, LABEL).replace(" ", "-") for x in labels],
        }
    }


def search(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """The JQL search for an issue already filed for this alert."""
    project = ctx.options.get("project", "")
    return {
        "jql": f'project = "{project}" AND labels = "{dedupe_label(doc)}"',
        "maxResults": 1,
        "fields": ["key"],
    }


def exchange(doc: AlertDoc, ctx: Context, call: Call) -> FetchResult:
    """Search by the dedupe label; create only when nothing is found."""
    site = ctx.url.rstrip("/")
    found = call(Request("POST", site + SEARCH, search(doc, ctx)))
    if not 200 <= found.status < 300:
        return found
    answer = reply_json(found)
    issues = answer.get("issues") if isinstance(answer, dict) else None
    if not isinstance(issues, list):
        return reply(502, found.url, {"error": "the Jira search answered without an issue list"})
    if issues:
        return reply(200, found.url, {"existing": issues[0].get("key")})
    return call(Request("POST", site + CREATE, payload(doc, ctx)))


def description(doc: AlertDoc) -> dict[str, Any]:
    """The description as an Atlassian Document Format document, within Jira's size limit."""
    budget = [DESCRIPTION]
    content: list[dict[str, Any]] = [_para(doc.get("summary") or "", budget)]
    item = doc.get("item") or {}
    link = web_url(item.get("url"))
    if link:
        content.append(
            _para(f"{item.get('id') or 'Advisory'}: {item.get('title') or ''}", budget, link)
        )
    for change in doc.get("changes") or []:
        content.append(_para(f"Changed: {change}", budget))
    findings = list(doc.get("findings") or [])
    for i, f in enumerate(findings):
        if budget[0] < 200:
            content.append(_para(f"…and {len(findings) - i} more fleet entries", [200]))
            break
        content.append(_heading(finding_head(f), budget))
        items = [_item(text, budget) for text in finding_body(f).splitlines()]
        if items:
            content.append({"type": "bulletList", "content": items})
    return {"type": "doc", "version": 1, "content": [c for c in content if c]}


def _text(text: str, budget: list[int], href: str | None = None) -> dict[str, Any]:
    value = clip(text, max(1, min(TEXT_NODE, budget[0]))) or "-"
    budget[0] -= len(value)
    node: dict[str, Any] = {"type": "text", "text": value}
    if href:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


def _para(text: str, budget: list[int], href: str | None = None) -> dict[str, Any]:
    return {"type": "paragraph", "content": [_text(text, budget, href)]}


def _heading(text: str, budget: list[int]) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [_text(line(text, 500), budget)]}


def _item(text: str, budget: list[int]) -> dict[str, Any]:
    return {"type": "listItem", "content": [_para(text, budget)]}


PRESET = Preset("jira", payload, headers, exchange)
