"""``firmwatch outbox``: list waiting and dead deliveries, replay one or every dead letter,
re-enable a receiver."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.commands.common import (
    EXIT_OK,
    CommandFailed,
    Handler,
    SubParsers,
    UsageError,
    add_command,
    load_settings,
    table,
)
from bot.commands.db import open_configured_store, store_to_read
from bot.commands.notify import configured_notifiers, print_report
from bot.config import Settings
from bot.slack.subscriptions import with_subscriptions
from notifiers import health
from notifiers.delivery import deliver_due, worker_name
from state import OutboxEntry, Store, StoreError
from state.records import OUTBOX_STATUSES, OutboxStatus

UNSENT: tuple[OutboxStatus, ...] = ("pending", "retrying", "dead")
MAX_ID = 2**63 - 1  # the largest id a store can hold (an SQL BIGINT)
_CONFIG_HELP = "bot.toml to use (default: $FIRMWATCH_CONFIG, else ./bot.toml)"


def _entry_id(value: str) -> int:
    """An outbox id argument, refused here when no entry can have it (not by the database)."""
    if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise argparse.ArgumentTypeError(
            f"expected an outbox entry id, a whole number from 1 to {MAX_ID} (got {value!r})"
        )
    return int(value)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _title(entry: OutboxEntry) -> str:
    item = entry.payload.get("item") or {}
    severity = str(entry.payload.get("severity") or "").upper()
    title = str(item.get("title") or item.get("id") or entry.dedupe_key)
    return f"[{severity}] {title}" if severity else title


def _entry_dict(entry: OutboxEntry) -> dict[str, Any]:
    return {"id": entry.id, "receiver": entry.receiver, "status": entry.status,
            "attempts": entry.attempts, "next_attempt_at": entry.next_attempt_at.isoformat(),
            "last_status": entry.last_status, "last_error": entry.last_error,
            "alert_id": entry.alert_id, "dedupe_key": entry.dedupe_key,
            "claimed_by": entry.claimed_by,
            "claimed_until": entry.claimed_until.isoformat() if entry.claimed_until else None,
            "created_at": entry.created_at.isoformat(),
            "updated_at": entry.updated_at.isoformat(), "title": _title(entry),
            "payload": entry.payload}


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _receiver_lines(store: Store, settings: Settings, now: datetime) -> list[str]:
    known = {r.name for r in with_subscriptions(settings, store).receivers}
    lines = [f"receiver {name} is not configured: {why}"
             for name, why in health.unconfigured(store, known).items()]
    for name, why in sorted(health.disabled(store).items()):
        lines.append(f"receiver {name} is DISABLED since {why.get('since', '?')[:19]}:"
                     f" {why.get('reason', '')}; its alerts wait."
                     f" Fix it, then run `firmwatch outbox enable {name}`")
    for name, until in sorted(health.paused(store, now).items()):
        lines.append(f"receiver {name} is paused (Retry-After) until {_when(until)} UTC")
    return lines


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """List pending, retrying and dead deliveries (--status sent or all for the rest)."""
    wanted = args.status or list(UNSENT)
    statuses = list(OUTBOX_STATUSES) if "all" in wanted else wanted
    now = datetime.now(UTC)
    loaded = load_settings(args.config)
    with store_to_read(loaded) as store:  # creates no store
        entries = store.outbox.all(statuses=statuses, receiver=args.receiver)
        counts = store.outbox.counts()
        if args.json:
            json.dump({"counts": counts, "disabled": health.disabled(store),
                       "paused": {k: v.isoformat() for k, v in health.paused(store, now).items()},
                       "entries": [_entry_dict(e) for e in entries]}, out, indent=2)
            out.write("\n")
            return EXIT_OK
        notes = _receiver_lines(store, loaded.settings, now)
    out.write("outbox: " + " · ".join(f"{counts[s]} {s}" for s in OUTBOX_STATUSES) + "\n")
    for line in notes:
        out.write(line + "\n")
    if not entries:
        out.write(f"no {' or '.join(statuses)} entries"
                  + (f" for {args.receiver}" if args.receiver else "") + "\n")
        return EXIT_OK
    rows = [["ID", "STATUS", "RECEIVER", "TRIES", "NEXT (UTC)", "LAST ERROR", "ALERT"]]
    for e in entries:
        due = _when(e.next_attempt_at) if e.status in ("pending", "retrying") else "-"
        if e.claimed_by and e.claimed_until and e.claimed_until > now and due != "-":
            due = f"held by {e.claimed_by} until {_when(e.claimed_until)}"  # a worker's lease
        last = f"{e.last_status or ''} {e.last_error or ''}".strip() or "-"
        rows.append([str(e.id), e.status, e.receiver, str(e.attempts), due, _cut(last, 60),
                     _cut(_title(e), 60)])
    out.write(table(rows))
    return EXIT_OK


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    """Send again one entry (ID) or every dead letter (--dead, of one --receiver), attempts reset,
    alert ids kept."""
    if (args.id is None) == (not args.dead):
        raise UsageError("give an entry ID or --dead (every dead letter), not both")
    if args.receiver and not args.dead:
        raise UsageError("--receiver goes with --dead")
    loaded = load_settings(args.config)
    now = datetime.now(UTC)
    with open_configured_store(loaded) as store:
        if args.dead:
            dead = store.outbox.all(statuses=["dead"], receiver=args.receiver)
            ids = [e.id for e in dead]
            if not ids:
                out.write("no dead entries" + (f" for {args.receiver}" if args.receiver else "")
                          + "\n")
                return EXIT_OK
        else:
            ids = [args.id]
        only: list[OutboxStatus] | None = ["dead"] if args.dead else None  # listed as dead:
        # one replayed (maybe sent) meanwhile by someone else is left as it is, not sent again
        entries = [e for e in (store.outbox.replay(i, now, only) for i in ids) if e is not None]
        if not entries and args.dead:  # each sent or replayed meanwhile by someone else
            out.write("no dead entries left to replay\n")
            return EXIT_OK
        if not entries:
            raise CommandFailed(f"no outbox entry with id {args.id} (see `firmwatch outbox`)")
        for entry in entries:
            out.write(f"entry {entry.id} to {entry.receiver} is due again\n")
        off = health.disabled(store)
        names = {e.receiver for e in entries}
        for name in sorted(names & off.keys()):
            out.write(f"receiver {name} is disabled ({off[name]['reason']});"
                      f" run `firmwatch outbox enable {name}` to send it\n")
        names -= off.keys()
        if args.later or not names:
            return EXIT_OK
        settings = with_subscriptions(loaded.settings, store)
        built, problems = configured_notifiers(settings, out, names)
        for name in sorted(names):
            if name in problems or name not in built:
                message = problems.get(name) or f"no [[receivers]] entry named {name!r}"
                if len(names) == 1:
                    raise CommandFailed(message)
                out.write(f"receiver {name}: {message}\n")
        report = deliver_due(store, settings, now, worker=worker_name(), notifiers=built,
                             receivers=names & built.keys())
        print_report(report, out)
        after = [a for a in (store.outbox.get(e.id) for e in entries) if a is not None]
    for entry in after:
        last = f" ({entry.last_status or ''} {entry.last_error or ''})".replace("( ", "(")
        out.write(f"entry {entry.id}: {entry.status}"
                  + (last if entry.status != "sent" and entry.last_error else "") + "\n")
    return EXIT_OK


def cmd_enable(args: argparse.Namespace, out: TextIO) -> int:
    """Re-enable a receiver that was disabled (HTTP 410, or failing for 5 days)."""
    loaded = load_settings(args.config)
    known = {r.name for r in loaded.settings.receivers}
    with open_configured_store(loaded) as store:
        if args.receiver not in known and args.receiver not in health.disabled(store):
            raise CommandFailed(f"no receiver named {args.receiver!r} (receivers:"
                                f" {', '.join(sorted(known)) or 'none configured'})")
        try:
            was, waiting = health.enable(store, args.receiver, datetime.now(UTC))
        except StoreError as exc:
            raise CommandFailed(str(exc)) from None
    state = "enabled;" if was else "was not disabled;"
    out.write(f"receiver {args.receiver} {state} {waiting} waiting entr"
              f"{'y is' if waiting == 1 else 'ies are'} due now\n")
    return EXIT_OK


def cmd_outbox(args: argparse.Namespace, out: TextIO) -> int:
    """Deliveries: list (default), replay ID (or --dead), enable RECEIVER."""
    handler: Handler = getattr(args, "outbox_handler", cmd_list)
    return handler(args, out)


def _list_flags(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--status", action="append", default=default, metavar="S",
                   choices=[*OUTBOX_STATUSES, "all"],
                   help="pending, retrying, sent, dead or all (repeatable; default: all but sent)")
    p.add_argument("--receiver", metavar="R", default=default, help="only this receiver")
    p.add_argument("--json", action="store_true", default=default,
                   help="print JSON (with payloads)")


def register(sub: SubParsers) -> None:
    """Add ``outbox [list|replay|enable]``."""
    p = add_command(sub, "outbox", cmd_outbox)
    _list_flags(p, None)
    actions = p.add_subparsers(dest="outbox_action", required=False, metavar="ACTION")

    def action(name: str, func: Handler) -> argparse.ArgumentParser:
        doc = (func.__doc__ or "").strip()
        a: argparse.ArgumentParser = actions.add_parser(name, help=doc, description=doc)
        a.set_defaults(outbox_handler=func)
        a.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=_CONFIG_HELP)
        return a

    _list_flags(action("list", cmd_list), argparse.SUPPRESS)
    a = action("replay", cmd_replay)
    a.add_argument("id", type=_entry_id, metavar="ID", nargs="?")
    a.add_argument("--dead", action="store_true", help="every dead letter (see --receiver)")
    a.add_argument("--receiver", metavar="NAME", help="with --dead: only this receiver's")
    a.add_argument("--later", action="store_true",
                   help="only make them due; the worker sends them on its next pass")
    action("enable", cmd_enable).add_argument("receiver", metavar="RECEIVER")
