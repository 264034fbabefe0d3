"""What the Slack answers read often, held in memory: the catalog and an index of the items.

Items change only when a cycle stores them, so the index is rebuilt when the store's item counts
or its last cycle (``cycle.last``) change, and at least every ``ttl`` (a cycle run elsewhere, a
revised item). Looking a model up then costs a few dictionary look-ups per prefix of the model
number, not a scan of the 10,000 advisories.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from bot.catalog import Catalog, ModelError, ModelPattern, display_model
from bot.config import Settings, config_path
from bot.enrich import enrich
from bot.evaluate import Knowledge
from bot.finding import CveVerdict
from bot.items import Advisory, AffectedRow, FirmwareRelease, from_dict, pick_score
from bot.rows import patterns_of
from bot.slack.blocks import clip
from bot.versions import Version, try_parse_version
from bot.wiring import build_catalog
from state.api import Store
from state.errors import StoreError
from state.records import SeverityCount

CYCLE_KEY = "cycle.last"  # written by bot.pipeline.run_cycle
log = logging.getLogger(__name__)
T = TypeVar("T")
Prefixed = dict[str, list[tuple[ModelPattern, str]]]


@dataclass(frozen=True)
class Severity:
    """An advisory's worst CVE: score, severity word, and the earliest KEV listing."""

    score: float | None
    severity: str
    kev: date | None
    cvss_version: str | None = None


def severity_of(advisory: Advisory) -> Severity:
    """The worst deciding score among the advisory's CVEs, and whether any is exploited."""
    scored = [(c, s) for c in advisory.cves if (s := pick_score(c.scores)) is not None]
    kev = min((c.kev_added for c in advisory.cves if c.kev_added), default=None)
    if not scored:
        return Severity(None, "none", kev)
    _, worst = max(scored, key=lambda cs: cs[1].base_score)
    return Severity(worst.base_score, worst.severity.lower(), kev, worst.version)


def verdicts_severity(verdicts: Iterable[CveVerdict]) -> Severity:
    """The worst of a finding's (or a model's) CVE verdicts, and the earliest KEV among them:
    what the alerts say about the advisory for those device groups."""
    listed = list(verdicts)
    kev = min((v.kev_added for v in listed if v.kev_added), default=None)
    scored = [v for v in listed if v.score is not None]
    if not scored:
        return Severity(None, "none", kev)
    worst = max(scored, key=lambda v: v.score or 0.0)
    return Severity(worst.score, (worst.severity or "none").lower(), kev, worst.cvss_version)


def findings_severity(counts: Mapping[str, SeverityCount], kev: date | None) -> Severity:
    """The worst severity among an item's stored findings (`FindingRepo.severity_counts`)."""
    scored = [(c.score, word) for word, c in counts.items() if c.score is not None]
    if not scored:
        return Severity(None, "none", kev)
    score, word = max(scored)
    return Severity(score, word, kev)


def advisory_name(a: Advisory, limit: int = 90) -> str:
    """How answers name an advisory: its SN No., else its title (its key is a URL)."""
    return a.vendor_id or clip(" ".join(a.title.split()), limit) or a.key


def model_name(store: Store, model: str, fleet: str | None = None) -> str:
    """A normalised model as people write it: as the vendor does (``iDS-…``), or for a name
    whose spaces the key lost (``HIKCENTRALPROFESSIONAL``) as a fleet registered it."""
    try:
        shown = display_model(model)
        if not model.startswith("HIKCENTRAL"):
            return shown
        groups = store.fleets.groups_of_model(model)
        mine = [g for g in groups if g.fleet == fleet] or groups
        return display_model(mine[0].model_as_written) if mine else shown
    except ModelError:
        return model


class ItemIndex:
    """Advisories (enriched with NVD scores and KEV) and releases by model pattern and by ID."""

    def __init__(self, items: Iterable[Mapping[str, Any]]) -> None:
        known = Knowledge.of(from_dict(dict(data)) for data in items)
        advisories = enrich(known.advisories, known.scores, known.kev)
        self.advisories = {a.key: replace(a, summary="") for a in advisories}
        self.releases = {r.key: r for r in known.releases}
        self.scores = known.scores
        self.kev = known.kev
        self.severity = {a.key: severity_of(a) for a in advisories}
        self._adv: Prefixed = {}
        self._fw: Prefixed = {}
        self._refs: dict[str, list[str]] = {}
        for a in advisories:
            for ref in {a.key, a.vendor_id or "", *(c.id for c in a.cves)} - {""}:
                self._refs.setdefault(ref.upper(), []).append(a.key)
            for row in a.rows:
                _add(self._adv, row.product, a.key)
        for r in known.releases:
            for text in r.models:
                _add(self._fw, text, r.key)
        self._versions = {r.key: try_parse_version(r.version) for r in known.releases}

    def find(self, ref: str) -> list[Advisory]:
        """Advisories whose key, vendor ID (HSRC-…) or one of whose CVEs is ``ref``."""
        keys = self._refs.get(ref.strip().upper(), [])
        return [self.advisories[k] for k in dict.fromkeys(keys)]

    def naming(self, model: str) -> list[Advisory]:
        """Advisories with a row whose product covers the (normalised) model."""
        keys = _candidates(self._adv, model, exact=False)
        return [self.advisories[k] for k in keys]

    def latest_release(self, model: str) -> FirmwareRelease | None:
        """The newest stored release for exactly this model (variants aside)."""
        best: tuple[Version, FirmwareRelease] | None = None
        for key in _candidates(self._fw, model, exact=True):
            version = self._versions.get(key)
            if version is not None and (best is None or version > best[0]):
                best = (version, self.releases[key])
        return best[1] if best else None


def rows_for(advisory: Advisory, model: str) -> list[AffectedRow]:
    """The advisory's rows whose product covers the model."""
    found = []
    for row in advisory.rows:
        try:
            if any(p.matches(model) for p in patterns_of(row.product)):
                found.append(row)
        except ModelError:
            continue
    return found


def _add(index: Prefixed, product: str, key: str) -> None:
    for pattern in patterns_of(product):
        index.setdefault(pattern.literal_prefix(), []).append((pattern, key))


def _candidates(index: Prefixed, model: str, *, exact: bool) -> list[str]:
    """Keys whose pattern matches: only patterns whose literal prefix starts the model."""
    keys: dict[str, None] = {}
    for end in range(len(model) + 1):
        for pattern, key in index.get(model[:end], ()):
            if key in keys:
                continue
            try:
                hit = pattern.matches_exact(model) if exact else pattern.matches(model)
            except ModelError:
                continue
            if hit:
                keys[key] = None
    return list(keys)


class Cache:
    """The catalog and the item index for one store, rebuilt when they may have changed.

    The first build, and a rebuild of the index after a cycle stored items or ran, make the
    caller wait; the ttl's rebuilds run in a background thread while answers keep using the
    previous index or catalog (``background=False`` rebuilds in the caller, for tests).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        ttl: float = 600.0,
        catalog_ttl: float = 60.0,
        check_every: float = 5.0,
        background: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        path = config_path(None, environ)
        self._configured = build_catalog(settings, Path(path).parent, Path(path).name)
        self._store = store
        self._ttl, self._catalog_ttl, self._check_every = ttl, catalog_ttl, check_every
        self._background = background
        self._clock = monotonic
        self._lock = threading.Lock()
        self._building = threading.Lock()
        self._index: _Slot[ItemIndex] = _Slot()
        self._catalog: _Slot[Catalog] = _Slot()
        self._checked = 0.0

    def catalog(self) -> Catalog:
        """bot.toml's lifecycle dates first, then those imported into the store."""
        with self._lock:
            slot, now = self._catalog, self._clock()
            if slot.value is not None and (now - slot.built < self._catalog_ttl or slot.busy):
                return slot.value
        return self._refresh(slot, None, self._build_catalog)

    def index(self) -> ItemIndex:
        """The item index, rebuilt when the items may have changed."""
        with self._lock:
            slot, now = self._index, self._clock()
            if slot.value is not None and now - self._checked < self._check_every:
                return slot.value
            self._checked = now
        key = self._fingerprint_now()  # while the ttl's rebuild runs too: a cycle may end then
        with self._lock:
            if (slot.value is not None and key == slot.key
                    and (slot.busy or self._clock() - slot.built < self._ttl)):
                return slot.value
            changed = slot.value is not None and key != slot.key
        # A cycle stored items (or ran): answer from them, not from the index before it, which
        # would deny an advisory its alert was just posted about. Only the ttl's refresh, where
        # nothing is known to have changed, runs in the background.
        return self._refresh(slot, key, self._build_index, wait=changed)

    def _refresh(self, slot: _Slot[T], key: object, build: Callable[[], T],
                 wait: bool = False) -> T:
        """Rebuild in the background when there is a value to serve meanwhile (unless ``wait``),
        else now."""
        with self._lock:
            if slot.value is not None and self._background and not wait:
                if not slot.busy:
                    slot.busy = True
                    threading.Thread(target=self._rebuild, args=(slot, key, build),
                                     name="firmwatch-slack-cache", daemon=True).start()
                return slot.value
        with self._building:  # one synchronous build at a time
            with self._lock:
                if wait and slot.value is not None and slot.key == key:
                    return slot.value  # built meanwhile by the request that waited first
            value = build()
            with self._lock:
                slot.value, slot.key, slot.built = value, key, self._clock()
            return value

    def _rebuild(self, slot: _Slot[T], key: object, build: Callable[[], T]) -> None:
        try:
            value = build()
        except StoreError as exc:
            log.warning("could not refresh the Slack answers' cache: %s", exc)
            with self._lock:
                slot.busy = False
            return
        with self._lock:
            if slot.key == key:  # else an answer after a cycle built a newer one meanwhile
                slot.value, slot.key, slot.built = value, key, self._clock()
            slot.busy = False

    def _build_catalog(self) -> Catalog:
        return Catalog([*self._configured.entries(), *self._store.catalog.all()])

    def _build_index(self) -> ItemIndex:
        return ItemIndex(s.data for s in self._store.items.all())

    def _fingerprint_now(self) -> object:
        cycle = self._store.meta.get(CYCLE_KEY)
        started = cycle.get("started") if isinstance(cycle, dict) else None
        return (self._store.items.count(), started)


@dataclass
class _Slot(Generic[T]):
    """A cached value, when it was built, from what, and whether a rebuild is running."""

    value: T | None = None
    key: object = None
    built: float = 0.0
    busy: bool = False


def local_date(settings: Settings, now: datetime) -> date:
    """Today in the schedule's timezone (as the pipeline judges stages)."""
    return now.astimezone(ZoneInfo(settings.schedule.timezone)).date()
