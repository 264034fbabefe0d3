"""Untrusted HTML reduced to lines of text, and the dates vendors write (pure).

One walker for advisory pages, feed-entry bodies and firmware package pages. selectolax (lexbor)
parses; scripts, styles, templates, navigation, footers, asides and hidden elements are dropped;
block elements and ``<br>`` end lines; whitespace is normalised. A table row is either one line
with its cells joined by " | " (``rows=True``, for the advisory tables) or a line per cell. The
walk is iterative, so deeply nested markup cannot exhaust the call stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.items import normalize_text

DROP = frozenset(re.findall(
    r"\w+", "script style noscript template head title iframe object nav footer aside"
))  # fmt: skip
BLOCK = frozenset(re.findall(
    r"\w+",
    "html body main article section header footer nav aside div p h1 h2 h3 h4 h5 h6 ul ol li dl"
    " dt dd table thead tbody tfoot tr td th caption blockquote pre hr figure figcaption address"
    " details fieldset form br",
))  # fmt: skip
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_MAX_DEPTH = 8  # tables nested deeper than this are read as plain text
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")  # as str.splitlines

_MON = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_MONTHS = re.findall(r"\w+", "jan feb mar apr may jun jul aug sep oct nov dec")
_YMD = r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})(?!\d)"
_MDY = rf"\b(?P<mon>{_MON})\.?\s*(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y2>\d{{4}})"
_DMY = rf"(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?\s+\b(?P<mon3>{_MON})\.?,?\s+(?P<y3>\d{{4}})"
_DATE = re.compile(f"{_YMD}|{_MDY}|{_DMY}", re.I)
_BY_FORM = tuple(re.compile(form, re.I) for form in (_YMD, _DMY, _MDY))
_NUMERIC = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?!\d)")
_TAG_START = re.compile(r"<!--|<(/?)(html|table|script|style|textarea|title)(?=[\s/>])", re.I)
_RAW_TEXT = {  # elements whose content is text up to their end tag: no markup is read in them
    name: re.compile(rf"</{name}(?=[\s/>])", re.I)
    for name in ("script", "style", "textarea", "title")
}


@dataclass(frozen=True)
class PageText:
    """HTML reduced to text lines, with its links (href resolved, anchor text) and first h1."""

    lines: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    heading: str = ""


def html_to_text(html: str, base_url: str = "") -> PageText:
    """Reduce untrusted HTML to lines (a line per table cell), its ``<a>`` links and its h1."""
    doc = HtmlDoc(html)
    links: list[tuple[str, str]] = []
    lines = doc.lines(doc.body, rows=False, keep_newlines=True, links=links, base=base_url)
    return PageText(tuple(lines), tuple(links), doc.heading())


class HtmlDoc:
    """A parsed document: its hidden elements and each table cell's lines, computed once."""

    def __init__(self, html: str) -> None:
        self.tree = LexborHTMLParser(html)
        self.body: LexborNode | None = self.tree.body or self.tree.root
        nodes = self.body.css("[hidden], [style]") if self.body is not None else []
        self.hidden = {
            n.mem_id
            for n in nodes
            if "hidden" in n.attrs or _HIDDEN_STYLE.search(n.attrs.get("style") or "")
        }
        self._cells: dict[int, tuple[str, ...]] = {}

    def skipped(self, node: LexborNode) -> bool:
        """Whether the walk leaves out ``node`` and everything in it."""
        return node.tag in DROP or node.mem_id in self.hidden

    def visible(self, node: LexborNode | None) -> bool:
        """Whether no ancestor of ``node`` (or itself) is left out."""
        while node is not None and node.is_element_node:
            if self.skipped(node):
                return False
            node = node.parent
        return True

    def cell_lines(self, cell: LexborNode, depth: int = 0) -> tuple[str, ...]:
        """A table cell's lines; line breaks in its source text separate entries too."""
        if (lines := self._cells.get(cell.mem_id)) is None:
            if depth >= _MAX_DEPTH:
                lines = (normalize_text(cell.text(separator=" ")),)
            else:
                lines = tuple(self.lines(cell, keep_newlines=True, depth=depth + 1))
            self._cells[cell.mem_id] = lines
        return lines

    def lines(
        self,
        root: LexborNode | None,
        *,
        rows: bool = True,
        keep_newlines: bool = False,
        depth: int = 0,
        links: list[tuple[str, str]] | None = None,
        base: str = "",
    ) -> list[str]:
        """Reduce a subtree to normalised lines; ``links`` collects (resolved href, text)."""
        lines: list[str] = []
        buf: list[str] = []

        def flush() -> None:
            if line := normalize_text("".join(buf)):
                lines.append(line)
            buf.clear()

        stack: list[LexborNode | None] = [root] if root is not None else []
        while stack:
            node = stack.pop()
            if node is None:  # the end of a block element
                flush()
            elif node.is_text_node:
                text = node.text_content or ""
                if keep_newlines:
                    *done, text = _LINE_BREAK.split(text)
                    for part in done:
                        buf.append(part)
                        flush()
                buf.append(text)
            elif not node.is_element_node or self.skipped(node):
                continue
            elif rows and node.tag == "tr":
                flush()
                cells = (self.cell_lines(c, depth) for c in node.iter() if c.tag in ("td", "th"))
                if row := " | ".join(" ".join(c) for c in cells if c):
                    lines.append(row)
            else:
                href = (node.attributes.get("href") or "").strip() if node.tag == "a" else ""
                if links is not None and href:
                    links.append((urljoin(base, href), normalize_text(node.text())))
                if node.tag in BLOCK:
                    flush()
                    stack.append(None)
                stack.extend(reversed(list(node.iter(include_text=True))))
        flush()
        return lines

    def heading(self) -> str:
        """The text of the first visible h1, or ""."""
        found = self.body.css("h1") if self.body is not None else []
        texts = (" ".join(self.lines(h1)) for h1 in found if self.visible(h1))
        return next((t for t in texts if t), "")


def cut_off(html: str) -> str | None:
    """Why a whole HTML page looks cut off, else None ("ends inside a table (no </table>, …)").

    A page that opens ``<html>`` must reach ``</html>``; one that does is whole, whatever follows
    it and however loose its markup. A page without ``<html>`` (a fragment) looks cut off when
    it ends inside a ``<table>``. Comments and script, style, textarea and title text are skipped,
    so a ``</html>`` written inside them does not count. Linear in the length of the page.
    """
    opened = closed = False
    tables = 0
    inside = ""
    pos = 0
    while (m := _TAG_START.search(html, pos)) is not None:
        if m[0] == "<!--":
            end = html.find("-->", m.end())
            if end == -1:
                inside = "a comment"
                break
            pos = end + 3
            continue
        pos = m.end()
        name = m[2].lower()
        if m[1]:  # an end tag
            if name == "html":
                closed = True
            elif name == "table":
                tables = max(tables - 1, 0)
        elif name == "html":
            opened = True
        elif name == "table":
            tables += 1
        elif (raw := _RAW_TEXT.get(name)) is not None:
            if (end_tag := raw.search(html, pos)) is None:
                inside = f"a <{name}> element"
                break
            pos = end_tag.end()
    if closed or not (opened or tables):
        return None
    if tables:
        inside = "a table"
    if not inside:
        return "ends without its closing </html>"
    missing = [*(["</table>"] if tables else []), *(["</html>"] if opened else [])]
    return f"ends inside {inside} (no {', no '.join(missing)})"


def find_date(text: str) -> date | None:
    """The first date in a text, in any form vendors use (2024-01-10, January 10, 2024, …)."""
    return next((d for m in _DATE.finditer(text) if (d := _to_date(m))), None)


def date_at(text: str, pos: int) -> date | None:
    """The date that starts at ``pos`` in ``text``, if one does."""
    m = _DATE.match(text, pos)
    return _to_date(m) if m else None


def parse_date(text: str) -> date | None:
    """Read a date field: 2025-01-13, 2025/1/13, 20250113, 13 January 2025, Jan 13, 2025, 13/1/2025.

    Forms are tried in that order; day and month written as numbers are told apart only when
    one of them is over 12 (or both are the same).
    """
    text = normalize_text(text)
    if re.fullmatch(r"\d{8}", text):
        return _date(int(text[:4]), int(text[4:6]), int(text[6:]))
    for form in _BY_FORM:
        if m := form.search(text):
            return _to_date(m)
    if m := _NUMERIC.search(text):
        a, b = int(m[1]), int(m[2])
        if a > 12 >= b or a == b:
            return _date(int(m[3]), b, a)
        if b > 12 >= a:
            return _date(int(m[3]), a, b)
    return None


def _to_date(m: re.Match[str]) -> date | None:
    g = m.groupdict()
    if g.get("y"):
        return _date(int(g["y"]), int(g["m"]), int(g["d"]))
    month = _MONTHS.index((g.get("mon") or g["mon3"])[:3].lower()) + 1
    return _date(int(g.get("y2") or g["y3"]), month, int(g.get("d2") or g["d3"]))


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
