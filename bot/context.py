"""What judging needs besides the items (`Context`), and what it works out once per model under it.

A Context holds an immutable catalog, a date and the severe threshold, so the stage of a model
under it never changes: `stage_facts` works it out once per model and context, and `model_table`
adds the releases for exactly that model (pure; the memo is kept with the catalog, per date and
threshold, the last few: a catalog read again with the same entries shares it, see `Catalog`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

import numpy as np

from bot.catalog import Catalog, family_of
from bot.items import FirmwareRelease
from bot.policy import (
    DEFAULT_SEVERE_CVSS,
    FixPromise,
    Stage,
    StageInfo,
    promise_class,
    stage_on,
)
from bot.releaseindex import ReleaseIndex
from bot.versions import Version


@dataclass(frozen=True)
class Context:
    """What judging needs besides the items: the catalog, the date and the severe threshold."""

    catalog: Catalog
    on: date
    severe_cvss: float = DEFAULT_SEVERE_CVSS


def stage_of(model: str, ctx: Context) -> StageInfo:
    """The stage of a (normalised) model on the context's date."""
    return stage_facts(model, ctx, stage_tables(ctx))[0]


# What every row's batches of a model read of it, per context and release index: its stage
# facts (`stage_facts`) and the releases for exactly it (empty without releases). One look-up
# per model and row: at fleet scale there are a million (row, model) pairs a cycle.
ModelFacts = tuple[StageInfo, int, dict[str, object], list[tuple[Version, FirmwareRelease]]]


# Per context: model -> stage facts, promise class -> number, the model table (above) of the
# latest release index, and (promise class number, scores) -> the promises for those scores.
StageTables = tuple[
    dict[str, tuple[StageInfo, int, dict[str, object]]],
    dict[tuple[Stage, Stage | None], int],
    dict[ReleaseIndex | None, "ModelTable"],
    dict[tuple[int, tuple[tuple[float | None, str | None], ...]], tuple[FixPromise, ...]],
]


_NUMBERING = threading.Lock()  # numbers promise classes: one number each, whatever the thread


def stage_facts(
    model: str, ctx: Context, tables: StageTables
) -> tuple[StageInfo, int, dict[str, object]]:
    """The stage of a model, a number standing for its `promise_class` (equal numbers, equal
    promises) and the finding fields they make (shared: never change them).

    A Context holds an immutable catalog, a date and a threshold, so the stage of a model under
    it never changes: it is worked out once per model and context (``tables``).
    """
    table, numbers = tables[0], tables[1]
    facts = table.get(model)
    if facts is None:
        known = ctx.catalog.lookup(model)
        info = stage_on(
            family_of(model).covered,
            known.launched if known else None,
            known.discontinued if known else None,
            ctx.on,
        )
        with _NUMBERING:  # the tables are shared between threads (a Slack view, the cycle)
            number = numbers.setdefault(promise_class(info), len(numbers))
        fields: dict[str, object] = {
            "model": model,
            "stage": info.stage,
            "stage_ends": info.ends,
            "stage_since": info.since,
            "stage_next": info.next_stage,
        }
        facts = table[model] = (info, number, fields)
    return facts


_TABLES_KEPT = 8  # dates and thresholds per catalog


def stage_tables(ctx: Context) -> StageTables:
    """The context's memo (see `stage_facts`): kept with its catalog, per date and threshold."""
    derived = ctx.catalog.derived
    key = ("stage tables", ctx.on, ctx.severe_cvss)
    tables = derived.get(key)
    if tables is None:
        if len(derived) >= _TABLES_KEPT:
            derived.clear()
        tables = derived[key] = ({}, {}, {}, {})
    return cast(StageTables, tables)


class ModelColumns:
    """A model table over one fleet index's models, column-wise (by the models' numbers: their
    places in the index's sorted models): each one's promise number (-1 until filled in), its
    finding fields, the rank of its newest release's version (-1 for none: see
    `ReleaseIndex.rank`) and that release's finding fields; a stage for each promise number."""

    __slots__ = ("fields", "infos", "models", "newest", "numbers", "releases")

    def __init__(self, models: Sequence[str]) -> None:
        self.models = models
        self.numbers = np.full(len(models), -1, dtype=np.int64)
        self.newest = np.full(len(models), -1, dtype=np.int64)
        self.fields: list[dict[str, object]] = [{}] * len(models)
        self.releases: list[dict[str, object]] = [{}] * len(models)
        self.infos: dict[int, StageInfo] = {}

    def numbers_of(
        self, ids: np.ndarray, fill: Callable[[ModelColumns, int], None]
    ) -> np.ndarray:
        """The promise numbers of the models numbered ``ids``, each filled in (``fill``, given
        this table and the model's number, sets its promise number last) once."""
        numbers: np.ndarray = self.numbers[ids]
        if numbers.min() < 0:
            for number in np.unique(ids[numbers < 0]).tolist():
                fill(self, number)
            numbers = self.numbers[ids]
        return numbers


class ModelTable(dict[str, ModelFacts]):
    """Model facts by model (`ModelFacts`), and the same column-wise for the models of the last
    fleet index asked for (`columns_for`)."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: ModelColumns | None = None

    def columns_for(self, models: Sequence[str]) -> ModelColumns:
        """The table over these models (an index's list: the same list, or one equal to it,
        as the next cycle's index over unchanged fleets has, gets the same table)."""
        columns = self.columns
        if columns is None or (columns.models is not models and columns.models != models):
            columns = self.columns = ModelColumns(models)
        columns.models = models  # equal: compared by identity from now on
        return columns


def model_table(tables: StageTables, lookup: ReleaseIndex | None) -> ModelTable:
    """The model table for a context's stage tables (its promise numbers come from them) and a
    release index, kept with them for the latest release index only."""
    kept = tables[2]
    table = kept.get(lookup)
    if table is None:  # another thread may clear them meanwhile: this one keeps its own
        kept.clear()
        table = kept[lookup] = ModelTable()
    return table


