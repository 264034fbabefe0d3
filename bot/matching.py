"""Match items to the registered fleets' device groups (pure).

The fleets are indexed once by normalised model: a product pattern only looks at the models that
share its literal prefix (a bisect into the sorted models), so matching an advisory costs in
proportion to its affected rows and the models they name, not to the number of devices.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Protocol

from bot.catalog import ModelError, ModelPattern, PatternError, normalize_model, parse_patterns
from bot.items import Advisory, AffectedRow, FirmwareRelease
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

Status = Literal["affected", "possibly-affected", "review-needed"]
_MODEL_TOKEN = re.compile(r"(?:i?DS-[A-Z0-9][A-Z0-9()/.+_-]*|HikCentral[\w -]*)", re.I)


class GroupLike(Protocol):
    """What matching needs of a device group (bot.fleets.DeviceGroup satisfies it)."""

    @property
    def key(self) -> str: ...
    @property
    def fleet(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def firmware(self) -> str | None: ...
    @property
    def count(self) -> int: ...
    @property
    def site(self) -> str: ...


@dataclass(frozen=True)
class Indexed:
    """A device group with its model normalised and its firmware parsed once."""

    group: GroupLike
    model: str
    version: Version | None
    version_problem: str | None


@dataclass(frozen=True)
class Hit:
    """One device group judged against one CVE of one row."""

    entry: Indexed
    cve: str | None
    status: Status
    reason: str
    row: AffectedRow
    fixed: Version | None


@dataclass
class FleetIndex:
    """Device groups by normalised model, with the models sorted for prefix look-ups."""

    by_model: dict[str, list[Indexed]] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, groups: Iterable[GroupLike]) -> FleetIndex:
        """Index device groups; groups whose model cannot be read are skipped."""
        index = cls()
        for group in groups:
            try:
                model = normalize_model(group.model)
            except ModelError:
                continue
            version, problem = _parse_firmware(group.firmware)
            index.by_model.setdefault(model, []).append(Indexed(group, model, version, problem))
        index.models = sorted(index.by_model)
        return index

    def candidates(self, pattern: ModelPattern) -> list[Indexed]:
        """Device groups whose model the pattern matches."""
        prefix = pattern.literal_prefix()
        start = bisect.bisect_left(self.models, prefix)
        found: list[Indexed] = []
        for model in self.models[start:]:
            if not model.startswith(prefix):
                break
            if _matches(pattern, model):
                found += self.by_model[model]
        return found

    def exact(self, pattern: ModelPattern) -> list[Indexed]:
        """Device groups whose model is exactly the pattern's (modulo variants)."""
        prefix = pattern.literal_prefix()
        start = bisect.bisect_left(self.models, prefix)
        found: list[Indexed] = []
        for model in self.models[start:]:
            if not model.startswith(prefix):
                break
            if pattern.matches_exact(model):
                found += self.by_model[model]
        return found


def match_advisory(advisory: Advisory, index: FleetIndex) -> list[Hit]:
    """Every (device group, CVE) the advisory's rows touch, each judged on its own."""
    hits: list[Hit] = []
    all_cves: list[str | None] = [c.id for c in advisory.cves] or [None]
    for row in advisory.rows:
        cves: list[str | None] = [row.cve] if row.cve else all_cves
        patterns = _row_patterns(row.product)
        rule, fixed, problem = _row_rule(row)
        if patterns is None:
            entries = _named_models(row.product, index)
            problem = problem or row.problem or "the product cell could not be read"
        else:
            entries = [e for p in patterns for e in index.candidates(p)]
        seen: set[str] = set()
        for entry in entries:
            if entry.group.key in seen:
                continue
            seen.add(entry.group.key)
            judged = _judge(entry, rule, fixed, problem)
            if judged is None:
                continue
            status, reason = judged
            hits += [Hit(entry, cve, status, reason, row, fixed) for cve in cves]
    return hits


def match_release(release: FirmwareRelease, index: FleetIndex) -> list[Indexed]:
    """Device groups of exactly a model the release applies to, running older firmware."""
    try:
        version = parse_version(release.version)
    except VersionError:
        return []
    found: dict[str, Indexed] = {}
    for text in release.models:
        for pattern in patterns_of(text):
            for entry in index.exact(pattern):
                if entry.version is None or entry.version < version:
                    found.setdefault(entry.group.key, entry)
    return list(found.values())


def resolves(release_version: Version, model: str, advisories: Sequence[Advisory]) -> list[str]:
    """Keys of the advisories whose rows for ``model`` this release version fixes."""
    keys: list[str] = []
    for advisory in advisories:
        for row in advisory.rows:
            patterns = patterns_of(row.product)
            if not any(_matches(p, model) for p in patterns):
                continue
            try:
                fixed = parse_fixed(row.fixed)
            except VersionError:
                continue
            if fixed is not None and is_fixed(release_version, fixed):
                keys.append(advisory.key)
                break
    return keys


def _judge(
    entry: Indexed, rule: AffectedRule | None, fixed: Version | None, problem: str | None
) -> tuple[Status, str] | None:
    if problem is not None or rule is None:
        return "review-needed", f"the advisory row could not be read: {problem}"
    if entry.version is None:
        return "possibly-affected", entry.version_problem or "firmware version not known"
    if fixed is not None and is_fixed(entry.version, fixed):
        return None
    inside = rule.contains(entry.version)
    if inside is None:
        return "possibly-affected", (
            f"firmware {entry.version} has no build date to test against {rule.describe()}"
        )
    if inside:
        return "affected", f"firmware {entry.version} is in {rule.describe()}"
    return None


def _parse_firmware(text: str | None) -> tuple[Version | None, str | None]:
    if not text or not text.strip():
        return None, "firmware version not known"
    try:
        return _version(text), None
    except VersionError:
        return None, f"firmware {text!r} could not be read"


@lru_cache(maxsize=65536)
def _version(text: str) -> Version:
    return parse_version(text)


def patterns_of(product: str) -> tuple[ModelPattern, ...]:
    """The product patterns of a table cell or "Applied to" entry; () when unreadable."""
    return _row_patterns(product) or ()


@lru_cache(maxsize=16384)
def _row_patterns(product: str) -> tuple[ModelPattern, ...] | None:
    try:
        return tuple(parse_patterns(product))
    except PatternError:
        return None


@lru_cache(maxsize=16384)
def _row_rule_cached(
    affected: str, fixed_text: str
) -> tuple[AffectedRule | None, Version | None, str | None]:
    try:
        rule = parse_affected(affected)
        fixed = parse_fixed(fixed_text)
    except (AffectedParseError, VersionError, ValueError) as exc:
        return None, None, str(exc)
    return rule, fixed, None


def _row_rule(row: AffectedRow) -> tuple[AffectedRule | None, Version | None, str | None]:
    return _row_rule_cached(row.affected, row.fixed)


@lru_cache(maxsize=1 << 20)
def _matches(pattern: ModelPattern, model: str) -> bool:
    return pattern.matches(model)


def _named_models(product: str, index: FleetIndex) -> list[Indexed]:
    """The groups whose exact model an unreadable product cell still names."""
    found: list[Indexed] = []
    for token in _MODEL_TOKEN.findall(product):
        try:
            found += index.by_model.get(normalize_model(token), [])
        except ModelError:
            continue
    return found
