"""NVD CVE API 2.0 responses → ScoreRecord items, one per CVE (format ``nvd-json``, pure).

Scores: ``cvssMetricV31``, ``V30``, ``V40``, then ``V2``, each scored with the cvss package from
its vector (a stated baseScore that disagrees is a warning; the computed score is kept). NVD's
own ("Primary") score gets source ``nvd``; a "Secondary" score from the CVE's CNA (its
``sourceIdentifier``, for Hikvision ``hsrc@hikvision.com``) is the vendor's, source ``vendor``;
CISA's ADP scores are ``cisa-adp``; any other secondary keeps its source identifier.

Paging: when ``startIndex + resultsPerPage < totalResults``, ``next_url`` is the request URL with
``startIndex`` moved on. The request URL is the ``x-firmwatch-url`` header the runner passes,
else the source's configured URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bot.config import SourceSettings
from bot.items import CpeMatch, CvssScore, ScoreError, ScoreRecord, normalize_text, score_vector
from bot.sources.base import REQUEST_URL, ParseError, ParseResult

_METRICS = ("cvssMetricV31", "cvssMetricV30", "cvssMetricV40", "cvssMetricV2")
_CISA_ADP = "134c704f-9b21-4f2e-91b3-4a467353bcc0"
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")


def parse(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """Parse one page of an NVD CVE API 2.0 answer into ScoreRecords, with the next page's URL."""
    data = _object(body)
    vulns = data.get("vulnerabilities")
    if not isinstance(vulns, list):
        raise ParseError(
            "not an NVD CVE API 2.0 answer: missing the 'vulnerabilities' list"
            f" (top-level keys: {', '.join(sorted(data)) or 'none'})"
        )
    result = ParseResult()
    for index, entry in enumerate(vulns):
        cve = entry.get("cve") if isinstance(entry, dict) else None
        cve_id = cve.get("id") if isinstance(cve, dict) else None
        if not isinstance(cve, dict) or not isinstance(cve_id, str) or not _CVE_ID.match(cve_id):
            result.warnings.append(f"vulnerabilities[{index}]: skipped: no 'cve' with a CVE 'id'")
            continue
        result.items.append(_record(cve, cve_id, source.name, result.warnings))
    result.next_url = _next_url(data, len(vulns), headers, source, result.warnings)
    result.warnings = list(dict.fromkeys(result.warnings))  # a repeated cpeMatch warns once
    return result


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not JSON ({exc}); expected an NVD CVE API 2.0 answer") from None
    if not isinstance(data, dict):
        raise ParseError(f"expected a JSON object from the NVD API, got {type(data).__name__}")
    return data


def _record(cve: dict[str, Any], cve_id: str, source: str, warnings: list[str]) -> ScoreRecord:
    """One ``cve`` object → a ScoreRecord; unreadable parts become warnings."""
    return ScoreRecord(
        key=cve_id,
        published=_date(cve.get("published"), f"{cve_id}: published", warnings),
        last_modified=_text(cve.get("lastModified")) or None,
        status=_text(cve.get("vulnStatus")),
        description=_english(cve.get("descriptions")),
        scores=_scores(cve, cve_id, warnings),
        kev_added=_date(cve.get("cisaExploitAdd"), f"{cve_id}: cisaExploitAdd", warnings),
        kev_due=_date(cve.get("cisaActionDue"), f"{cve_id}: cisaActionDue", warnings),
        cpes=_cpes(cve, cve_id, warnings),
        references=tuple(dict.fromkeys(
            url for r in _dicts(cve.get("references")) if (url := _text(r.get("url")))
        )),
        source=source,
    )


def _scores(cve: dict[str, Any], cve_id: str, warnings: list[str]) -> tuple[CvssScore, ...]:
    """Every score, metric version by version (3.1, 3.0, 4.0, 2), the vendor's first in each."""
    metrics = _mapping(cve.get("metrics"))
    cna = _text(cve.get("sourceIdentifier")).lower()
    found: list[CvssScore] = []
    for name in _METRICS:
        group: list[CvssScore] = []
        for metric in _dicts(metrics.get(name)):
            data = _mapping(metric.get("cvssData"))
            vector = _text(data.get("vectorString"))
            if not vector:
                warnings.append(f"{cve_id}: a {name} entry has no vectorString; skipped")
                continue
            try:
                score = score_vector(vector, _who(metric, cna))
            except ScoreError as exc:
                warnings.append(f"{cve_id}: {exc}")
                continue
            stated = data.get("baseScore")
            if isinstance(stated, int | float) and abs(float(stated) - score.base_score) > 0.05:
                warnings.append(
                    f"{cve_id}: NVD states base score {stated} for {vector} ({score.source}),"
                    f" the cvss package computes {score.base_score}; using {score.base_score}"
                )
            group.append(score)
        group.sort(key=lambda s: s.source != "vendor")
        found.extend(s for s in group if s not in found)
    return tuple(found)


def _who(metric: dict[str, Any], cna: str) -> str:
    """``nvd`` for NVD's Primary score, ``vendor`` for the CNA's, else who published it."""
    origin = _text(metric.get("source")).lower()
    if metric.get("type") == "Primary" or origin == "nvd@nist.gov":
        return "nvd"
    if origin and (origin == cna or origin.endswith("@hikvision.com")):
        return "vendor"
    return "cisa-adp" if origin == _CISA_ADP else origin or "unknown"


def _cpes(cve: dict[str, Any], cve_id: str, warnings: list[str]) -> tuple[CpeMatch, ...]:
    matches: list[CpeMatch] = []
    for config in _dicts(cve.get("configurations")):
        for node in _dicts(config.get("nodes")):
            for m in _dicts(node.get("cpeMatch")):
                criteria = _text(m.get("criteria"))
                if not criteria:
                    continue
                if m.get("versionStartExcluding"):
                    warnings.append(
                        f"{cve_id}: {criteria}: versionStartExcluding"
                        f" {m['versionStartExcluding']!r} is not kept; the range starts open"
                    )
                match = CpeMatch(
                    criteria=criteria,
                    vulnerable=m.get("vulnerable") is not False,
                    start_including=_text(m.get("versionStartIncluding")) or None,
                    end_excluding=_text(m.get("versionEndExcluding")) or None,
                    end_including=_text(m.get("versionEndIncluding")) or None,
                )
                if match not in matches:
                    matches.append(match)
    return tuple(matches)


def cpe_model(criteria: str) -> str | None:
    """The Hikvision model a CPE 2.3 name is about, unescaped: ``ds-2df8442ixs-aelwy(t5)``.

    ``_firmware`` is dropped and ``_`` read as a space; None for other vendors or no product.
    """
    fields = _cpe_fields(criteria)
    if len(fields) < 5 or fields[0] != "cpe" or fields[3].lower() != "hikvision":
        return None
    product = fields[4].removesuffix("_firmware")
    return None if product in ("", "*", "-") else product.replace("_", " ")


def _cpe_fields(criteria: str) -> list[str]:
    """Split a CPE 2.3 formatted string at unescaped colons, unescaping ``\\(``, ``\\/``, …."""
    fields: list[str] = []
    buf: list[str] = []
    escaped = False
    for ch in criteria:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            fields.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    fields.append("".join(buf))
    return fields


def _next_url(
    data: dict[str, Any],
    count: int,
    headers: Mapping[str, str],
    source: SourceSettings,
    warnings: list[str],
) -> str | None:
    numbers = {k: data.get(k) for k in ("startIndex", "resultsPerPage", "totalResults")}
    if all(v is None for v in numbers.values()):
        return None
    bad = [k for k, v in numbers.items() if not isinstance(v, int) or isinstance(v, bool)]
    if bad:
        raise ParseError(f"NVD paging fields missing or not integers: {', '.join(bad)}")
    start, per_page, total = (v if isinstance(v, int) else 0 for v in numbers.values())
    step = per_page or count
    if start + step >= total:
        return None
    if step <= 0:
        warnings.append(f"NVD says {total} results but returned none from {start}; not paging")
        return None
    parts = urlsplit(headers.get(REQUEST_URL) or source.url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "startIndex"]
    query.append(("startIndex", str(start + step)))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe=":")))


def _english(descriptions: object) -> str:
    return next((_text(d.get("value")) for d in _dicts(descriptions) if d.get("lang") == "en"), "")


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: object) -> str:
    return normalize_text(value) if isinstance(value, str) else ""


def _date(value: object, what: str, warnings: list[str]) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        warnings.append(f"{what}: not a date ({value!r})")
        return None
