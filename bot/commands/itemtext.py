"""Items as short readable text for the terminal (``firmwatch fetch``), and terminal-safe output.

Everything shown comes from sources and is untrusted: :func:`safe` removes control characters
(ANSI escape sequences, C1 controls) so a hostile feed cannot drive the operator's terminal.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.items import (
    Advisory,
    CveInfo,
    CvssScore,
    ExploitSignal,
    FirmwareRelease,
    Item,
    ScoreRecord,
    printable,
)

_C1 = re.compile(r"[\x80-\x9f]")
_MAX_ROWS = 20


def safe(text: object) -> str:
    """``text`` on one line without control characters (tabs and line breaks become spaces)."""
    return printable(str(text)).replace("\n", " ")


def dumps(data: Any) -> str:
    """Indented JSON whose strings cannot carry raw C1 controls (escaped as ``\\u0080``…)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _C1.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def render(item: Item) -> list[str]:
    """The item as a few lines: what it is, then its key facts."""
    if isinstance(item, Advisory):
        lines = _advisory(item)
    elif isinstance(item, FirmwareRelease):
        lines = _firmware(item)
    elif isinstance(item, ScoreRecord):
        lines = _scores(item)
    else:
        lines = _exploited(item)
    return [safe(line) for line in lines]


def _advisory(a: Advisory) -> list[str]:
    lines = [f"advisory {a.key}: {a.title}", f"  url: {a.url}"]
    dates = _pairs(("published", a.published), ("updated", a.updated))
    if dates:
        lines.append(f"  {dates}")
    if a.summary:
        lines.append(f"  summary: {a.summary[:200]}{'…' if len(a.summary) > 200 else ''}")
    lines += [f"  {_cve(c)}" for c in a.cves]
    for row in a.rows[:_MAX_ROWS]:
        flagged = f"  [flagged: {row.problem}]" if row.problem else ""
        lines.append(
            f"  affected: {row.product or '?'} | {row.cve or '-'} | {row.affected or '-'}"
            f" | fixed: {row.fixed or '-'}{flagged}"
        )
    if len(a.rows) > _MAX_ROWS:
        lines.append(f"  …and {len(a.rows) - _MAX_ROWS} more affected rows (see --json)")
    return lines


def _cve(c: CveInfo) -> str:
    scores = "; ".join(_score(s) for s in c.scores) or "no score"
    kev = f"; exploited (KEV added {c.kev_added}, due {c.kev_due})" if c.kev_added else ""
    return f"{c.id}: {scores}{kev}"


def _score(s: CvssScore) -> str:
    return f"{s.base_score} {s.severity} (CVSS {s.version}, {s.source})"


def _firmware(f: FirmwareRelease) -> list[str]:
    lines = [f"firmware {f.title}", f"  models: {', '.join(f.models)}", f"  version: {f.version}"]
    facts = (
        ("released", f.released), ("download", f.download_url), ("release notes", f.notes_url),
        ("checksum", f.checksum),
    )  # fmt: skip
    lines += [f"  {name}: {value}" for name, value in facts if value]
    if f.cves or f.security:
        lines.append(f"  security: {', '.join(f.cves) or 'mentioned'}")
    return lines


def _scores(r: ScoreRecord) -> list[str]:
    lines = [f"scores {r.key}: {r.status or 'status unknown'}"]
    lines += [f"  {_score(s)}" for s in r.scores] or ["  no score"]
    facts = _pairs(
        ("published", r.published), ("KEV added", r.kev_added), ("KEV due", r.kev_due),
        ("CPE matches", len(r.cpes) or None),
    )  # fmt: skip
    if facts:
        lines.append(f"  {facts}")
    return lines


def _exploited(e: ExploitSignal) -> list[str]:
    lines = [f"exploited {e.key}: {e.name or e.product}"]
    facts = _pairs(("added", e.date_added), ("due", e.due_date), ("ransomware", e.ransomware))
    if facts:
        lines.append(f"  {facts}")
    return lines


def _pairs(*pairs: tuple[str, object]) -> str:
    return "; ".join(f"{name}: {value}" for name, value in pairs if value not in (None, ""))
