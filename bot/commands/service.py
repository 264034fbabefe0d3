"""``firmwatch run``, ``firmwatch web`` and ``firmwatch worker``: the long-running processes."""

from __future__ import annotations

import argparse
from typing import TextIO

from bot.commands.common import SubParsers, add_command, load_settings
from bot.config import default_environ
from bot.configvalues import listen_host
from bot.service.runner import Mode, run_service


def _serve(mode: Mode, args: argparse.Namespace) -> int:
    loaded = load_settings(args.config)
    return run_service(mode, loaded, environ=default_environ(),
                       port=getattr(args, "port", None), host=getattr(args, "host", None))


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    """Run everything in one process: scheduler, delivery and the web endpoints (TinyDB is fine)."""
    return _serve("run", args)


def cmd_web(args: argparse.Namespace, out: TextIO) -> int:
    """Serve Slack events, /healthz, /readyz, /metrics and the REST API (never the scheduler)."""
    return _serve("web", args)


def cmd_worker(args: argparse.Namespace, out: TextIO) -> int:
    """Run the scheduler and the delivery worker (several may share PostgreSQL; one schedules)."""
    return _serve("worker", args)


def _host(value: str) -> str:
    """``--host``: checked as ``[web] host`` is, before anything is looked up or bound."""
    try:
        return listen_host(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (got {value!r})") from None


def _web_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, metavar="N",
                        help="port to listen on (default: $PORT, else 3000)")
    parser.add_argument("--host", metavar="H", type=_host,
                        help="address to listen on (default: [web] host, 0.0.0.0)")


def register(sub: SubParsers) -> None:
    """Add ``run``, ``web`` and ``worker``."""
    _web_options(add_command(sub, "run", cmd_run))
    _web_options(add_command(sub, "web", cmd_web))
    add_command(sub, "worker", cmd_worker)
