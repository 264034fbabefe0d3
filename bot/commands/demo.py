"""``firmwatch demo``: firmwatch on bundled samples, offline and without credentials."""

from __future__ import annotations

import argparse
from datetime import date
from importlib import resources
from typing import TextIO

from bot import __version__
from bot.catalog import Catalog, parse_catalog_csv
from bot.commands.common import EXIT_OK, SubParsers, add_command, parse_date
from bot.modelcard import model_card, render_card

DEMO_MODELS = (
    "DS-2CD3321G2-I",
    "DS-2CD3047G2-LS",
    "DS-2CD7326G0-IZS",
    "DS-96064NI-I16",
    "DS-2CD2143G2-I",
    "DS-2DE4425IW-DE",
    "iDS-7716NXI-M4/X",
)


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Show what firmwatch says about a few models, using the bundled sample catalog."""
    on = parse_date("--on", args.on) if args.on else date.today()
    text = resources.files("bot").joinpath("samples/catalog.csv").read_text(encoding="utf-8")
    catalog = Catalog(parse_catalog_csv(text, "bundled samples/catalog.csv"))
    out.write(
        f"firmwatch {__version__} demo: model cards on {on.isoformat()} from the bundled "
        "sample catalog (sample dates, not vendor data)\n\n"
    )
    for model in DEMO_MODELS:
        out.write(render_card(model_card(model, catalog, on)) + "\n\n")
    out.write(
        "Next: put your models' launch and discontinuation dates in bot.toml ([[catalog]])\n"
        "and try:\n"
        "  firmwatch lookup DS-2CD3321G2-I --on 2027-06-01\n"
        "  firmwatch config check\n"
    )
    return EXIT_OK


def register(sub: SubParsers) -> None:
    """Add ``demo``."""
    p = add_command(sub, "demo", cmd_demo)
    p.add_argument("--on", metavar="YYYY-MM-DD", help="the date to judge on (default: today)")
