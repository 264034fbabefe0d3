"""``firmwatch config check``: validate bot.toml."""

from __future__ import annotations

import argparse
from typing import TextIO

from bot.commands.common import EXIT_OK, SubParsers, add_command, load_settings
from bot.config import ConfigError
from bot.fleets import declared_fleets
from bot.wiring import build_catalog


def cmd_config_check(args: argparse.Namespace, out: TextIO) -> int:
    """Validate the config file and exit 0, or print every problem and exit 2."""
    loaded = load_settings(args.config)
    if not loaded.found:
        raise ConfigError([f"{loaded.path}: file not found"])
    s, name = loaded.settings, loaded.path.name
    problems: list[str] = []
    # What a cycle builds from the file (and refuses), each checked on its own.
    for build in (lambda: build_catalog(s, loaded.path.parent, name),
                  lambda: declared_fleets(s.fleets, name)):
        try:
            build()
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    counts = [
        (len(s.sources), "source"),
        (len(s.receivers), "receiver"),
        (len(s.fleets), "fleet"),
        (len(s.routes), "route"),
        (len(s.catalog), "catalog entry"),
    ]
    words = ", ".join(f"{n} {_plural(noun, n)}" for n, noun in counts)
    out.write(f"{loaded.path}: OK ({words})\n")
    return EXIT_OK


def register(sub: SubParsers) -> None:
    """Add ``config check``."""
    config = sub.add_parser("config", help="Work with bot.toml.")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    add_command(config_sub, "check", cmd_config_check)


def _plural(noun: str, n: int) -> str:
    if n == 1:
        return noun
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
