"""Lifecycle reminders: 90/30/7 days before a stage change and on the day, each once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from bot.catalog import Catalog, CatalogEntry
from bot.context import Context
from bot.lifecycle import reminder_findings, upcoming
from bot.risk import NoteFacts, risk_note


@dataclass(frozen=True)
class Group:
    fleet: str
    model: str
    firmware: str | None
    count: int
    site: str

    @property
    def key(self) -> str:
        return f"{self.model}|{self.site}"


CATALOG = Catalog([CatalogEntry("DS-2CD3xx1G2", date(2019, 1, 1), date(2027, 3, 1), "t")])
GROUPS = [
    Group("hq", "DS-2CD3321G2-I", "V5.5.0", 31, "Site B"),
    Group("hq", "DS-2CD2143G2-I", "V5.5.0", 3, "Site B"),
]


@pytest.mark.parametrize(
    ("on", "lead"),
    [
        (date(2026, 11, 30), None),
        (date(2026, 12, 1), 90),
        (date(2026, 12, 2), 90),
        (date(2027, 1, 30), 30),
        (date(2027, 2, 22), 7),
        (date(2027, 2, 28), 7),
        (date(2027, 3, 1), 0),
    ],
)
def test_most_urgent_reminder_due(on: date, lead: int | None) -> None:
    found = reminder_findings(GROUPS, Context(CATALOG, on))
    if lead is None:
        assert found == []
        return
    (reminder,) = found
    assert reminder.item_key.endswith(f":{lead}d")
    assert reminder.change_on == date(2027, 3, 1)


ENTERED = "entered security-only on 2027-03-01"


@pytest.mark.parametrize(
    ("since", "on", "leads", "reminders"),
    [
        # no cycle ran on 2027-03-01: the next one says the model entered security-only then
        (date(2027, 3, 1), date(2027, 3, 2), (90, 30, 7, 0), {"0d": ENTERED}),
        (date(2027, 2, 20), date(2027, 3, 9), (90, 30, 7, 0), {"0d": ENTERED}),
        (date(2027, 2, 20), date(2027, 3, 9), (30, 7), {"7d": ENTERED}),
        # the day of the change was seen (or is today): nothing missed
        (date(2027, 3, 2), date(2027, 3, 2), (90, 30, 7, 0), {}),
        (date(2027, 3, 1), date(2027, 3, 1), (90, 30, 7, 0), {"0d": "changes stage today"}),
        (None, date(2027, 3, 2), (90, 30, 7, 0), {}),  # the first cycle ever: no history
        (date(2027, 3, 1), date(2027, 3, 2), (), {}),  # no reminders wanted
    ],
)
def test_a_stage_change_no_cycle_saw_is_told_by_the_next_one(
    since: date | None, on: date, leads: tuple[int, ...], reminders: dict[str, str]
) -> None:
    found = reminder_findings(GROUPS, Context(CATALOG, on), leads, since)
    assert {f.item_key.rsplit(":", 1)[1]: f.reason for f in found} == reminders
    assert all(f.change_on is not None for f in found)
    assert all(f.change_on == date(2027, 3, 1) and f.stage.value == "security-only" for f in found
               if f.change_on is not None and f.change_on < on)


def test_reminder_note() -> None:
    (reminder,) = reminder_findings(GROUPS, Context(CATALOG, date(2027, 1, 30)))
    assert risk_note(NoteFacts.of([reminder])) == (
        "31 DS-2CD3321G2-I at Site B enter security-only on 2027-03-01: "
        "after that Hikvision fixes only severe vulnerabilities."
    )


def test_the_note_of_a_stage_change_already_made_is_in_the_past() -> None:
    """Told the day after (no cycle ran on the day), or on the day: the model has entered it."""
    for on, since in ((date(2027, 3, 2), date(2027, 3, 1)), (date(2027, 3, 1), None)):
        (told,) = reminder_findings(GROUPS, Context(CATALOG, on), (90, 30, 7, 0), since)
        assert risk_note(NoteFacts.of([told])) == (
            "31 DS-2CD3321G2-I at Site B entered security-only on 2027-03-01: "
            "since then Hikvision fixes only severe vulnerabilities."
        )


def test_the_same_reminder_keeps_its_identity_across_days() -> None:
    day = date(2026, 12, 1)
    keys = {
        reminder_findings(GROUPS, Context(CATALOG, day + timedelta(days=n)))[0].key
        for n in range(30)
    }
    assert len(keys) == 1


def test_upcoming_lists_changes_within_the_window() -> None:
    assert upcoming(GROUPS, Context(CATALOG, date(2026, 11, 28)), 90) == []
    (soon,) = upcoming(GROUPS, Context(CATALOG, date(2026, 12, 5)), 90)
    assert soon.stage.value == "security-only" and soon.change_on == date(2027, 3, 1)
