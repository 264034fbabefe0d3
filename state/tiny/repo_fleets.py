"""TinyDB repositories: fleets with their device groups, and findings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.fleets import DeviceGroup, Fleet
from state.errors import UnknownFleet
from state.records import (
    Change,
    Finding,
    FindingData,
    FindingStamp,
    FleetTotals,
    SeverityCount,
    from_text,
    to_text,
)
from state.tiny.memory import Doc, Memory


def fleet_doc(f: Fleet) -> Doc:
    """A fleet as a document."""
    return {"name": f.name, "description": f.description, "receivers": list(f.receivers),
            "tags": list(f.tags), "min_severity": f.min_severity, "origin": f.origin}


def fleet_of(d: Doc) -> Fleet:
    """A fleet from a document."""
    return Fleet(d["name"], d["description"], tuple(d["receivers"]), tuple(d["tags"]),
                 d["min_severity"], d["origin"])


def group_doc(g: DeviceGroup) -> Doc:
    """A device group as a document."""
    return {"key": g.key, "fleet": g.fleet, "model": g.model, "model_as_written":
            g.model_as_written, "firmware": g.firmware, "count": g.count, "site": g.site,
            "tags": list(g.tags), "serials": list(g.serials), "origin": g.origin}


def group_of(d: Doc) -> DeviceGroup:
    """A device group from a document (one stored before groups had an origin was imported)."""
    return DeviceGroup(d["fleet"], d["model"], d["model_as_written"], d["firmware"], d["count"],
                       d["site"], tuple(d["tags"]), tuple(d["serials"]),
                       d.get("origin", "import"))


def group_order(g: DeviceGroup) -> tuple[str, str, str, str]:
    """The order groups are listed in."""
    return (g.fleet, g.model, g.site, g.firmware or "")


class TinyFleets:
    """The fleet registry.

    Device groups are made from their documents once and kept while the document is the same
    object (a write replaces a document, never changes it): every cycle lists every group, and
    making 50,000 of them again took about a second.
    """

    def __init__(self, mem: Memory) -> None:
        self._mem = mem
        self._made: dict[str, tuple[Doc, DeviceGroup]] = {}  # doc id -> (its doc, its group)

    def get(self, name: str) -> Fleet | None:
        """One fleet."""
        with self._mem.lock:
            found = self._mem["fleets"].find(name)
            return None if found is None else fleet_of(found[1])

    def all(self) -> list[Fleet]:
        """Every fleet, by name."""
        with self._mem.lock:
            docs = list(self._mem["fleets"].docs.values())
        return sorted((fleet_of(d) for d in docs), key=lambda f: f.name)

    def put(self, fleet: Fleet) -> bool:
        """Add or update a fleet; True when something changed."""
        doc = fleet_doc(fleet)
        with self._mem.transaction():
            found = self._mem["fleets"].find(fleet.name)
            if found is not None and found[1] == doc:
                return False
            self._mem.put("fleets", doc, found[0] if found else None)
            return True

    def remove(self, name: str) -> int | None:
        """Remove a fleet and its groups; the number of groups, None when unknown."""
        with self._mem.transaction():
            found = self._mem["fleets"].find(name)
            if found is None:
                return None
            removed = self._mem.delete("device_groups",
                                       self._mem["device_groups"].ids_in("fleet", name))
            self._mem.delete("fleets", [found[0]])
            return removed

    def groups(self, fleet: str | None = None) -> list[DeviceGroup]:
        """Device groups (of one fleet), by fleet, model, site, firmware."""
        with self._mem.lock:
            t = self._mem["device_groups"]
            ids = t.docs if fleet is None else t.ids_in("fleet", fleet)
            made, kept = self._made, {}
            groups = []
            for i in ids:
                doc = t.docs[i]
                found = made.get(i)
                if found is None or found[0] is not doc:
                    found = (doc, group_of(doc))
                kept[i] = found
                groups.append(found[1])
            if fleet is None:
                self._made = kept  # the groups there are now: none of removed documents
            else:
                made.update(kept)
        return sorted(groups, key=group_order)

    def groups_of_model(self, model: str) -> list[DeviceGroup]:
        """Device groups of one normalised model in every fleet."""
        with self._mem.lock:
            t = self._mem["device_groups"]
            groups = [group_of(t.docs[i]) for i in t.by_group["model"].get(model, ())]
        return sorted(groups, key=group_order)

    def model_totals(self, fleet: str | None = None) -> dict[tuple[str, str], FleetTotals]:
        """Groups and devices per (fleet, model), of one fleet or all."""
        sums: dict[tuple[str, str], list[int]] = {}
        with self._mem.lock:
            t = self._mem["device_groups"]
            ids = t.docs if fleet is None else t.by_group["fleet"].get(fleet, ())
            for i in ids:
                d = t.docs[i]
                acc = sums.get((d["fleet"], d["model"]))
                if acc is None:
                    acc = sums[(d["fleet"], d["model"])] = [0, 0]
                acc[0] += 1
                acc[1] += d["count"]
        return {k: FleetTotals(n, devices) for k, (n, devices) in sorted(sums.items())}

    def group(self, key: str) -> DeviceGroup | None:
        """One device group by key."""
        with self._mem.lock:
            found = self._mem["device_groups"].find(key)
            return None if found is None else group_of(found[1])

    def put_groups(self, groups: Iterable[DeviceGroup]) -> int:
        """Add or update groups by key; raise UnknownFleet for a fleet not in the registry."""
        changed = 0
        with self._mem.transaction():
            t, fleets = self._mem["device_groups"], self._mem["fleets"]
            for g in groups:
                if fleets.find(g.fleet) is None:
                    raise UnknownFleet(f"no fleet named {g.fleet!r}; add the fleet first")
                doc = group_doc(g)
                found = t.find(doc["key"])
                if found is None or found[1] != doc:
                    self._mem.put("device_groups", doc, found[0] if found else None)
                    changed += 1
        return changed

    def remove_groups(self, keys: Iterable[str]) -> int:
        """Remove groups by key; the number removed."""
        with self._mem.transaction():
            t = self._mem["device_groups"]
            return self._mem.delete("device_groups",
                                    [f[0] for k in keys if (f := t.find(k)) is not None])

    def totals(self) -> dict[str, FleetTotals]:
        """Groups and devices per fleet (every fleet, even empty ones)."""
        with self._mem.lock:
            t = self._mem["device_groups"]
            return {
                name: FleetTotals(len(ids), sum(t.docs[i]["count"] for i in ids))
                for name in (d["name"] for d in self._mem["fleets"].docs.values())
                for ids in [t.by_group["fleet"].get(name, set())]
            }


class TinyFindings:
    """Findings keyed by fleet, device group and item."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def put(self, finding: FindingData, now: datetime) -> Change:
        """Store a finding; unchanged when its revision and state are the same."""
        return self.put_many([finding], now)[finding.key]

    def put_many(self, findings: Iterable[FindingData], now: datetime) -> dict[str, Change]:
        """``put`` for many findings; the change per key."""
        stamp = to_text(now, "now")
        changes: dict[str, Change] = {}
        with self._mem.transaction():
            t = self._mem["findings"]
            for f in findings:
                found = t.find(f.key)
                if found and (found[1]["revision"], found[1]["state"]) == (f.revision, f.state):
                    changes[f.key] = "unchanged"
                    continue
                doc = {"key": f.key, "fleet": f.fleet, "group_key": f.group_key,
                       "item_key": f.item_key, "revision": f.revision, "state": f.state,
                       "data": f.data, "first_seen": found[1]["first_seen"] if found else stamp,
                       "updated_at": stamp}
                self._mem.put("findings", doc, found[0] if found else None, copy=True)
                changes[f.key] = "revised" if found else "new"
        return changes

    def get(self, key: str) -> Finding | None:
        """One finding."""
        with self._mem.lock:
            found = self._mem["findings"].find(key)
            return None if found is None else _finding(self._mem["findings"].fresh(found[0]))

    def for_item(self, item_key: str) -> list[Finding]:
        """Findings of one item."""
        return self._listed(("item", item_key), None, None)

    def for_fleet(
        self, fleet: str, state: str | None = None, limit: int | None = None
    ) -> list[Finding]:
        """Findings of one fleet (in one state), by key; the first ``limit`` when given."""
        return self._listed(("fleet", fleet), state, limit)

    def all(self, state: str | None = None, limit: int | None = None) -> list[Finding]:
        """Findings (in one state), by key; the first ``limit`` when given."""
        return self._listed(None if state is None else ("state", state), state, limit)

    def _listed(
        self, group: tuple[str, str] | None, state: str | None, limit: int | None
    ) -> list[Finding]:
        """The findings of a group (or all) in key order, copied only for the ones returned."""
        with self._mem.lock:
            t = self._mem["findings"]
            docs = t.docs
            ids = docs if group is None else t.ids_in(*group)
            picked = sorted((i for i in ids if state is None or docs[i]["state"] == state),
                            key=lambda i: docs[i]["key"])
            return [_finding(t.fresh(i)) for i in picked[:limit]]

    def set_state(self, key: str, state: str, now: datetime) -> bool:
        """Change a finding's state; False when unknown or already in it."""
        stamp = to_text(now, "now")
        with self._mem.transaction():
            found = self._mem["findings"].find(key)
            if found is None or found[1]["state"] == state:
                return False
            self._mem.put("findings", {**found[1], "state": state, "updated_at": stamp}, found[0])
            return True

    def count(self, state: str | None = None) -> int:
        """How many findings (in one state)."""
        with self._mem.lock:
            t = self._mem["findings"]
            return len(t.docs) if state is None else len(t.by_group["state"].get(state, ()))

    def stamps(self) -> dict[str, FindingStamp]:
        """Every finding's item key, revision and state, by key (its data is not read)."""
        with self._mem.lock:
            return {d["key"]: FindingStamp(d["item_key"], d["revision"], d["state"])
                    for d in self._mem["findings"].docs.values()}

    def items_by_group(
        self, group_keys: Iterable[str], state: str | None = None
    ) -> dict[str, list[str]]:
        """The item keys of the findings of some device groups (in one state), per group."""
        found: dict[str, list[str]] = {}
        with self._mem.lock:
            t = self._mem["findings"]
            index = t.by_group["group"]
            for key in set(group_keys):
                docs = (t.docs[i] for i in index.get(key, ()))
                items = sorted(d["item_key"] for d in docs if state is None or d["state"] == state)
                if items:
                    found[key] = items
        return found

    def _docs(self, fleet: str | None, state: str | None) -> Iterable[Doc]:
        """The findings of one fleet, in one state (either, both or neither), by the indexes;
        the caller holds the lock."""
        t = self._mem["findings"]
        if fleet is not None:
            ids: Iterable[str] = t.by_group["fleet"].get(fleet, ())
        elif state is not None:
            ids = t.by_group["state"].get(state, ())
        else:
            ids = t.docs
        for i in ids:
            d = t.docs[i]
            if (fleet is None or d["fleet"] == fleet) and (state is None or d["state"] == state):
                yield d

    def item_counts(self, fleet: str | None = None, state: str | None = None) -> dict[str, int]:
        """How many findings each item has (of one fleet, in one state)."""
        counts: dict[str, int] = {}
        with self._mem.lock:
            for d in self._docs(fleet, state):
                counts[d["item_key"]] = counts.get(d["item_key"], 0) + 1
        return dict(sorted(counts.items()))

    def severity_counts(
        self, fleet: str | None = None, state: str | None = None
    ) -> dict[str, dict[str, SeverityCount]]:
        """Per item, its findings per severity (of their records), with the highest score."""
        sums: dict[str, dict[str, tuple[int, float | None]]] = {}
        with self._mem.lock:
            for d in self._docs(fleet, state):
                data = d["data"] if isinstance(d["data"], dict) else {}
                severity = data.get("severity")
                score = data.get("score")
                word = severity if isinstance(severity, str) and severity else "none"
                scored = float(score) if isinstance(score, int | float) else None
                per = sums.setdefault(d["item_key"], {})
                n, best = per.get(word, (0, None))
                if scored is not None and (best is None or scored > best):
                    best = scored
                per[word] = (n + 1, best)
        return {item: {w: SeverityCount(n, s) for w, (n, s) in sorted(per.items())}
                for item, per in sorted(sums.items())}


def _finding(d: Doc) -> Finding:
    return Finding(d["key"], d["fleet"], d["group_key"], d["item_key"], d["revision"], d["state"],
                   d["data"], from_text(d["first_seen"]), from_text(d["updated_at"]))
