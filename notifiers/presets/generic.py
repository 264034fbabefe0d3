"""firmwatch's own payload: the alert document wrapped the Standard Webhooks way.

``{"type": "firmwatch.alert", "timestamp": <created_at>, "data": <alert document>}``, described by
``docs/webhook-payload.schema.json``. The idempotency key is the ``webhook-id`` header (the alert's
dedupe key), the same on every retry; ``data.id`` is a shorter stable id for the same alert.
"""

from __future__ import annotations

from typing import Any

from notifiers.base import AlertDoc
from notifiers.presets.base import Context, Preset, created

EVENT_TYPE = "firmwatch.alert"


def payload(doc: AlertDoc, ctx: Context) -> dict[str, Any]:
    """The versioned generic payload; the document travels whole."""
    return {
        "type": EVENT_TYPE,
        "timestamp": created(doc) or doc.get("created_at"),
        "data": dict(doc),
    }


PRESET = Preset("generic", payload)
