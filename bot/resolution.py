"""Resolution alerts: tell a receiver when an item it was alerted about affects none of its devices.

When a cycle resolves findings (devices upgraded or removed, an advisory withdrawn or corrected),
each receiver that was alerted about the item and would now get no finding of it receives one
``resolved`` alert, so PagerDuty can resolve its incident and people can close their tickets. It
says why: no device group of the receiver is affected any more, or those still affected are below
its severity threshold (which a threshold raised in the same cycle does), or, for a firmware
release, that a newer release supersedes it for the devices that needed it (they are told of that
one instead).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.alertdoc import BELOW, GONE, UPGRADED, superseded_by
from bot.evaluate import Evaluation
from bot.routing import Alert, ItemHeader, Routing, receivers_of
from bot.routingsetup import AlertMemory
from state import Store

RESOLVED = "resolved:"


def resolutions(
    store: Store,
    receivers: Iterable[str],
    evaluation: Evaluation,
    items: Iterable[str],
    routing: Routing,
    memory: AlertMemory,
) -> list[Alert]:
    """One resolved alert per (receiver, item) that was alerted and has no finding left for it."""
    findings = {header.key: found for header, found in evaluation.items}
    names = list(receivers)
    alerts: list[Alert] = []
    for key in sorted(items):
        left = findings.get(key, [])
        still = {r for f in left for r, _ in receivers_of(f, routing)}
        muted: set[str] | None = None  # worked out when a receiver is told
        header = _header(store, key)
        if header is None:
            continue
        for receiver in names:
            previous = memory.get((receiver, key))
            if receiver in still or previous is None or previous.material.startswith(RESOLVED):
                continue
            if muted is None:
                muted = {r for f in left for r, _ in receivers_of(f, routing, thresholds=False)}
            newer = evaluation.superseded.get(key) if header.kind == "firmware" else None
            said = (
                BELOW
                if receiver in muted
                else superseded_by(newer)
                if newer
                else UPGRADED
                if header.kind == "firmware"
                else GONE
            )
            alerts.append(
                Alert(
                    receiver,
                    "firmware" if header.kind == "firmware" else "advisory",
                    header,
                    (),
                    RESOLVED + previous.material,
                    {},
                    (said,),
                    resolved=True,
                )
            )
    return alerts


def _header(store: Store, key: str) -> ItemHeader | None:
    """The stored item's header; lifecycle reminders are not resolved (they simply pass)."""
    stored = store.items.get(key)
    if stored is None or stored.kind not in ("advisory", "firmware"):
        return None
    data = stored.data
    label = data.get("vendor_id") or (
        f"Firmware {data['version']}" if stored.kind == "firmware" else None
    )
    return ItemHeader(
        key,
        stored.kind,
        str(data.get("title") or key),
        str(data.get("url") or ""),
        stored.revision,
        label,
    )
