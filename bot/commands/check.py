"""``firmwatch check``: one whole cycle (fetch, ingest, match, route), or a dry run of it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TextIO

from bot.commands.common import (
    EXIT_OK,
    SubParsers,
    UsageError,
    add_command,
    load_settings,
    parse_date,
)
from bot.commands.db import open_configured_store, store_to_read
from bot.commands.itemtext import safe
from bot.config import Settings, default_environ
from bot.pipeline import CycleReport, run_cycle
from bot.slack.subscriptions import with_subscriptions
from bot.sourcenotice import untold_warning
from bot.sources.fetcher import Fetcher
from notifiers import build_notifiers
from notifiers.base import headline
from notifiers.console import ConsoleNotifier, render_text
from notifiers.delivery import deliver_due
from state import Store


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Run one cycle now: fetch every enabled source, ingest, match, route and enqueue alerts."""
    loaded = load_settings(args.config)
    on = parse_date("--on", args.on) if args.on else None
    names = [s.name for s in loaded.settings.sources]
    unknown = [n for n in args.source or () if n not in names]
    if unknown:
        raise UsageError(
            f"--source: no [[sources]] entry is named {unknown[0]!r}"
            f" (configured: {', '.join(names) or 'none'})"
        )
    disabled = [s.name for s in loaded.settings.sources if s.name in (args.source or ())
                and not s.enabled]
    if disabled:
        raise UsageError(
            f"--source: source {disabled[0]!r} is disabled (enabled = false in"
            f" {loaded.path.name}): enable it, or read it without storing anything with"
            f" `firmwatch fetch {disabled[0]}`"
        )
    base = loaded.path.parent if loaded.found else loaded.path.parent.resolve()
    opened = store_to_read(loaded) if args.dry_run else open_configured_store(loaded)
    with opened as store, Fetcher(loaded.settings.network) as fetcher:
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
            warnings = waiting_lines(report) + unheard_lines(report) + unrouted_lines(report)
            sys.stderr.writelines(line + "\n" for line in warnings)
        else:
            out.write(render_report(report))
            out.flush()
        if not args.dry_run and not args.no_deliver:
            # The new alerts, and what earlier runs left due (a retry, a receiver that did not
            # answer): a setup that runs only `check` from cron delivers those too.
            unsent = store.outbox.counts()
            if report.enqueued or unsent["pending"] or unsent["retrying"]:
                _deliver(store, loaded.settings, sys.stderr if args.json else out,
                         quiet=not report.enqueued)
    return EXIT_OK


def _deliver(store: Store, settings: Settings, out: TextIO, *, quiet: bool = False) -> None:
    """Deliver what is due now; console receivers write to ``out`` (stderr under --json).
    ``quiet``: say nothing when nothing was due (only entries waiting for a later retry)."""
    settings = with_subscriptions(settings, store)
    notifiers, problems = build_notifiers(settings, default_environ())
    for r in settings.receivers:
        if r.type == "console":
            notifiers[r.name] = ConsoleNotifier(r.name, out)
    delivered = deliver_due(store, settings, datetime.now(UTC), worker="check", notifiers=notifiers)
    waiting = {**problems, **delivered.waiting}
    attempted = delivered.sent + delivered.retried + delivered.dead + delivered.skipped
    if quiet and not attempted and not waiting:
        return
    out.write(f"\ndelivery: {delivered.describe()}\n")
    for name, why in sorted(waiting.items()):
        out.write(f"  {name}: not delivered now: {why}\n")


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
    lines += unheard_lines(report)
    lines += unrouted_lines(report)
    verb = "would be sent" if report.dry_run else "enqueued"
    now = len(report.alerts) - report.digested
    lines.append(f"  alerts: {now} {verb}, {report.digested} held for digests")
    for doc in report.alerts:
        item = doc["item"]
        held = f" (held for the {doc['digest']} digest)" if doc.get("digest") else ""
        label = headline(doc).lower()
        lines.append(f"  → {doc['receivers'][0]}{held}: [{label}] {item['id']}: {item['title']}")
    if report.dry_run:  # nothing will be sent: show each alert whole
        for doc in report.alerts:
            lines += ["", render_text(doc)]
    return "\n".join(lines) + "\n"


def waiting_lines(report: CycleReport) -> list[str]:
    """A line per source not polled because its server asked to wait (for --json's stderr)."""
    return [
        f"  source {name}: waiting until {until} (the server asked); not polled"
        for name, until in sorted(report.waiting.items())
    ]


def unheard_lines(report: CycleReport) -> list[str]:
    """A warning per unhealthy source when ``[policy] source_receivers`` names nobody."""
    return [f"  {untold_warning(name, safe(status))}" for name, status in
            sorted(report.unheard.items())]


def unrouted_lines(report: CycleReport) -> list[str]:
    """A warning per fleet whose findings nobody would hear of."""
    return [
        f"  fleet {fleet}: {n} finding{'s go' if n > 1 else ' goes'} to no receiver (give the"
        " fleet receivers in [[fleets]] or add a [[routes]] entry that takes it)"
        for fleet, n in sorted(report.unrouted.items())
    ]


def register(sub: SubParsers) -> None:
    """Add ``check``."""
    p = add_command(sub, "check", cmd_check)
    p.add_argument("--on", metavar="YYYY-MM-DD", help="the date to judge on (default: today)")
    p.add_argument("--dry-run", action="store_true", help="store nothing; only print the alerts")
    p.add_argument("--json", action="store_true", help="print the alerts as one JSON array")
    p.add_argument(
        "--no-deliver", action="store_true", help="enqueue alerts but leave delivery to the worker"
    )
    p.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="poll only this source (repeatable); a source whose server asked to wait"
        " (Retry-After) is still not polled before then: `firmwatch fetch NAME` reads it now",
    )
