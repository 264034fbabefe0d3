"""``firmwatch deliver`` (the delivery worker) and ``firmwatch notify test RECEIVER``."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import TextIO

from bot.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandFailed,
    SubParsers,
    add_command,
    load_settings,
)
from bot.commands.db import open_configured_store
from bot.config import ConfigError, ReceiverSettings, Settings, default_environ
from bot.slack.subscriptions import with_subscriptions
from notifiers import Notifier, build_notifier, build_notifiers
from notifiers.console import ConsoleNotifier
from notifiers.delivery import DeliveryReport, deliver_due, worker_name
from notifiers.sample import sample_document

PLACEHOLDER = "whsec_" + "A" * 32  # valid as any secret (a webhook secret is checked for form)


def configured_notifiers(
    settings: Settings, out: TextIO, names: set[str] | None = None
) -> tuple[dict[str, Notifier], dict[str, str]]:
    """The receivers' notifiers (console ones writing to ``out``) and those that cannot be built."""
    built, problems = build_notifiers(settings, default_environ(), names)
    for notifier in built.values():
        if isinstance(notifier, ConsoleNotifier):
            notifier.stream = out
    return built, problems


def print_report(report: DeliveryReport, out: TextIO) -> None:
    """The figures of a pass, then every receiver left waiting and why."""
    out.write(f"delivered: {report.describe()}\n")
    for name in report.disabled:
        out.write(f"receiver {name} was disabled: run `firmwatch outbox` for why\n")
    for name, why in sorted(report.waiting.items()):
        out.write(f"receiver {name} waits: {why}\n")


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM end the loop after the current sends; unsent claims are released."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    before = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def cmd_deliver(args: argparse.Namespace, out: TextIO) -> int:
    """Deliver due outbox entries: one pass with --once, else every [schedule] deliver_every."""
    loaded = load_settings(args.config)
    settings = loaded.settings
    built, problems = configured_notifiers(settings, out)
    stop = threading.Event()
    worker = worker_name()
    with open_configured_store(loaded) as store, _stop_on_signals(stop):
        while True:
            settings = with_subscriptions(loaded.settings, store)  # channels subscribed in Slack
            new = {r.name for r in settings.receivers} - set(built) - set(problems)
            if new:  # built once each, like the configured ones
                more, failed = configured_notifiers(settings, out, new)
                built.update(more)
                problems.update(failed)
            report = deliver_due(store, settings, datetime.now(UTC), worker=worker,
                                 notifiers=built, stop=stop)
            report.waiting.update(problems)
            if args.once or report.sent or report.retried or report.dead or report.disabled:
                print_report(report, out)
                out.flush()
            if args.once or stop.is_set():
                return EXIT_OK
            wait = settings.schedule.deliver_every.total_seconds()
            due = store.outbox.next_due()
            if due is not None:
                wait = min(wait, max((due - datetime.now(UTC)).total_seconds(), 1.0))
            stop.wait(wait)
            if stop.is_set():
                return EXIT_OK


def _receiver(settings: Settings, name: str, where: str) -> ReceiverSettings:
    for receiver in settings.receivers:
        if receiver.name == name:
            return receiver
    known = ", ".join(r.name for r in settings.receivers) or "none configured"
    raise CommandFailed(f"no [[receivers]] entry named {name!r} in {where} (receivers: {known})")


class _Placeholders(Mapping[str, str]):
    """The environment, with a placeholder for every unset variable (dry runs never send)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, key: str) -> str:
        return self._environ.get(key) or PLACEHOLDER

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def cmd_notify_test(args: argparse.Namespace, out: TextIO) -> int:
    """Send a sample alert (from the bundled samples) to one receiver and say what happened."""
    loaded = load_settings(args.config)
    receiver = _receiver(loaded.settings, args.receiver, str(loaded.path))
    doc = sample_document(receiver.name, datetime.now(UTC))
    environ = default_environ()
    if args.dry_run:
        try:
            notifier = build_notifier(receiver, loaded.settings, environ)
        except ConfigError as exc:
            out.write(f"note: {'; '.join(exc.problems)} (not needed for a dry run)\n")
            notifier = build_notifier(receiver, loaded.settings, _Placeholders(environ))
        out.write(notifier.render(doc) + "\n")
        return EXIT_OK
    notifier = build_notifier(receiver, loaded.settings, environ)
    if isinstance(notifier, ConsoleNotifier):
        notifier.stream = out
    result = notifier.send(doc)
    status = f" (HTTP {result.status})" if result.status else ""
    if result.ok:
        out.write(f"sent a test alert to {receiver.name} ({receiver.type}){status};"
                  f" alert id {doc['id']}\n")
        return EXIT_OK
    then = ("it would be retried" if not (result.permanent or result.disable)
            else "retrying cannot help: fix the receiver" if result.permanent
            else "the endpoint is gone: a real delivery would disable this receiver")
    wait = f" after {result.retry_after:g} s" if result.retry_after else ""
    out.write(f"the test alert to {receiver.name} ({receiver.type}) FAILED{status}:"
              f" {result.error or 'no reason given'}; {then}{wait}\n")
    return EXIT_FAILED


def register(sub: SubParsers) -> None:
    """Add ``deliver [--once]`` and ``notify test RECEIVER [--dry-run]``."""
    p = add_command(sub, "deliver", cmd_deliver)
    p.add_argument("--once", action="store_true", help="one pass, print its figures, exit")
    p = add_command(sub, "notify", cmd_notify_test)
    actions = p.add_subparsers(dest="notify_action", required=True, metavar="ACTION")
    doc = (cmd_notify_test.__doc__ or "").strip()
    t = actions.add_parser("test", help=doc, description=doc)
    t.add_argument("receiver", metavar="RECEIVER", help="the name of a [[receivers]] entry")
    t.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")
    t.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="bot.toml to use (default: $FIRMWATCH_CONFIG, else ./bot.toml)")
