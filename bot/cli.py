"""The ``firmwatch`` command line: thin commands over the core functions.

Each area's subcommands live in a module of :mod:`bot.commands` with a ``register(sub)``
function; ``COMMANDS`` lists them in the order ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TextIO

from bot import __version__
from bot.commands import (
    check,
    configcmd,
    db,
    demo,
    findings,
    fleet,
    lookup,
    notify,
    outbox,
    service,
    sources,
)
from bot.commands import secret as secret_cmd
from bot.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, UsageError
from bot.config import ConfigError
from state.errors import StoreError

COMMANDS: tuple[ModuleType, ...] = (
    demo, check, lookup, findings, fleet, sources, notify, outbox, service, db, configcmd,
    secret_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand; handlers' docstrings double as help."""
    parser = argparse.ArgumentParser(
        prog="firmwatch", description="Keep Hikvision fleets patched and within vendor support."
    )
    parser.add_argument("--version", action="version", version=f"firmwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run one command; returns the process exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
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
    except (CommandFailed, StoreError) as exc:  # a store error says what failed and what to do
        err.write(f"firmwatch {args.command}: {exc}\n")
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `firmwatch demo | head`
        return EXIT_OK
