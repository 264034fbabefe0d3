"""Fleet registry changes applied to a Store in one unit of work: CSV import, bot.toml sync.

Both are all-or-nothing (one transaction) and idempotent (the same input twice changes nothing).
bot.toml owns the settings of the fleets it declares and the device groups it lists (origin
``config``); imports and the REST API own the groups they write (``import``). A sync adds, changes
and removes only what the file owns, so dropping a ``[[fleets]]`` entry (or a device it lists) never
takes imported groups with it, even those the file listed too (`state.fleetshadows`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.catalog import CatalogEntry
from bot.fleets import (
    DeclaredFleet,
    DeviceGroup,
    Fleet,
    FleetError,
    FleetFile,
    Origin,
    same_devices,
)
from bot.slack.subscriptions import drop_fleet
from state import fleetshadows
from state.api import Store

# Meta key: fleets whose device groups changed since a cycle last evaluated them, with when they
# first did ({fleet: ISO time}); written here, cleared by the cycle (`evaluated`).
UNEVALUATED_KEY = "fleets.unevaluated"
NAMES_SHOWN = 10  # fleet names a summary line lists before counting the rest


@dataclass
class FleetChanges:
    """What an import or sync changed."""

    fleets_added: list[str] = field(default_factory=list)
    fleets_updated: list[str] = field(default_factory=list)
    fleets_removed: list[str] = field(default_factory=list)
    groups_added: int = 0
    groups_updated: int = 0
    groups_removed: int = 0
    groups_unchanged: int = 0
    groups_declared: int = 0  # imported groups left as bot.toml lists them (its values win)
    catalog_updated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when anything was written."""
        return bool(self.fleets_added or self.fleets_updated or self.fleets_removed
                    or self.groups_added or self.groups_updated or self.groups_removed
                    or self.catalog_updated)

    def describe(self) -> str:
        """One line for people."""
        parts = []
        for label, names in (("new", self.fleets_added), ("updated", self.fleets_updated),
                             ("removed", self.fleets_removed)):
            if names:
                shown = ", ".join(names[:NAMES_SHOWN])
                more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
                parts.append(f"fleets {label}: {shown}{more}")
        parts.append(f"device groups: {self.groups_added} added, {self.groups_updated} updated,"
                     f" {self.groups_removed} removed, {self.groups_unchanged} unchanged")
        if self.groups_declared:
            parts.append(f"{self.groups_declared} left as bot.toml lists"
                         f" {'it' if self.groups_declared == 1 else 'them'}")
        if self.catalog_updated:
            parts.append(f"lifecycle dates updated for {len(self.catalog_updated)} model(s)")
        return ("" if self.changed else "nothing changed; ") + "; ".join(parts)


def import_fleets(store: Store, parsed: FleetFile, *, replace: bool = False) -> FleetChanges:
    """Apply a parsed fleet CSV: merge groups by key, or with ``replace`` make each fleet in the
    file hold exactly the file's groups besides those bot.toml lists. New fleets are created;
    lifecycle dates are stored."""
    changes = FleetChanges()
    by_fleet: dict[str, list[DeviceGroup]] = {name: [] for name in parsed.fleets}
    for g in parsed.groups:
        by_fleet[g.fleet].append(g)
    with store.transaction():
        for name in by_fleet:
            if store.fleets.get(name) is None:
                store.fleets.put(Fleet(name))
                changes.fleets_added.append(name)
        _apply_groups(store, by_fleet, replace=replace, changes=changes)
        _apply_catalog(store, parsed.catalog, changes)
    return changes


def sync_declared_fleets(store: Store, declared: Sequence[DeclaredFleet]) -> FleetChanges:
    """Make the store match ``[[fleets]]``: add or update declared fleets and make the devices
    each lists its bot.toml groups; of a fleet no longer declared, remove its bot.toml groups and
    settings, and the fleet itself unless imported groups remain."""
    changes = FleetChanges()
    with store.transaction():
        existing = {f.name: f for f in store.fleets.all()}
        for d in declared:
            if store.fleets.put(d.fleet):
                known = d.fleet.name in existing
                (changes.fleets_updated if known else changes.fleets_added).append(d.fleet.name)
        listed = {d.fleet.name: list(d.groups or ()) for d in declared}
        names = set(listed)
        dropped = [n for n, f in existing.items() if f.origin == "config" and n not in names]
        listed.update((name, []) for name in dropped)
        _apply_groups(store, listed, replace=True, changes=changes, origin="config")
        for name in dropped:
            if store.fleets.groups(name):
                store.fleets.put(Fleet(name))
                changes.fleets_updated.append(name)
            else:
                remove_fleet(store, name, datetime.now(UTC))
                changes.fleets_removed.append(name)
    return changes


def remove_fleet(store: Store, name: str, now: datetime) -> tuple[int | None, list[str]]:
    """Remove a fleet, its device groups and its Slack channel subscriptions in one unit of work
    (a fleet made later under the name, another customer's, must not inherit the channels): the
    number of groups (None when there was no such fleet) and the channels it had."""
    with store.transaction():
        removed = store.fleets.remove(name)
        return removed, drop_fleet(store, name, now)


def replace_fleet(store: Store, fleet: Fleet, groups: Sequence[DeviceGroup]) -> FleetChanges:
    """Create or update one fleet and make it hold exactly ``groups`` (all-or-nothing; the REST
    API's PUT). The groups must belong to the fleet."""
    strays = sorted({g.fleet for g in groups if g.fleet != fleet.name})
    if strays:
        raise FleetError([f"device groups of other fleets given for {fleet.name!r}: "
                          + ", ".join(strays)])
    changes = FleetChanges()
    with store.transaction():
        known = store.fleets.get(fleet.name) is not None
        if store.fleets.put(fleet):
            (changes.fleets_updated if known else changes.fleets_added).append(fleet.name)
        _apply_groups(store, {fleet.name: list(groups)}, replace=True, changes=changes)
    return changes


def _apply_groups(
    store: Store, by_fleet: dict[str, list[DeviceGroup]], *, replace: bool, changes: FleetChanges,
    origin: Origin = "import",
) -> None:
    """Write ``by_fleet``'s groups as ``origin``'s (a group of the same key changes hands, except
    that an import leaves a group bot.toml lists as it is); with ``replace``, remove that origin's
    groups of those fleets that are not given. A group whose firmware is a stored group's version
    written differently is that group: it keeps the stored spelling, and so its key and findings.
    An imported group bot.toml lists is kept as the import wrote it (`fleetshadows`): when the
    file stops listing it, it is the import's again."""
    put: list[DeviceGroup] = []
    gone: list[str] = []
    touched: list[str] = []  # fleets whose groups change: not evaluated until the next cycle
    shadows = fleetshadows.load(store)
    kept = dict(shadows)
    for name, groups in by_fleet.items():
        before = len(put) + len(gone)
        current = {g.key: g for g in store.fleets.groups(name)}
        groups = _as_stored(groups, current)
        for g in groups:
            g = g if g.origin == origin else dataclasses.replace(g, origin=origin)
            old = current.get(g.key)
            if old is not None and old.origin == "import" != origin:
                kept[g.key] = old  # the import's, while the file lists it
            if old is not None and old.origin == "config" != origin:
                changes.groups_declared += 1  # the file's while it lists it: a sync takes it back
                kept[g.key] = g
            elif old is None:
                changes.groups_added += 1
                put.append(g)
            elif old != g:
                changes.groups_updated += 1
                put.append(g)
            else:
                changes.groups_unchanged += 1
        if replace:
            keep = {g.key for g in groups}
            for k, g in current.items():
                if k in keep:
                    continue
                if g.origin == origin and origin == "config" and k in kept:
                    put.append(kept.pop(k))  # the import's again, as it wrote it
                    changes.groups_updated += 1
                elif g.origin == origin:
                    gone.append(k)
                elif g.origin == "config":
                    kept.pop(k, None)  # the import no longer has it: gone when the file drops it
        if len(put) + len(gone) > before:
            touched.append(name)
    store.fleets.put_groups(put)
    changes.groups_removed += store.fleets.remove_groups(gone)
    fleetshadows.save(store, shadows, kept)
    if touched:
        _mark(store, touched)


def _as_stored(groups: list[DeviceGroup], current: Mapping[str, DeviceGroup]) -> list[DeviceGroup]:
    """``groups``, each new key whose devices a stored group already is (the same version written
    differently) taking the stored group's firmware as written."""
    if all(g.key in current for g in groups):  # every cycle's sync, mostly: nothing to look up
        return groups
    alike = {same_devices(g): g for g in current.values()}
    out = []
    for g in groups:
        old = None if g.key in current else alike.get(same_devices(g))
        out.append(g if old is None else dataclasses.replace(g, firmware=old.firmware))
    return out


def unevaluated(store: Store) -> dict[str, str]:
    """Fleets whose device groups changed after the last cycle read them: {fleet: since}."""
    value = store.meta.get(UNEVALUATED_KEY)
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def evaluated(store: Store, seen: Mapping[str, str], now: datetime) -> None:
    """A cycle evaluated the fleets ``seen`` (`unevaluated` before it read the groups): unmark
    them, unless they changed again since."""
    current = unevaluated(store)
    left = {k: v for k, v in current.items() if seen.get(k) != v}
    if left == current:
        return
    if left:
        store.meta.put(UNEVALUATED_KEY, left, now)
    else:
        store.meta.delete(UNEVALUATED_KEY)


def _mark(store: Store, fleets: Iterable[str]) -> None:
    """Mark fleets changed, each with the time of this change: a cycle that read them before it
    (`evaluated`, comparing the marks) leaves them marked."""
    now = datetime.now(UTC)
    changed = dict.fromkeys(fleets, now.isoformat())  # to the microsecond: each change its own
    if changed:
        store.meta.put(UNEVALUATED_KEY, {**unevaluated(store), **changed}, now)


def _apply_catalog(store: Store, entries: Iterable[CatalogEntry], changes: FleetChanges) -> None:
    """Merge dates per field (a blank never erases a stored date); refuse contradictions."""
    stored = {e.pattern: e for e in store.catalog.all()}
    put: list[CatalogEntry] = []
    problems: list[str] = []
    for e in entries:
        old = stored.get(e.pattern)
        launched = e.launched or (old.launched if old else None)
        ended = e.discontinued or (old.discontinued if old else None)
        if launched and ended and ended < launched:
            problems.append(f"{e.source}: {e.pattern}: discontinued {ended} would be before"
                            f" launched {launched} (one of them is already stored)")
        elif old is None or (old.launched, old.discontinued) != (launched, ended):
            put.append(CatalogEntry(e.pattern, launched, ended, e.source))
    if problems:
        raise FleetError(problems)
    store.catalog.put(put)
    changes.catalog_updated.extend(e.pattern for e in put)
