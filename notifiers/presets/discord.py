"""Discord: an execute-webhook message with one embed.

Discord has no idempotency key; the embed's footer shows the alert id. Mentions are switched off
(``allowed_mentions``) so text from an advisory can never ping ``@everyone``. The webhook URL holds
its token: give it with ``url_env``.
"""

from __future__ import annotations

from typing import Any

from notifiers.base import AlertDoc
from notifiers.presets.base import (
    Context,
    Preset,
    clip,
    created,
    finding_body,
    finding_head,
    headline,
    line,
    severity,
    title,
    web_url,
)

CONTENT = 2_000
TITLE = 256
DESCRIPTION = 4_096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1_024
FOOTER = 2_048
TOTAL = 6_000  # title, description, field names and values, footer text together
COLOR = {"critical": 0xB00020, "high": 0xE65100, "medium": 0xF9A825, "low": 0x1565C0}


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """The execute-webhook body."""
    findings = list(doc.get("findings") or [])
    embed_title = line(title(doc), TITLE) or "firmwatch alert"
    footer = line(f"firmwatch · {doc.get('id')}", FOOTER)
    room = TOTAL - len(embed_title) - len(footer)
    changes = "\n".join(f"Changed: {c}" for c in doc.get("changes") or [])
    description = clip(
        "\n".join(x for x in (str(doc.get("summary") or ""), changes) if x),
        min(DESCRIPTION, room // 3),
    )
    room -= len(description)
    fields: list[dict[str, Any]] = []
    for i, f in enumerate(findings[:FIELDS]):
        more = len(findings) - i
        name = line(finding_head(f), FIELD_NAME) or "-"
        value = clip(finding_body(f), FIELD_VALUE) or "-"
        last = i == FIELDS - 1 and more > 1
        if last or len(name) + len(value) > room - 40:
            note = f"…and {more} more fleet entries"
            if len(note) + 1 <= room:
                fields.append({"name": "\u2026", "value": note, "inline": False})
            break
        fields.append({"name": name, "value": value, "inline": False})
        room -= len(name) + len(value)
    embed: dict[str, Any] = {
        "title": embed_title,
        "description": description,
        "color": COLOR.get(severity(doc), 0x607D8B),
        "fields": fields,
        "footer": {"text": footer},
    }
    item = doc.get("item") or {}
    if web_url(item.get("url")):
        embed["url"] = item["url"]
    if created(doc):
        embed["timestamp"] = created(doc)
    return {
        "content": clip(headline(doc), CONTENT),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
        "username": "firmwatch",
    }


PRESET = Preset("discord", payload)
