"""``firmwatch findings``: the stored findings as a work list (table, CSV or JSON)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from typing import Any, TextIO

from bot.catalog import spreadsheet_text
from bot.commands.common import (
    EXIT_OK,
    SubParsers,
    add_command,
    load_settings,
    table,
)
from bot.commands.db import store_to_read
from bot.findingreport import COLUMNS, ItemLabel, report_rows
from state import Finding, Store

STATES = ("open", "resolved", "all")
KINDS = ("advisory", "firmware", "lifecycle")


def cmd_findings(args: argparse.Namespace, out: TextIO) -> int:
    """List findings, a row per device group, most urgent first (open ones by default)."""
    loaded = load_settings(args.config)
    state = None if args.state == "all" else args.state
    with store_to_read(loaded) as store:  # creates no store
        found = (store.findings.for_fleet(args.fleet, state) if args.fleet
                 else store.findings.all(state))
        found = [f for f in found if args.kind is None or f.data.get("kind") == args.kind]
        rows = report_rows(found, _labels(store, found))
    if args.json:
        out.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    elif args.csv:
        out.write(_csv(rows))
    elif not rows:
        what = " ".join(filter(None, ("" if args.state == "all" else args.state, args.kind)))
        out.write(f"no {what + ' ' if what else ''}findings"
                  + (f" in fleet {args.fleet}" if args.fleet else "") + "\n")
    else:
        out.write(_text(rows))
    return EXIT_OK


def _labels(store: Store, found: list[Finding]) -> dict[str, ItemLabel]:
    """Each finding's item as rows name it (read once per item)."""
    labels: dict[str, ItemLabel] = {}
    for key in {f.item_key for f in found}:
        item = store.items.get(key)
        if item is None:
            continue  # a stage-change reminder (`lifecycle_label`), or an item since removed
        data: dict[str, Any] = dict(item.data)
        version = data.get("version")
        shown = data.get("vendor_id") or (f"Firmware {version}" if version else key)
        labels[key] = ItemLabel(str(shown), str(data.get("title") or shown),
                                str(data.get("url") or data.get("notes_url") or ""))
    return labels


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    return spreadsheet_text(value) if isinstance(value, str) else value


def _text(rows: list[dict[str, Any]]) -> str:
    lines = [["FLEET", "SITE", "MODEL", "FIRMWARE", "DEVICES", "ITEM", "STATUS", "SEVERITY",
              "STAGE", "FIX"]]
    for r in rows:
        severity = r["severity"] or "-"
        if r["score"] is not None:
            severity += f" {r['score']:.1f}"
        if r["kev"]:
            severity += " KEV"
        fix = r["fixed_version"] or r["update_available"] or "-"
        lines.append([r["fleet"], r["site"] or "-", r["model"], r["firmware"] or "unknown",
                      str(r["devices"]), r["item"], r["status"] or "-", severity,
                      r["stage"] or "-", fix])
    devices = sum(r["devices"] for r in rows)
    fleets = len({r["fleet"] for r in rows})
    return table(lines, right={4}) + (
        f"{len(rows)} row{'s' if len(rows) != 1 else ''} · {devices} devices"
        f" · {fleets} fleet{'s' if fleets != 1 else ''} (--csv for every field: risk notes,"
        " download links)\n"
    )


def register(sub: SubParsers) -> None:
    """Add ``findings``."""
    p = add_command(sub, "findings", cmd_findings)
    p.add_argument("--fleet", metavar="NAME", help="only this fleet's")
    p.add_argument("--state", choices=STATES, default="open", help="open (default), resolved, all")
    p.add_argument("--kind", choices=KINDS, help="only advisories, firmware updates or reminders")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--csv", action="store_true", help="every field, as CSV")
    shape.add_argument("--json", action="store_true", help="every field, as JSON")
