"""``firmwatch config check``: validate bot.toml."""

from __future__ import annotations

import argparse
from typing import TextIO

from bot.commands.common import EXIT_OK, SubParsers, add_command, load_settings
from bot.config import ConfigError
from bot.wiring import build_catalog


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


def register(sub: SubParsers) -> None:
    """Add ``config check``."""
    config = sub.add_parser("config", help="Work with bot.toml.")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    add_command(config_sub, "check", cmd_config_check)
