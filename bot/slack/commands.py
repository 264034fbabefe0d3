"""The slash command's grammar: text → one command, or a usage line (pure, never raises).

Slack sends the text with ``&``, ``<`` and ``>`` escaped, links and mentions as ``<…|…>`` and,
from some clients, curly quotes; :func:`parse` undoes all of that first.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.configvalues import DurationTooLong, parse_duration

MATCHERS = ("fleet", "model", "site", "kind", "item", "advisory", "cve")
KINDS = ("advisory", "firmware", "lifecycle", "exploited")
MAX_SILENCE = timedelta(days=365)
MAX_DAYS = 3650
MAX_ID_DIGITS = 18  # a silence number fits a 64-bit integer column
DEFAULT_DAYS = 90
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.I)
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'",
                         "\u2019": "'"})
_TOKEN = re.compile(
    r"""\s*(?:(?P<name>[A-Za-z]+)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>\S*))"""
    r"|(?P<word>\S+))"
)
_SLACK_REF = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")

# name → (arguments, what it does); the order is the help's order.
USAGE: dict[str, tuple[str, str]] = {
    "help": ("", "this list"),
    "lookup": ("MODEL [share]", "the model card: coverage, stage, promise, advisories, firmware,"
               " your devices"),
    "advisory": ("ID|CVE [share]", "an advisory or CVE: score, KEV, affected models, fleets hit"),
    "fleets": ("", "fleets with device counts per support stage"),
    "fleet": ("NAME", "one fleet's device groups and open findings"),
    "upcoming": ("[DAYS]", "device groups changing support stage in the next DAYS"
                 f" (default {DEFAULT_DAYS})"),
    "silence": ("MATCHERS for DURATION [comment]", "hide matching alerts, e.g. `silence fleet=hq"
                " cve=CVE-2021-36260 for 7d patching`"),
    "silences": ("", "silences in force"),
    "unsilence": ("ID", "end a silence now"),
    "status": ("", "sources' health, the outbox, the last cycle"),
    "subscribe": ("FLEET", "send a fleet's alerts to this channel"),
    "unsubscribe": ("FLEET", "stop sending a fleet's alerts to this channel"),
}


@dataclass(frozen=True)
class Help:
    """List the subcommands."""


@dataclass(frozen=True)
class Lookup:
    """``lookup MODEL [share]``."""

    model: str
    share: bool = False


@dataclass(frozen=True)
class AdvisoryQuery:
    """``advisory ID|CVE [share]``."""

    ref: str
    share: bool = False


@dataclass(frozen=True)
class Fleets:
    """``fleets [share]``."""

    share: bool = False


@dataclass(frozen=True)
class FleetShow:
    """``fleet NAME [share]``."""

    name: str
    share: bool = False


@dataclass(frozen=True)
class Upcoming:
    """``upcoming [DAYS] [share]``."""

    days: int = DEFAULT_DAYS
    share: bool = False


@dataclass(frozen=True)
class SilenceAdd:
    """``silence MATCHERS for DURATION [comment]``; matchers as (name, value) pairs."""

    matchers: tuple[tuple[str, str], ...]
    duration: timedelta
    comment: str = ""


@dataclass(frozen=True)
class Silences:
    """``silences [share]``."""

    share: bool = False


@dataclass(frozen=True)
class Unsilence:
    """``unsilence ID``."""

    silence_id: int


@dataclass(frozen=True)
class Status:
    """``status [share]``."""

    share: bool = False


@dataclass(frozen=True)
class Subscribe:
    """``subscribe FLEET`` (``on`` False: ``unsubscribe FLEET``)."""

    fleet: str
    on: bool = True


@dataclass(frozen=True)
class Usage:
    """Arguments that did not parse: what is wrong and the usage line to show."""

    problem: str
    usage: str


Command = (Help | Lookup | AdvisoryQuery | Fleets | FleetShow | Upcoming | SilenceAdd | Silences
           | Unsilence | Status | Subscribe)
CHANGES = (SilenceAdd, Unsilence, Subscribe)
ParseFn = Callable[[list[str], bool], "Command | Usage"]


def usage_line(name: str, command: str = "/firmware") -> str:
    """``/firmware lookup MODEL [share]`` for one subcommand."""
    args, _ = USAGE[name]
    return f"{command} {name} {args}".rstrip()


def clean(text: str) -> str:
    """Undo Slack's escaping: entities, ``<url|label>`` references, curly quotes, spacing."""
    text = _SLACK_REF.sub(lambda m: m[2] or m[1], text)
    return " ".join(html.unescape(text).translate(_QUOTES).split())


def parse(text: str) -> Command | Usage:
    """Parse the text after the command name."""
    words = clean(text).split(" ")
    name, rest = words[0].lower(), [w for w in words[1:] if w]
    if name in ("", "help", "?"):
        return Help()
    if name not in USAGE:
        return Usage(f"unknown subcommand {name!r}", "help")
    share = bool(rest) and rest[-1].lower() == "share"
    if share and name in ("lookup", "advisory", "fleets", "fleet", "upcoming", "silences",
                          "status"):
        rest = rest[:-1]
    return _PARSERS[name](rest, share)


def _lookup(rest: list[str], share: bool) -> Command | Usage:
    if not rest:
        return Usage("lookup needs a model number, e.g. DS-2CD3321G2-I", "lookup")
    return Lookup(" ".join(rest), share)


def _advisory(rest: list[str], share: bool) -> Command | Usage:
    if len(rest) != 1:
        return Usage("advisory needs one advisory ID (e.g. HSRC-202409-01) or CVE", "advisory")
    ref = rest[0].upper() if _CVE.match(rest[0]) else rest[0]
    return AdvisoryQuery(ref, share)


def _no_args(make: type[Fleets | Silences | Status], name: str) -> ParseFn:
    def parse_it(rest: list[str], share: bool) -> Command | Usage:
        if rest:
            return Usage(f"{name} takes no arguments (got {' '.join(rest)!r})", name)
        return make(share)

    return parse_it


def _fleet(rest: list[str], share: bool) -> Command | Usage:
    if not rest:
        return Usage("fleet needs a fleet name (see `fleets`)", "fleet")
    return FleetShow(" ".join(rest), share)


def _upcoming(rest: list[str], share: bool) -> Command | Usage:
    if not rest:
        return Upcoming(DEFAULT_DAYS, share)
    days = _number(rest[0], len(str(MAX_DAYS))) if len(rest) == 1 else None
    if days is not None and 1 <= days <= MAX_DAYS:
        return Upcoming(days, share)
    return Usage(f"DAYS must be a whole number from 1 to {MAX_DAYS} (got {' '.join(rest)!r})",
                 "upcoming")


def _silence(rest: list[str], share: bool) -> Command | Usage:
    text = " ".join(rest)
    matchers: list[tuple[str, str]] = []
    pos = 0
    while (m := _TOKEN.match(text, pos)) and m[0].strip():
        pos = m.end()
        if m["word"] and m["word"].lower() == "for":
            break
        if m["name"] is None:
            return Usage(f"expected NAME=VALUE with NAME one of {', '.join(MATCHERS)}"
                         f" (got {m['word']!r})", "silence")
        name = m["name"].lower()
        value = next(v for v in (m["dq"], m["sq"], m["bare"]) if v is not None).strip()
        problem = _matcher_problem(name, value, matchers)
        if problem:
            return Usage(problem, "silence")
        matchers.append((name, value.upper() if name == "cve" else value))
    else:
        return Usage("silence needs `for DURATION`, e.g. `for 7d`", "silence")
    if not matchers:
        return Usage("silence needs at least one matcher, e.g. fleet=hq", "silence")
    words = text[pos:].split(None, 1)
    if not words:
        return Usage("`for` needs a duration such as 2h, 7d or 2w", "silence")
    try:
        duration = parse_duration(words[0])
    except DurationTooLong:
        return Usage("a silence lasts at most 365 days", "silence")
    except ValueError:
        return Usage(f"expected a duration such as 2h, 7d or 2w (got {words[0]!r})", "silence")
    if duration > MAX_SILENCE:
        return Usage("a silence lasts at most 365 days", "silence")
    return SilenceAdd(tuple(matchers), duration, words[1].strip() if len(words) > 1 else "")


def _matcher_problem(name: str, value: str, seen: list[tuple[str, str]]) -> str | None:
    if name not in MATCHERS:
        return f"unknown matcher {name!r}; use {', '.join(MATCHERS)}"
    if not value:
        return f"{name}= needs a value"
    if name in (n for n, _ in seen):
        return f"{name} is given twice"
    if name == "kind" and value.lower() not in KINDS:
        return f"kind must be one of {', '.join(KINDS)} (got {value!r})"
    if name == "cve" and not _CVE.match(value):
        return f"cve must look like CVE-2021-36260 (got {value!r})"
    return None


def _number(word: str, digits: int) -> int | None:
    """A whole number of at most ``digits`` digits (any script's decimal digits), else None."""
    return int(word) if word.isdecimal() and len(word) <= digits else None


def _unsilence(rest: list[str], share: bool) -> Command | Usage:
    found = _number(rest[0].lstrip("#"), MAX_ID_DIGITS) if len(rest) == 1 else None
    if found is not None:
        return Unsilence(found)
    return Usage("unsilence needs the silence's number (see `silences`)", "unsilence")


def _subscribe(on: bool) -> ParseFn:
    name = "subscribe" if on else "unsubscribe"

    def parse_it(rest: list[str], share: bool) -> Command | Usage:
        if not rest:
            return Usage(f"{name} needs a fleet name (see `fleets`)", name)
        return Subscribe(" ".join(rest), on)

    return parse_it


def _help(rest: list[str], share: bool) -> Command | Usage:
    return Help()


_PARSERS: dict[str, ParseFn] = {
    "help": _help, "lookup": _lookup, "advisory": _advisory,
    "fleets": _no_args(Fleets, "fleets"), "fleet": _fleet, "upcoming": _upcoming,
    "silence": _silence, "silences": _no_args(Silences, "silences"),
    "unsilence": _unsilence, "status": _no_args(Status, "status"),
    "subscribe": _subscribe(True), "unsubscribe": _subscribe(False),
}
