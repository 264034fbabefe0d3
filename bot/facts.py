"""An alert's material facts: what a cycle compares with what was last alerted (pure).

The facts of an alert are one entry per finding (its status, devices, promise, fixed version,
update, CVE scores and KEV listings); their fingerprint is what dedupe and the alert memory
store. When the fingerprint differs, `describe_changes` says what changed, in words, and
`worse` whether an acknowledged alert must be repeated.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from bot.finding import Finding, vendor_model
from bot.risk import joined


def facts_of(findings: Sequence[Finding]) -> dict[str, Any]:
    """The material facts of an alert: what, if changed, deserves a new alert.

    Findings made from one batch share their CVE verdicts (one tuple): those facts are worked
    out once per tuple, and findings with equal facts share one entry. The entries and their
    sub-dicts are shared; treat them as read-only.
    """
    # id(f.cves) (alive here): the CVEs' scores, the earliest KEV listing, and each CVE's
    # listing when several are listed (one more listed is news: `describe_changes`)
    by_cves: dict[int, tuple[dict[str, list[Any]], str | None, dict[str, str]]] = {}
    entries: dict[tuple[object, ...], dict[str, Any]] = {}
    facts: dict[str, Any] = {}
    for f in sorted(findings, key=_by_key):
        same = (f.status, f.count, f.fix_promised, f.fixed_version, f.update_available, id(f.cves))
        entry = entries.get(same)
        if entry is None:
            shared = by_cves.get(id(f.cves))
            if shared is None:
                kev = f.kev_since
                listed = {c.id: c.kev_added.isoformat() for c in f.cves if c.kev_added}
                shared = by_cves[id(f.cves)] = (
                    {c.id: [c.score, c.severity] for c in f.cves},
                    kev.isoformat() if kev else None,
                    listed if len(listed) > 1 else {},  # one: "kev" says it (as it always did)
                )
            entry = entries[same] = {
                "status": f.status,
                "count": f.count,
                "promise": f.fix_promised.value,
                "fixed": f.fixed_version,
                "update": f.update_available,
                "kev": shared[1],
                "cves": shared[0],
            }
            if shared[2]:
                entry["kev_cves"] = shared[2]
        facts[f.key] = entry
    return facts


def _by_key(f: Finding) -> str:
    return f.key


def fingerprint(facts: Mapping[str, Any]) -> str:
    """A short hash of material facts: of their JSON, keys sorted (stored with each alert, so
    it must not change). An entry shared by many keys (`facts_of`) is encoded once."""
    return hashlib.sha256(_sorted_json(facts).encode()).hexdigest()[:16]


def _sorted_json(facts: Mapping[str, Any]) -> str:
    """``json.dumps(facts, sort_keys=True, default=str)``, each distinct entry object encoded
    once (the text is the same: an object's members are encoded the same wherever it sits)."""
    if type(facts) is not dict or not all(isinstance(key, str) for key in facts):
        return json.dumps(facts, sort_keys=True, default=str)  # not what facts_of makes
    encoded: dict[int, str] = {}  # id(entry): the entries are alive in facts meanwhile
    rests: dict[tuple[object, ...], str] = {}  # entries but for their count (`_entry_json`)
    parts: list[str] = []
    for key, entry in sorted(facts.items()):  # keys are unique: only they are compared
        text = encoded.get(id(entry))
        if text is None:
            text = encoded[id(entry)] = _entry_json(entry, rests)
        parts.append(f"{_key_json(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


_FACT_NAMES = frozenset(("count", "cves", "fixed", "kev", "promise", "status", "update"))
_REST_NAMES = ("status", "promise", "fixed", "update", "kev")  # text or None in facts_of's


def _entry_json(entry: Any, rests: dict[tuple[object, ...], str]) -> str:
    """An entry's sorted JSON. Entries as `facts_of` makes them mostly differ in their count
    alone (a group's devices): the rest is encoded once per distinct rest and the count put
    in front ("count" sorts first), as ``json.dumps`` would write it."""
    if type(entry) is not dict or entry.keys() != _FACT_NAMES or type(entry["count"]) is not int:
        return _ENCODER.encode(entry)
    same = (*(entry[name] for name in _REST_NAMES), id(entry["cves"]))  # cves: alive in entry
    rest = rests.get(same)
    if rest is None:
        if not all(value is None or type(value) is str for value in same[:-1]):
            return _ENCODER.encode(entry)  # equal keys must mean equal text: texts only
        rest = rests[same] = _ENCODER.encode({k: v for k, v in entry.items() if k != "count"})
    return f'{{"count": {int.__repr__(entry["count"])}, {rest[1:]}'


_ENCODER = json.JSONEncoder(sort_keys=True, default=str)  # json.dumps' own, made once
_key_json = encode_basestring_ascii  # how json.dumps writes a key (ensure_ascii)


GroupOf = Callable[[str], tuple[str, str, str] | None]  # finding key -> fleet, model, site


class GroupLabels(Mapping[str, str]):
    """How what-changed lines name an alert's device groups, by finding key: ``MODEL at SITE``,
    with the fleet when the alert spans several, and the firmware where two would read alike.

    Groups the alert no longer lists (upgraded, removed) are named through ``former`` (their
    fleet, model and site as last found, from the stored findings), looked up only for the few
    a line names.
    """

    def __init__(self, findings: Sequence[Finding], former: GroupOf | None = None) -> None:
        self._fleets = {f.fleet for f in findings}
        self._labels = {f.key: _label(f.fleet, vendor_model(f), f.site, self._several)
                        for f in findings}
        seen = Counter(self._labels.values())
        for f in findings:
            if seen[self._labels[f.key]] > 1:
                self._labels[f.key] += f" on {f.firmware or 'unknown firmware'}"
        self._former = former

    @property
    def _several(self) -> bool:
        return len(self._fleets) > 1

    def __getitem__(self, key: str) -> str:
        found = self._labels.get(key)
        if found is not None:
            return found
        group = self._former(key) if self._former is not None else None
        if group is None:
            raise KeyError(key)
        fleet, model, site = group
        return _label(fleet, model, site, self._several or fleet not in self._fleets)

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)


def _label(fleet: str, model: str, site: str, with_fleet: bool) -> str:
    return " ".join(filter(None, (model, f"at {site}" if site else ""))) + (
        f" ({fleet})" if with_fleet else ""
    )


def describe_changes(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    present: Mapping[str, Set[str]] | None = None,
    since: datetime | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """What changed between two sets of material facts, in words.

    ``present`` maps each finding the item still has (before silences and routing) to its
    CVEs: device groups and CVEs that left the facts but not the item (silenced, routed
    elsewhere, below a threshold) are no news; without it, every one that left is. ``since``
    is when old facts that kept no CVE's own KEV listing were alerted (`_newly_listed`).
    ``labels`` (`GroupLabels` of the new facts' findings) name the device groups that are new or
    gone and those whose own fields changed: always for a device count, otherwise when not every
    group changed alike.
    """
    changes: list[str] = []
    added = [k for k in new if k not in old]
    if added:
        changes.append(f"{len(added)} more device group{'s' if len(added) > 1 else ''} affected"
                       + _listed(added, labels))
    gone = [k for k in old if k not in new and (present is None or k not in present)]
    if gone:  # upgraded past the fix, removed from the fleet, no longer named by the item
        changes.append(f"{len(gone)} device group{'s' if len(gone) > 1 else ''} no longer affected"
                       + _listed(gone, labels))
    fields: dict[str, list[str]] = {}  # a field's change in words -> the groups it changed in
    common = 0
    for key, b in new.items():  # in the facts' order (sorted keys): the same words every run
        a = old.get(key)
        if a is None:
            continue
        common += 1
        if b["kev"] and not a["kev"]:
            changes.append(f"listed in CISA KEV on {b['kev']}")
        elif b["kev"]:
            changes += [
                f"{cve} listed in CISA KEV on {day}" for cve, day in _newly_listed(a, b, since)
            ]
        for cve, (score, severity) in b["cves"].items():
            before = a["cves"].get(cve)
            if before and before[0] != score:
                if before[0] is None:  # first scored (NVD, or the vendor's revision)
                    changes.append(f"{cve} scored {score} ({severity}); it had no score")
                elif score is None:
                    changes.append(f"{cve} score {before[0]} withdrawn: it has no score now")
                else:
                    changes.append(f"{cve} score {before[0]} → {score} ({severity})")
            elif before is None:
                changes.append(f"{cve} added")
        changes += [
            f"{cve} no longer applies"
            for cve in a["cves"]
            if cve not in b["cves"] and (present is None or cve not in present.get(key, ()))
        ]
        for name, words in (
            ("fixed", "fixed version"),
            ("promise", "fix promise"),
            ("status", "status"),
            ("count", "device count"),
            ("update", "available update"),
        ):
            if a[name] != b[name]:
                line = f"{words}: {a[name] or 'none'} → {b[name] or 'none'}"
                changes.append(line)
                fields.setdefault(line, []).append(key)
    if labels is not None:  # name the groups a field changed in, unless alike in every group
        named = {
            line: f"{line} ({names})"
            for line, keys in fields.items()
            if (line.startswith("device count") or len(keys) < common)
            and (names := _named(keys, labels))
        }
        changes = [named.get(line, line) for line in changes]
    return sorted(set(changes), key=changes.index)


def _listed(keys: Sequence[str], labels: Mapping[str, str] | None) -> str:
    """``: A, B and 2 more`` naming these groups, or nothing."""
    names = _named(keys, labels) if labels is not None else ""
    return f": {names}" if names else ""


def _named(keys: Sequence[str], labels: Mapping[str, str], most: int = 3) -> str:
    """The device groups of these finding keys, by label: the first few, then how many more."""
    names = list(dict.fromkeys(n for k in keys[:most] if (n := labels.get(k))))
    if not names:  # none known by name (gone long ago): the count says it
        return ""
    if len(keys) > len(names):
        names.append(f"{len(keys) - len(names)} more")
    return joined(names)


def _newly_listed(
    old: Mapping[str, Any], new: Mapping[str, Any], since: datetime | None = None
) -> list[tuple[str, str]]:
    """CVEs listed in KEV since the old facts, when the old facts had one listed already
    (each CVE's listing is kept when several are: ``kev_cves``; one alone is ``kev``).

    Facts alerted before ``kev_cves`` existed kept the earliest listing alone, however many
    CVEs were listed: a CVE the old facts named, listed before the day they were alerted
    (``since``), was listed then too, and is no news."""
    before: Mapping[str, str] = old.get("kev_cves") or {}
    if not before and old["kev"]:  # one was listed on that day (or, stored before, several)
        told = since.date().isoformat() if since is not None else ""
        before = {
            cve: day
            for cve, day in new.get("kev_cves", {}).items()
            if day == old["kev"] or (day < told and cve in old["cves"])
        }
    return [(cve, day) for cve, day in new.get("kev_cves", {}).items() if cve not in before]


class Present(Mapping[str, Set[str]]):
    """An item's findings by key, each with its CVEs (before silences and routing); worked out
    when first read: only an alert whose facts changed asks."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self._findings = findings
        self._cves: dict[str, Set[str]] | None = None

    def _read(self) -> dict[str, Set[str]]:
        if self._cves is None:
            self._cves = {f.key: {c.id for c in f.cves} for f in self._findings}
        return self._cves

    def __getitem__(self, key: str) -> Set[str]:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())


def worse(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Worse news than what was acknowledged: a higher score, or device groups newly affected
    that bring more devices (an ack covers the exposure it saw, not new exposure; devices that
    moved to other affected firmware are a new group but no more devices)."""
    def top(facts: Mapping[str, Any]) -> float:
        return max((s or 0.0 for f in facts.values() for s, _ in f["cves"].values()), default=0.0)

    def devices(facts: Mapping[str, Any]) -> int:
        return sum(int(f["count"]) for f in facts.values())

    grown = any(key not in old for key in new) and devices(new) > devices(old)
    return top(new) > top(old) or grown
