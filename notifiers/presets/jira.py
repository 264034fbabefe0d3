"""Jira Cloud: one issue per item, found by a search before anything is filed.

The issue carries the labels ``fw-item-<hash of (receiver, item)>`` and ``fw-<hash of the dedupe
key>`` of the alert that filed it. A JQL search for the item's label among the project's issues not
done comes first: none found, the alert creates an issue (a resolution creates nothing); found, the
alert is added to it as a comment instead of filing a second issue, unless the issue is this
alert's own (a retry after a lost answer). Transitions are left to people: workflows differ.
``url`` is the site (``https://example.atlassian.net``); ``auth_env`` holds ``email:api-token``.
"""

from __future__ import annotations

import base64
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
    item_label,
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
    labels = ["firmwatch", item_label(doc, ctx), dedupe_label(doc), f"severity-{severity(doc)}"]
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
    """The JQL search for the item's issue that is not done yet."""
    project = ctx.options.get("project", "")
    return {
        "jql": f'project = "{project}" AND labels = "{item_label(doc, ctx)}"'
        " AND statusCategory != Done ORDER BY created DESC",
        "maxResults": 1,
        "fields": ["key", "labels"],
    }


def exchange(doc: AlertDoc, ctx: Context, call: Call) -> FetchResult:
    """Search the item's open issue; comment the alert on it, or create one when there is none."""
    site = ctx.url.rstrip("/")
    found = call(Request("POST", site + SEARCH, search(doc, ctx)))
    if not 200 <= found.status < 300:
        return found
    answer = reply_json(found)
    issues = answer.get("issues") if isinstance(answer, dict) else None
    if not isinstance(issues, list):
        return reply(502, found.url, {"error": "the Jira search answered without an issue list"})
    if not issues:
        if is_resolved(doc):
            return reply(200, found.url, {"skipped": "no open issue to resolve"})
        return call(Request("POST", site + CREATE, payload(doc, ctx)))
    issue = issues[0] if isinstance(issues[0], dict) else {}
    labels = (issue.get("fields") or {}).get("labels") or []
    if dedupe_label(doc) in labels:  # this alert filed it
        return reply(200, found.url, {"existing": issue.get("key")})
    key = quote(str(issue.get("key") or issue.get("id") or ""), safe="")
    comment = {"body": description(doc, head=headline(doc))}
    return call(Request("POST", f"{site}{CREATE}/{key}/comment", comment))


def description(doc: AlertDoc, head: str = "") -> dict[str, Any]:
    """The description (or, led by ``head``, a comment) as an Atlassian Document Format
    document, within Jira's size limit."""
    budget = [DESCRIPTION]
    content: list[dict[str, Any]] = [_para(head, budget)] if head else []
    content.append(_para(doc.get("summary") or "", budget))
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
