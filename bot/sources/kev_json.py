"""The CISA Known Exploited Vulnerabilities catalog → ExploitSignal items (format ``kev-json``).

The catalog lists every vendor (about 1,500 entries); only Hikvision's are kept. Skipping the
others is the point of the filter, not a problem, so it raises no warning: :func:`read_catalog`
returns the skipped count for callers that want to show it. Pure: bytes in, items out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.config import SourceSettings
from bot.items import ExploitSignal, normalize_text
from bot.sources.base import ParseError, ParseResult

VENDOR = "hikvision"
REQUIRED = ("cveID", "vendorProject")  # fields every entry of the catalog has
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)


def parse(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """Parse the KEV catalog into one ExploitSignal per Hikvision CVE."""
    signals, warnings, _skipped = read_catalog(body, source.name)
    return ParseResult(items=list(signals), warnings=warnings)


def read_catalog(body: bytes, source: str = "") -> tuple[list[ExploitSignal], list[str], int]:
    """The Hikvision signals, warnings about unreadable Hikvision entries, other vendors' count."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not JSON ({exc}); expected the CISA KEV catalog") from None
    if not isinstance(data, dict) or not isinstance(data.get("vulnerabilities"), list):
        got = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        raise ParseError(
            f"not the CISA KEV catalog: missing the 'vulnerabilities' list (got {got or 'nothing'})"
        )
    _refuse_renamed(data["vulnerabilities"])
    signals: dict[str, ExploitSignal] = {}
    warnings: list[str] = []
    skipped = 0
    for index, entry in enumerate(data["vulnerabilities"]):
        if not isinstance(entry, dict):
            warnings.append(f"vulnerabilities[{index}]: skipped: not an object")
            continue
        if _text(entry.get("vendorProject")).lower() != VENDOR:
            skipped += 1
            continue
        cve = _text(entry.get("cveID")).upper()
        if not _CVE_ID.match(cve):
            warnings.append(f"vulnerabilities[{index}]: skipped: no valid cveID ({cve!r})")
            continue
        if cve in signals:
            warnings.append(f"vulnerabilities[{index}]: {cve} is listed twice; kept the first")
            continue
        signals[cve] = _signal(entry, cve, source, warnings)
    return list(signals.values()), warnings, skipped


def _refuse_renamed(entries: list[Any]) -> None:
    """ParseError when no entry carries a field every KEV entry has: the catalog's format changed
    (each Hikvision entry would be skipped in silence, or all read as other vendors')."""
    objects = [entry for entry in entries if isinstance(entry, dict)]
    for key in REQUIRED:
        if objects and not any(key in entry for entry in objects):
            keys = sorted({str(k) for entry in objects[:100] for k in entry})
            shown = ", ".join(keys[:12]) + (", …" if len(keys) > 12 else "")
            raise ParseError(
                f"not the CISA KEV catalog as firmwatch reads it: no entry has {key!r} (the"
                f" entries have {shown or 'no keys'}); the catalog's format may have changed"
            )


def _signal(entry: dict[str, Any], cve: str, source: str, warnings: list[str]) -> ExploitSignal:
    return ExploitSignal(
        key=cve,
        vendor=_text(entry.get("vendorProject")),
        product=_text(entry.get("product")),
        name=_text(entry.get("vulnerabilityName")),
        date_added=_date(entry.get("dateAdded"), f"{cve}: dateAdded", warnings),
        due_date=_date(entry.get("dueDate"), f"{cve}: dueDate", warnings),
        ransomware=_text(entry.get("knownRansomwareCampaignUse")),
        required_action=_text(entry.get("requiredAction")),
        notes=_text(entry.get("notes")),
        source=source,
    )


def _text(value: object) -> str:
    return normalize_text(value) if isinstance(value, str) else ""


def _date(value: object, what: str, warnings: list[str]) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        warnings.append(f"{what}: not a date ({value!r}); kept the entry without it")
        return None
