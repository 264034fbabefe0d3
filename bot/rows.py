"""Reading the texts of advisory rows and firmware: once per distinct text (pure).

A big feed repeats its product cells ("DS-2CD2xx3G2"), affected-version wordings and firmware
strings thousands of times; each distinct text is parsed once and remembered here.
"""

from __future__ import annotations

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


@lru_cache(maxsize=1 << 16)  # one per distinct product cell: tens of thousands in a big feed
def row_patterns(product: str) -> tuple[ModelPattern, ...] | None:
    """The product patterns of a cell; None when it cannot be read."""
    try:
        return tuple(parse_patterns(product))
    except PatternError:
        return None


@lru_cache(maxsize=1 << 16)  # one per distinct (affected, fixed) pair
def _rule_of(
    affected: str, fixed_text: str
) -> tuple[AffectedRule | None, Version | None, str | None, str]:
    try:
        rule = parse_affected(affected)
        fixed = parse_fixed(fixed_text)
    except (AffectedParseError, VersionError, ValueError) as exc:
        return None, None, str(exc), ""
    return rule, fixed, None, rule.describe()


def row_rule(
    row: AffectedRow,
) -> tuple[AffectedRule | None, Version | None, str | None, str]:
    """The row's rule, fixed version, problem (when unreadable) and the rule in words."""
    return _rule_of(row.affected, row.fixed)


@lru_cache(maxsize=1 << 16)
def covers(pattern: ModelPattern, model: str) -> bool:
    """Whether the pattern covers the (normalised) model, remembered."""
    return pattern.matches(model)



def read_firmware(text: str | None) -> tuple[Version | None, str | None]:
    """A device group's firmware as a version, or why there is none."""
    if not text or not text.strip():
        return None, "firmware version not known"
    try:
        return _version(text), None
    except VersionError:
        return None, f"firmware {text!r} could not be read"


@lru_cache(maxsize=65536)
def _version(text: str) -> Version:
    return parse_version(text)



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
