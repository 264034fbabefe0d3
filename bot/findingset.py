"""An advisory's findings as batches: device groups of one model that share every other field.

At fleet scale an advisory touches tens of thousands of device groups, and groups of one model that
a row touches with one status share every field but their own (fleet, key, firmware, count, site,
reason). `FindingBatch` keeps those shared fields once, in parts shared with other batches;
`Findings` is the advisory's sequence of findings, each batch's made only when read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import NamedTuple, cast, overload

import numpy as np

from bot.context import ModelColumns
from bot.finding import Finding, copied, made
from bot.indexviews import Span
from bot.matching import FleetIndex
from bot.verdicts import NO_RELEASE

Shape = tuple[dict[str, object], ...]  # a batch's shared fields, in parts merged when read


class FindingBatch(NamedTuple):
    """Findings of device groups of one model that share every field but the group's own.

    The shared fields are worked out when the batch is made, in parts shared with other batches
    (the row's verdicts, the model's stage, the release that fixes it); a batch costs the same
    however many groups it holds, and its findings are made when read (`Findings`). A named
    tuple made by `new_batch` (no Python-level call): a cycle makes millions.
    """

    shape: Shape
    span: Span

    @property
    def status(self) -> str:
        """The status all its findings share."""
        return self.span.status

    @property
    def model(self) -> str:
        """The (normalised) model all its findings share."""
        return self.span.model

    @property
    def size(self) -> int:
        """How many findings (device groups)."""
        return self.span.stop - self.span.start

    def findings(self, index: FleetIndex, item: str) -> Iterator[Finding]:
        """Its findings, made one by one; ``item`` is the advisory's key."""
        like = made(fields_of(self.shape))
        reason, entries = self.span.reason, index.entries()
        for position in self.span.positions():
            yield copied(like, entries[position].group, item, reason(position))


new_batch: Callable[[tuple[Shape, Span]], FindingBatch] = partial(tuple.__new__, FindingBatch)


# What a column batch's segments share by code: the row's verdict fields (status included) under
# one set of promises, its fixed version, and the reason of a group at a position.
Kind = tuple[dict[str, object], dict[str, object], Callable[[int], str]]


class ColumnBatch:
    """A row's batches, column-wise (see `bot.matching.Segments`): batch i holds the groups at
    ``flat[starts[i]:stops[i]]``, of the model numbered ``ids[i]``, with the fields
    ``kinds[codes[i]]`` shares, the model's (``models.fields``) and, when ``released[i]``, those
    of its newest release (``models.releases``). Costs a few arrays however many batches it
    holds; its findings are made when read (`Findings`).
    """

    __slots__ = ("codes", "flat", "ids", "kinds", "models", "released", "size", "starts", "stops")

    def __init__(
        self,
        segments: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        size: int,
        kinds: dict[int, Kind],
        models: ModelColumns,
        flat: list[int],
    ) -> None:
        self.ids, self.starts, self.stops, self.codes, self.released = segments
        self.size = size  # how many findings: the sum of stops - starts
        self.kinds = kinds
        self.models = models
        self.flat = flat

    def by_status(self) -> Counter[str]:
        """How many findings have each status."""
        sizes = np.bincount(self.codes, weights=self.stops - self.starts).tolist()
        counts: Counter[str] = Counter()
        for code, (template, _, _) in self.kinds.items():
            counts[cast(str, template["status"])] += int(sizes[code])
        return counts

    def findings(self, index: FleetIndex, item: str) -> Iterator[Finding]:
        """Its findings, made one by one; ``item`` is the advisory's key."""
        entries, flat = index.entries(), self.flat
        fields, releases = self.models.fields, self.models.releases
        for number, start, stop, code, released in zip(
            self.ids.tolist(), self.starts.tolist(), self.stops.tolist(), self.codes.tolist(),
            self.released.tolist(), strict=True,
        ):
            template, fixing, reason = self.kinds[code]
            release = releases[number] if released else NO_RELEASE
            like = made(fields_of((template, fixing, fields[number], release)))
            for position in flat[start:stop]:
                yield copied(like, entries[position].group, item, reason(position))


Part = Finding | FindingBatch | ColumnBatch  # what `Findings` holds


def fields_of(shape: Shape) -> dict[str, object]:
    fields: dict[str, object] = {}
    for part in shape:
        fields.update(part)
    return fields


class Findings(Sequence[Finding]):
    """An advisory's findings: single findings and batches, each batch's made when read.

    ``len`` and `by_status` cost per batch (``parts``); iterating or indexing makes the findings.
    """

    def __init__(self, parts: list[Part], index: FleetIndex, item: str) -> None:
        self.parts = parts
        self._fleets = index
        self._item = item
        # p[1][4] - p[1][3] is p.size (span.stop - span.start), read without Python calls.
        self._len = sum([
            p[1][4] - p[1][3] if type(p) is FindingBatch else p.size if type(p) is ColumnBatch
            else 1
            for p in parts
        ])
        self._made: list[Finding] | None = None

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Finding]:
        if self._made is not None:
            yield from self._made
            return
        for part in self.parts:
            if isinstance(part, Finding):
                yield part
            else:
                yield from part.findings(self._fleets, self._item)

    @overload
    def __getitem__(self, at: int) -> Finding: ...
    @overload
    def __getitem__(self, at: slice) -> list[Finding]: ...
    def __getitem__(self, at: int | slice) -> Finding | list[Finding]:
        if self._made is None:
            self._made = list(self)
        return self._made[at]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Findings | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def by_status(self) -> Counter[str]:
        """How many findings have each status, without making them."""
        counts: Counter[str] = Counter()
        for part in self.parts:
            if isinstance(part, ColumnBatch):
                counts += part.by_status()
            else:
                counts[part.status] += 1 if isinstance(part, Finding) else part.size
        return counts
