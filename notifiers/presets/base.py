"""What every payload preset shares: its shape, the context it renders in, and text helpers.

A preset turns an alert document into the JSON body an API expects (``payload``, pure). Most APIs
take one POST to the receiver's URL; a preset that needs more (Jira and ServiceNow search before
they create, so a retry never makes a second ticket) supplies ``exchange``, which makes its calls
through the ``Call`` it is handed and returns the reply that decides the outcome.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.items import printable
from bot.sources.fetcher import FetchResult
from notifiers.base import KIND_LABELS, AlertDoc

ELLIPSIS = "…"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:|@/+=-]+$")


class PayloadError(Exception):
    """The document cannot be rendered for this API (retrying will not help)."""


@dataclass(frozen=True)
class Context:
    """Where and for whom a payload is rendered; ``secrets`` never appear in messages."""

    receiver: str
    url: str
    options: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)

    def masked(self) -> Context:
        """A copy whose secrets read ``(secret from $NAME)``, for dry runs."""
        shown = {
            k: f"(secret from ${self.options.get(k + '_env', k.upper())})" for k in self.secrets
        }
        return Context(self.receiver, self.url, self.options, shown)


@dataclass(frozen=True)
class Request:
    """One HTTP call a preset asks for; ``body`` is JSON-ready or None."""

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


Call = Callable[[Request], FetchResult]
Payload = Callable[[AlertDoc, Context], Any]  # a JSON-ready value, usually an object
Exchange = Callable[[AlertDoc, Context, Call], FetchResult]
Headers = Callable[[Context], dict[str, str]]


def no_headers(ctx: Context) -> dict[str, str]:
    """Presets that authenticate by URL or body add no headers."""
    return {}


@dataclass(frozen=True)
class Preset:
    """A payload preset: the body it renders, its headers and, if not one POST, its calls."""

    name: str
    payload: Payload
    headers: Headers = no_headers
    exchange: Exchange | None = None


def reply(status: int, url: str, body: Any) -> FetchResult:
    """A reply made up by a preset (e.g. "the ticket already exists"), as if the API sent it."""
    raw = json.dumps(body).encode()
    return FetchResult(url, status, raw, {"content-type": "application/json"}, None, None, False)


def reply_json(result: FetchResult) -> Any:
    """The reply's JSON body, or None when it is not JSON (or was cut at the size cap)."""
    try:
        return json.loads(result.body)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the parser
        return None


def clip(text: object, limit: int) -> str:
    """``text`` as a string of at most ``limit`` characters, ending in "…" when cut."""
    value = "" if text is None else str(text)
    if len(value) <= limit:
        return value
    return value[: max(limit - 1, 0)] + ELLIPSIS if limit > 0 else ""


def line(text: object, limit: int) -> str:
    """One line (whitespace collapsed, no control characters) of at most ``limit`` characters."""
    return clip(" ".join(printable("" if text is None else str(text)).split()), limit)


def fit_id(key: str, limit: int, prefix: str = "fw_") -> str:
    """``key`` itself when it fits and is plain, else a stable hash of it (ids are never cut)."""
    if len(key) <= limit and _SAFE_ID.match(key):
        return key
    return (prefix + hashlib.sha256(key.encode()).hexdigest())[:limit]


def dedupe_label(doc: AlertDoc) -> str:
    """A label/tag naming the alert: derived from its dedupe key, no spaces, 27 characters."""
    return "fw-" + hashlib.sha256(str(doc.get("dedupe_key", "")).encode()).hexdigest()[:24]


def item_key(doc: AlertDoc, ctx: Context, limit: int) -> str:
    """A key for (receiver, item), the same for every revision and for the resolution; for a
    ticket opened from Slack, for (receiver, the alert's own receiver, item): tickets opened
    from two channels (an MSP's customers) about one item are two tickets."""
    item = doc.get("item") or {}
    scope = f"{ctx.receiver}|{doc['ticket_for']}" if doc.get("ticket_for") else ctx.receiver
    return fit_id(f"firmwatch|{scope}|{item.get('key', '')}", limit)


def item_label(doc: AlertDoc, ctx: Context) -> str:
    """A label/tag naming (receiver, item), the same for every revision: ``fw-item-`` + 24 hex."""
    return "fw-item-" + hashlib.sha256(item_key(doc, ctx, 1_000).encode()).hexdigest()[:24]


def is_resolved(doc: AlertDoc) -> bool:
    """True when the document says the item is over (withdrawn advisory, fleet fixed)."""
    return doc.get("resolved") is True


def severity(doc: AlertDoc) -> str:
    """The alert's severity name, lower-case (``none`` when absent)."""
    value = str(doc.get("severity") or "none").lower()
    return value if value in ("none", "low", "medium", "high", "critical") else "none"


def label(doc: AlertDoc) -> str:
    """What a headline shows in brackets: the severity, or what a notice is (a source-health
    notice or a receiver notice has no severity, and ``[NONE]`` would read as "nothing to do")."""
    kind = str(doc.get("kind") or "")
    if kind == "source" and is_resolved(doc):
        return "SOURCE"  # [RESOLVED] [SOURCE]: no longer down
    return KIND_LABELS.get(kind) or severity(doc).upper()


def urgency(doc: AlertDoc) -> str:
    """The severity a paging or ticketing API is told: the alert's, but ``medium`` for a source
    that is failing (no advisory has a score to give, yet alerts may be going missing)."""
    if doc.get("kind") == "source" and not is_resolved(doc):
        return "medium"
    return severity(doc)


def urgent(doc: AlertDoc) -> bool:
    """Exploited in the wild (KEV listing or an ``exploited`` alert)."""
    return bool(doc.get("kev")) or doc.get("kind") == "exploited"


def title(doc: AlertDoc) -> str:
    """The item's vendor id and title, e.g. ``HSRC-202108-01: Command injection``."""
    item = doc.get("item") or {}
    ident, name = str(item.get("id") or ""), str(item.get("title") or "")
    return f"{ident}: {name}" if ident and name and ident not in name else (name or ident)


def headline(doc: AlertDoc) -> str:
    """Severity, KEV badge and summary on one line."""
    badge = " [KEV]" if urgent(doc) else ""
    done = "[RESOLVED] " if is_resolved(doc) else ""
    return f"{done}[{label(doc)}]{badge} {doc.get('summary') or title(doc)}"


def web_url(value: object) -> str | None:
    """``value`` when it is an http(s) URL short enough for any API, else None."""
    text = str(value or "")
    return text if re.match(r"^https?://\S+$", text) and len(text) <= 2000 else None


def finding_head(f: Mapping[str, Any]) -> str:
    """``hq: 8 devices, stage dynamic, affected``."""
    n = f.get("devices") or 0
    noun = "device" if n == 1 else "devices"
    return f"{f.get('fleet')}: {n} {noun}, stage {f.get('stage')}, {f.get('status')}"


def finding_body(f: Mapping[str, Any]) -> str:
    """The device groups, CVEs, fix and risk note of one finding, one fact per line."""
    groups = [
        f"{g.get('count')} x {g.get('model')} {g.get('firmware') or '(firmware unknown)'}"
        + (f" at {g['site']}" if g.get("site") else "")
        for g in f.get("device_groups") or []
    ]
    cves = ", ".join(str(c.get("id")) for c in f.get("cves") or [])
    parts = [*groups, f"CVEs: {cves}" if cves else ""]
    fixed, note = f.get("fixed_version"), str(f.get("risk_note") or "")
    if fixed and str(fixed) not in note:
        parts.append(f"Fixed in {fixed}")
    parts.append(note)
    return "\n".join(p for p in parts if p)


def created(doc: AlertDoc) -> str | None:
    """The alert's creation time as ISO 8601 with a zone (UTC when none was given)."""
    try:
        moment = datetime.fromisoformat(str(doc.get("created_at")))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (what is sent)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
