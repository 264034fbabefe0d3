"""The alert document: one JSON object per alert (pure).

It is what ``firmwatch check --json`` prints, what the outbox stores as an entry's payload and
what every notifier renders from, so one schema serves people, Slack and webhooks alike.
README.md and ``docs/webhook-payload.schema.json`` describe it; ``SCHEMA`` names its version.

Findings of the same fleet, stage and facts are grouped: their device groups are listed together,
each with its own reason, and one reason and risk note true of all of them cover them ("upgrade
the 40 devices"), so an alert has one entry per fleet and situation rather than one per device
group. Device groups show their model as their fleet registered it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from bot.finding import CveVerdict, Finding, vendor_model
from bot.policy import DEFAULT_SEVERE_CVSS, Promise
from bot.risk import NoteFacts, joined, risk_note
from bot.routing import Alert
from bot.verdicts import STATUS_RANK

SCHEMA = "firmwatch.alert/1"

# Why a resolved alert resolves (its one change, `bot.resolution`): nothing of the receiver is
# affected any more, or what still is falls below the receiver's severity threshold.
GONE = "no device group of this receiver is affected any more"
UPGRADED = "no device group of this receiver needs this update any more"  # a firmware release
BELOW = "the device groups still affected are below this receiver's severity threshold"
# A firmware release a newer one supersedes for the devices that needed it: "superseded by
# Firmware V5.9.80 build 261020" (`superseded_by`).
SUPERSEDED = "superseded by "


def superseded_by(labels: Sequence[str]) -> str:
    """The change of a release's resolution when newer releases supersede it."""
    return SUPERSEDED + joined(list(labels))

ModelOf = Callable[[Finding], str]  # the model of a finding's device group, as shown




def key_model(f: Finding) -> str:
    """A finding's model as its normalised key (the identity that matching uses)."""
    return f.model


def alert_document(
    alert: Alert,
    created_at: datetime,
    severe_cvss: float = DEFAULT_SEVERE_CVSS,
    models: ModelOf = vendor_model,
) -> dict[str, Any]:
    """The JSON-ready document of one alert; ``models`` gives each device group's model as its
    fleet registered it (``DeviceGroup.model_as_written``)."""
    findings = [
        _finding(group, severe_cvss, models)
        for group in sorted(group_findings(alert.findings), key=_urgency)
    ]
    devices = sum(f.count for f in alert.findings)
    worst = max((f.worst for f in alert.findings if f.worst), key=_score, default=None)
    kev = min((f.kev_since for f in alert.findings if f.kev_since), default=None)
    return {
        "schema": SCHEMA,
        "id": alert.id,
        "dedupe_key": alert.dedupe_key,
        "kind": alert.kind,
        "severity": alert.severity,
        "score": worst.score if worst else None,
        "cvss_version": worst.cvss_version if worst else None,
        "kev": kev.isoformat() if kev else None,
        "receivers": [alert.receiver],
        "digest": alert.digest,
        "created_at": created_at.isoformat(timespec="seconds"),
        "item": {
            "key": alert.item.key,
            "id": alert.item.vendor_id or alert.item.key,
            "kind": alert.item.kind,
            "title": alert.item.title,
            "url": alert.item.url,
            "revision": alert.item.revision,
        },
        "changes": list(alert.changes),
        "summary": summary(alert, devices),
        "totals": {
            "fleets": len({f.fleet for f in alert.findings}),
            "device_groups": len(alert.findings),
            "devices": devices,
        },
        "findings": findings,
        **(_resolution(alert) if alert.resolved else {}),
    }


def _resolution(alert: Alert) -> dict[str, Any]:
    """What a resolved alert says: over because nothing is affected, or because what still is
    falls below the receiver's threshold (then it must not say nothing is affected)."""
    label = alert.item.vendor_id or alert.item.title
    if BELOW in alert.changes:
        return {
            "resolved": True,
            "resolution": "below-threshold",
            "summary": f"Resolved: the devices {label} still affects are below this receiver's"
            " severity threshold",
        }
    newer = next((c for c in alert.changes if c.startswith(SUPERSEDED)), None)
    if alert.item.kind == "firmware" and newer is not None:  # install the newer one instead
        return {
            "resolved": True,
            "resolution": "superseded",
            "summary": f"Resolved: {label} is {newer} for the devices that needed it",
        }
    if alert.item.kind == "firmware":  # an update, not a vulnerability: it affects nothing
        return {
            "resolved": True,
            "resolution": "upgraded",
            "summary": f"Resolved: no device of this receiver's fleets needs {label} any more",
        }
    return {
        "resolved": True,
        "resolution": "fixed",
        "summary": f"Resolved: {label} no longer affects any device of this receiver's fleets",
    }


def summary(alert: Alert, devices: int) -> str:
    """One line: what happened, to how many devices."""
    fleets = sorted({f.fleet for f in alert.findings})
    where = fleets[0] if len(fleets) == 1 else f"{len(fleets)} fleets"
    noun = "device" if devices == 1 else "devices"
    if alert.kind == "lifecycle":  # its title says which stage, and when
        return f"{devices} {noun} in {where}: {alert.item.title}"
    verb = {
        "advisory": "affected by",
        "exploited": "exposed to an exploited vulnerability in",
        "firmware": "can take",
    }[alert.kind]
    return f"{devices} {noun} in {where} {verb} {alert.item.vendor_id or alert.item.title}"


def group_findings(findings: Sequence[Finding]) -> list[list[Finding]]:
    """Findings that share fleet, status, stage and facts, in first-seen order."""
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    for f in findings:
        key = (
            f.fleet,
            f.status,
            f.stage,
            f.stage_ends,  # the note quotes the stage's dates: models with other dates apart
            f.stage_since,
            f.stage_next,
            f.fix_promised,
            f.fixed_version,
            f.update_available,
            f.change_to,
            f.change_on,
            f.firmware if f.kind == "firmware" else None,  # its note names the firmware run
            tuple((c.id, c.status, c.promise) for c in f.cves),
        )
        groups.setdefault(key, []).append(f)
    return list(groups.values())


# No fix will come first (isolate or replace), then a fix only if severe, part of one, unknown.
_PROMISE_RANK = {Promise.NO: 0, Promise.ONLY_IF_SEVERE: 1, Promise.PARTIAL: 2,
                 Promise.UNKNOWN: 3, Promise.YES: 4}


def _urgency(group: list[Finding]) -> tuple[int, int, int, str]:
    """Most urgent first, where a long alert is cut short (Slack): affected before possibly
    affected before review needed, no fix coming before a fix, more devices before fewer."""
    f = group[0]
    return (STATUS_RANK.get(f.status, len(STATUS_RANK)), _PROMISE_RANK.get(f.fix_promised, 3),
            -sum(g.count for g in group), f.fleet)


def _finding(group: list[Finding], severe_cvss: float, models: ModelOf) -> dict[str, Any]:
    f = group[0]
    worst = f.worst
    facts = NoteFacts.of(group)
    return {
        "fleet": f.fleet,
        "status": f.status,
        "reason": facts.reason,
        "device_groups": [
            {
                "model": models(g),
                "firmware": g.firmware,
                "count": g.count,
                "site": g.site,
                "reason": g.reason,
            }
            for g in group
        ],
        "devices": sum(g.count for g in group),
        "stage": f.stage.value,
        "stage_ends": f.stage_ends.isoformat() if f.stage_ends else None,
        "fix_promised": f.fix_promised.value,
        "severity": (worst.severity or "none").lower() if worst else None,
        "score": worst.score if worst else None,
        "cvss_version": worst.cvss_version if worst else None,
        "cves": [_cve(c) for c in f.cves],
        "fixed_version": f.fixed_version,
        "download_url": f.download_url,
        "notes_url": f.notes_url,
        "update_available": f.update_available,
        "resolves": list(f.resolves),
        "change": (
            {"to": f.change_to.value, "on": f.change_on.isoformat()}
            if f.change_to and f.change_on
            else None
        ),
        "risk_note": risk_note(facts, severe_cvss),
    }


def finding_record(f: Finding, severe_cvss: float = DEFAULT_SEVERE_CVSS) -> dict[str, Any]:
    """One finding as the store keeps it: the alert's finding entry plus its identity (its
    model is the normalised key throughout)."""
    return {
        "key": f.key,
        "kind": f.kind,
        "item_key": f.item_key,
        "group_key": f.group_key,
        "model": f.model,
        **_finding([f], severe_cvss, key_model),
    }


def digest_document(
    receiver: str,
    period: str,
    docs: Sequence[dict[str, Any]],
    now: datetime,
    on: date | None = None,
) -> dict[str, Any]:
    """One summary document of the alerts a digest route collected for a receiver; ``on`` is
    the local day it is for (the schedule's timezone), else ``now``'s."""
    day = (on or now.date()).isoformat()
    key = f"digest:{period}:{now.isoformat(timespec='seconds')}"  # a second run the same day too
    rank = ("none", "low", "medium", "high", "critical")
    severity = max((d.get("severity") or "none" for d in docs), key=rank.index, default="none")
    # Each finding says which alert's item it is about; the totals count a device group once
    # though several of the alerts list it (an advisory and the update that fixes it).
    findings = [{**f, "item": _about(d)} for d in docs for f in d["findings"]]
    groups = {
        (f["fleet"], g.get("model"), g.get("firmware"), g.get("site")): int(g.get("count") or 0)
        for f in findings
        for g in f["device_groups"]
    }
    titles = [d["summary"] for d in docs]
    dedupe = f"{receiver}|{key}"
    return {
        "schema": SCHEMA,
        "id": "fw_" + hashlib.sha256(dedupe.encode()).hexdigest()[:24],
        "dedupe_key": dedupe,
        "kind": "digest",
        "severity": severity,
        "score": max((d["score"] for d in docs if d.get("score") is not None), default=None),
        "cvss_version": None,
        "kev": min((d["kev"] for d in docs if d.get("kev")), default=None),
        "receivers": [receiver],
        "digest": period,
        "created_at": now.isoformat(timespec="seconds"),
        "item": {
            "key": key,
            "id": key,
            "kind": "digest",
            "title": f"{period.capitalize()} digest for {day}: {len(docs)} alert"
            + ("" if len(docs) == 1 else "s"),
            "url": "",
            "revision": day,
        },
        # what changed in the items it lists again (each alert's own changes, led by its item)
        "changes": [f"{d['item']['id']}: {c}" for d in docs for c in d.get("changes") or ()],
        "summary": "; ".join(titles),
        "totals": {
            "fleets": len({f["fleet"] for f in findings}),
            "device_groups": len(groups),
            "devices": sum(groups.values()),
        },
        "findings": findings,
        "alerts": [d["id"] for d in docs],
    }


def _about(doc: dict[str, Any]) -> dict[str, Any]:
    """The item a digest's finding is about, as its alert names it."""
    item = doc.get("item") or {}
    return {name: item.get(name) for name in ("key", "id", "title", "url")}


def _cve(c: CveVerdict) -> dict[str, Any]:
    return {
        "id": c.id,
        "status": c.status,
        "fix_promised": c.promise.value,
        "score": c.score,
        "severity": c.severity.lower() if c.severity else None,
        "cvss_version": c.cvss_version,
        "vector": c.vector,
        "kev": c.kev_added.isoformat() if c.kev_added else None,
    }


def _score(c: CveVerdict) -> float:
    return c.score or 0.0
