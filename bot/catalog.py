"""Lifecycle catalog: launch and discontinuation dates per model, from the user's own data.

Pure code: entries come from bot.toml, a CSV text or a fleet import; nothing is invented.
Model numbers, product patterns and LTS families live in `bot.models` and are re-exported here.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.families import Family, family_of
from bot.models import (
    ModelError,
    ModelPattern,
    PatternError,
    display_model,
    normalize_model,
    parse_patterns,
)
from bot.policy import reckonable

__all__ = [
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "Family",
    "Lifecycle",
    "ModelError",
    "ModelPattern",
    "PatternError",
    "csv_delimiter",
    "decode_csv",
    "display_model",
    "family_of",
    "normalize_model",
    "parse_catalog_csv",
    "parse_lifecycle_date",
    "parse_patterns",
]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COLUMNS = ("model", "launched", "discontinued")


class CatalogError(ValueError):
    """Catalog data that cannot be used; `problems` holds one message per bad line or entry."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Lifecycle:
    """The dates known for one model and where they came from."""

    model: str
    launched: date | None
    discontinued: date | None
    source: str


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog row: a model or product pattern with its dates and source."""

    pattern: str
    launched: date | None
    discontinued: date | None
    source: str


def _date_problem(entry: CatalogEntry) -> str | None:
    """Return a message if the entry is discontinued before it was launched."""
    if entry.launched and entry.discontinued and entry.discontinued < entry.launched:
        return (
            f"{entry.source}: discontinued {entry.discontinued.isoformat()} is before "
            f"launched {entry.launched.isoformat()}"
        )
    return None


class Catalog:
    """Lifecycle dates by model.

    An entry naming one plain model (brackets kept, lens dropped) wins for that model. Otherwise
    every entry acts as a `ModelPattern` (so ``DS-7608NI-I2`` also covers ``DS-7608NI-I2/8P``
    and ``…-LIZS(U)`` covers ``…-LIZSU``); the longest literal prefix wins, then the fewest
    wildcards, then the earlier entry.
    """

    _exact: dict[str, CatalogEntry]  # entries naming one plain model
    _by_prefix: dict[str, list[tuple[ModelPattern, CatalogEntry]]]
    _lengths: list[int]  # the lengths of the prefixes in _by_prefix, longest first
    _cache: dict[str, Lifecycle | None]  # look-ups made
    # What users of the catalog work out from it (`bot.context.stage_tables`), kept with it
    # and shared like the look-ups.
    derived: dict[object, object]

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        self._entries = tuple(entries)
        last = _LAST[0] if _LAST else None
        if last is not None and last._entries == self._entries:
            # The same entries again (each cycle reads the catalog anew): share the last
            # catalog's structures and look-ups, worked out once per model, not once per cycle.
            self._exact, self._by_prefix, self._cache = last._exact, last._by_prefix, last._cache
            self._lengths = last._lengths
            self.derived = last.derived
            return
        self._exact = {}
        ranked: list[tuple[tuple[int, int, int], ModelPattern, CatalogEntry]] = []
        problems: list[str] = []
        for order, entry in enumerate(self._entries):
            if problem := _date_problem(entry):
                problems.append(problem)
            try:
                pattern = ModelPattern(entry.pattern)
            except PatternError as exc:
                problems.append(f"{entry.source}: {exc}")
                continue
            if (model := pattern.as_model()) is not None:
                self._exact.setdefault(model, entry)
            rank = (-len(pattern.literal_prefix()), pattern.wildcard_count(), order)
            ranked.append((rank, pattern, entry))
        if problems:
            raise CatalogError(problems)
        ranked.sort(key=lambda row: row[0])
        # The ranking, bucketed by literal prefix: a model can only match an entry whose prefix
        # it starts with, so a look-up tries the buckets of the model's own prefixes, longest
        # first (the same order as the ranking, without trying every entry).
        self._by_prefix = {}
        for _, matcher, entry in ranked:
            self._by_prefix.setdefault(matcher.literal_prefix(), []).append((matcher, entry))
        self._lengths = sorted({len(prefix) for prefix in self._by_prefix}, reverse=True)
        self._cache = {}
        self.derived = {}
        _LAST[:] = [self]

    def entries(self) -> tuple[CatalogEntry, ...]:
        """Return the entries in the order given."""
        return self._entries

    def lookup(self, model: str) -> Lifecycle | None:
        """Return the dates for a model, or None when no entry covers it."""
        key = normalize_model(model)
        if key not in self._cache:
            self._cache[key] = self._find(key)
        return self._cache[key]

    def _find(self, key: str) -> Lifecycle | None:
        entry = self._exact.get(key)
        for end in self._lengths:  # only the lengths some prefix has
            if entry is not None:
                break
            if end <= len(key) and (bucket := self._by_prefix.get(key[:end])):
                entry = next((e for p, e in bucket if p.matches(key)), None)
        if entry is None:
            return None
        return Lifecycle(key, entry.launched, entry.discontinued, entry.source)


_LAST: list[Catalog] = []  # the last catalog built from its entries (see Catalog.__init__)


def parse_lifecycle_date(value: str) -> date | None:
    """Read an ISO YYYY-MM-DD date; empty means unknown. Raise ValueError saying what is wrong."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        raise ValueError("not a date")
    try:
        return reckonable(day)
    except ValueError as exc:
        raise ValueError(f"{exc}; leave it empty when it is not known") from None


def decode_csv(data: bytes) -> str:
    """CSV bytes as text: UTF-8 (a BOM is dropped later), or UTF-16 with its BOM (Excel's
    "Unicode Text"); ValueError saying how to save any other file."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start});"
                         " save it as UTF-8 (in Excel: CSV UTF-8)") from None


def csv_delimiter(text: str) -> str:
    """The separator of CSV text, told by its header line: ``,``, else ``;`` (Excel's CSV where
    the decimal mark is a comma), else a tab."""
    header = text.partition("\n")[0]
    return next((sep for sep in ",;\t" if sep in header), ",")


# A cell a spreadsheet would run as a formula. Fleet sites and tags, advisory titles and notes
# come from people and pages firmwatch does not control, and its CSV is made for a spreadsheet:
# such a text is written with a leading apostrophe (a spreadsheet's own mark for "text"), and a
# text that starts with an apostrophe gets one more, so that reading the cell back is exact.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text (never runs as a formula)."""
    return "'" + value if value.startswith((*_FORMULA, "'")) else value


def from_spreadsheet_text(cell: str) -> str:
    """The text of a cell written by :func:`spreadsheet_text` (or typed as text with a leading
    apostrophe, as in a spreadsheet); any other cell as it is."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith((*_FORMULA, "'")) else cell


def parse_catalog_csv(text: str, source: str) -> list[CatalogEntry]:
    """Read ``model,launched,discontinued`` CSV text; raise CatalogError listing every bad line."""
    lines = text.removeprefix("\ufeff").splitlines(keepends=True)
    reader = csv.reader(lines, delimiter=csv_delimiter(text))
    header = next(reader, None)
    names = [name.strip().lower() for name in header or []]
    if not set(_COLUMNS) <= set(names):
        got = ",".join(header or [])
        raise CatalogError(
            [f"{source} line 1: the header must name the columns model,launched,discontinued "
             f"(got {got!r})"]
        )
    where = {column: names.index(column) for column in _COLUMNS}
    entries: list[CatalogEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        at = f"{source} line {number}"
        if len(row) != len(names):
            problems.append(f"{at}: expected {len(names)} columns, got {len(row)}")
            continue
        if any("\n" in cell or "\r" in cell for cell in row):
            problems.append(f"{at}: a quoted field runs over several lines")
            continue
        model, launched, discontinued = (row[where[c]].strip() for c in _COLUMNS)
        found: list[str] = []
        dates: dict[str, date | None] = {}
        for column, value in (("launched", launched), ("discontinued", discontinued)):
            try:
                dates[column] = parse_lifecycle_date(value)
            except ValueError as exc:
                found.append(f"{at}: {column}: {exc} (got {value!r})")
        if not model:
            found.append(f"{at}: model: missing")
        else:
            try:
                key = ModelPattern(model).as_model() or model
            except PatternError as exc:
                found.append(f"{at}: model: {exc}")
            else:
                if key in seen:
                    found.append(f"{at}: model: {model!r} is already on line {seen[key]}")
                seen.setdefault(key, number)
        entry = CatalogEntry(model, dates.get("launched"), dates.get("discontinued"), at)
        if not found and (problem := _date_problem(entry)):
            found.append(problem)
        problems.extend(found)
        entries.append(entry)
    if problems:
        raise CatalogError(problems)
    return entries
