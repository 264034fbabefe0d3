"""``firmwatch lookup``: the model card."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from typing import TextIO

from bot.catalog import CatalogEntry, Lifecycle, ModelError
from bot.commands.common import (
    EXIT_OK,
    SubParsers,
    UsageError,
    add_command,
    load_settings,
    parse_date,
)
from bot.commands.db import open_existing_store
from bot.modelcard import model_card, render_card
from bot.pipeline import local_date
from bot.wiring import build_catalog


def cmd_lookup(args: argparse.Namespace, out: TextIO) -> int:
    """Print the model card: family, coverage, stage, key dates and the vendor's promise."""
    loaded = load_settings(args.config)
    # today as the cycles and Slack judge stages: in [schedule] timezone
    on = parse_date("--on", args.on) if args.on else local_date(
        loaded.settings, datetime.now(UTC))
    launched = parse_date("--launched", args.launched) if args.launched else None
    discontinued = parse_date("--discontinued", args.discontinued) if args.discontinued else None
    if launched and discontinued and discontinued < launched:
        raise UsageError("--discontinued: before --launched")
    stored: list[CatalogEntry] = []  # the dates a fleet import put in the store, if there is one
    if (store := open_existing_store(loaded)) is not None:
        with store:
            stored = store.catalog.all()
    catalog = build_catalog(loaded.settings, loaded.path.parent, loaded.path.name, stored)
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
    _refuse_contradiction(card.launched, card.discontinued, launched,
                          catalog.lookup(card.model))
    if args.json:
        json.dump(card.to_dict(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(render_card(card) + "\n")
    return EXIT_OK


def _refuse_contradiction(
    launched: date | None,
    discontinued: date | None,
    launched_flag: date | None,
    known: Lifecycle | None,
) -> None:
    """Refuse a date given on the command line (``--launched`` when ``launched_flag`` is set,
    else ``--discontinued``) that contradicts the catalog's other one, as the catalog refuses
    an entry discontinued before its launch."""
    if not (launched and discontinued and discontinued < launched) or known is None:
        return
    if launched_flag is not None:
        raise UsageError(f"--launched: {launched.isoformat()} is after the discontinuation date"
                         f" {discontinued.isoformat()} (from {known.source})")
    raise UsageError(f"--discontinued: {discontinued.isoformat()} is before the launch date"
                     f" {launched.isoformat()} (from {known.source})")


def register(sub: SubParsers) -> None:
    """Add ``lookup``."""
    p = add_command(sub, "lookup", cmd_lookup)
    p.add_argument("model", metavar="MODEL", help="a model number, e.g. DS-2CD3321G2-I")
    p.add_argument("--on", metavar="YYYY-MM-DD", help="the date to judge on (default: today)")
    p.add_argument("--launched", metavar="YYYY-MM-DD", help="override the catalog's launch date")
    p.add_argument(
        "--discontinued", metavar="YYYY-MM-DD", help="override the catalog's discontinuation date"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
