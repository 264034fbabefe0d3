"""Hikvision model numbers: canonical keys and product patterns from advisories.

LTS families (which models the policy covers) live in `bot.families`.

Pure code: text in, data out. Pattern grammar (advisory "Product Name" cells and firmware
"Applied to" lists), decided here and relied on by matching:

* Entries in a cell are separated by newlines, ``,``, ``、`` and ``;``.
* Lowercase ``x`` is a digit wildcard; uppercase ``X`` is always the letter (``NXI``, ``/X``).
  A run of ``x`` standing between two letters (``Nxi``) or forming a whole segment (``/x``) is
  the letter X too; any other run is a wildcard (``3xx1``, ``96xxxNI``, ``-Ix``, ``/xxP``).
  Inside a segment a run stands for exactly that many digits (``DS-2CD3xx1G2``). At a segment
  end (end, ``-``, ``/``, ``(``, ``)``) it stands for one or more digits (``-Ix`` = ``-I8``,
  ``-I16``); a run of two or more after a digit may also be exactly that many digits followed
  by the rest of the segment, letters first (``DS-2CD7xxx`` = ``DS-2CD7526G0``, while
  ``DS-96xxx`` never matches ``DS-9664NI``).
  An entry written wholly in lowercase carries no case signal, so there every wildcard
  position also accepts the letter X (``ds-2xd…`` still matches ``DS-2XD…``).
* ``A/B`` parts: a part of digits (``DS-A71024/48/72R``) replaces that many trailing digits
  of the first item and is a new list item; text after the run's last number is shared, and
  optional on the earlier items (``DS-A71024`` or ``DS-A71024R``; ``DS-A71024/48R-CVS`` covers
  ``DS-A71024R-CVS``). PoE/LTE parts (``/8P``, ``/16P``, ``/4G``, ``/4P(B)``) and parts
  starting with a letter (``/X``, ``/SL``, ``/PA``) belong to the name, except a part with
  digits starting with the letter that starts the item's last segment: a sibling model in
  place of that segment (``DS-K1T341A/K1T341B``, ``DS-K1T671/K5671``, ``-F72/F43``); a part
  that is a full model (``/DS-…``) is another item.
* Every bracket group is optional and may be written with or without its brackets:
  ``-LIZS(U)`` matches ``-LIZS``, ``-LIZSU`` and ``-LIZS(U)``. Lens specs like ``(2.8mm)``
  are dropped. ``… including(D)、(E)、(B)`` adds variants written on devices as a bracket
  suffix of the full name (``DS-2CD1023G0-I(D)``); the letter without brackets is not taken.
* Tolerated typos: any case, stray spaces, doubled hyphens, en/em dashes, full-width forms,
  a trailing "series". Prose (``cameras``, ``and``) or an entry without digits raises
  PatternError, except product names (HikCentral, Hik-…, iVMS): words joined, no wildcards.
* ``matches``: the pattern covers the whole normalized model or a head of it followed by
  ``-``, ``/`` or ``(``; a family name (one with a wildcard) ending in a letter also covers a
  head of it followed by a count ending the segment, as the vendor names series: ``DS-76xxNI-I``
  (the I-series) covers ``DS-7608NI-I2/8P`` and ``DS-7632NI-I16``, never ``DS-7608NI-IU``; a
  plain model does not (``DS-7608NI-I`` is not ``DS-7608NI-I2``). ``matches_exact``: the whole
  model (plus a listed variant) only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache


class ModelError(ValueError):
    """A model number that cannot be read."""


class PatternError(ValueError):
    """A product entry that cannot be understood."""


_TRANSLATE = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"), "-")
_TRANSLATE.update(dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), ""))
_LENS = re.compile(r"\(\s*\d+(?:\.\d+)?(?:\s*[-/~]\s*\d+(?:\.\d+)?)*\s*mm\s*\)", re.IGNORECASE)
# A lens spec after the model without brackets, as inventories write it ("DS-2CD2143G2-I 2.8mm"):
# the space before it is what tells it from the model (glued, it would read as part of the name).
_LOOSE_LENS = re.compile(r"\s+\d+(?:\.\d+)?(?:\s*[-/~]\s*\d+(?:\.\d+)?)*\s*mm\s*\Z", re.IGNORECASE)
_BAD_CHAR = re.compile(r"[^A-Za-z0-9\-/().+_]")
_VARIANT = r"\(\s*[A-Za-z0-9.+_-]{1,12}\s*\)"
_INCLUDING = re.compile(
    rf"(?:including|includes|include|incl\.?|包括|含)\s*:?\s*"
    rf"({_VARIANT}(?:\s*(?:[、,/&]|\band\b|\bor\b)?\s*{_VARIANT})*)",
    re.IGNORECASE,
)
_SERIES = re.compile(r"\bseries\b", re.IGNORECASE)
_HIKCENTRAL = re.compile(r"hikcentral", re.IGNORECASE)
_PRODUCT = re.compile(r"(?:hik(?!vision)|ivms|hilook|hiwatch)", re.IGNORECASE)
_FULL_MODEL = re.compile(r"[A-Za-z]{1,5}-[A-Za-z0-9]")
_PORTS = re.compile(r"\d+[PG](?:\([^()]*\))*", re.IGNORECASE)  # /8P, /4G, /4P(B)
_SHARED = re.compile(r"[A-Za-z][A-Za-z0-9-]*")  # the name text after a listed number (72R)
_EDGES = ("", "-", "/", "(", ")")
_TAIL = r"(?:[-/(].*)?"
_COUNT = re.compile(r"\d+(?:[-/(]|\Z)")  # digits ending a segment: a count (`_Compiled.counts`)
_TRIM = " \t-•·*"
_FLAT_BRACKETS = re.compile(r"[^()]*(?:\([^()]+\)[^()]*)*")  # balanced, not nested, not empty
_HYPHENS = re.compile(r"-{2,}")
_DIGIT = re.compile(r"\d")
# An item in chunks: a bracket group, a run of x, or literal text (without wildcards: no x runs).
_CHUNKS = re.compile(r"\([^)]*\)|x+|[^x(]+")
_PLAIN_CHUNKS = re.compile(r"\([^)]*\)|[^(]+")


def _clean(text: str) -> str:
    """Fold full-width forms, dashes and invisible characters to plain ASCII punctuation."""
    if text.isascii():  # NFKC leaves ASCII as it is, and _TRANSLATE maps no ASCII character
        return text
    return unicodedata.normalize("NFKC", text).translate(_TRANSLATE)


def _check_shape(text: str, original: str, error: type[ValueError]) -> None:
    """Raise `error` unless `text` has model characters, a leading letter and flat brackets."""
    if not text:
        raise error(f"empty model number (got {original!r})")
    if bad := _BAD_CHAR.search(text):
        raise error(f"{original!r}: unexpected {bad.group()!r}; use letters, digits, - / ( ) . _ +")
    if not text[0].isalpha():
        raise error(f"{original!r}: a model number starts with a letter")
    if ("(" in text or ")" in text) and not _FLAT_BRACKETS.fullmatch(text):
        raise error(f"{original!r}: brackets are unbalanced, nested or empty")


def normalize_model(text: str) -> str:
    """Return the canonical key of a model: ASCII, uppercase, no spaces, no lens spec (in
    brackets, or after a space at the end: ``DS-2CD2143G2-I 2.8mm``)."""
    return _normalize(text)


@lru_cache(maxsize=1 << 16)  # a large fleet has tens of thousands of distinct models
def _normalize(text: str) -> str:
    key = "".join(_LOOSE_LENS.sub("", _clean(text)).split())
    while (shorter := _LENS.sub("", key)) != key:
        key = shorter
    key = _HYPHENS.sub("-", key.upper()).rstrip("-.")
    _check_shape(key, text, ModelError)
    return key


def shown_model(text: str) -> str:
    """`display_model`, or the text as it is when it cannot be read as a model."""
    try:
        return display_model(text)
    except ModelError:
        return text


def display_model(text: str) -> str:
    """Return a model number as the vendor writes it (``iDS-…``, ``HikCentral …``)."""
    key = normalize_model(text)
    if key.startswith("IDS-"):
        return "i" + key[1:]
    spaced = " ".join(_clean(text).split())
    if key.startswith("HIKCENTRAL") and (name := _HIKCENTRAL.match(spaced)):
        return "HikCentral" + spaced[name.end() :]
    return key


def _x_run(n: int, prev: str, nxt: str, ambiguous: bool) -> str | None:
    """Return the regex for a run of n lowercase x, or None when the run is the letter X."""
    prev_edge, next_edge = prev in _EDGES, nxt in _EDGES
    if (prev_edge and next_edge) or (prev.isalpha() and nxt.isalpha()):
        return None
    if not next_edge:
        digits = rf"\d{{{n}}}"
    elif prev.isdigit() and n >= 2:
        digits = rf"(?:\d+(?=[-/()]|\Z)|\d{{{n}}}(?!\d)[A-Z._+][A-Z0-9._+]*)"
    else:
        digits = r"\d+"
    return rf"(?:{digits}|X{{{n}}})" if ambiguous else digits


# A pattern whose model part only has fixed text, fixed-width digit runs and optional bracket
# groups is listed in full (``DS-2CD2xx3G2`` is 100 texts, ``-I(S)`` three) so that matching
# needs no regex; longer lists are not made.
_MAX_HEADS = 1000
_FILLS = {n: [f"{d:0{n}d}" for d in range(10**n)] for n in (1, 2, 3)}


def _scan(item: str, wild: bool, ambiguous: bool) -> tuple[str, str, int, int, list[str], bool]:
    """Return (regex, literal prefix, wildcard x count, bracket groups, heads, listed).

    ``heads`` are texts one of which every match starts with: the literal prefix with the
    fixed-width digit runs and optional bracket groups after it written out. ``listed`` tells
    whether they are the whole item, i.e. whether the expansion reached its end without a run of
    one or more digits at a segment end, a bracket group that is not listed itself, or more than
    _MAX_HEADS texts.
    """
    out: list[str] = []
    prefix: list[str] = []
    fixed = True  # still inside the literal prefix
    heads: list[str] = [""]
    tail: list[str] = []  # literal text to add to every head (added when the heads branch)
    listing = True  # heads still follow the item exactly
    runs = groups = 0
    for chunk in (_CHUNKS if wild else _PLAIN_CHUNKS).finditer(item):
        text, start, end = chunk.group(), chunk.start(), chunk.end()
        if text[0] == "(":
            inner, _, inner_runs, _, inner_heads, inner_listed = _scan(text[1:-1], wild, ambiguous)
            out.append(rf"(?:\({inner}\)|{inner})?")
            runs, groups, fixed = runs + inner_runs, groups + 1, False
            # Optional: absent, or one of the inner texts with or without its brackets.
            options = ["", *inner_heads, *(f"({h})" for h in inner_heads)]
            if listing and inner_listed and len(heads) * len(options) <= _MAX_HEADS:
                done = "".join(tail)
                heads, tail = [h + done + o for h in heads for o in options], []
            else:
                listing = False
            continue
        if wild and text[0] == "x":
            n = end - start
            regex = _x_run(n, item[start - 1 : start], item[end : end + 1], ambiguous)
            if regex is not None:
                out.append(regex)
                runs, fixed = runs + n, False
                fills = _FILLS.get(n, [])
                if ambiguous:
                    fills = [*fills, "X" * n]
                if listing and item[end : end + 1] not in _EDGES and fills and (
                    len(heads) * len(fills) <= _MAX_HEADS
                ):
                    done = "".join(tail)
                    heads, tail = [h + done + f for h in heads for f in fills], []
                else:
                    listing = False
                continue
        literal = text.upper()
        out.append(re.escape(literal))
        if fixed:
            prefix.append(literal)
        if listing:
            tail.append(literal)
    done = "".join(tail)
    return "".join(out), "".join(prefix), runs, groups, [h + done for h in heads], listing


def _expand_slashes(text: str, raw: str) -> list[str]:
    """Split ``A/B`` parts into list items (``DS-A71024/48/72R``) or keep them in the name."""
    if "/" not in text:
        return [text]
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "/" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    items, first = [parts[0]], parts[0]
    numbered: list[int] = []  # items of the current run of number parts, without the shared text
    shared = ""
    for part in parts[1:]:
        if not part:
            raise PatternError(f"cannot read {raw!r}: empty part between slashes")
        if _FULL_MODEL.match(part):
            items.append(part)
            first = part
        elif part[0].isdigit() and not _PORTS.fullmatch(part):
            tail = re.search(r"\d+$", first)
            lead = re.match(r"\d+", part)
            if tail is None or lead is None:
                raise PatternError(f"cannot read {raw!r}: {part!r} follows no number to replace")
            if not numbered or items[numbered[-1]] is not items[-1]:
                numbered = [len(items) - 1]
            items.append(first[: max(tail.start(), len(first) - lead.end())] + part)
            shared = part[lead.end() :]
            if shared:  # ``24/48/72R``: R names every item; earlier ones may be written without
                if _SHARED.fullmatch(shared):
                    for i in numbered:
                        items[i] += f"({shared})"
                numbered = []
            else:
                numbered.append(len(items) - 1)
        elif _sibling(first, part):
            items.append(first[: first.rindex("-") + 1] + part)
        else:
            items[-1] += "/" + part
    return items


def _sibling(first: str, part: str) -> bool:
    """Whether ``part`` names a sibling of ``first`` in place of its last segment.

    ``DS-K1T341A/K1T341B``, ``DS-K1T671/K5671``, ``DS-K1T6QT-F72/F43``: the part starts with the
    letter that starts the last segment and has digits; ``/X``, ``/SL``, ``/PA`` and ``/C36S80``
    after ``-IZS`` stay in the name.
    """
    if "-" not in first or not part[0].isalpha() or not _DIGIT.search(part):
        return False
    segment = first[first.rindex("-") + 1 :]
    return bool(segment) and segment[0].upper() == part[0].upper() and "(" not in part


class _Compiled:
    """One parsed entry: its regexes (compiled on first use) and what look-ups need.

    ``heads`` are texts one of which every matching model starts with. When ``listed``, they are
    every text the entry's model part can be, so matching is a set look-up and no regex is ever
    compiled (compiling costs far more than matching, and an advisory feed has tens of thousands
    of distinct entries).
    """

    __slots__ = ("_body", "_exact", "_loose", "counts", "heads", "lengths", "listed", "model",
                 "prefix", "wildcards")

    def __init__(
        self,
        body: str,
        prefix: str,
        wildcards: int,
        model: str | None,
        heads: frozenset[str],
        listed: bool,
        counts: bool = False,
    ) -> None:
        self._body = body
        self.counts = counts
        self._loose: re.Pattern[str] | None = None
        self._exact: re.Pattern[str] | None = None
        self.prefix = prefix
        self.wildcards = wildcards
        self.model = model
        self.heads = heads
        self.listed = listed
        self.lengths = tuple(sorted(set(map(len, heads))))

    @property
    def loose(self) -> re.Pattern[str]:
        if self._loose is None:
            self._loose = re.compile(self._body + (r"\d*" if self.counts else "") + _TAIL)
        return self._loose

    @property
    def exact(self) -> re.Pattern[str]:
        if self._exact is None:
            self._exact = re.compile(self._body)
        return self._exact

    def matches(self, key: str) -> bool:
        if not self.listed:
            return self.loose.fullmatch(key) is not None
        for n in self.lengths:  # the whole key, or a head of it followed by - / or (
            if key[:n] in self.heads and (
                len(key) == n or key[n] in "-/(" or (self.counts and _COUNT.match(key, n))
            ):
                return True
        return False

    def matches_exact(self, key: str) -> bool:
        if not self.listed:
            return self.exact.fullmatch(key) is not None
        return key in self.heads


# An entry that is one plain model number in capitals (``DS-2CD2143G2-IS``, ``iDS-7716NXI``):
# no wildcard, bracket, slash, space or doubled hyphen, a digit, a letter first and last a
# letter or digit. Over a third of a big feed's entries; `_compile` reads them in one step.
# ASCII digits only: ``\d`` would take a full-width digit (U+FF12) as it is, which `_read` folds.
_PLAIN_MODEL = re.compile(
    r"(?!HIK|IVMS|HILOOK|HIWATCH|.*SERIES|.*--)(?:iDS-|[A-Z])(?:[A-Z.+_]|-(?!-))*[0-9]"
    r"(?:[A-Z0-9.+_]|-(?!-))*(?<=[A-Z0-9+_])"
)


@lru_cache(maxsize=1 << 16)  # one entry per distinct product entry of every advisory and release
def _compile(raw: str) -> _Compiled:
    """Parse one entry; raise PatternError when it cannot be understood."""
    text = raw.strip(_TRIM)
    if _PLAIN_MODEL.fullmatch(text) and len(text) > 3:
        key = text.upper()  # what `_read` gives for such an entry
        return _Compiled(f"(?:{re.escape(key)})", key, 0, key, frozenset((key,)), True)
    return _read(raw)


def _read(raw: str) -> _Compiled:
    """`_compile` of any entry, read part by part."""
    text = _clean(raw).strip(_TRIM)
    variants: list[str] = []
    # The regexes below run only when their cue is there: most entries are one plain word.
    lower = text.lower()
    if ("nc" in lower or not text.isascii()) and (note := _INCLUDING.search(text)):
        if text[note.end() :].strip():
            raise PatternError(f"cannot read {raw!r}: text after the 'including' note")
        variants = [v.strip("( )").upper() for v in re.findall(_VARIANT, note.group(1))]
        text = text[: note.start()]
        lower = text.lower()
    ascii_only = text.isascii()  # else case-insensitive regexes may match more (dotted I)
    if "mm" in lower or not ascii_only:
        text = _LENS.sub(" ", text)
    words = (_SERIES.sub(" ", text) if "series" in lower or not ascii_only else text).split()
    product = bool(words) and bool(_PRODUCT.match(words[0]))
    for word in words[1:]:
        if not product and word.isalpha() and (len(word) >= 4 or not word.isupper()):
            raise PatternError(f"cannot read {raw!r}: {word!r} is not part of a model number")
    text = "".join(words)
    if "--" in text:
        text = _HYPHENS.sub("-", text)
    text = text.rstrip("-.")
    _check_shape(text, raw, PatternError)
    if not product and not _DIGIT.search(text):
        raise PatternError(f"cannot read {raw!r}: no digits, so not a model number")
    rest = text.removeprefix("iDS-")
    ambiguous = rest == rest.lower()  # no uppercase letter (the text is ASCII by now)
    regexes, prefixes, runs, groups = [], [], 0, 0
    heads: list[str] = []
    listed = not variants  # a variant note adds optional text to the exact form
    items = _expand_slashes(text, raw)
    for item in items:
        regex, prefix, item_runs, item_groups, item_heads, item_listed = _scan(
            item, not product, ambiguous
        )
        if len(prefix) < 3:
            raise PatternError(f"cannot read {raw!r}: too little fixed text before a wildcard")
        regexes.append(regex)
        prefixes.append(prefix)
        heads += item_heads
        listed = listed and item_listed
        runs, groups = runs + item_runs, groups + item_groups
    body = "(?:" + "|".join(regexes) + ")"
    if variants:
        body += r"(?:\((?:" + "|".join(map(re.escape, variants)) + r")\))?"
    head = prefixes[0]
    while not all(p.startswith(head) for p in prefixes):
        head = head[:-1]
    plain = runs == 0 and len(items) == 1 and not variants
    # A family name ending in a letter (``DS-76xxNI-I``, the I-series) covers the counts the
    # vendor appends to that letter (``DS-7608NI-I2/8P``: two disks); a plain model does not.
    counts = runs > 0 and not variants and text[-1].isalpha()
    return _Compiled(
        body,
        prefix=head,
        wildcards=runs + groups + bool(variants),
        model=normalize_model(text) if plain else None,
        heads=frozenset(heads),
        listed=listed,
        counts=counts,
    )


@dataclass(frozen=True)
class ModelPattern:
    """One product entry from an advisory table or a firmware "Applied to" list."""

    raw: str

    def __post_init__(self) -> None:
        _compile(self.raw)

    def matches(self, model: str) -> bool:
        """Return whether the pattern covers the model or a head of it (ModelError if malformed)."""
        return _compile(self.raw).matches(normalize_model(model))

    def matches_exact(self, model: str) -> bool:
        """Return whether the pattern names exactly this model (no extra trailing segments)."""
        return _compile(self.raw).matches_exact(normalize_model(model))

    def literal_prefix(self) -> str:
        """Return the normalized text every matching model starts with."""
        return _compile(self.raw).prefix

    def heads(self) -> frozenset[str]:
        """Return texts one of which every matching model starts with.

        The literal prefix, with fixed-width digit wildcards written out (``DS-2CD21x3G2``
        gives ``DS-2CD2103G2`` … ``DS-2CD2193G2``) and optional bracket groups in each of
        their forms, as long as the list stays short.
        """
        return _compile(self.raw).heads

    def listed(self) -> bool:
        """Return whether `heads` lists every text the entry's model part can be.

        Then a model matches exactly when it is one of the heads, and loosely when it is one
        or starts with one followed by ``-``, ``/`` or ``(``; no regex is needed.
        """
        return _compile(self.raw).listed

    def takes_counts(self) -> bool:
        """Return whether the entry is a family name ending in a letter, which also covers
        models with a count after it (``DS-76xxNI-I`` covers ``DS-7608NI-I2/8P``)."""
        return _compile(self.raw).counts

    def wildcard_count(self) -> int:
        """Return how many wildcard x, optional brackets and variant notes the entry has."""
        return _compile(self.raw).wildcards

    def as_model(self) -> str | None:
        """Return the normalized model if the entry is one plain model number, else None."""
        return _compile(self.raw).model


def model_like(text: str) -> bool:
    """Whether ``text`` can name a device: a model number (it has digits) or a software
    product's name (HikCentral, iVMS); ``unknown`` or ``N/A`` cannot."""
    return any(ch.isdigit() for ch in text) or _PRODUCT.match(text.strip()) is not None


def _split_entries(line: str) -> list[str]:
    """Split a line at top-level ``,``, ``、`` and ``;``, keeping "including" notes whole."""
    if "," not in line and "、" not in line and ";" not in line:
        return [line]
    notes = [m.span() for m in _INCLUDING.finditer(line)]
    entries, depth, start = [], 0, 0
    for i, ch in enumerate(line):
        depth += (ch == "(") - (ch == ")")
        if ch in ",、;" and depth == 0 and not any(a <= i < b for a, b in notes):
            entries.append(line[start:i])
            start = i + 1
    entries.append(line[start:])
    return entries


def parse_patterns(text: str) -> list[ModelPattern]:
    """Read a product cell into patterns; raise PatternError quoting an entry it cannot read."""
    entries = (e.strip(_TRIM) for line in _clean(text).splitlines() for e in _split_entries(line))
    return [ModelPattern(entry) for entry in entries if entry]
