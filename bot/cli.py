"""The ``firmwatch`` command line: thin commands over the core functions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot.catalog import Catalog, CatalogEntry, ModelError, parse_catalog_csv
from bot.config import ConfigError, Settings, config_path, default_environ, load
from bot.modelcard import model_card, render_card
from bot.wiring import build_catalog

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEMO_MODELS = (
    "DS-2CD3321G2-I",
    "DS-2CD3047G2-LS",
    "DS-2CD7326G0-IZS",
    "DS-96064NI-I16",
    "DS-2CD2143G2-I",
    "DS-2DE4425IW-DE",
    "iDS-7716NXI-M4/X",
)


class UsageError(Exception):
    """A bad argument; the message says which and why."""


@dataclass(frozen=True)
class Loaded:
    """The settings and where they came from."""

    settings: Settings
    path: Path
    found: bool


def load_settings(cli_value: str | None) -> Loaded:
    """Load the config; a missing default ./bot.toml means built-in defaults."""
    path = config_path(cli_value, default_environ())
    explicit = cli_value is not None or "FIRMWATCH_CONFIG" in default_environ()
    if not path.exists() and not explicit:
        return Loaded(Settings(), path, found=False)
    return Loaded(load(path), path, found=True)


def parse_date(flag: str, value: str) -> date:
    """Parse an ISO date argument or raise UsageError naming the flag."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag}: not a date (got {value!r}); expected YYYY-MM-DD") from None


def cmd_lookup(args: argparse.Namespace, out: TextIO) -> int:
    """Print the model card: family, coverage, stage, key dates and the vendor's promise."""
    loaded = load_settings(args.config)
    on = parse_date("--on", args.on) if args.on else date.today()
    launched = parse_date("--launched", args.launched) if args.launched else None
    discontinued = parse_date("--discontinued", args.discontinued) if args.discontinued else None
    if launched and discontinued and discontinued < launched:
        raise UsageError("--discontinued: before --launched")
    catalog = build_catalog(loaded.settings, loaded.path.parent, loaded.path.name)
    try:
        card = model_card(
            args.model,
            catalog,
            on,
            launched=launched,
            discontinued=discontinued,
            severe_cvss=loaded.settings.policy.severe_cvss,
        )
    except ModelError as exc:
        raise UsageError(f"MODEL: {exc}") from None
    if args.json:
        json.dump(card.to_dict(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(render_card(card) + "\n")
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace, out: TextIO) -> int:
    """Validate the config file and exit 0, or print every problem and exit 2."""
    loaded = load_settings(args.config)
    if not loaded.found:
        raise ConfigError([f"{loaded.path}: file not found"])
    build_catalog(loaded.settings, loaded.path.parent, loaded.path.name)
    s = loaded.settings
    out.write(
        f"{loaded.path}: OK ({len(s.sources)} sources, {len(s.receivers)} receivers, "
        f"{len(s.fleets)} fleets, {len(s.catalog)} catalog entries)\n"
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Show what firmwatch says about a few models, using the bundled sample catalog."""
    on = parse_date("--on", args.on) if args.on else date.today()
    text = resources.files("bot").joinpath("samples/catalog.csv").read_text(encoding="utf-8")
    entries: list[CatalogEntry] = parse_catalog_csv(text, "bundled samples/catalog.csv")
    catalog = Catalog(entries)
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand; docstrings double as help."""
    parser = argparse.ArgumentParser(
        prog="firmwatch",
        description="Keep Hikvision fleets patched and within vendor support.",
    )
    parser.add_argument("--version", action="version", version=f"firmwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str,
        func: Callable[[argparse.Namespace, TextIO], int],
        parent: argparse._SubParsersAction[argparse.ArgumentParser] = sub,
    ) -> argparse.ArgumentParser:
        doc = (func.__doc__ or "").strip()
        p = parent.add_parser(name, help=doc, description=doc)
        p.set_defaults(func=func)
        p.add_argument(
            "--config",
            metavar="FILE",
            help="bot.toml to use (default: $FIRMWATCH_CONFIG, else ./bot.toml)",
        )
        return p

    p = add("lookup", cmd_lookup)
    p.add_argument("model", metavar="MODEL", help="a model number, e.g. DS-2CD3321G2-I")
    p.add_argument("--on", metavar="YYYY-MM-DD", help="the date to judge on (default: today)")
    p.add_argument("--launched", metavar="YYYY-MM-DD", help="override the catalog's launch date")
    p.add_argument(
        "--discontinued", metavar="YYYY-MM-DD", help="override the catalog's discontinuation date"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    config = sub.add_parser("config", help="Work with bot.toml.")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    add("check", cmd_config_check, config_sub)

    p = add("demo", cmd_demo)
    p.add_argument("--on", metavar="YYYY-MM-DD", help="the date to judge on (default: today)")
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run one command; returns the process exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        result: int = args.func(args, out)
        return result
    except ConfigError as exc:
        for problem in exc.problems:
            err.write(problem + "\n")
        return EXIT_USAGE
    except UsageError as exc:
        err.write(f"firmwatch {args.command}: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `firmwatch demo | head`
        return EXIT_OK
