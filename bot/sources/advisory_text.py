"""The one advisory-body extractor: an advisory page or feed-entry body (HTML) → Advisory (pure).

Used for Hikvision detail pages and for RSS/Atom entry bodies. :mod:`bot.sources.html_text`
reduces the HTML to lines of text (a table row is one line, cells joined by " | "); tables also
become grids with rowspan/colspan filled in. Regular expressions then read the text, never the
markup.

Warnings for the source's health come from :func:`extract_with_warnings`: a stated base score that
disagrees with the one computed from the vector (the computed one is kept), CVEs without a vector,
unreadable vectors, affected rows kept but flagged, rows naming no CVE, note rows in the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from selectolax.lexbor import LexborNode

from bot.catalog import ModelError, PatternError, parse_patterns
from bot.items import (
    Advisory,
    AffectedRow,
    CveInfo,
    CvssScore,
    ScoreError,
    advisory_key,
    canonical_url,
    find_cves,
    normalize_text,
    score_vector,
)
from bot.sources.base import ParseError
from bot.sources.html_text import HtmlDoc, date_at
from bot.sources.html_text import find_date as find_date  # re-exported
from bot.versions import AffectedParseError, VersionError, parse_affected, parse_fixed

_VENDOR_ID = re.compile(r"(?:SN\s*No\.?|Advisory\s+ID)\s*[:\uff1a]?\s*(HSRC-\d{6}-\d{1,3})\b", re.I)
_VECTOR = r"CVSS:(?:3\.[01]|4\.0)(?:/[A-Za-z]{1,4}:[A-Za-z]{1,2})+"
_STATED = r"score\s*(?:[:\uff1a]|is|of)?\s*(?P<said>\d{1,2}\.\d)\b"
_TOKENS = re.compile(rf"(?P<cve>\bCVE-\d{{4}}-\d{{4,}}\b)|(?P<vec>{_VECTOR})|{_STATED}", re.I)
_SCORE_LINE = re.compile(rf"{_VECTOR}|{_STATED}", re.I)
_LABELS = {
    "published": re.compile(
        r"(?:initial\s+release|first\s+published|release|published|issued?)(?:\s+(?:date|on))?"
        r"\s*[:\uff1a]?\s*",
        re.I,
    ),
    "updated": re.compile(
        r"(?:last\s+updated?|updated|last\s+(?:revised|modified)|revision\s+date|update\s+date)"
        r"(?:\s+(?:date|on))?\s*[:\uff1a]?\s*",
        re.I,
    ),
}
_REVISION = re.compile(r"V?\d{1,2}\.\d{1,2}\s*\|?\s*")
_SUMMARY = re.compile(
    r"^(?:vulnerability\s+)?(?:summary|overview|description)(?:\s*[:\uff1a]\s*(?P<rest>.*)|\s*)$",
    re.I,
)
_SECTION = re.compile(
    r"^(?:cve\b|scor|cvss|affected|fix|mitigat|solution|workaround|source of|acknowledg|credit"
    r"|contact|revision|disclaimer|references?\b|faq|impact|vulnerability (?:details|info)"
    r"|sn no|edited by|initial release)",
    re.I,
)
_CVE_LABEL = re.compile(r"CVE-\d{4}-\d{4,}|CVE\s*IDs?|\band\b|[\s,;:\uff1a\u3001|()]", re.I)
_PRODUCT_HEAD = re.compile(r"product|model|device", re.I)
_EVIDENCE = re.compile(r"advisor|vulnerab", re.I)
_SUMMARY_CAP, _MAX_ROWS, _MAX_COLS = 1000, 2000, 50


@dataclass(frozen=True)
class _Cell:
    text: str
    lines: tuple[str, ...]
    cols: int = 1


_EMPTY = _Cell("", ())


def extract_advisory(
    html: str, url: str, *, source: str = "", title: str | None = None,
    published: date | None = None,
) -> Advisory:  # fmt: skip
    """Extract an Advisory from an advisory page or feed-entry body (ParseError if it is none)."""
    return extract_with_warnings(html, url, source=source, title=title, published=published)[0]


def extract_with_warnings(
    html: str, url: str, *, source: str = "", title: str | None = None,
    published: date | None = None,
) -> tuple[Advisory, list[str]]:  # fmt: skip
    """Extract an Advisory plus warnings for the source's health, each starting with its key.

    The page's h1 wins over ``title`` (from the listing or feed entry), which wins over the
    page's <title>; a date stated on the page wins over ``published``.
    """
    doc = HtmlDoc(html)
    body = doc.body
    if body is None:
        raise ParseError(f"{url}: empty document, not an advisory")
    lines = doc.lines(body)
    text = "\n".join(lines)
    head_title = doc.tree.css_first("head > title")
    name = doc.heading() or normalize_text(title or "")
    name = name or (normalize_text(head_title.text()) if head_title is not None else "")
    vendor_id = m[1].upper() if (m := _VENDOR_ID.search(text)) else None
    cve_ids = find_cves(text)
    warnings: list[str] = []
    rows = _affected_rows(doc, body, cve_ids, warnings)
    if not (cve_ids or rows or vendor_id or _EVIDENCE.search(name)):
        raise ParseError(f"{url}: not an advisory (no CVE, affected table or SN No.; {name!r})")
    scores = _scores(lines, cve_ids, warnings)
    revisions = [d for ln in lines if (m := _REVISION.match(ln)) and (d := date_at(ln, m.end()))]
    first = _labelled(lines, "published") or (min(revisions) if revisions else published)
    updated = _labelled(lines, "updated")
    if updated is None and revisions and (first is None or max(revisions) > first):
        updated = max(revisions)
    key = vendor_id or advisory_key(url)
    advisory = Advisory(
        key=key,
        title=name or key,
        url=canonical_url(url),
        vendor_id=vendor_id,
        published=first,
        updated=updated,
        summary=_summary(lines, name),
        cves=tuple(CveInfo(c, scores.get(c, ())) for c in cve_ids),
        rows=rows,
        source=source,
    )
    return advisory, [f"{key}: {w}" for w in dict.fromkeys(warnings)]


def _labelled(lines: list[str], which: str) -> date | None:
    label = _LABELS[which]
    hits = (date_at(ln, m.end()) for ln in lines for m in label.finditer(ln))
    return next((d for d in hits if d), None)


# --- the "Affected Versions and Fix" table ------------------------------------------------------


def _grid(doc: HtmlDoc, table: LexborNode) -> list[list[_Cell]]:
    """The table's own rows (not nested tables') as a grid with rowspan/colspan filled in."""
    rows = [tr for tr in table.css("tr") if _owner(tr) == table.mem_id][:_MAX_ROWS]
    filled: list[dict[int, _Cell]] = [{} for _ in rows]
    for r, tr in enumerate(rows):
        col = 0
        for node in (n for n in tr.iter() if n.tag in ("td", "th")):
            while col in filled[r]:
                col += 1
            down, across = _span(node, "rowspan", len(rows) - r), _span(node, "colspan", 8)
            lines = doc.cell_lines(node, 0)
            cell = _Cell(" ".join(lines), lines, across)
            for dr in range(down):
                for dc in range(across):
                    filled[r + dr].setdefault(col + dc, cell)
            col += across
    width = min(_MAX_COLS, max((max(row) + 1 for row in filled if row), default=0))
    return [[row.get(c, _EMPTY) for c in range(width)] for row in filled]


def _owner(tr: LexborNode) -> int | None:
    parent = tr.parent
    while parent is not None and parent.tag != "table":
        parent = parent.parent
    return None if parent is None else parent.mem_id


def _span(node: LexborNode, name: str, most: int) -> int:
    raw = (node.attrs.get(name) or "1").strip()
    return max(1, min((int(raw) if raw.isdigit() else 1) or most, most))


def _columns(row: list[_Cell]) -> dict[str, int] | None:
    """Map header cells to product/cve/affected/fixed; None unless it is an affected table."""
    cols: dict[str, int] = {}
    for i, cell in enumerate(row):
        head = cell.text.lower()
        if not head or len(head) > 40:
            continue
        if re.search(r"fix|solution|patch|remediat", head):
            cols.setdefault("fixed", i)
        elif re.search(r"affect|vulnerable|version", head):
            cols.setdefault("affected", i)
        elif "cve" in head:
            cols.setdefault("cve", i)
        elif _PRODUCT_HEAD.search(head) and not re.search(r"type|categ", head):
            cols.setdefault("product", i)
    return cols if "product" in cols and ("affected" in cols or "fixed" in cols) else None


def _affected_rows(
    doc: HtmlDoc, body: LexborNode, cve_ids: tuple[str, ...], warnings: list[str]
) -> tuple[AffectedRow, ...]:
    rows: list[AffectedRow] = []
    for table in body.css("table"):
        if not _PRODUCT_HEAD.search(table.text()) or not doc.visible(table):
            continue
        grid = _grid(doc, table)
        head = next(((i, c) for i, r in enumerate(grid[:3]) if (c := _columns(r))), None)
        if head is not None:
            context = _table_cves(table) or cve_ids
            for row in grid[head[0] + 1 :]:
                rows.extend(_rows_of(row, head[1], context, warnings))
    return tuple(dict.fromkeys(rows))


def _table_cves(table: LexborNode) -> tuple[str, ...]:
    """The single CVE a table's caption or the element before it names, if any."""
    prev = table.prev
    while prev is not None and not prev.is_element_node:
        prev = prev.prev
    for node in (table.css_first("caption"), prev):
        if node is not None and len(found := find_cves(node.text(separator=" "))) == 1:
            return found
    return ()


def _rows_of(
    row: list[_Cell], cols: dict[str, int], context: tuple[str, ...], warnings: list[str]
) -> list[AffectedRow]:
    """The AffectedRows of one grid row: one per product entry and CVE, problems attached."""
    cell = {name: row[i] if i < len(row) else _EMPTY for name, i in cols.items()}
    used = {id(c) for c in row if c.text}
    if not used or _columns(row) is not None:
        return []
    if len(used) == 1 and max(c.cols for c in row) > 1:
        warnings.append(f"note in the affected table: {row[0].text[:200]}")
        return []
    cves: tuple[str | None, ...] = find_cves(cell.get("cve", _EMPTY).text)
    cves = cves or (context if len(context) == 1 else (None,))
    affected, fixed = cell.get("affected", _EMPTY).text, cell.get("fixed", _EMPTY).text
    version_problems = _version_problems(affected, fixed)
    out: list[AffectedRow] = []
    for product, product_problem in _products(cell["product"].lines):
        problem = "; ".join(p for p in (product_problem, *version_problems) if p) or None
        if problem:
            warnings.append(f"row {product!r} / {affected!r} kept but flagged: {problem}")
        if cves == (None,) and len(context) > 1:
            warnings.append(f"row {product!r} names none of {', '.join(context)}")
        out.extend(AffectedRow(product, cve, affected, fixed, problem) for cve in cves)
    return out


def _products(lines: tuple[str, ...]) -> list[tuple[str, str | None]]:
    out = [entry for line in lines for entry in _product_line(line)]
    return out or [("", "no product named")]


@lru_cache(maxsize=4096)
def _product_line(line: str) -> tuple[tuple[str, str | None], ...]:
    try:
        return tuple((p.raw, None) for p in parse_patterns(line))
    except (PatternError, ModelError) as exc:
        return ((line, str(exc)),)


@lru_cache(maxsize=4096)
def _version_problems(affected: str, fixed: str) -> tuple[str, ...]:
    problems = [] if affected else ["no affected versions given"]
    try:
        if affected:
            parse_affected(affected)
    except AffectedParseError as exc:
        problems.append(str(exc))
    try:
        parse_fixed(fixed)
    except VersionError as exc:
        problems.append(str(exc))
    return tuple(problems)


# --- scores and summary -------------------------------------------------------------------------


def _scores(
    lines: list[str], cve_ids: tuple[str, ...], warnings: list[str]
) -> dict[str, tuple[CvssScore, ...]]:
    """CVSS scores per CVE from the scoring lines: per CVE, or one group for all."""
    hits = [i for i, line in enumerate(lines) if _SCORE_LINE.search(line)]
    groups: list[tuple[list[str], str | None, str | None]] = []
    if hits:
        start = hits[0]
        while start > 0 and _cve_only(lines[start - 1]):
            start -= 1
        cves: list[str] = []
        said: str | None = None
        vec: str | None = None
        for m in _TOKENS.finditer("\n".join(lines[start : hits[-1] + 1])):
            if (m["cve"] and cves and (vec or said)) or (m["vec"] and vec) or (m["said"] and vec):
                groups.append((cves, said, vec))
                cves, said, vec = [], None, None
            if m["cve"]:
                cves.append(m["cve"].upper())
            elif m["vec"]:
                vec = m["vec"]
            elif said is None:
                said = m["said"]
        groups.append((cves, said, vec))
    found: dict[str, tuple[CvssScore, ...]] = {}
    for named, said, vec in groups:
        targets = named or (list(cve_ids) if len(groups) == 1 else [])
        if vec is None or not targets:
            if vec is not None:
                warnings.append(f"a CVSS vector names no CVE: {vec}")
            continue
        try:
            score = score_vector(vec)
        except ScoreError as exc:
            warnings.append(str(exc))
            continue
        for cve in targets:
            if said is not None and abs(float(said) - score.base_score) > 0.05:
                warnings.append(
                    f"{cve}: the page states base score {said} but {score.vector} computes"
                    f" {score.base_score}; using {score.base_score}"
                )
            found.setdefault(cve, (score,))
    warnings.extend(f"{c}: no usable CVSS vector on the page" for c in cve_ids if c not in found)
    return found


def _cve_only(line: str) -> bool:
    rest = _CVE_LABEL.sub("", line)
    return bool(find_cves(line)) and not rest


def _summary(lines: list[str], title: str) -> str:
    """The summary/overview paragraph, normalised and capped; else the first long line."""
    picked: list[str] = []
    for i, line in enumerate(lines):
        if m := _SUMMARY.match(line):
            picked = [m["rest"] or ""]
            for nxt in lines[i + 1 :]:
                if _SECTION.match(nxt) or " | " in nxt or _SUMMARY.match(nxt):
                    break
                picked.append(nxt)
            break
    text = normalize_text(" ".join(picked))
    if not text:
        long = (ln for ln in lines if len(ln) >= 80 and " | " not in ln and ln != title)
        text = next((ln for ln in long if not _SECTION.match(ln)), "")
    if len(text) > _SUMMARY_CAP:
        text = text[:_SUMMARY_CAP].rsplit(" ", 1)[0] + "…"
    return text
