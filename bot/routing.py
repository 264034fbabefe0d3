"""Routing and noise control: findings → one alert per item per receiver (pure).

The Alertmanager vocabulary applied to advisories: fleets name receivers, routes add receivers by
matchers, thresholds mute what is below them, silences and snoozes hide, acks quieten, and a dedupe
key (receiver, item, material fingerprint) makes a re-run never re-alert. A revised item alerts
again only when something that matters changed, and the alert says what.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any, Literal

from bot.finding import CveVerdict, Finding
from bot.policy import Promise, Stage, combine
from bot.verdicts import STATUS_RANK

AlertKind = Literal["advisory", "firmware", "lifecycle", "exploited"]
SEVERITIES = ("none", "low", "medium", "high", "critical")


def severity_rank(name: str | None) -> int:
    """Order of a severity name (case-insensitive); unknown or None ranks lowest."""
    return SEVERITIES.index(name.lower()) if name and name.lower() in SEVERITIES else 0


@dataclass(frozen=True)
class ItemHeader:
    """What an alert says about its item."""

    key: str
    kind: str
    title: str
    url: str
    revision: str
    vendor_id: str | None = None


@dataclass(frozen=True)
class FleetRouting:
    """A fleet's own receivers and threshold."""

    name: str
    receivers: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    min_severity: str = "none"
    kinds: frozenset[str] = frozenset({"advisory", "firmware", "lifecycle"})


@dataclass(frozen=True)
class Route:
    """Extra receivers for findings that match; an empty matcher matches anything. ``stages``
    match a finding's stage, or the stage a lifecycle reminder's model is about to enter."""

    name: str
    receivers: tuple[str, ...]
    kinds: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()
    fleets: frozenset[str] = frozenset()
    fleet_tags: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    kev: bool | None = None
    min_severity: str = "none"
    digest: str | None = None

    def matches(self, f: Finding, fleet: FleetRouting, thresholds: bool = True) -> bool:
        """Whether this route takes the finding (its ``min_severity`` ignored when not
        ``thresholds``)."""
        return (
            (not self.kinds or f.kind in self.kinds)
            and (not self.stages or f.stage.value in self.stages
                 or (f.change_to is not None and f.change_to.value in self.stages))
            and (not self.fleets or f.fleet in self.fleets)
            and (not self.fleet_tags or bool(self.fleet_tags & fleet.tags))
            and (not self.sites or f.site in self.sites)
            and (self.kev is None or (f.kev_since is not None) == self.kev)
            and (not thresholds or _meets(f, self.min_severity))
        )


@dataclass(frozen=True)
class Silence:
    """Hide findings that match every matcher until the silence expires."""

    id: str
    matchers: Mapping[str, str]
    expires_at: datetime
    author: str = ""
    comment: str = ""

    def active(self, now: datetime) -> bool:
        """Expired silences stop applying by themselves."""
        return now < self.expires_at

    @property
    def cve(self) -> str | None:
        """The CVE the silence names, if any (upper case): it hides that CVE's verdicts only,
        so that the other CVEs of an advisory still alert (`unsilenced`)."""
        value = self.matchers.get("cve")
        return value.strip().upper() if value is not None else None

    def matches(self, f: Finding, item: ItemHeader) -> bool:
        """Matchers: fleet, model, site, kind, item (key or vendor ID) and cve."""
        for name, value in self.matchers.items():
            want = value.strip().upper()
            if name == "fleet" and f.fleet.upper() != want:
                return False
            if name == "model" and not f.model.upper().startswith(want):
                return False
            if name == "site" and f.site.upper() != want:
                return False
            if name == "kind" and want == "EXPLOITED" and f.kev_since is None:
                return False  # "exploited" is not a finding kind: it means listed in KEV
            if name == "kind" and want != "EXPLOITED" and f.kind.upper() != want:
                return False
            if name in ("item", "advisory") and want not in (
                item.key.upper(),
                (item.vendor_id or "").upper(),
            ):
                return False
            if name == "cve" and want not in {c.id.upper() for c in f.cves}:
                return False
        return True


@dataclass(frozen=True)
class Previous:
    """What was last alerted for (receiver, item), and what people did about it."""

    material: str
    facts: Mapping[str, Any]
    acked: bool = False
    snoozed_until: datetime | None = None
    alerted_at: datetime | None = None  # when it was alerted (None: not known)
    kev_each: bool = True  # the facts keep each CVE's KEV listing (b48b3a5's kept the first)

    def snooze_over(self, now: datetime) -> bool:
        """A snooze of this alert ended by ``now`` and nothing was alerted since: the receiver
        is reminded once (a snooze defers an alert, unlike an ack, which settles it)."""
        until = self.snoozed_until
        if until is None or now < until or self.acked:
            return False
        return self.alerted_at is None or self.alerted_at < until


@dataclass(frozen=True)
class Alert:
    """One alert for one item to one receiver, listing every affected fleet and device group."""

    receiver: str
    kind: AlertKind
    item: ItemHeader
    findings: tuple[Finding, ...]
    material: str
    facts: Mapping[str, Any]
    changes: tuple[str, ...] = ()
    digest: str | None = None
    resolved: bool = False  # no device group of this receiver is affected any more
    occurrence: int = 0  # >0 when the same facts come back after a change (e.g. a resolution)

    @property
    def dedupe_key(self) -> str:
        """(receiver, item, material fingerprint): the same change is never alerted twice.

        Facts that recur after something else was alerted (affected, resolved, affected again)
        are a new alert: they carry ``|N``, so they are neither dropped nor collapsed.
        """
        base = f"{self.receiver}|{self.item.key}|{self.material}"
        return f"{base}|{self.occurrence}" if self.occurrence else base

    @property
    def id(self) -> str:
        """An opaque, stable alert id (safe to put in button values and webhook ids)."""
        return "fw_" + hashlib.sha256(self.dedupe_key.encode()).hexdigest()[:24]

    @property
    def severity(self) -> str:
        """The worst severity among the findings."""
        return max((_severity(f) for f in self.findings), key=severity_rank, default="none")


@dataclass
class Routing:
    """Everything routing needs besides the findings."""

    fleets: Mapping[str, FleetRouting]
    routes: Sequence[Route] = ()
    receiver_min_severity: Mapping[str, str] = field(default_factory=dict)
    silences: Sequence[Silence] = ()
    previous: Mapping[tuple[str, str], Previous] = field(default_factory=dict)


def route(
    items: Iterable[tuple[ItemHeader, Sequence[Finding]]],
    routing: Routing,
    now: datetime,
    unrouted: Counter[str] | None = None,
) -> list[Alert]:
    """Alerts due now: grouped per item and receiver, filtered, deduplicated, with changes.

    ``unrouted`` counts, per fleet with no receivers of its own, its findings (not silenced)
    that no route takes either: what nobody would hear of.
    """
    silences = [s for s in routing.silences if s.active(now)]
    alerts: list[Alert] = []
    by_site = any(r.sites for r in routing.routes)  # else no route reads a finding's site
    for item, findings in items:
        # One alert per item and receiver: its findings by the routes' digests, all of them in
        # the most urgent (an immediate route beats a digest, daily beats weekly), as the
        # memory of what was alerted holds one alert per (receiver, item).
        per_receiver: dict[str, tuple[str | None, list[Finding]]] = {}
        # A finding's receivers follow from what routes and thresholds read of it: its fleet,
        # site, kind, stage and CVE verdicts (severity, KEV). Findings of one batch share their
        # verdicts (one tuple): once per combination. The memo keeps each tuple it is keyed by
        # alive, so that no other tuple takes its id (findings made as they are read are freed
        # when routed nowhere).
        known: dict[
            tuple[str, str, str, Stage, int],
            tuple[tuple[CveVerdict, ...], list[tuple[str, str | None]]],
        ] = {}
        quieter: dict[tuple[int, frozenset[str]], tuple[object, _Left | None]] = {}
        for f in findings:
            if silences:
                kept = unsilenced(f, item, silences, quieter)
                if kept is None:
                    continue
                f = kept
            how = (f.fleet, f.site if by_site else "", f.kind, f.stage, id(f.cves))
            remembered = known.get(how)
            if remembered is None:
                remembered = known[how] = (f.cves, receivers_of(f, routing))
            if not remembered[1] and unrouted is not None and not _own_receivers(f, routing):
                unrouted[f.fleet] += 1
            for receiver, digest in remembered[1]:
                held, found = per_receiver.get(receiver, (digest, []))
                found.append(f)
                per_receiver[receiver] = (_sooner(held, digest), found)
        present = _Present(findings)
        for receiver, (digest, found) in per_receiver.items():
            alert = _alert(receiver, digest, item, found, routing, now, present)
            if alert is not None:
                alerts.append(alert)
    return alerts


_DIGEST_RANK = {None: 0, "daily": 1, "weekly": 2}  # the sooner, the lower


def _sooner(a: str | None, b: str | None) -> str | None:
    """The more urgent of two digests (None: immediate)."""
    return a if _DIGEST_RANK.get(a, 1) <= _DIGEST_RANK.get(b, 1) else b


_Left = tuple[tuple[CveVerdict, ...], str, Promise]  # the verdicts, status and promise left


def unsilenced(
    f: Finding,
    item: ItemHeader,
    silences: Sequence[Silence],
    memo: dict[tuple[int, frozenset[str]], tuple[object, _Left | None]] | None = None,
) -> Finding | None:
    """The finding as the silences leave it: None when one hides it; without the verdicts of
    the CVEs silences name (its status and promise judged on the CVEs left), or as it was.

    ``memo`` shares what is left of a verdict tuple between the findings that share it (a
    batch's, or batches' of models under the same promises), keyed by the tuple's id: it keeps
    each tuple it is keyed by alive.
    """
    quiet: set[str] = set()
    for silence in silences:
        if silence.matches(f, item):
            cve = silence.cve
            if cve is None:
                return None
            quiet.add(cve)
    if not quiet:
        return f
    key = (id(f.cves), frozenset(quiet))
    found = memo.get(key) if memo is not None else None
    if found is None:
        verdicts = tuple(c for c in f.cves if c.id.upper() not in quiet)
        left = None
        if verdicts:
            status = min((c.status for c in verdicts), key=lambda s: STATUS_RANK.get(s, 0))
            left = (verdicts, status, combine(c.promise for c in verdicts))
        found = (f.cves, left)
        if memo is not None:
            memo[key] = found
    if found[1] is None:
        return None
    verdicts, status, promise = found[1]
    return f._replace(cves=verdicts, status=status, fix_promised=promise)


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


def describe_changes(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    present: Mapping[str, Set[str]] | None = None,
    since: datetime | None = None,
) -> list[str]:
    """What changed between two sets of material facts, in words.

    ``present`` maps each finding the item still has (before silences and routing) to its
    CVEs: device groups and CVEs that left the facts but not the item (silenced, routed
    elsewhere, below a threshold) are no news; without it, every one that left is. ``since``
    is when old facts that kept no CVE's own KEV listing were alerted (`_newly_listed`).
    """
    changes: list[str] = []
    added = [k for k in new if k not in old]
    if added:
        changes.append(f"{len(added)} more device group{'s' if len(added) > 1 else ''} affected")
    gone = [k for k in old if k not in new and (present is None or k not in present)]
    if gone:  # upgraded past the fix, removed from the fleet, no longer named by the item
        changes.append(f"{len(gone)} device group{'s' if len(gone) > 1 else ''} no longer affected")
    for key, b in new.items():  # in the facts' order (sorted keys): the same words every run
        a = old.get(key)
        if a is None:
            continue
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
                changes.append(f"{words}: {a[name] or 'none'} → {b[name] or 'none'}")
    return sorted(set(changes), key=changes.index)


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


class _Present(Mapping[str, Set[str]]):
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


def _alert(
    receiver: str,
    digest: str | None,
    item: ItemHeader,
    found: list[Finding],
    routing: Routing,
    now: datetime,
    present: Mapping[str, Set[str]] | None = None,
) -> Alert | None:
    facts = facts_of(found)
    material = fingerprint(facts)
    previous = routing.previous.get((receiver, item.key))
    changes: tuple[str, ...] = ()
    kind: AlertKind = found[0].kind
    if previous is not None:
        if previous.material == material:
            if not previous.snooze_over(now):
                return None
            assert previous.snoozed_until is not None
            over = previous.snoozed_until.date().isoformat()
            changes = (f"snoozed until {over}: nothing has changed since",)
            return Alert(receiver, kind, item, tuple(found), material, facts, changes, digest)
        if previous.snoozed_until and now < previous.snoozed_until:
            return None
        since = None if previous.kev_each else previous.alerted_at
        changes = tuple(describe_changes(previous.facts, facts, present, since))
        escalated = any("listed in CISA KEV" in c for c in changes)
        if previous.acked and not (escalated or _worse(previous.facts, facts)):
            return None
        if escalated:
            kind = "exploited"
        if not changes:
            return None
    return Alert(receiver, kind, item, tuple(found), material, facts, changes, digest)


def receivers_of(
    f: Finding, routing: Routing, thresholds: bool = True
) -> list[tuple[str, str | None]]:
    """The receivers a finding goes to (before silences and dedupe), each with its digest;
    with ``thresholds`` false, those it would go to if no minimum severity applied."""
    fleet = routing.fleets.get(f.fleet) or FleetRouting(f.fleet)  # made only when missing
    out: list[tuple[str, str | None]] = []
    if f.kind in fleet.kinds and (not thresholds or _meets(f, fleet.min_severity)):
        out += [(r, None) for r in fleet.receivers]
    for r in routing.routes:
        if r.matches(f, fleet, thresholds):
            out += [(name, r.digest) for name in r.receivers]
    seen: dict[str, str | None] = {}
    for name, digest in out:
        if thresholds and not _meets(f, routing.receiver_min_severity.get(name, "none")):
            continue
        # an immediate route beats a digest for the same receiver, a daily one a weekly one
        seen[name] = _sooner(seen[name], digest) if name in seen else digest
    return list(seen.items())


def _own_receivers(f: Finding, routing: Routing) -> tuple[str, ...]:
    fleet = routing.fleets.get(f.fleet)
    return fleet.receivers if fleet is not None else ()


def _severity(f: Finding) -> str:
    worst = f.worst
    return (worst.severity or "none").lower() if worst else "none"


def _meets(f: Finding, minimum: str) -> bool:
    """Thresholds apply to advisories; firmware and lifecycle findings carry no severity."""
    if f.kind != "advisory" or minimum == "none":
        return True
    return severity_rank(_severity(f)) >= severity_rank(minimum)


def _worse(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Worse news than what was acknowledged: a higher score, or device groups newly affected
    that bring more devices (an ack covers the exposure it saw, not new exposure; devices that
    moved to other affected firmware are a new group but no more devices)."""
    def top(facts: Mapping[str, Any]) -> float:
        return max((s or 0.0 for f in facts.values() for s, _ in f["cves"].values()), default=0.0)

    def devices(facts: Mapping[str, Any]) -> int:
        return sum(int(f["count"]) for f in facts.values())

    grown = any(key not in old for key in new) and devices(new) > devices(old)
    return top(new) > top(old) or grown
