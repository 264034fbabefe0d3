"""Routing and noise control: findings → one alert per item per receiver (pure).

The Alertmanager vocabulary applied to advisories: fleets name receivers, routes add receivers by
matchers, thresholds mute what is below them, silences and snoozes hide, acks quieten, and a dedupe
key (receiver, item, material fingerprint) makes a re-run never re-alert. A revised item alerts
again only when something that matters changed, and the alert says what.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from bot.facts import (
    GroupLabels,
    GroupOf,
    Present,
    describe_changes,
    facts_of,
    fingerprint,
    worse,
)
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
    former: GroupOf | None = None  # a device group no longer found, by finding key (`GroupLabels`)
    tz: tzinfo = UTC  # [schedule] timezone: the days alerts name (when a snooze ended)


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
        present = Present(findings)
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
            over = previous.snoozed_until.astimezone(routing.tz).date().isoformat()
            changes = (f"snoozed until {over}: nothing has changed since",)
            return Alert(receiver, kind, item, tuple(found), material, facts, changes, digest)
        if previous.snoozed_until and now < previous.snoozed_until:
            return None
        since = None if previous.kev_each else previous.alerted_at
        changes = tuple(
            describe_changes(
                previous.facts, facts, present, since, GroupLabels(found, routing.former)
            )
        )
        escalated = any("listed in CISA KEV" in c for c in changes)
        if previous.acked and not (escalated or worse(previous.facts, facts)):
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
    """Thresholds apply to advisories; firmware and lifecycle findings carry no severity. A CVE
    not scored yet may be severe: its advisory passes every threshold until it is scored."""
    if f.kind != "advisory" or minimum == "none":
        return True
    if any(c.score is None for c in f.cves):
        return True
    return severity_rank(_severity(f)) >= severity_rank(minimum)
