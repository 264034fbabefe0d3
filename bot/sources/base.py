"""The parser contract: bytes and headers in, a ParseResult out (pure).

Fetching, cursors and health live in :mod:`bot.sources.runner`; the registry of parsers by
`format` name is in :mod:`bot.sources`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from bot.config import SourceSettings
from bot.items import Item

REQUEST_URL = "x-firmwatch-url"
"""The header the runner adds to the ones a parser sees: the URL the body came from."""


class ParseError(ValueError):
    """The body is not what the source's format promises; the message says what was wrong."""


class CutOffError(ParseError):
    """The body ends before its structure does (a cut-off download or a half-written file).

    What such a body holds would read as a shorter, wrong version of the source, so the runner
    fails the whole poll on it, wherever it is met (a listing, a detail page, a feed): nothing of
    the poll is stored and the cursor stays, so the next poll reads the body again in full.
    """


@dataclass(frozen=True)
class Link:
    """A detail page a listing points at, with what the listing says about it."""

    url: str
    title: str = ""
    marker: str = ""  # what changes when the page changes (listing date, title); "" = unknown
    listed: date | None = None


@dataclass
class ParseResult:
    """What one body yielded: items, warnings (kept in the source's health), pages to follow."""

    items: list[Item] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    follow: list[Link] = field(default_factory=list)
    next_url: str | None = None  # the next page: of a paged API, a listing or a paged feed


Parser = Callable[[bytes, Mapping[str, str], SourceSettings], ParseResult]
