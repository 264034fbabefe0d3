"""``firmwatch check``: one whole cycle (fetch, ingest, match, route), or a dry run of it."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.commands.common import EXIT_OK, SubParsers, add_command, load_settings, parse_date
from bot.commands.db import open_configured_store
from bot.pipeline import CycleReport, run_cycle
from bot.sources.fetcher import Fetcher


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Run one cycle now: fetch every enabled source, ingest, match, route and enqueue alerts."""
    loaded = load_settings(args.config)
    on = parse_date("--on", args.on) if args.on else None
    base = loaded.path.parent if loaded.found else loaded.path.parent.resolve()
    with open_configured_store(loaded) as store, Fetcher(loaded.settings.network) as fetcher:
        report = run_cycle(
            store,
            loaded.settings,
            datetime.now(UTC),
            fetcher=fetcher,
            base=base,
            config_name=loaded.path.name,
            only=args.source or None,
            on=on,
            dry_run=args.dry_run,
        )
    if args.json:
        json.dump(report.alerts, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(render_report(report))
    return EXIT_OK


def render_report(report: CycleReport) -> str:
    """The cycle in words: sources, items, findings, then each alert."""
    lines = [
        f"cycle on {report.on.isoformat()}{' (dry run: nothing stored)' if report.dry_run else ''}"
        f" in {report.seconds:.2f} s"
    ]
    lines += [f"  source {name}: {status}" for name, status in sorted(report.sources.items())]
    lines.append(
        f"  items: {report.items['new']} new, {report.items['revised']} revised;"
        f" findings: {report.findings['open']} open, {report.findings['resolved']} resolved"
    )
    verb = "would be sent" if report.dry_run else "enqueued"
    lines.append(f"  alerts: {len(report.alerts)} {verb}, {report.digested} held for digests")
    for doc in report.alerts:
        lines += ["", *render_alert(doc)]
    return "\n".join(lines) + "\n"


def render_alert(doc: dict[str, Any]) -> list[str]:
    """A short text form of one alert document."""
    item = doc["item"]
    kev = f" EXPLOITED (KEV {doc['kev']})" if doc.get("kev") else ""
    lines = [
        f"[{doc['severity'].upper()}]{kev} {item['id']}: {item['title']} → {doc['receivers'][0]}"
    ]
    lines += [f"  changed: {c}" for c in doc["changes"]]
    for f in doc["findings"]:
        groups = ", ".join(
            f"{g['count']} x {g['model']} {g['firmware'] or '(firmware unknown)'}"
            f"{' at ' + g['site'] if g['site'] else ''}"
            for g in f["device_groups"][:5]
        )
        more = len(f["device_groups"]) - 5
        lines.append(
            f"  {f['fleet']} [{f['stage']}] {groups}{f' …and {more} more' if more > 0 else ''}"
        )
        lines.append(f"    {f['risk_note']}")
    return lines


def register(sub: SubParsers) -> None:
    """Add ``check``."""
    p = add_command(sub, "check", cmd_check)
    p.add_argument("--on", metavar="YYYY-MM-DD", help="the date to judge on (default: today)")
    p.add_argument("--dry-run", action="store_true", help="store nothing; only print the alerts")
    p.add_argument("--json", action="store_true", help="print the alerts as one JSON array")
    p.add_argument(
        "--source", action="append", metavar="NAME", help="poll only this source (repeatable)"
    )
