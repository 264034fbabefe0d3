"""The model card: what the LTS policy says about one model on one date (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.catalog import Catalog, display_model, family_of, normalize_model
from bot.policy import (
    DEFAULT_SEVERE_CVSS,
    Stage,
    StageInfo,
    promise_sentence,
    stage_on,
    stage_promise,
)

HIKCENTRAL_NOTE = (
    "HikCentral Professional: upgrades and support are free for 36 months after activation."
)


@dataclass(frozen=True)
class ModelCard:
    """Everything ``firmwatch lookup`` says about a model."""

    model: str
    family: str
    covered: bool
    inferred: bool
    family_reason: str
    on: date
    info: StageInfo
    launched: date | None
    discontinued: date | None
    dates_source: str | None
    promise: str
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-ready dict (dates ISO, None where unknown)."""
        return {
            "model": self.model,
            "family": self.family,
            "covered": self.covered,
            "inferred": self.inferred,
            "family_reason": self.family_reason,
            "on": self.on.isoformat(),
            "stage": self.info.stage.value,
            "stage_reason": self.info.reason,
            "launched": _iso(self.launched),
            "discontinued": _iso(self.discontinued),
            "dates_source": self.dates_source,
            "stage_ends": _iso(self.info.ends),
            "next_stage": self.info.next_stage.value if self.info.next_stage else None,
            "promise": self.promise,
            "fix_promise": stage_promise(self.info).value,
            "notes": list(self.notes),
        }


def model_card(
    model: str,
    catalog: Catalog,
    on: date,
    *,
    launched: date | None = None,
    discontinued: date | None = None,
    severe_cvss: float = DEFAULT_SEVERE_CVSS,
) -> ModelCard:
    """Build the card for ``model`` on ``on``; explicit dates override the catalog's."""
    key = normalize_model(model)
    family = family_of(key)
    known = catalog.lookup(key)
    sources: list[str] = []
    if known is not None and (
        (launched is None and known.launched) or (discontinued is None and known.discontinued)
    ):
        sources.append(known.source)
    if launched is not None or discontinued is not None:
        sources.append("command line")
    launched = launched if launched is not None else (known.launched if known else None)
    discontinued = (
        discontinued if discontinued is not None else (known.discontinued if known else None)
    )
    info = stage_on(family.covered, launched, discontinued, on)
    notes: list[str] = []
    if family.inferred:
        notes.append(f"Family inferred: {family.reason}")
    if info.stage is Stage.UNKNOWN:
        notes.append(f"Stage unknown: {info.reason}.")
    if key.startswith("HIKCENTRAL"):
        notes.append(HIKCENTRAL_NOTE)
    return ModelCard(
        model=key,
        family=family.name,
        covered=family.covered,
        inferred=family.inferred,
        family_reason=family.reason,
        on=on,
        info=info,
        launched=launched,
        discontinued=discontinued,
        dates_source=" + ".join(sources) or None,
        promise=promise_sentence(info, severe_cvss),
        notes=tuple(notes),
    )


def render_card(card: ModelCard) -> str:
    """The card as plain text for a terminal."""
    info = card.info
    coverage = "covered by the LTS policy" if card.covered else "not covered by the LTS policy"
    if card.inferred:
        coverage += " (inferred)"
    ends = "—"
    if info.ends and info.next_stage:
        ends = f"{info.ends.isoformat()}, then {info.next_stage.value}"
    elif info.next_stage:
        ends = f"date not known, then {info.next_stage.value}"
    lines = [
        display_model(card.model),
        f"  family        {card.family}: {coverage}",
        f"  stage         {info.stage.value} on {card.on.isoformat()} ({info.reason})",
        f"  launched      {_known(card.launched)}",
        f"  discontinued  {_known(card.discontinued)}",
        f"  dates from    {card.dates_source or 'nowhere: not in the catalog'}",
        f"  stage ends    {ends}",
        f"  promise       {card.promise}",
    ]
    lines += [f"  note          {note}" for note in card.notes]
    return "\n".join(lines)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _known(day: date | None) -> str:
    return day.isoformat() if day else "not known"
