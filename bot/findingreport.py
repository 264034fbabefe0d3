"""Stored findings as a work list: one row per device group, most urgent first (pure).

What ``firmwatch findings`` prints and writes as CSV for the people who plan the upgrades: where
the devices are, what concerns them, how urgent it is, what the vendor promises and what to
install. Rows come from the findings the store keeps (`bot.alertdoc.finding_record`), each with
its item's label; a silence hides alerts, not findings, so silenced ones are listed too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.models import shown_model
from state import Finding

COLUMNS = (
    "fleet", "site", "model", "firmware", "devices", "kind", "item", "title", "url", "status",
    "severity", "score", "cvss_version", "cves", "kev", "stage", "stage_ends", "fix_promised",
    "fixed_version", "download_url", "update_available", "risk_note", "state", "first_seen",
)  # fmt: skip
_STATUS = ("affected", "possibly-affected", "review-needed")  # the rest (updates, reminders) after
_SEVERITY = ("critical", "high", "medium", "low", "none")


@dataclass(frozen=True)
class ItemLabel:
    """How a row names its item: the vendor's id (``HSRC-202109-01``, ``Firmware V5.9.72``),
    its title and its page."""

    id: str
    title: str
    url: str


def lifecycle_label(key: str) -> ItemLabel | None:
    """The label of a stage-change reminder's item (``lifecycle:MODEL:STAGE:DATE:LEADd``, as
    `bot.evaluate.lifecycle_header` names it), which the store keeps no item for."""
    parts = key.split(":")
    if len(parts) != 5 or parts[0] != "lifecycle":
        return None
    _, model, stage, day, _ = parts
    title = f"{shown_model(model)} enters {stage} on {day}"
    return ItemLabel(title, title, "")


def report_rows(
    findings: Iterable[Finding], items: Mapping[str, ItemLabel]
) -> list[dict[str, Any]]:
    """A row per device group of each finding (``COLUMNS``, CVEs joined by spaces), exploited
    first, then by status, severity and score, then by fleet, site and model."""
    rows = []
    for f in findings:
        d = f.data
        label = (items.get(f.item_key) or lifecycle_label(f.item_key)
                 or ItemLabel(f.item_key, f.item_key, ""))
        cves = d.get("cves") or []
        kev = min((str(c["kev"]) for c in cves if c.get("kev")), default=None)
        shared = {
            "fleet": f.fleet,
            "kind": d.get("kind"),
            "item": label.id,
            "title": label.title,
            "url": label.url,
            "status": d.get("status") or ("update-available" if d.get("kind") == "firmware"
                                          else d.get("kind")),
            "severity": d.get("severity"),
            "score": d.get("score"),
            "cvss_version": d.get("cvss_version"),
            "cves": " ".join(str(c["id"]) for c in cves),
            "kev": kev,
            "stage": d.get("stage"),
            "stage_ends": d.get("stage_ends"),
            "fix_promised": d.get("fix_promised"),
            "fixed_version": d.get("fixed_version"),
            "download_url": d.get("download_url"),
            "update_available": d.get("update_available"),
            "risk_note": d.get("risk_note"),
            "state": f.state,
            "first_seen": f.first_seen.isoformat(timespec="seconds"),
        }
        for g in d.get("device_groups") or []:
            rows.append({
                **shared,
                "site": g.get("site") or "",
                "model": shown_model(str(g.get("model") or d.get("model") or "")),
                "firmware": g.get("firmware") or "",
                "devices": int(g.get("count") or 0),
            })
    rows.sort(key=_urgency)
    return [{name: row[name] for name in COLUMNS} for row in rows]


def _urgency(row: Mapping[str, Any]) -> tuple[object, ...]:
    status, severity = row["status"], row["severity"] or "none"
    return (
        row["kev"] is None,
        _STATUS.index(status) if status in _STATUS else len(_STATUS),
        _SEVERITY.index(severity) if severity in _SEVERITY else len(_SEVERITY),
        -(row["score"] or 0.0),
        row["fleet"], row["site"], row["model"], row["firmware"], row["item"],
    )
