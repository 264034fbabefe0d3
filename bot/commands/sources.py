"""``firmwatch sources`` (the configured sources and their health) and ``firmwatch fetch``.

``fetch`` polls one source now, as the scheduler would but from scratch (no stored validators),
and prints what it yields without storing anything: how a user checks a source before enabling it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.commands.common import (
    EXIT_OK,
    CommandFailed,
    Loaded,
    SubParsers,
    UsageError,
    add_command,
    load_settings,
)
from bot.commands.db import open_configured_store, state_url
from bot.commands.itemtext import dumps, render, safe
from bot.config import SourceSettings, default_environ
from bot.items import to_json_dict
from bot.sourcenotice import untold_warning
from bot.sources import DETAIL_PARSERS, PARSERS
from bot.sources.fetcher import Fetcher
from bot.sources.health import SourceHealth, describe, unhealthy, waiting
from bot.sources.runner import Cursor, poll
from state import SourceState, StoreError, parse_state_url

_SECRET_PARAM = re.compile(
    r"(?:^|[_.-])(?:api_?key|key|token|secret|password|passwd|sig|signature|auth)$", re.IGNORECASE
)


def cmd_sources(args: argparse.Namespace, out: TextIO) -> int:
    """List the configured sources with their health and cursor from the store."""
    loaded = load_settings(args.config)
    states = _stored_states(loaded)
    now = datetime.now(UTC)
    policy = loaded.settings.policy
    views = [_view(s, states.get(s.name), now, policy.source_failures)
             for s in loaded.settings.sources]
    untold = [] if policy.source_receivers else [v for v in views if v["unhealthy"]]
    warnings = {v["name"]: untold_warning(v["name"], safe(v["status"])) for v in untold}
    if args.json:
        out.write(dumps(views) + "\n")
        sys.stderr.writelines(f"{line}\n" for line in warnings.values())
    elif not views:
        out.write("no [[sources]] are configured\n")
    else:
        out.write("\n".join(line for view in views for line in _lines(view, warnings)) + "\n")
    return EXIT_OK


def cmd_fetch(args: argparse.Namespace, out: TextIO) -> int:
    """Fetch and parse one source now and print its items; nothing is stored."""
    loaded = load_settings(args.config)
    source = _source(loaded, args.name)
    with Fetcher(loaded.settings.network) as fetcher:
        outcome = poll(
            source, fetcher, Cursor(), SourceHealth(), datetime.now(UTC),
            parsers=PARSERS, detail_parser=DETAIL_PARSERS.get(source.format),
            environ=default_environ(),
        )  # fmt: skip
    health = outcome.health
    if health.consecutive_failures:
        raise CommandFailed(f"source {source.name}: {safe(health.last_error)}")
    items = outcome.items if args.limit is None else outcome.items[: args.limit]
    warnings = [safe(w) for w in health.warnings]
    if args.json:
        out.write(dumps([to_json_dict(item) for item in items]) + "\n")
        sys.stderr.writelines(f"warning: {w}\n" for w in warnings)
        return EXIT_OK
    shown = f"{len(items)} of {len(outcome.items)}" if len(items) < len(outcome.items) else ""
    out.write(
        f"{source.name}: {shown or len(items)} item{'' if len(outcome.items) == 1 else 's'}"
        f" ({source.kind}, {source.format}, {_status(source, health)})\n"
    )
    for item in items:
        out.write("\n" + "\n".join(render(item)) + "\n")
    if warnings:
        out.write(f"\n{len(warnings)} warning{'' if len(warnings) == 1 else 's'}:\n")
        out.writelines(f"  - {w}\n" for w in warnings)
    return EXIT_OK


def _status(source: SourceSettings, health: SourceHealth) -> str:
    return "read from file" if source.url.startswith("file:") else f"HTTP {health.last_status}"


def _source(loaded: Loaded, name: str) -> SourceSettings:
    sources = loaded.settings.sources
    found = next((s for s in sources if s.name == name), None)
    if found is None:
        names = ", ".join(s.name for s in sources) or "none are configured"
        raise UsageError(f"no [[sources]] entry is named {name!r} (configured: {names})")
    return found


def _stored_states(loaded: Loaded) -> dict[str, SourceState]:
    """The sources' stored state; an embedded store that does not exist yet is not created."""
    url = state_url(loaded)
    try:
        parsed = parse_state_url(url)
    except StoreError as exc:
        raise CommandFailed(str(exc)) from None
    if parsed.backend != "postgresql" and not Path(parsed.target).exists():
        return {}
    with open_configured_store(loaded) as store:
        try:
            return {state.name: state for state in store.sources.all()}
        except StoreError as exc:
            raise CommandFailed(str(exc)) from None


def _view(
    source: SourceSettings, state: SourceState | None, now: datetime, failures: int
) -> dict[str, Any]:
    health = SourceHealth.from_dict(state.health or {}) if state else SourceHealth()
    cursor = Cursor.from_dict(state.cursor or {}) if state else Cursor()
    return {
        "name": source.name,
        "kind": source.kind,
        "format": source.format,
        "url": _shown_url(source.url),
        "every": _every(source.every),
        "every_seconds": int(source.every.total_seconds()),
        "enabled": source.enabled,
        "status": describe(health, now),
        "unhealthy": source.enabled and unhealthy(health, failures),
        "waiting_until": _iso(health.not_before) if waiting(health, now) else None,
        "health": health.to_dict(),
        "cursor": {
            "etag": cursor.etag,
            "last_modified": cursor.last_modified,
            "detail_pages": len(cursor.pages),
            "nvd_last_modified": cursor.nvd_last_modified,
        },
    }


def _lines(view: dict[str, Any], warnings: Mapping[str, str]) -> list[str]:
    health, cursor = view["health"], view["cursor"]
    state = "enabled" if view["enabled"] else "disabled"
    lines = [
        f"{view['name']} ({view['kind']}, {view['format']}, every {view['every']}, {state})",
        f"  url: {view['url']}",
        f"  health: {safe(view['status'])}",
    ]
    if view["name"] in warnings:
        lines.append(f"  {warnings[view['name']]}")
    facts = [
        f"last success {health['last_success'] or 'never'}",
        f"last HTTP status {health['last_status'] or '-'}",
        f"failures in a row {health['consecutive_failures']}",
    ]
    if health["last_attempt"]:
        lines.append(f"  {'; '.join(facts)}")
    if health["last_error"]:
        lines.append(f"  last error: {safe(health['last_error'])}")
    held = [
        f"ETag {cursor['etag']}" if cursor["etag"] else "",
        f"Last-Modified {cursor['last_modified']}" if cursor["last_modified"] else "",
        f"{cursor['detail_pages']} detail pages" if cursor["detail_pages"] else "",
        f"NVD changes read up to {cursor['nvd_last_modified']}"
        if cursor["nvd_last_modified"] else "",
    ]  # fmt: skip
    if any(held):
        lines.append(f"  cursor: {safe(', '.join(h for h in held if h))}")
    lines += [f"  warning: {safe(w)}" for w in health["warnings"]]
    return lines


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _every(interval: timedelta) -> str:
    """A polling interval as bot.toml writes it: ``30m``, ``2h``, ``1d12h``."""
    seconds, parts = int(interval.total_seconds()), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def _shown_url(url: str) -> str:
    """A configured URL for display: query values that look like secrets are masked."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(_SECRET_PARAM.search(k) for k, _ in query):
        return url
    masked = [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in query]
    return urlunsplit(parts._replace(query=urlencode(masked, safe="*:/")))


def _limit(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more (got {value!r})")
    return int(value)


def register(sub: SubParsers) -> None:
    """Add ``sources`` and ``fetch``."""
    listing = add_command(sub, "sources", cmd_sources)
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    fetch = add_command(sub, "fetch", cmd_fetch)
    fetch.add_argument("name", metavar="NAME", help="the source's name in [[sources]]")
    fetch.add_argument("--json", action="store_true", help="print the items as one JSON array")
    fetch.add_argument("--limit", type=_limit, metavar="N", help="print at most N items")
