"""What every subcommand shares: loading settings, argument parsing helpers, exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeAlias

from bot.config import Settings, config_path, default_environ, load
from bot.items import printable
from bot.policy import reckonable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace, TextIO], int]
if TYPE_CHECKING:
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction


class UsageError(Exception):
    """A bad argument; the message says which and why (exit 2)."""


class CommandFailed(Exception):
    """The command could not do its job; the message says why (exit 1)."""


@dataclass(frozen=True)
class Loaded:
    """The settings and where they came from."""

    settings: Settings
    path: Path
    found: bool


def load_settings(cli_value: str | None) -> Loaded:
    """Load the config; a missing default ./bot.toml means built-in defaults."""
    environ = default_environ()
    path = config_path(cli_value, environ)
    explicit = cli_value is not None or "FIRMWATCH_CONFIG" in environ
    if not path.exists() and not explicit:
        return Loaded(Settings(), path, found=False)
    return Loaded(load(path), path, found=True)


def parse_date(flag: str, value: str) -> date:
    """Parse an ISO date argument or raise UsageError naming the flag."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag}: not a date (got {value!r}); expected YYYY-MM-DD") from None
    try:
        return reckonable(day)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc} (got {value!r})") from None


def add_command(
    parent: SubParsers, name: str, func: Handler, *, config: bool = True
) -> argparse.ArgumentParser:
    """Add a subcommand whose help is the handler's docstring; it takes --config unless it
    reads no bot.toml (``config=False``: the demo's is bundled, a new secret needs none)."""
    doc = (func.__doc__ or "").strip()
    parser: argparse.ArgumentParser = parent.add_parser(name, help=doc, description=doc)
    parser.set_defaults(func=func, config=None)
    if config:
        parser.add_argument(
            "--config",
            metavar="FILE",
            help="bot.toml to use (default: $FIRMWATCH_CONFIG, else ./bot.toml)",
        )
    return parser


def table(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> str:
    """Rows as aligned columns (two spaces apart), the columns in ``right`` right-aligned;
    control characters in a cell (a site typed with an escape) are left out."""
    rows = [[printable(c).replace("\n", " ") for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(c.rjust(w) if i in right else c.ljust(w)
                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() + "\n"
        for r in rows
    )
