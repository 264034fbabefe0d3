"""``firmwatch demo``: the whole pipeline on the bundled samples, offline and without credentials.

The bundled sample sources (a Hikvision advisory listing and its pages, a firmware index, NVD and
KEV extracts) are read as file:// URLs, a sample fleet is matched against them in a fresh TinyDB
store under ``--state`` (default ``./demo-state``), and the alerts go through the outbox to the
console receiver, as they would to Slack or a webhook.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, time
from importlib import resources
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot.commands.common import EXIT_OK, CommandFailed, SubParsers, add_command, parse_date
from bot.config import Settings, parse
from bot.pipeline import CycleReport, run_cycle
from bot.sources.fetcher import Fetcher
from notifiers.console import ConsoleNotifier
from notifiers.delivery import deliver_due
from state import Store, StoreError, open_store

NEXT_STEPS = """\
Next steps:
  firmwatch lookup DS-2CD3321G2-I --on 2027-06-01    what the policy promises for a model
  cp bot.toml my.toml; firmwatch config check --config my.toml
  firmwatch fleet import fleets.csv                   register your own devices
  firmwatch check --dry-run                           what your sources and fleets would alert
  docs/slack.md                                       create the Slack app and run the service
"""


def demo_settings(samples: Path) -> Settings:
    """The bundled demo configuration with its sources pointed at the bundled samples."""
    text = (samples / "demo.toml").read_text(encoding="utf-8")
    return parse(text.replace("@SAMPLES@", (samples / "sources").as_uri()), "demo.toml")


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Run firmwatch end to end on bundled samples (no network, no credentials) and print alerts."""
    on = parse_date("--on", args.on) if args.on else None
    now = datetime.combine(on, time(9), UTC) if on else datetime.now(UTC)
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    path = (state / "firmwatch.json").resolve()
    path.unlink(missing_ok=True)  # every demo starts from nothing, so it always shows alerts
    with resources.as_file(resources.files("bot").joinpath("samples")) as samples:
        settings = demo_settings(samples)
        out.write(
            f"firmwatch {__version__} demo: bundled sample sources and fleets (sample data, not"
            f" vendor data), state in {path}\n\n"
        )
        try:
            with open_store(f"tinydb:///{path}") as store, Fetcher(settings.network) as fetcher:
                report = run_cycle(
                    store,
                    settings,
                    now,
                    fetcher=fetcher,
                    base=samples,
                    config_name="demo.toml",
                    on=on,
                )
                out.write(_summary(report) + "\n")
                _deliver(store, settings, now, out)
        except StoreError as exc:
            raise CommandFailed(str(exc)) from None
    out.write("\n" + NEXT_STEPS)
    return EXIT_OK


def _summary(report: CycleReport) -> str:
    sources = ", ".join(f"{n}: {s}" for n, s in sorted(report.sources.items()))
    return (
        f"Read {sources}.\n"
        f"{report.items['new']} items stored, {report.findings['open']} findings on"
        f" {report.on.isoformat()}, {report.enqueued} alerts queued for delivery.\n"
    )


def _deliver(store: Store, settings: Settings, now: datetime, out: TextIO) -> None:
    """Deliver the queued alerts through the outbox, to the console (as the worker would)."""
    console = {r.name: ConsoleNotifier(r.name, out) for r in settings.receivers}
    report = deliver_due(store, settings, now, worker="demo", notifiers=console)
    out.write(f"\nDelivery: {report.describe()}.\n")


def register(sub: SubParsers) -> None:
    """Add ``demo``."""
    p = add_command(sub, "demo", cmd_demo, config=False)
    p.add_argument("--on", metavar="YYYY-MM-DD", help="the date to judge on (default: today)")
    p.add_argument(
        "--state", default="demo-state", metavar="DIR", help="where the demo keeps its state"
    )
