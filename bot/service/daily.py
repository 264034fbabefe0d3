"""A trigger that fires once on every local calendar day at a time of day (pure).

APScheduler 3's ``CronTrigger`` on a ``zoneinfo`` zone skips the day after a spring-forward
when its time comes before the change (00:30 in Berlin on the last Sunday of March next fires
on Tuesday: Monday's digest and reminders never run), and fires twice at a time inside the
hour that is repeated in autumn. This one fires once per local day: a time inside the skipped
hour fires just after the change (02:30 → 03:30 summer time), one inside the repeated hour at
its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

ONE_TICK = timedelta(microseconds=1)


class DailyAt(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no type hints
    """Fires at ``hour:minute`` local time in ``tz``, once on each calendar day."""

    __slots__ = ("at", "tz")

    def __init__(self, hour: int, minute: int, tz: ZoneInfo) -> None:
        self.at = time(hour, minute)
        self.tz = tz

    def moment(self, day: date) -> datetime:
        """The instant the trigger fires on a local ``day`` (as a time in the zone)."""
        # fold=0: the first of a repeated time; a skipped time reads with the offset before
        # the change, i.e. as the instant just as far after it
        return datetime.combine(day, self.at, self.tz).astimezone(UTC).astimezone(self.tz)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first firing after ``previous_fire_time`` (those missed since included, as
        APScheduler's own triggers do), or at or after ``now`` for a new job."""
        # Strictly after the previous firing, even when asked at that very instant (APScheduler
        # walks missed firings while each is <= now: the previous one again never ends that walk)
        # or with a clock stepped back (a day's job runs once).
        start = now if previous_fire_time is None else previous_fire_time + ONE_TICK
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        while self.moment(day) < start:
            day += timedelta(days=1)
        return self.moment(day)

    def __str__(self) -> str:
        return f"daily at {self.at.strftime('%H:%M')} ({self.tz.key})"

    def __repr__(self) -> str:
        return f"<DailyAt {self.at.strftime('%H:%M')} {self.tz.key}>"
