"""``firmwatch config check``: validate bot.toml (and the secrets it names that are set)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TextIO

from bot.commands.common import EXIT_OK, SubParsers, add_command, load_settings
from bot.config import ConfigError, Settings, default_environ
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
                  lambda: declared_fleets(s.fleets, name),
                  lambda: check_signing_secrets(s, default_environ(), name)):
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


def cmd_config_routing(args: argparse.Namespace, out: TextIO) -> int:
    """Show who gets what: per receiver, the fleets and routes that send to it (the file only)."""
    from bot.routingplan import explain

    loaded = load_settings(args.config)
    if not loaded.found:
        raise ConfigError([f"{loaded.path}: file not found"])
    out.write(f"{loaded.path}: who gets what\n")
    out.write("".join(f"{line}\n" for line in explain(loaded.settings)))
    return EXIT_OK


def check_signing_secrets(settings: Settings, environ: Mapping[str, str], filename: str) -> None:
    """ConfigError for every webhook signing secret that is set but unusable (as `notify test`
    and delivery would find it); an unset one is reported where it is used."""
    from notifiers.signing import load_signer

    problems: list[str] = []
    for index, receiver in enumerate(settings.receivers):
        if receiver.type != "webhook" or not receiver.secret_env:
            continue
        if not environ.get(receiver.secret_env, "").strip():
            continue
        try:
            load_signer(f"receiver {receiver.name!r}", receiver.secret_env, environ)
        except ConfigError as exc:
            where = f"{filename}: receivers[{index}].secret_env"
            problems += [f"{where}: {p}" for p in exc.problems]
    if problems:
        raise ConfigError(problems)


def register(sub: SubParsers) -> None:
    """Add ``config check``."""
    config = sub.add_parser("config", help="Work with bot.toml.")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    add_command(config_sub, "check", cmd_config_check)
    add_command(config_sub, "routing", cmd_config_routing)


def _plural(noun: str, n: int) -> str:
    if n == 1:
        return noun
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
