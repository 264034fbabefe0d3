"""The REST API (``/api/v1``): fleets for a CMDB to sync, and alerts for a ticketing system.

Fleets declared in ``bot.toml`` are read-only here (409): change them in the file. A PUT replaces a
fleet and all its device groups in one unit of work (:func:`state.fleetsync.replace_fleet`).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.catalog import ModelError
from bot.config import Settings
from bot.configvalues import NAME_RULE
from bot.fleets import (
    FLEET_NAME,
    MAX_COUNT,
    DeviceGroup,
    Fleet,
    FleetError,
    make_group,
    same_devices,
    written_differently,
)
from bot.web.http import HttpError, Request, Response, json_response
from state import Finding, FleetTotals, OutboxEntry, Store
from state.fleetsync import remove_fleet, replace_fleet
from state.records import OUTBOX_STATUSES, OutboxStatus

DEFAULT_STATUSES: tuple[OutboxStatus, ...] = ("pending", "retrying", "dead")
MAX_LIMIT = 1000


class DeviceBody(BaseModel):
    """One device group in a PUT body."""

    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(min_length=1, max_length=200)
    firmware: str | None = Field(default=None, max_length=200)
    count: int = Field(default=1, ge=1, le=MAX_COUNT)
    site: str = Field(default="", max_length=200)
    tags: list[str] = []
    serials: list[str] = []


class FleetBody(BaseModel):
    """A PUT body: the fleet's settings and every device group it holds."""

    model_config = ConfigDict(extra="forbid", strict=True)
    description: str = Field(default="", max_length=500)
    receivers: list[str] = []
    tags: list[str] = []
    min_severity: Literal["none", "low", "medium", "high", "critical"] = "none"
    devices: list[DeviceBody] = []


def fleet_json(fleet: Fleet, totals: FleetTotals | None) -> dict[str, Any]:
    """A fleet as JSON (the shape of ``firmwatch fleet list --json``)."""
    totals = totals or FleetTotals(0, 0)
    return {"name": fleet.name, "description": fleet.description,
            "receivers": list(fleet.receivers), "tags": list(fleet.tags),
            "min_severity": fleet.min_severity, "origin": fleet.origin,
            "groups": totals.groups, "devices": totals.devices}


def group_json(g: DeviceGroup) -> dict[str, Any]:
    """A device group as JSON."""
    return {"key": g.key, "model": g.model, "model_as_written": g.model_as_written,
            "firmware": g.firmware, "count": g.count, "site": g.site, "tags": list(g.tags),
            "serials": list(g.serials), "origin": g.origin}


def list_fleets(store: Store) -> Response:
    """GET /api/v1/fleets."""
    totals = store.fleets.totals()
    return json_response(200, {"fleets": [fleet_json(f, totals.get(f.name))
                                          for f in store.fleets.all()]})


def get_fleet(store: Store, name: str) -> Response:
    """GET /api/v1/fleets/{name}."""
    return json_response(200, _fleet_detail(store, _existing(store, name)))


def put_fleet(store: Store, settings: Settings, request: Request, name: str) -> Response:
    """PUT /api/v1/fleets/{name}: replace the fleet and its device groups with the body."""
    if not FLEET_NAME.match(name):
        raise HttpError(400, f"a fleet name is {NAME_RULE} (got {name!r})")
    old = store.fleets.get(name)
    if old is not None and old.origin == "config":
        raise _declared(name)
    body = _fleet_body(request)
    fleet, groups = _build(name, body, settings)
    try:
        changes = replace_fleet(store, fleet, groups)
    except FleetError as exc:
        raise HttpError(422, "the fleet was not changed", list(exc.problems)) from None
    detail = _fleet_detail(store, _existing(store, name))
    return json_response(201 if old is None else 200, {"fleet": detail, "changes": asdict(changes)})


def delete_fleet(store: Store, name: str) -> Response:
    """DELETE /api/v1/fleets/{name}: remove the fleet and its device groups."""
    fleet = _existing(store, name)
    if fleet.origin == "config":
        raise _declared(name)
    removed, channels = remove_fleet(store, name, datetime.now(UTC))
    return json_response(200, {"removed": name, "device_groups": removed or 0,
                               "unsubscribed": channels})


def list_alerts(store: Store, request: Request) -> Response:
    """GET /api/v1/alerts?status=…&state=…&receiver=…&fleet=…&limit=…"""
    q = request.query
    statuses = _statuses(q.get("status", ""))
    state = q.get("state", "open").strip() or "open"
    if state not in FINDING_STATES:
        raise HttpError(400, f"state: expected one of {', '.join(FINDING_STATES)} (got {state})")
    limit = _limit(q.get("limit", "100"))
    receiver, fleet = q.get("receiver") or None, q.get("fleet") or None
    entries = store.outbox.all(statuses, receiver=receiver, limit=limit) if statuses else []
    finding_state = None if state == "all" else state
    findings = (store.findings.for_fleet(fleet, finding_state, limit) if fleet
                else store.findings.all(finding_state, limit))
    return json_response(200, {"outbox": [_entry_json(e) for e in entries],
                               "findings": [_finding_json(f) for f in findings]})


def _fleet_detail(store: Store, fleet: Fleet) -> dict[str, Any]:
    return {**fleet_json(fleet, store.fleets.totals().get(fleet.name)),
            "device_groups": [group_json(g) for g in store.fleets.groups(fleet.name)]}


def _existing(store: Store, name: str) -> Fleet:
    fleet = store.fleets.get(name)
    if fleet is None:
        raise HttpError(404, f"no fleet named {name!r}")
    return fleet


def _declared(name: str) -> HttpError:
    return HttpError(409, f"fleet {name!r} is declared in bot.toml ([[fleets]]); change it there")


def _fleet_body(request: Request) -> FleetBody:
    data = request.json()
    if not isinstance(data, dict):
        raise HttpError(422, "the fleet was not changed", ["body: expected a JSON object"])
    try:
        return FleetBody.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise HttpError(422, "the fleet was not changed", problems) from None


def _build(name: str, body: FleetBody, settings: Settings) -> tuple[Fleet, list[DeviceGroup]]:
    problems: list[str] = []
    known = {r.name for r in settings.receivers}
    problems += [f"receivers[{i}]: no [[receivers]] entry has this name (got {r!r})"
                 for i, r in enumerate(body.receivers) if r not in known]
    groups: dict[tuple[object, ...], DeviceGroup] = {}
    for i, d in enumerate(body.devices):
        try:
            g = make_group(name, d.model, d.firmware, d.count, d.site, d.tags, d.serials)
        except ModelError as exc:
            problems.append(f"devices[{i}].model: {exc}")
            continue
        if (earlier := groups.get(same_devices(g))) is not None:
            problems.append(f"devices[{i}]: the same model, firmware and site as an earlier"
                            f" device (got {d.model!r}{written_differently(g, earlier)})")
        groups[same_devices(g)] = g
    if problems:
        raise HttpError(422, "the fleet was not changed", problems)
    fleet = Fleet(name, body.description, tuple(body.receivers), tuple(body.tags),
                  body.min_severity, "import")
    return fleet, list(groups.values())


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


FINDING_STATES = ("open", "resolved", "all")


def _statuses(text: str) -> list[OutboxStatus]:
    if not text.strip():
        return list(DEFAULT_STATUSES)
    if text.strip() == "all":
        return list(OUTBOX_STATUSES)
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    bad = [w for w in wanted if w not in OUTBOX_STATUSES]
    if bad:
        raise HttpError(400, f"status: expected some of {', '.join(OUTBOX_STATUSES)} or all"
                        f" (got {', '.join(bad)})")
    return [s for s in OUTBOX_STATUSES if s in wanted]


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise HttpError(400, f"limit: expected a whole number from 1 to {MAX_LIMIT} (got {text!r})")
    return int(text)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _entry_json(e: OutboxEntry) -> dict[str, Any]:
    return {"id": e.id, "receiver": e.receiver, "dedupe_key": e.dedupe_key,
            "alert_id": e.alert_id, "status": e.status, "attempts": e.attempts,
            "next_attempt_at": _iso(e.next_attempt_at), "last_status": e.last_status,
            "last_error": e.last_error, "created_at": _iso(e.created_at),
            "updated_at": _iso(e.updated_at), "payload": e.payload}


def _finding_json(f: Finding) -> dict[str, Any]:
    return {"key": f.key, "fleet": f.fleet, "group_key": f.group_key, "item_key": f.item_key,
            "revision": f.revision, "state": f.state, "first_seen": _iso(f.first_seen),
            "updated_at": _iso(f.updated_at), "data": f.data}
