"""The fleet registry: fleets, their device groups, CSV import and export (pure).

A device group is identified by a stable key over (fleet, normalised model, firmware as written with
case and spacing folded, site with spacing folded); a firmware that is a stored group's version
written differently is that group (`same_devices`), and naming it twice in one input is refused.
CSV columns: ``fleet,model,firmware,count,site`` plus the optional ``launched,discontinued``
(lifecycle dates for that model) and ``tags,serials`` (``;``-separated). Fields are separated by
``,``, or by ``;`` or a tab when the header uses that instead. Every bad line is reported with its
number; nothing partial is ever returned.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Literal

from bot.catalog import (
    CatalogEntry,
    ModelError,
    csv_delimiter,
    from_spreadsheet_text,
    normalize_model,
    parse_lifecycle_date,
    spreadsheet_text,
)
from bot.config import ConfigError, FleetSettings
from bot.configvalues import NAME, NAME_RULE
from bot.models import model_like
from bot.versions import Version, is_customised, try_parse_version

Origin = Literal["config", "import"]
SEVERITIES = ("none", "low", "medium", "high", "critical")
FLEET_NAME = NAME  # as bot.toml's names
REQUIRED = ("fleet", "model", "firmware", "count", "site")
OPTIONAL = ("launched", "discontinued", "tags", "serials")
MAX_COUNT = 1_000_000


class FleetError(ValueError):
    """Fleet data that cannot be used; ``problems`` holds one message per bad line."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Fleet:
    """A team's fleet: who hears about it and how loud; ``origin`` is ``config`` while bot.toml
    declares it (the file owns its settings), else ``import`` (a CSV import or the REST API)."""

    name: str
    description: str = ""
    receivers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    min_severity: str = "none"
    origin: Origin = "import"


@dataclass(frozen=True, slots=True)
class DeviceGroup:
    """Devices of one model on one firmware at one site; ``model`` is normalised. ``origin`` says
    who wrote it last: ``config`` (listed in bot.toml) or ``import`` (a CSV import or the API)."""

    fleet: str
    model: str
    model_as_written: str
    firmware: str | None
    count: int
    site: str = ""
    tags: tuple[str, ...] = ()
    serials: tuple[str, ...] = ()
    origin: Origin = "import"
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The stable identity (fleet, model, firmware, site), computed once.
        object.__setattr__(self, "key", _key(self.fleet, self.model, self.firmware, self.site))

    def version(self) -> Version | None:
        """The parsed firmware version, or None when unknown or unparseable (parsed lazily)."""
        return _parsed(self.firmware)


@lru_cache(maxsize=16384)
def _parsed(firmware: str | None) -> Version | None:
    return try_parse_version(firmware)


def group_key(fleet: str, model: str, firmware: str | None, site: str) -> str:
    """A short hash over the group's identity; spacing and case of the firmware do not count."""
    return _key(fleet, normalize_model(model), firmware, site)


def _key(fleet: str, model: str, firmware: str | None, site: str) -> str:
    fw = " ".join(firmware.split()).upper() if firmware else ""
    blob = "\x1f".join((fleet, model, fw, " ".join(site.split())))  # \x1f never survives split()
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def same_devices(g: DeviceGroup) -> tuple[object, ...]:
    """What makes two groups the same devices: the key's fields, with a firmware that reads as a
    version taken as that version (``V5.7.13build230822`` is ``V5.7.13 build 230822``)."""
    version = g.version()
    if version is None or g.firmware is None:
        return (g.fleet, g.model, g.site, g.key)
    return (g.fleet, g.model, g.site, version.sort_key(), is_customised(g.firmware))


def written_differently(g: DeviceGroup, earlier: DeviceGroup) -> str:
    """Why a group duplicating ``earlier`` may not look like it: the firmware as each wrote it."""
    if g.key == earlier.key:
        return ""
    return f"; firmware {g.firmware!r} is {earlier.firmware!r} written differently"


def make_group(
    fleet: str,
    model: str,
    firmware: str | None,
    count: int,
    site: str = "",
    tags: Iterable[str] = (),
    serials: Iterable[str] = (),
    origin: Origin = "import",
) -> DeviceGroup:
    """Build a device group from values as written; raises ModelError for a bad model."""
    written = " ".join(model.split())
    fw = " ".join(firmware.split()) if firmware else None
    return DeviceGroup(
        fleet, normalize_model(written), written, fw or None, count, " ".join(site.split()),
        tuple(tags), tuple(serials), origin,
    )


@dataclass(frozen=True)
class FleetFile:
    """A validated fleet CSV: device groups, lifecycle dates per model, and warnings."""

    source: str
    groups: tuple[DeviceGroup, ...]
    catalog: tuple[CatalogEntry, ...]
    warnings: tuple[str, ...] = ()

    @property
    def fleets(self) -> tuple[str, ...]:
        """The fleet names in the file, in order of first appearance."""
        return tuple(dict.fromkeys(g.fleet for g in self.groups))


def _split(cell: str) -> tuple[str, ...]:
    if not cell:
        return ()
    return tuple(p for p in (part.strip() for part in cell.split(";")) if p)


def parse_fleet_csv(text: str, source: str) -> FleetFile:
    """Read fleet CSV text; raise FleetError listing every bad line (with its number)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""),
                        delimiter=csv_delimiter(text))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    unnamed = [i for i, c in enumerate(header) if not c]  # a spreadsheet's empty columns
    unknown = [c for c in header if c and c not in REQUIRED + OPTIONAL]
    doubled = sorted({c for c in header if c and header.count(c) > 1})
    if missing or unknown or doubled:
        what = "; ".join(f"{label}: {','.join(names)}" for label, names in (
            ("missing", missing), ("unknown", unknown), ("repeated", doubled)) if names)
        raise FleetError([
            f"{source} line 1: the header must name the columns {','.join(REQUIRED)}"
            f" (optional: {','.join(OPTIONAL)}); {what}"
        ])
    at = {name: i for i, name in enumerate(header) if name}
    groups: dict[tuple[object, ...], tuple[int, DeviceGroup]] = {}
    dates: dict[str, tuple[int, date | None, date | None]] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        where = f"{source} line {line}"
        if len(row) != len(header):
            problems.append(f"{where}: expected {len(header)} columns, got {len(row)}")
            continue
        if any("\n" in c or "\r" in c for c in row):
            problems.append(f"{where}: a quoted field runs over several lines")
            continue
        cell = {name: from_spreadsheet_text(row[i].strip()) for name, i in at.items()}
        found = [f"{where}: column {i + 1} has no name in the header (got {row[i].strip()!r})"
                 for i in unnamed if row[i].strip()]
        if not FLEET_NAME.match(cell["fleet"]):
            found.append(f"{where}: fleet: a name is {NAME_RULE} (got {cell['fleet']!r})")
        model = ""
        try:
            model = normalize_model(cell["model"]) if cell["model"] else ""
        except ModelError as exc:
            found.append(f"{where}: model: {exc}")
        if not cell["model"]:
            found.append(f"{where}: model: missing")
        count = int(cell["count"]) if cell["count"].isdigit() else 0
        if not 1 <= count <= MAX_COUNT:
            found.append(f"{where}: count: expected a whole number of devices from 1 to"
                         f" {MAX_COUNT:,} (got {cell['count']!r})")
        when: dict[str, date | None] = {}
        for column in ("launched", "discontinued"):
            try:
                when[column] = parse_lifecycle_date(cell.get(column, ""))
            except ValueError as exc:
                expected = "; expected YYYY-MM-DD" if str(exc) == "not a date" else ""
                found.append(f"{where}: {column}: {exc} (got {cell[column]!r}){expected}")
        launched, discontinued = when.get("launched"), when.get("discontinued")
        if launched and discontinued and discontinued < launched:
            found.append(f"{where}: discontinued {discontinued} is before launched {launched}")
        if found:
            problems.extend(found)
            continue
        group = make_group(cell["fleet"], cell["model"], cell["firmware"], count, cell["site"],
                           _split(cell.get("tags", "")), _split(cell.get("serials", "")))
        same = same_devices(group)
        if same in groups:
            first, earlier = groups[same]
            problems.append(f"{where}: the same fleet, model, firmware and site as line"
                            f" {first}{written_differently(group, earlier)}")
            continue
        groups[same] = (line, group)
        if not model_like(model):
            warnings.append(f"{where}: model: {cell['model']!r} is not a model number;"
                            " no advisory or firmware release will ever name these devices")
        if group.firmware and group.version() is None:
            warnings.append(f"{where}: firmware: {group.firmware!r} is not a version firmwatch"
                            " can compare; these devices will be reported as possibly affected")
        if launched or discontinued:
            problems.extend(_merge_dates(dates, model, line, launched, discontinued, where))
    if problems:
        raise FleetError(problems)
    catalog = tuple(
        CatalogEntry(model, first, last, f"{source} line {line}")
        for model, (line, first, last) in dates.items()
    )
    return FleetFile(source, tuple(g for _, g in groups.values()), catalog, tuple(warnings))


def _merge_dates(
    dates: dict[str, tuple[int, date | None, date | None]],
    model: str,
    line: int,
    launched: date | None,
    discontinued: date | None,
    where: str,
) -> list[str]:
    """Fold one line's dates into ``dates``; report dates that contradict an earlier line."""
    first_line, old_launched, old_discontinued = dates.get(model, (line, None, None))
    problems = [
        f"{where}: {name}: {new} differs from {old} given for {model} on line {first_line}"
        for name, new, old in (("launched", launched, old_launched),
                               ("discontinued", discontinued, old_discontinued))
        if new and old and new != old
    ]
    dates[model] = (first_line, launched or old_launched, discontinued or old_discontinued)
    return problems


def export_csv(groups: Iterable[DeviceGroup], catalog: Mapping[str, CatalogEntry]) -> str:
    """Write device groups as re-importable fleet CSV, with lifecycle dates from ``catalog``;
    a cell a spreadsheet would run as a formula is written as text (:func:`spreadsheet_text`)."""
    rows = sorted(groups, key=lambda g: (g.fleet, g.model, g.site, g.firmware or ""))
    extra = [c for c in ("tags", "serials") if any(getattr(g, c) for g in rows)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*REQUIRED, "launched", "discontinued", *extra])
    for g in rows:
        entry = catalog.get(g.model)
        launched = entry.launched.isoformat() if entry and entry.launched else ""
        ended = entry.discontinued.isoformat() if entry and entry.discontinued else ""
        cells = [g.fleet, g.model_as_written, g.firmware or "", str(g.count), g.site,
                 launched, ended, *(";".join(getattr(g, c)) for c in extra)]
        writer.writerow([spreadsheet_text(c) for c in cells])
    return out.getvalue()


@dataclass(frozen=True)
class DeclaredFleet:
    """A fleet from ``[[fleets]]``; ``groups`` is None when the file lists no devices for it."""

    fleet: Fleet
    groups: tuple[DeviceGroup, ...] | None


def declared_fleets(fleets: Sequence[FleetSettings], filename: str) -> list[DeclaredFleet]:
    """Turn ``[[fleets]]`` settings into fleets and groups; raise ConfigError naming bad keys."""
    problems: list[str] = []
    declared: list[DeclaredFleet] = []
    for i, fs in enumerate(fleets):
        fleet = Fleet(fs.name, fs.description, tuple(fs.receivers), tuple(fs.tags),
                      fs.min_severity, "config")
        groups: dict[tuple[object, ...], DeviceGroup] = {}
        for j, d in enumerate(fs.devices):
            try:
                g = make_group(fs.name, d.model, d.firmware, d.count, d.site, d.tags, d.serials,
                               "config")
            except ModelError as exc:
                problems.append(f"{filename}: fleets[{i}].devices[{j}].model: {exc}")
                continue
            if (earlier := groups.get(same_devices(g))) is not None:
                problems.append(f"{filename}: fleets[{i}].devices[{j}]: the same model, firmware"
                                f" and site as an earlier device (got {d.model!r}"
                                f"{written_differently(g, earlier)})")
            groups[same_devices(g)] = g
        declared.append(DeclaredFleet(fleet, tuple(groups.values()) if fs.devices else None))
    if problems:
        raise ConfigError(problems)
    return declared
