"""Firmware version grammar, ordering and the affected-version rules found in advisories."""

from __future__ import annotations

import bisect
import datetime
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

_NUM = r"\d{1,9}"
_VER = rf"v?{_NUM}(?:\.{_NUM})*(?:-{_NUM})*(?:(?: ?build ?|_)\d{{6}}(?:\d{{2}})?)?"
_WILD = rf"v?{_NUM}(?:\.{_NUM})*(?:\.x)+"
_VERSION_RE = re.compile(
    r"v?(?P<nums>\d{1,9}(?:\.\d{1,9})*)(?P<suffix>(?:-\d{1,9})*)"
    r"(?:(?:\s*build\s*|_)(?P<build>\d{6}|\d{8}))?"
    r"(?:[\s_-]*\(?(?:jkn|ipm|dzp)[a-z0-9]*\)?)?",  # a customisation tag, see is_customised
    re.IGNORECASE | re.ASCII,
)
_CUSTOMISED_RE = re.compile(r"jkn|ipm|dzp", re.IGNORECASE)
_NOT_A_VERSION_RE = re.compile(
    r"n/?a|none|tbd|[-/\u2013\u2014]+|(?:not|no) (?:yet )?(?:fixed|fix|available)"
    r"|not applicable|no fix (?:is )?(?:yet )?available"
    r"|contact .*|to be (?:released|determined|announced).*|no fixed version.*|"
)
_LATER_RE = re.compile(
    r"\s*,?\s*(?:and|or)\s+(?:the\s+)?(?:later|above|newer|higher)(?:\s+versions?)?$", re.IGNORECASE
)


_WILD_RE = re.compile(_WILD, re.IGNORECASE)
_DIGITS_RE = re.compile(r"\d+")
_SPACES_RE = re.compile(r"\s+")
_OPERATOR_RE = re.compile(r"\s*(<=|>=|<|>)\s*")
_OPEN_RE = re.compile(r"\s*\(\s*")
_CLOSE_RE = re.compile(r"\s*\)")


class VersionError(ValueError):
    """A firmware version string that cannot be parsed."""


class AffectedParseError(ValueError):
    """An affected-versions phrase that cannot be parsed."""


def _build_date(text: str) -> datetime.date:
    digits = text.replace("-", "")
    year = int(digits[:4]) if len(digits) == 8 else 2000 + int(digits[:2])
    try:
        return datetime.date(year, int(digits[-4:-2]), int(digits[-2:]))
    except ValueError:
        raise ValueError(f"{text} is not a valid build date (expected YYMMDD)") from None


def _format_build(day: datetime.date) -> str:
    if 2000 <= day.year <= 2099:
        return day.strftime("%y%m%d")
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _scan(text: str) -> tuple[list[str], list[str], str | None] | None:
    """Split a version string into number texts, suffix texts and build digits."""
    m = _VERSION_RE.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if m is None:
        return None
    nums = m["nums"].split(".")
    build = m["build"]
    if build is None and len(nums) >= 3 and len(nums[-1]) == 8:  # HikCentral 2.6.0.20240511
        nums, build = nums[:-1], nums[-1]
    suffix = [s for s in m["suffix"].split("-") if s]
    if build is None and len(suffix) == 1 and len(suffix[0]) == 6 and _is_day(suffix[0]):
        build, suffix = suffix[0], []  # V5.7.13-230822: a build date, not patch 230822
    return nums, suffix, build


def _is_day(digits: str) -> bool:
    """Whether six digits are a YYMMDD date (a build written after a hyphen)."""
    try:
        _build_date(digits)
    except ValueError:
        return False
    return True


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A firmware version: numbers, optional -N suffix and optional build date."""

    raw: str
    numbers: tuple[int, ...]
    suffix: tuple[int, ...] = ()
    build: datetime.date | None = None

    def __post_init__(self) -> None:
        if not self.numbers or min(self.numbers + self.suffix) < 0:
            raise VersionError(f"firmware version {self.raw!r} needs non-negative numbers")

    def sort_key(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Key of the total order: numbers without trailing zeros, suffix, build (none first)."""
        return self._sort_key

    @functools.cached_property
    def _sort_key(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        # Computed once per version: every comparison and hash goes through it.
        nums = self.numbers
        while len(nums) > 1 and nums[-1] == 0:
            nums = nums[:-1]
        return nums, self.suffix, () if self.build is None else (self.build.toordinal(),)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key() == other.sort_key()

    def __hash__(self) -> int:
        return hash(self.sort_key())

    def __lt__(self, other: Version) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def __str__(self) -> str:
        return self._text

    @functools.cached_property
    def _text(self) -> str:
        scanned = _scan(self.raw)
        texts = [str(n) for n in self.numbers]
        if scanned is not None and tuple(int(t) for t in scanned[0]) == self.numbers:
            texts = scanned[0]  # keep the vendor's zero padding: V4.30.000
        text = "V" + ".".join(texts) + "".join(f"-{n}" for n in self.suffix)
        return text if self.build is None else f"{text} build {_format_build(self.build)}"


def parse_version(text: str) -> Version:
    """Parse a firmware version such as 'V5.5.800 build 210628' or '2.6.0.20240511'."""
    return _parse_version(text)


@functools.lru_cache(maxsize=1 << 16)  # versions are immutable; a feed repeats its bounds a lot
def _parse_version(text: str) -> Version:
    scanned = _scan(text)
    if scanned is None:
        raise VersionError(
            f"cannot parse firmware version {text!r}: expected something like V5.5.800 build 210628"
        )
    nums, suffix, digits = scanned
    build = None
    if digits is not None:
        try:
            build = _build_date(digits)
        except ValueError as exc:
            raise VersionError(f"cannot parse firmware version {text!r}: {exc}") from None
    return Version(text, tuple(int(n) for n in nums), tuple(int(s) for s in suffix), build)


def try_parse_version(text: str | None) -> Version | None:
    """Parse a firmware version, or give None when it is missing or unparseable."""
    if text is None:
        return None
    try:
        return parse_version(text)
    except VersionError:
        return None


def is_customised(text: str) -> bool:
    """Tell whether a HikCentral version is a customised build (JKN, IPM, DZP): ask the vendor."""
    return _CUSTOMISED_RE.search(text) is not None


def _depth(bound: Version) -> int:
    """How much of a sort key a comparison with this bound looks at: numbers, suffix, build."""
    return 3 if bound.build is not None else 2 if bound.suffix else 1


def _compare_at(v: Version, bound: Version) -> int | None:
    """Compare v with bound at the bound's precision; None when v lacks the build it needs."""
    key, bkey = v.sort_key(), bound.sort_key()
    if bound.build is not None and v.build is None and key[:2] == bkey[:2]:
        return None
    depth = _depth(bound)
    a, b = key[:depth], bkey[:depth]
    return (a > b) - (a < b)


SortKey = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


class VersionOrder:
    """Distinct versions in sort order, so that a range's versions are found by bisection.

    `_compare_at` compares the first 1, 2 or 3 parts of the sort keys, so the versions at or past
    a bound are a tail of the order and those before it a head. The one exception is a bound with
    a build date against a version without one but with the same numbers and suffix, which
    `_compare_at` cannot decide: that is the single sort key (numbers, suffix, ()), reported by
    `undecided` so that callers judge it on its own.
    """

    def __init__(self, keys: Iterable[SortKey]) -> None:
        self.keys: list[SortKey] = sorted(set(keys))
        self._rank = {key: rank for rank, key in enumerate(self.keys)}
        self._heads = ([k[:1] for k in self.keys], [k[:2] for k in self.keys], self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def rank(self, v: Version) -> int:
        """The position of v's sort key (KeyError when v is not among the versions)."""
        return self._rank[v.sort_key()]

    def first_at_or_past(self, bound: Version) -> int:
        """The first rank whose versions compare >= bound (`_compare_at`), or len(self)."""
        depth = _depth(bound)
        return bisect.bisect_left(self._heads[depth - 1], bound.sort_key()[:depth])

    def first_past(self, bound: Version) -> int:
        """The first rank whose versions compare > bound (`_compare_at`), or len(self)."""
        depth = _depth(bound)
        return bisect.bisect_right(self._heads[depth - 1], bound.sort_key()[:depth])

    def undecided(self, bound: Version) -> int | None:
        """The rank of the versions `_compare_at` cannot compare with bound, if any are here."""
        if bound.build is None:
            return None
        key = bound.sort_key()
        return self._rank.get((key[0], key[1], ()))

    def span(self, rule: VersionRange) -> tuple[int, int, tuple[int, ...]]:
        """Ranks [start, end) inside the range, and ranks to judge one by one (undecided).

        Ranks in [start, end) that are not in the second item are inside; every other rank
        outside [start, end) and not in the second item is outside.
        """
        start, end, odd = 0, len(self.keys), []
        if rule.low is not None:
            low = rule.low
            start = self.first_at_or_past(low) if rule.low_inclusive else self.first_past(low)
            odd.append(self.undecided(low))
        if rule.high is not None:
            high = rule.high
            end = self.first_past(high) if rule.high_inclusive else self.first_at_or_past(high)
            odd.append(self.undecided(high))
        return start, end, tuple(sorted({r for r in odd if r is not None}))


def is_fixed(v: Version, fixed: Version) -> bool:
    """Tell whether v is at or past the fixed version, compared at the fixed version's precision.

    That is v's sort key at or past the fixed version's: the parts the fixed version lacks are
    empty in its key and sort first, and a build date it has that v lacks is undecided, which
    is not fixed (`bot.fixes` bisects sort keys on it; a test holds the two equal).
    """
    c = _compare_at(v, fixed)
    return c is not None and c >= 0


class AffectedRule(Protocol):
    """An affected-versions rule from an advisory."""

    def contains(self, v: Version) -> bool | None:
        """Tell whether v is affected; None when the rule cannot decide for v."""
        ...

    def describe(self) -> str:
        """Say in plain English which versions are affected."""
        ...


def _bound_text(v: Version) -> str:
    raw = v.raw.strip()
    return "V" + raw.lstrip("vV").upper() if _WILD_RE.fullmatch(raw) else str(v)


@dataclass(frozen=True)
class VersionRange:
    """Versions between two optional bounds, each compared at its own precision."""

    low: Version | None
    low_inclusive: bool
    high: Version | None
    high_inclusive: bool

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise ValueError("a version range needs a lower or an upper bound")
        for bound, flag in ((self.low, "low_inclusive"), (self.high, "high_inclusive")):
            if bound is None:  # an open end has no inclusivity; keep equal rules equal
                object.__setattr__(self, flag, False)
        if self.low is not None and self.high is not None:
            c = _compare_at(self.low, self.high)
            same = self.low.sort_key() == self.high.sort_key()
            if c is not None and (
                c > 0 or (c == 0 and not self.high_inclusive) or (same and not self.low_inclusive)
            ):
                raise ValueError(f"empty version range from {self.low} to {self.high}")

    def contains(self, v: Version) -> bool | None:
        """Tell whether v is inside the range; None when a bound's build date cannot be checked."""
        results: list[bool | None] = []
        if self.low is not None:
            c = _compare_at(v, self.low)
            results.append(None if c is None else c > 0 or (c == 0 and self.low_inclusive))
        if self.high is not None:
            c = _compare_at(v, self.high)
            results.append(None if c is None else c < 0 or (c == 0 and self.high_inclusive))
        return False if False in results else (None if None in results else True)

    def describe(self) -> str:
        """Say the range in plain English, e.g. 'V4.30.000 to V4.31.000 inclusive'."""
        lo = None if self.low is None else _bound_text(self.low)
        hi = None if self.high is None else _bound_text(self.high)
        if lo is None:
            return f"{hi} and earlier" if self.high_inclusive else f"below {hi}"
        if hi is None:
            return f"{lo} and later" if self.low_inclusive else f"after {lo}"
        if self.low == self.high:
            return f"{lo} only"
        if self.low_inclusive and self.high_inclusive:
            return f"{lo} to {hi} inclusive"
        upper = f"up to {'and' if self.high_inclusive else 'but not'} including {hi}"
        return f"{lo} {upper}" if self.low_inclusive else f"after {lo} {upper}"


@dataclass(frozen=True)
class BuildDateRule:
    """Versions whose build date is before a given day (a test on the build, not the version)."""

    before: datetime.date
    inclusive: bool

    def contains(self, v: Version) -> bool | None:
        """Tell whether v's build date is before the day; None when v carries no build date."""
        if v.build is None:
            return None
        return v.build < self.before or (self.inclusive and v.build == self.before)

    def describe(self) -> str:
        """Say the rule in plain English, e.g. 'build date before 2025-08-07'."""
        return f"build date {'on or before' if self.inclusive else 'before'} {self.before}"


def _clause(name: str) -> str:
    words = "not including|not included|excluding|excluded|exclusive|including|included|inclusive"
    return rf"(?: \((?P<{name}>{words})(?: (?P<{name}v>{_VER}))?\))?"


_PRE = r"(?:(?:all |affected |firmware )*versions? )?"
_LOW_WORDS = r"after|later than|above|higher than|newer than|greater than|>=|>|from|since"
_HIGH_WORDS = (
    r"below|before|prior to|earlier than|lower than|older than|less ?than ?or ?equal(?: to)?"
    r"|less ?than|up to(?: and including)?|to|<=|<"
)
_PHRASES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "build": r"(?:firmware )?builds?(?: dates?)? (?P<op>before|earlier than|prior to|<|<="
        r"|on or before|up to) (?P<day>\d{6}|\d{8}|\d{4}-\d\d-\d\d)",
        "between": rf"{_PRE}between (?P<lo>{_VER}){_clause('lc')},? and "
        rf"(?P<hi>{_VER}){_clause('hc')}",
        "range": rf"{_PRE}(?P<lk>{_LOW_WORDS}) (?P<lo>{_VER}){_clause('lc')},? (?:and |but )?"
        rf"(?P<hk>{_HIGH_WORDS}) (?P<hi>{_VER}){_clause('hc')}",
        "upper": rf"{_PRE}(?P<hk>{_HIGH_WORDS}) (?P<hi>{_VER}){_clause('hc')}",
        "lower": rf"{_PRE}(?P<lk>{_LOW_WORDS}) (?P<lo>{_VER}){_clause('lc')}",
        "prior": rf"{_PRE}(?P<hi>{_VER}),? (?:and|or) (?:the |all )?(?:versions? )?"
        r"(?:prior to it|before it|earlier|prior|previous|older|below|lower|before)"
        r"(?: versions?)?",
        "later": rf"{_PRE}(?P<lo>{_VER}),? (?:and|or) (?:the |all )?(?:versions? )?"
        r"(?:after it|later|subsequent|newer|above|higher)(?: versions?)?",
        "notation": rf"(?P<lo>{_VER}|{_WILD}) (?P<op1><=|<|less ?than ?or ?equal|less ?than) "
        rf"(?:(?:v|version|x) (?P<op2><=|<) )?(?P<hi>{_VER})",
        "inclusive": rf"{_PRE}(?P<lo>{_VER}|{_WILD}) to (?P<hi>{_VER})(?: inclusive)?",
        "upto": rf"(?P<lk>after )?(?P<lo>{_VER}|{_WILD}) (?P<hk>up to (?:and|but not) including)"
        rf" (?P<hi>{_VER})",
        "wildcard": rf"{_PRE}(?P<lo>{_WILD})",
        "exact": rf"{_PRE}(?P<v>{_VER})(?: only)?",
    }.items()
}


def _normalise_phrase(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    if not text.isascii():
        for odd, plain in _PHRASE_SIGNS.items():
            text = text.replace(odd, plain)
    if "~" in text:  # "V5.5.0 ~ V5.5.800" (the full-width tilde too, after NFKC): a range
        text = text.replace("~", " to ")
    if "<" in text or ">" in text:
        text = _OPERATOR_RE.sub(r" \1 ", text)
    if "(" in text or ")" in text:
        text = _OPEN_RE.sub(" (", _CLOSE_RE.sub(")", text))
        text = _TAG_RE.sub(r"\1 ", text)
    return _SPACES_RE.sub(" ", text).strip(" .,;")


# The vendor's internal release tag after a version, in (full-width) brackets:
# "V1.1.5402 build241014 (E2254P02)", read as "V1.1.5402 build241014".
_TAG_RE = re.compile(r"(\d) \([a-z]\d+(?:[a-z]\d+)*\)")


_PHRASE_SIGNS = {"\u2264": "<=", "\u2266": "<=", "\u2265": ">=", "\u3001": ",", "\u301c": "~"}


def _version_bound(text: str) -> Version:
    """Parse a bound; a wildcard like V2.X stands for its lowest version, V2."""
    text = "V" + text.removeprefix("v")
    if _WILD_RE.fullmatch(text):
        return Version(text.upper(), tuple(int(n) for n in _DIGITS_RE.findall(text)))
    return parse_version(text)


def _inclusive(m: re.Match[str], clause: str, bound: Version, default: bool) -> bool:
    word, named = m[clause], m[clause + "v"]
    if word is None:
        return default
    if named is not None and parse_version(named) != bound:
        raise ValueError(f"the bracket names {named}, not the bound {bound}")
    return not word.startswith(("not", "ex"))


def _rule_from(name: str, m: re.Match[str]) -> AffectedRule:
    """Build the rule for one matched phrase pattern."""
    groups = m.groupdict()
    if name == "build":
        return BuildDateRule(_build_date(m["day"]), m["op"] in ("<=", "on or before", "up to"))
    if name == "exact":
        v = _version_bound(m["v"])
        return VersionRange(v, True, v, True)
    lo = None if groups.get("lo") is None else _version_bound(m["lo"])
    hi = None if groups.get("hi") is None else _version_bound(m["hi"])
    lo_incl = hi_incl = True
    if name == "notation":
        ops = [op.replace(" ", "") for op in (m["op1"], m["op2"]) if op is not None]
        lo_incl = len(ops) == 1 or ops[0] != "<"
        hi_incl = ops[-1] in ("<=", "lessthanorequal")
    elif name == "wildcard" and lo is not None:
        ceiling = (*lo.numbers[:-1], lo.numbers[-1] + 1)
        hi, hi_incl = Version("V" + ".".join(map(str, ceiling)), ceiling), False
    if groups.get("lk") is not None and lo is not None:
        lo_incl = m["lk"] in (">=", "from", "since")
    if groups.get("hk") is not None and hi is not None:
        words = m["hk"].replace(" ", "")
        hi_incl = words in ("to", "<=", "upto", "uptoandincluding") or "orequal" in words
    if "lc" in groups and lo is not None:
        lo_incl = _inclusive(m, "lc", lo, lo_incl)
    if "hc" in groups and hi is not None:
        hi_incl = _inclusive(m, "hc", hi, hi_incl)
    return VersionRange(lo, lo_incl, hi, hi_incl)


def parse_affected(text: str) -> AffectedRule:
    """Parse an advisory's affected-versions phrase such as 'Versions below V5.5.800'."""
    return _parse_affected(text)


@functools.lru_cache(maxsize=1 << 16)  # rules are immutable; a wording recurs with many fixes
def _parse_affected(text: str) -> AffectedRule:
    phrase = _normalise_phrase(text)
    for name, pattern in _PHRASES.items():
        m = pattern.fullmatch(phrase)
        if m is not None:
            try:
                return _rule_from(name, m)
            except ValueError as exc:
                raise AffectedParseError(f"cannot parse affected versions {text!r}: {exc}") from exc
    raise AffectedParseError(
        f"cannot parse affected versions {text!r}: expected wording like"
        " 'Versions below V5.5.800 (including V5.5.800)' or 'Build date before 250807'"
    )


def parse_fixed(text: str) -> Version | None:
    """Parse a 'Fixed Version' cell; None for wordings like 'N/A' or 'Contact local support'."""
    cell = unicodedata.normalize("NFKC", text).strip().rstrip(".")
    if _NOT_A_VERSION_RE.fullmatch(_SPACES_RE.sub(" ", cell.lower())):
        return None
    m = _LATER_RE.search(cell)
    return parse_version(cell[: m.start()] if m else cell)
