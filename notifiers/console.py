"""The ``console`` notifier: readable multi-line text for people (the demo and ``--dry-run``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from bot.config import ReceiverSettings, Settings
from bot.items import printable
from notifiers.base import AlertDoc, SendResult, Thread, headline

RULE = "─" * 72


class ConsoleNotifier:
    """Writes each alert as text to a stream (default: standard output)."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream
        self._lock = threading.Lock()

    def send(self, doc: AlertDoc, *, thread: Thread | None = None) -> SendResult:
        """Write the alert; an update names the alert it follows."""
        text = render_text(doc)
        if thread is not None:
            about = _item(doc).get("id") or "this item"
            text = f"(update to an earlier alert about {about})\n{text}"
        stream = self.stream or sys.stdout
        try:
            with self._lock:
                stream.write(text + "\n")
                stream.flush()
        except OSError as exc:  # e.g. a closed pipe: the alert was not shown, try again later
            return SendResult(ok=False, error=f"cannot write to the console: {exc.strerror or exc}")
        return SendResult(ok=True)

    def render(self, doc: AlertDoc) -> str:
        """The text ``send`` writes."""
        return render_text(doc)


def build(
    receiver: ReceiverSettings,
    settings: Settings,
    environ: Mapping[str, str],
    *,
    stream: TextIO | None = None,
) -> ConsoleNotifier:
    """A console notifier for a ``type = "console"`` receiver."""
    return ConsoleNotifier(receiver.name, stream)


def render_text(doc: AlertDoc) -> str:
    """An alert document as plain text: header, badges, changes, then one block per finding
    (without control characters)."""
    item = _item(doc)
    severity = headline(doc)
    ref = f" ({item['id']})" if item.get("id") and item.get("id") != item.get("title") else ""
    lines = [RULE, f"[{severity}] {item.get('title') or item.get('id') or 'firmwatch alert'}{ref}"]
    if doc.get("kev"):
        lines.append(f"!! EXPLOITED IN THE WILD: listed in CISA KEV since {doc['kev']}")
    if doc.get("summary"):
        lines.append(str(doc["summary"]))
    facts = [f"{doc.get('kind') or 'alert'}"]
    if doc.get("score") is not None:
        facts.append(f"CVSS {doc.get('cvss_version') or ''} {doc['score']}".replace("  ", " "))
    if item.get("url"):
        facts.append(str(item["url"]))
    lines.append(" · ".join(facts))
    changes = list(doc.get("changes") or [])
    if changes:
        lines.append("What changed:")
        lines += [f"  - {c}" for c in changes]
    for f in doc.get("findings") or []:
        lines += ["", *_finding(f)]
    lines.append(
        f"alert {doc.get('id') or '?'}"
        + (f" · {doc['created_at']}" if doc.get("created_at") else "")
    )
    lines.append(RULE)
    return printable("\n".join(lines))  # fleet sites, titles: no escape reaches the terminal


def _finding(f: Mapping[str, Any]) -> list[str]:
    stage = str(f.get("stage") or "unknown")
    if f.get("stage_ends"):
        stage += f" until {f['stage_ends']}"
    devices = f.get("devices")
    noun = "device" if devices == 1 else "devices"
    lines = [f"Fleet {f.get('fleet')}: {f.get('status')} · stage {stage} · {devices} {noun}"]
    about: Mapping[str, Any] = f.get("item") or {}  # a digest's: which item it is about
    if about.get("id"):
        title = f" ({about['title']})" if about.get("title") not in (None, about["id"]) else ""
        lines.append(f"  About: {about['id']}{title}")
    for g in f.get("device_groups") or []:
        site = f" at {g['site']}" if g.get("site") else ""
        lines.append(
            f"  {g.get('model')}  {g.get('firmware') or '(firmware unknown)'}"
            f"  x{g.get('count')}{site}"
        )
    if f.get("risk_note"):
        lines.append(f"  Risk: {f['risk_note']}")
    cves = [
        f"{c.get('id')}"
        + (f" {c['score']}" if c.get("score") is not None else "")
        + (f" (fix promised: {c['fix_promised']})" if c.get("fix_promised") else "")
        + (" [KEV]" if c.get("kev") else "")
        for c in f.get("cves") or []
    ]
    if cves:
        lines.append("  CVEs: " + ", ".join(cves))
    if f.get("fixed_version"):
        lines.append(f"  Fixed version: {f['fixed_version']}")
    if f.get("update_available"):
        lines.append(f"  Update available: {f['update_available']}")
    if f.get("download_url"):
        lines.append(f"  Download: {f['download_url']}")
    if f.get("notes_url"):
        lines.append(f"  Release notes: {f['notes_url']}")
    return lines


def _item(doc: AlertDoc) -> Mapping[str, Any]:
    item: Mapping[str, Any] = doc.get("item") or {}
    return item
