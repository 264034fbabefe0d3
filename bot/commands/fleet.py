"""``firmwatch fleet``: import, list, show, export and remove fleets.

``import`` and ``remove`` first store ``[[fleets]]`` as the cycle does; ``list``, ``show`` and
``export`` show the fleets as this config would make them without writing anything (the sync runs
in a unit of work that is rolled back), so a command run with another config changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.catalog import decode_csv
from bot.commands.common import (
    EXIT_OK,
    CommandFailed,
    Handler,
    Loaded,
    SubParsers,
    add_command,
    load_settings,
    table,
)
from bot.commands.db import open_configured_store, store_to_read
from bot.fleets import DeviceGroup, Fleet, FleetError, declared_fleets, export_csv, parse_fleet_csv
from state import FleetTotals, Store, StoreError
from state.fleetsync import import_fleets, remove_fleet, sync_declared_fleets

MAX_PROBLEMS = 50


class _Rollback(Exception):
    """Ends a read command's unit of work without committing it."""


def _open(loaded: Loaded) -> Store:
    """Open the store and bring it in line with ``[[fleets]]`` (only when a config was found)."""
    store = open_configured_store(loaded)
    if not loaded.found:
        return store
    synced = False
    try:
        _sync(store, loaded)
        synced = True
    finally:
        if not synced:
            store.close()
    return store


@contextmanager
def _read(loaded: Loaded) -> Iterator[Store]:
    """The store as ``[[fleets]]`` would make it, for reading: nothing is written (an embedded
    store that does not exist yet is not created: a throwaway one stands in for it)."""
    with store_to_read(loaded) as store:
        if not loaded.found:
            yield store
            return
        try:
            with store.transaction():
                _sync(store, loaded)
                yield store
                raise _Rollback
        except _Rollback:
            pass


def _sync(store: Store, loaded: Loaded) -> None:
    try:
        sync_declared_fleets(store, declared_fleets(loaded.settings.fleets, loaded.path.name))
    except StoreError as exc:
        raise CommandFailed(str(exc)) from None


def _capped(lines: tuple[str, ...]) -> list[str]:
    """The first MAX_PROBLEMS lines, and how many more there are."""
    shown = list(lines[:MAX_PROBLEMS])
    if len(lines) > MAX_PROBLEMS:
        shown.append(f"… and {len(lines) - MAX_PROBLEMS} more")
    return shown


def _problems(source: str, problems: tuple[str, ...]) -> CommandFailed:
    return CommandFailed(f"{source}: {len(problems)} problem(s); nothing was changed\n"
                         + "\n".join(_capped(problems)))


def cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    """Import device groups from CSV (fleet,model,firmware,count,site[,launched,discontinued])."""
    loaded = load_settings(args.config)
    source = "stdin" if args.file == "-" else Path(args.file).name
    try:
        text = sys.stdin.read() if args.file == "-" else decode_csv(Path(args.file).read_bytes())
        parsed = parse_fleet_csv(text, source)
    except FleetError as exc:
        raise _problems(source, exc.problems) from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise CommandFailed(f"cannot read {args.file}: {exc}") from None
    with _open(loaded) as store:
        try:
            changes = import_fleets(store, parsed, replace=args.replace)
        except FleetError as exc:
            raise _problems(source, exc.problems) from None
        except StoreError as exc:
            raise CommandFailed(f"{exc}; nothing was changed") from None
    for warning in _capped(parsed.warnings):
        out.write(f"warning: {warning}\n")
    out.write(f"{source}: {changes.describe()}\n")
    return EXIT_OK


def _fleet_dict(fleet: Fleet, totals: FleetTotals) -> dict[str, Any]:
    return {"name": fleet.name, "description": fleet.description,
            "receivers": list(fleet.receivers), "tags": list(fleet.tags),
            "min_severity": fleet.min_severity, "origin": fleet.origin,
            "groups": totals.groups, "devices": totals.devices}


def _group_dict(g: DeviceGroup) -> dict[str, Any]:
    return {"key": g.key, "model": g.model, "model_as_written": g.model_as_written,
            "firmware": g.firmware, "count": g.count, "site": g.site, "tags": list(g.tags),
            "serials": list(g.serials), "origin": g.origin}


def _origin(origin: str) -> str:
    return "bot.toml" if origin == "config" else "import"


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """List fleets with their device groups and device counts."""
    with _read(load_settings(args.config)) as store:
        fleets, totals = store.fleets.all(), store.fleets.totals()
    if args.json:
        json.dump([_fleet_dict(f, totals[f.name]) for f in fleets], out, indent=2)
        out.write("\n")
    elif not fleets:
        out.write("no fleets yet: declare [[fleets]] in bot.toml or run"
                  " `firmwatch fleet import FILE`\n")
    else:
        rows = [["FLEET", "GROUPS", "DEVICES", "FROM", "RECEIVERS"]] + [
            [f.name, str(totals[f.name].groups), str(totals[f.name].devices),
             _origin(f.origin), ", ".join(f.receivers) or "-"]
            for f in fleets
        ]
        out.write(table(rows, right={1, 2}))
    return EXIT_OK


def _get(store: Store, name: str) -> Fleet:
    fleet = store.fleets.get(name)
    if fleet is None:
        known = ", ".join(f.name for f in store.fleets.all()) or "none yet"
        raise CommandFailed(f"no fleet named {name!r} (fleets: {known})")
    return fleet


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """Show one fleet and its device groups."""
    with _read(load_settings(args.config)) as store:
        fleet = _get(store, args.name)
        groups, totals = store.fleets.groups(fleet.name), store.fleets.totals()[fleet.name]
    if args.json:
        json.dump({**_fleet_dict(fleet, totals),
                   "device_groups": [_group_dict(g) for g in groups]}, out, indent=2)
        out.write("\n")
        return EXIT_OK
    out.write(f"fleet {fleet.name}" + (f" — {fleet.description}" if fleet.description else "")
              + f"\nreceivers: {', '.join(fleet.receivers) or '-'} · tags:"
              f" {', '.join(fleet.tags) or '-'} · min severity: {fleet.min_severity} · from"
              f" {_origin(fleet.origin)}\n"
              f"{totals.groups} device group(s), {totals.devices} device(s)\n")
    if groups:
        rows = [["MODEL", "FIRMWARE", "COUNT", "SITE", "FROM"]] + [
            [g.model_as_written, g.firmware or "(unknown)", str(g.count), g.site or "-",
             _origin(g.origin)]
            for g in groups
        ]
        out.write(table(rows, right={2}))
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """Write device groups (all, or one fleet's) as CSV that `fleet import` reads back."""
    with _read(load_settings(args.config)) as store:
        if args.name is not None:
            _get(store, args.name)
        groups = store.fleets.groups(args.name)
        catalog = {e.pattern: e for e in store.catalog.all()}
    out.write(export_csv(groups, catalog))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, out: TextIO) -> int:
    """Remove a fleet and its device groups."""
    loaded = load_settings(args.config)
    if loaded.found and any(f.name == args.name for f in loaded.settings.fleets):
        raise CommandFailed(f"fleet {args.name!r} is declared in {loaded.path} ([[fleets]]);"
                            " remove it there (it would come back at the next sync)")
    with _open(loaded) as store, store.transaction():
        _get(store, args.name)
        removed, channels = remove_fleet(store, args.name, datetime.now(UTC))
    out.write(f"removed fleet {args.name} and its {removed or 0} device group(s)\n")
    if channels:
        out.write(f"its Slack channels no longer get its alerts: {', '.join(channels)}"
                  " (a fleet made later under this name starts with none)\n")
    return EXIT_OK


def cmd_fleet(args: argparse.Namespace, out: TextIO) -> int:
    """Manage fleets: import, list, show, export, remove."""
    handler: Handler = args.fleet_handler
    return handler(args, out)


def register(sub: SubParsers) -> None:
    """Add ``fleet import|list|show|export|remove``."""
    p = add_command(sub, "fleet", cmd_fleet)
    actions = p.add_subparsers(dest="fleet_action", required=True, metavar="ACTION")

    def action(name: str, func: Handler) -> argparse.ArgumentParser:
        doc = (func.__doc__ or "").strip()
        a: argparse.ArgumentParser = actions.add_parser(name, help=doc, description=doc)
        a.set_defaults(fleet_handler=func)
        a.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                       help="bot.toml to use (default: $FIRMWATCH_CONFIG, else ./bot.toml)")
        return a

    a = action("import", cmd_import)
    a.add_argument("file", metavar="FILE", help="a CSV file, or - for stdin")
    a.add_argument("--replace", action="store_true",
                   help="make each fleet in the file hold exactly the file's device groups")
    action("list", cmd_list).add_argument("--json", action="store_true", help="print JSON")
    a = action("show", cmd_show)
    a.add_argument("name", metavar="NAME")
    a.add_argument("--json", action="store_true", help="print JSON")
    action("export", cmd_export).add_argument("name", metavar="NAME", nargs="?")
    action("remove", cmd_remove).add_argument("name", metavar="NAME")
