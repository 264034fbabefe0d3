"""``firmwatch db``: the state store's schema."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TextIO

from bot.commands.common import (
    EXIT_OK,
    CommandFailed,
    Loaded,
    SubParsers,
    add_command,
    load_settings,
)
from bot.config import default_environ
from state import (
    Store,
    StoreError,
    open_store,
    parse_state_url,
    redact,
    resolve_state_url,
    upgrade,
)


def state_url(loaded: Loaded) -> str:
    """The store URL in force: ``$url_env`` or ``[state] url``, paths relative to the config."""
    base = loaded.path.parent if loaded.found else Path.cwd()
    try:
        return resolve_state_url(loaded.settings.state, default_environ(), base)
    except StoreError as exc:
        raise CommandFailed(str(exc)) from None


def open_configured_store(loaded: Loaded) -> Store:
    """Open the configured store; StoreError becomes CommandFailed."""
    try:
        return open_store(state_url(loaded))
    except StoreError as exc:
        raise CommandFailed(str(exc)) from None


def open_existing_store(loaded: Loaded) -> Store | None:
    """Open the configured store for reading, or None when it is an embedded file that does not
    exist yet (a command that only reads creates no store)."""
    url = state_url(loaded)
    try:
        parsed = parse_state_url(url)
        if parsed.backend != "postgresql" and not Path(parsed.target).exists():
            return None
        return open_store(url)
    except StoreError as exc:
        raise CommandFailed(str(exc)) from None


@contextmanager
def store_to_read(loaded: Loaded) -> Iterator[Store]:
    """The configured store, for a command that writes nothing (a dry run, a listing): when it
    is an embedded file that does not exist yet, a throwaway one stands in, so none is made."""
    existing = open_existing_store(loaded)
    with ExitStack() as stack:
        if existing is None:
            scratch = stack.enter_context(TemporaryDirectory(prefix="firmwatch-"))
            existing = open_store(f"tinydb:///{Path(scratch, 'state.json').as_posix()}")
        yield stack.enter_context(existing)


def cmd_db(args: argparse.Namespace, out: TextIO) -> int:
    """Manage the state store's schema."""
    loaded = load_settings(args.config)
    url = state_url(loaded)
    try:
        done = upgrade(url)
    except StoreError as exc:
        raise CommandFailed(str(exc)) from None
    if done.changed:
        out.write(f"upgraded {redact(done.url)} from schema {done.before} to {done.after}\n")
    else:
        out.write(f"{redact(done.url)} is up to date (schema {done.after})\n")
    return EXIT_OK


def register(sub: SubParsers) -> None:
    """Add ``db upgrade``."""
    p = add_command(sub, "db", cmd_db)
    actions = p.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "upgrade", help="apply pending schema migrations (safe to run again; the release step)",
        description="Apply pending schema migrations: Alembic for PostgreSQL and SQLite, the"
        " file's schema version for TinyDB. Running it again changes nothing.",
    )
    up.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                    help="bot.toml to use (default: $FIRMWATCH_CONFIG, else ./bot.toml)")
