"""SQL repositories: fleets with their device groups, and findings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, select, update

from bot.fleets import DeviceGroup, Fleet
from state.errors import UnknownFleet
from state.records import (
    Change,
    Finding,
    FindingData,
    FindingStamp,
    FleetTotals,
    SeverityCount,
    utc,
)
from state.sql.bulk import upsert_groups
from state.sql.engine import SqlDb, chunks
from state.sql.schema import device_groups, findings, fleets


def _fleet(r: Row[Any]) -> Fleet:
    return Fleet(r.name, r.description, tuple(r.receivers), tuple(r.tags), r.min_severity,
                 r.origin)


def _group(r: Row[Any]) -> DeviceGroup:
    m = r._mapping  # a Row is a tuple: r.count would be tuple.count
    return DeviceGroup(m["fleet"], m["model"], m["model_as_written"], m["firmware"], m["count"],
                       m["site"], tuple(m["tags"]), tuple(m["serials"]), m["origin"])


def _order(g: DeviceGroup) -> tuple[str, str, str, str]:
    return (g.fleet, g.model, g.site, g.firmware or "")


class SqlFleets:
    """The fleet registry."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def get(self, name: str) -> Fleet | None:
        """One fleet."""
        with self._db.unit() as c:
            row = c.execute(select(fleets).where(fleets.c.name == name)).first()
        return None if row is None else _fleet(row)

    def all(self) -> list[Fleet]:
        """Every fleet, by name."""
        with self._db.unit() as c:
            rows = c.execute(select(fleets)).all()
        return sorted((_fleet(r) for r in rows), key=lambda f: f.name)

    def put(self, fleet: Fleet) -> bool:
        """Add or update a fleet; True when something changed."""
        values = {"name": fleet.name, "description": fleet.description,
                  "receivers": list(fleet.receivers), "tags": list(fleet.tags),
                  "min_severity": fleet.min_severity, "origin": fleet.origin}
        ins = self._db.insert(fleets).values(values)
        changed = [fleets.c[k].is_distinct_from(ins.excluded[k]) for k in values if k != "name"]
        where = changed[0]
        for clause in changed[1:]:
            where = where | clause
        stmt = ins.on_conflict_do_update(
            index_elements=["name"], set_={k: ins.excluded[k] for k in values if k != "name"},
            where=where,
        ).returning(fleets.c.name)
        with self._db.unit() as c:
            return c.execute(stmt).first() is not None

    def remove(self, name: str) -> int | None:
        """Remove a fleet and its groups; the number of groups, None when unknown."""
        with self._db.unit() as c:
            groups = c.execute(delete(device_groups).where(device_groups.c.fleet == name))
            gone = c.execute(delete(fleets).where(fleets.c.name == name))
            return groups.rowcount if gone.rowcount else None

    def groups(self, fleet: str | None = None) -> list[DeviceGroup]:
        """Device groups (of one fleet), by fleet, model, site, firmware."""
        q = select(device_groups)
        with self._db.unit() as c:
            rows = c.execute(q if fleet is None else q.where(device_groups.c.fleet == fleet))
            return sorted((_group(r) for r in rows), key=_order)

    def groups_of_model(self, model: str) -> list[DeviceGroup]:
        """Device groups of one normalised model in every fleet."""
        with self._db.unit() as c:
            rows = c.execute(select(device_groups).where(device_groups.c.model == model))
            return sorted((_group(r) for r in rows), key=_order)

    def model_totals(self, fleet: str | None = None) -> dict[tuple[str, str], FleetTotals]:
        """Groups and devices per (fleet, model), of one fleet or all."""
        g = device_groups
        q = (select(g.c.fleet, g.c.model, func.count(), func.sum(g.c.count))
             .group_by(g.c.fleet, g.c.model))
        with self._db.unit() as c:
            rows = c.execute(q if fleet is None else q.where(g.c.fleet == fleet)).all()
        return {(f, m): FleetTotals(int(n), int(total)) for f, m, n, total in sorted(rows)}

    def group(self, key: str) -> DeviceGroup | None:
        """One device group by key."""
        with self._db.unit() as c:
            row = c.execute(select(device_groups).where(device_groups.c.key == key)).first()
        return None if row is None else _group(row)

    def put_groups(self, groups: Iterable[DeviceGroup]) -> int:
        """Add or update groups by key; raise UnknownFleet for a fleet not in the registry."""
        wanted = {g.key: g for g in groups}
        if not wanted:
            return 0
        t = device_groups
        with self._db.unit() as c:
            named = {g.fleet for g in wanted.values()}
            known = set(c.execute(select(fleets.c.name).where(fleets.c.name.in_(named)))
                        .scalars())
            if missing := sorted(named - known):
                raise UnknownFleet(f"no fleet named {missing[0]!r}; add the fleet first")
            changed = []
            for part in chunks(list(wanted)):
                rows = c.execute(select(t).where(t.c.key.in_(part)))
                stored = {g.key: g for g in map(_group, rows)}
                changed += [wanted[k] for k in part if stored.get(k) != wanted[k]]
            upsert_groups(c, self._db.insert(t), changed)
            return len(changed)

    def remove_groups(self, keys: Iterable[str]) -> int:
        """Remove groups by key; the number removed."""
        removed = 0
        with self._db.unit() as c:
            for part in chunks(list(dict.fromkeys(keys))):
                removed += c.execute(delete(device_groups)
                                     .where(device_groups.c.key.in_(part))).rowcount
        return removed

    def totals(self) -> dict[str, FleetTotals]:
        """Groups and devices per fleet (every fleet, even empty ones)."""
        g = device_groups
        q = (select(fleets.c.name, func.count(g.c.key), func.coalesce(func.sum(g.c.count), 0))
             .select_from(fleets.outerjoin(g, g.c.fleet == fleets.c.name))
             .group_by(fleets.c.name))
        with self._db.unit() as c:
            return {name: FleetTotals(int(n), int(total)) for name, n, total in c.execute(q)}


def _finding(r: Row[Any]) -> Finding:
    return Finding(r.key, r.fleet, r.group_key, r.item_key, r.revision, r.state, r.data,
                   r.first_seen, r.updated_at)


class SqlFindings:
    """Findings keyed by fleet, device group and item."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def put(self, finding: FindingData, now: datetime) -> Change:
        """Store a finding; unchanged when its revision and state are the same."""
        return self.put_many([finding], now)[finding.key]

    def put_many(self, items: Iterable[FindingData], now: datetime) -> dict[str, Change]:
        """``put`` for many findings; the change per key."""
        now = utc(now, "now")
        wanted = {f.key: f for f in items}
        changes: dict[str, Change] = {}
        t = findings
        ins = self._db.insert(t).on_conflict_do_nothing(index_elements=["key"])
        upd = (update(t).where(t.c.key == bindparam("k"))
               .where((t.c.revision != bindparam("rev")) | (t.c.state != bindparam("st")))
               .values(revision=bindparam("rev"), state=bindparam("st"), data=bindparam("dat"),
                       updated_at=bindparam("at")))
        with self._db.unit() as c:
            for part in chunks(list(wanted)):
                known = {r.key: (r.revision, r.state) for r in c.execute(
                    select(t.c.key, t.c.revision, t.c.state).where(t.c.key.in_(part)))}
                fresh = [wanted[k] for k in part if k not in known]
                if fresh:  # plain executemany: see put_groups
                    c.execute(ins, [
                        {"key": f.key, "fleet": f.fleet, "group_key": f.group_key,
                         "item_key": f.item_key, "revision": f.revision, "state": f.state,
                         "data": f.data, "first_seen": now, "updated_at": now} for f in fresh
                    ])
                    changes.update({f.key: "new" for f in fresh})
                for k in part:
                    if k in changes:
                        continue
                    f = wanted[k]
                    if known[k] == (f.revision, f.state):
                        changes[k] = "unchanged"
                        continue
                    n = c.execute(upd, {"k": f.key, "rev": f.revision, "st": f.state,
                                        "dat": f.data, "at": now}).rowcount
                    changes[k] = "revised" if n else "unchanged"
        return changes

    def get(self, key: str) -> Finding | None:
        """One finding."""
        with self._db.unit() as c:
            row = c.execute(select(findings).where(findings.c.key == key)).first()
        return None if row is None else _finding(row)

    def for_item(self, item_key: str) -> list[Finding]:
        """Findings of one item."""
        return self._where(findings.c.item_key == item_key)

    def for_fleet(
        self, fleet: str, state: str | None = None, limit: int | None = None
    ) -> list[Finding]:
        """Findings of one fleet (in one state), by key; the first ``limit`` when given."""
        clause = findings.c.fleet == fleet
        return self._where(clause if state is None else clause & (findings.c.state == state),
                           limit)

    def all(self, state: str | None = None, limit: int | None = None) -> list[Finding]:
        """Findings (in one state), by key; the first ``limit`` when given."""
        return self._where(None if state is None else findings.c.state == state, limit)

    def set_state(self, key: str, state: str, now: datetime) -> bool:
        """Change a finding's state; False when unknown or already in it."""
        t = findings
        with self._db.unit() as c:
            return c.execute(update(t).where(t.c.key == key, t.c.state != state)
                             .values(state=state, updated_at=utc(now, "now"))).rowcount == 1

    def count(self, state: str | None = None) -> int:
        """How many findings (in one state)."""
        q = select(func.count()).select_from(findings)
        with self._db.unit() as c:
            return int(c.execute(q if state is None else q.where(findings.c.state == state))
                       .scalar_one())

    def stamps(self) -> dict[str, FindingStamp]:
        """Every finding's item key, revision and state, by key (its data is not read)."""
        t = findings
        with self._db.unit() as c:
            rows = c.execute(select(t.c.key, t.c.item_key, t.c.revision, t.c.state))
            return {key: FindingStamp(item, revision, state)
                    for key, item, revision, state in rows.all()}  # one fetch, not one per row

    def items_by_group(
        self, group_keys: Iterable[str], state: str | None = None
    ) -> dict[str, list[str]]:
        """The item keys of the findings of some device groups (in one state), per group."""
        t = findings
        found: dict[str, list[str]] = {}
        with self._db.unit() as c:
            for part in chunks(sorted(set(group_keys))):
                q = select(t.c.group_key, t.c.item_key).where(t.c.group_key.in_(part))
                for group, item in c.execute(q if state is None else q.where(t.c.state == state)):
                    found.setdefault(group, []).append(item)
        return {k: sorted(v) for k, v in found.items()}

    def item_counts(self, fleet: str | None = None, state: str | None = None) -> dict[str, int]:
        """How many findings each item has (of one fleet, in one state)."""
        t = findings
        q = select(t.c.item_key, func.count()).group_by(t.c.item_key)
        if fleet is not None:
            q = q.where(t.c.fleet == fleet)
        if state is not None:
            q = q.where(t.c.state == state)
        with self._db.unit() as c:
            return {k: int(n) for k, n in sorted(c.execute(q).all())}

    def severity_counts(
        self, fleet: str | None = None, state: str | None = None
    ) -> dict[str, dict[str, SeverityCount]]:
        """Per item, its findings per severity (of their records), with the highest score."""
        t = findings
        severity = t.c.data["severity"].as_string()
        q = (select(t.c.item_key, severity, func.count(), func.max(t.c.data["score"].as_float()))
             .group_by(t.c.item_key, severity))
        if fleet is not None:
            q = q.where(t.c.fleet == fleet)
        if state is not None:
            q = q.where(t.c.state == state)
        out: dict[str, dict[str, list[Any]]] = {}
        with self._db.unit() as c:
            for item, word, n, score in c.execute(q):
                per = out.setdefault(item, {})
                row = per.setdefault(word or "none", [0, None])  # NULL and "" alike
                row[0] += int(n)
                if score is not None and (row[1] is None or float(score) > row[1]):
                    row[1] = float(score)
        return {item: {w: SeverityCount(n, s) for w, (n, s) in sorted(per.items())}
                for item, per in sorted(out.items())}

    def _where(self, clause: Any, limit: int | None = None) -> list[Finding]:
        q = select(findings) if clause is None else select(findings).where(clause)
        if limit is not None:  # the first by key as Python orders text: code point order
            key = findings.c.key
            q = q.order_by(key.collate("C") if self._db.dialect == "postgresql" else key)
            q = q.limit(limit)
        with self._db.unit() as c:
            return sorted((_finding(r) for r in c.execute(q)), key=lambda f: f.key)
