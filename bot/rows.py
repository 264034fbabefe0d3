"""Reading the texts of advisory rows and firmware: once per distinct text (pure).

A big feed repeats its product cells ("DS-2CD2xx3G2"), affected-version wordings and firmware
strings thousands of times; each distinct text is parsed once and remembered here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from bot.catalog import ModelPattern, PatternError, parse_patterns
from bot.items import Advisory, AffectedRow
from bot.versions import (
    AffectedParseError,
    AffectedRule,
    Version,
    VersionError,
    is_fixed,
    parse_affected,
    parse_fixed,
    parse_version,
)


def patterns_of(product: str) -> tuple[ModelPattern, ...]:
    """The product patterns of a table cell or "Applied to" entry; () when unreadable."""
    return row_patterns(product) or ()


_MODEL_TOKEN = re.compile(r"(?:i?DS-[A-Z0-9][A-Z0-9()/.+_-]*|HikCentral[\w -]*)", re.I)


@lru_cache(maxsize=1 << 12)  # one per distinct unreadable cell: few
def named_patterns(product: str) -> tuple[tuple[ModelPattern, ...], tuple[str, ...]]:
    """The model-like words of a cell that cannot be read: those that read as patterns (a
    family covers its models, as in a readable cell), and the others, as written."""
    patterns: list[ModelPattern] = []
    others: list[str] = []
    for token in _MODEL_TOKEN.findall(product):
        try:
            patterns.append(ModelPattern(token))
        except PatternError:
            others.append(token)
    return tuple(patterns), tuple(others)


@lru_cache(maxsize=1 << 16)  # one per distinct product cell: tens of thousands in a big feed
def row_patterns(product: str) -> tuple[ModelPattern, ...] | None:
    """The product patterns of a cell; None when it cannot be read."""
    try:
        return tuple(parse_patterns(product))
    except PatternError:
        return None


RowRule = tuple[AffectedRule | None, Version | None, str | None]  # rule, fixed version, problem


@lru_cache(maxsize=1 << 16)  # one per distinct (affected, fixed) pair
def _rule_of(affected: str, fixed_text: str) -> RowRule:
    try:
        return parse_affected(affected), parse_fixed(fixed_text), None
    except (AffectedParseError, VersionError, ValueError) as exc:
        return None, None, str(exc)


def row_rule(row: AffectedRow) -> RowRule:
    """The row's rule and fixed version, or the problem that keeps the row from being read."""
    return _rule_of(row.affected, row.fixed)


def row_words(row: AffectedRow) -> str:
    """The row's rule in words ("below V5.5.800"); "" when unreadable.

    Worked out when a reason first needs it, not when the row is read: most rows' reasons are
    never read.
    """
    return _words_of(row.affected, row.fixed)


@lru_cache(maxsize=1 << 16)
def _words_of(affected: str, fixed_text: str) -> str:
    rule = _rule_of(affected, fixed_text)[0]
    return "" if rule is None else rule.describe()


def row_fixed(row: AffectedRow) -> Version | None:
    """The row's fixed version read on its own, whatever its affected wording says; None for
    "N/A"-like wording or an unreadable cell."""
    return _fixed_of(row.fixed)


@lru_cache(maxsize=1 << 14)  # one per distinct "Fixed Version" cell
def _fixed_of(text: str) -> Version | None:
    try:
        return parse_fixed(text)
    except VersionError:
        return None


@lru_cache(maxsize=1 << 16)
def covers(pattern: ModelPattern, model: str) -> bool:
    """Whether the pattern covers the (normalised) model, remembered."""
    return pattern.matches(model)



FIRMWARE_NOT_KNOWN = "firmware version not known"  # why a group without firmware has no version


def read_firmware(text: str | None) -> tuple[Version | None, str | None]:
    """A device group's firmware as a version, or why there is none: not known (none recorded),
    or its text, quoted, could not be read. Called once per distinct firmware text."""
    if not text or not text.strip():
        return None, FIRMWARE_NOT_KNOWN
    try:
        return parse_version(text), None
    except VersionError:
        return None, f"firmware {text!r} could not be read as a version"



def resolves(
    release_version: Version,
    model: str,
    advisories: Sequence[Advisory],
    current: Version | None = None,
) -> list[str]:
    """Keys of the advisories whose rows for ``model`` this release version fixes.

    With the devices' ``current`` version, rows it already fixes are left out: an update does
    not "fix" what the devices no longer have.
    """
    keys: list[str] = []
    for advisory in advisories:
        for row in advisory.rows:
            patterns = patterns_of(row.product)
            if not any(covers(p, model) for p in patterns):
                continue
            try:
                fixed = parse_fixed(row.fixed)
            except VersionError:
                continue
            if fixed is None or (current is not None and is_fixed(current, fixed)):
                continue
            if is_fixed(release_version, fixed):
                keys.append(advisory.key)
                break
    return keys
