"""SQL repositories: what people did — silences, acks and snoozes, Slack messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update

from state.records import AlertState, Json, Silence, SlackRef, utc
from state.sql.engine import SqlDb, chunks
from state.sql.schema import alert_states, silences, slack_messages


class SqlSilences:
    """Silences with a time window."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def add(
        self, matchers: list[Json], *, ends_at: datetime, author: str, comment: str,
        now: datetime, starts_at: datetime | None = None,
    ) -> Silence:
        """Create a silence (starting now unless given)."""
        stmt = insert(silences).values(
            matchers=matchers, starts_at=utc(starts_at or now, "starts_at"),
            ends_at=utc(ends_at, "ends_at"), author=author, comment=comment,
            created_at=utc(now, "now"),
        ).returning(*silences.c)
        with self._db.unit() as c:
            return Silence(*c.execute(stmt).one())

    def get(self, silence_id: int) -> Silence | None:
        """One silence."""
        with self._db.unit() as c:
            row = c.execute(select(silences).where(silences.c.id == silence_id)).first()
        return None if row is None else Silence(*row)

    def active(self, now: datetime) -> list[Silence]:
        """Silences in force at ``now``."""
        now = utc(now, "now")
        t = silences
        with self._db.unit() as c:
            rows = c.execute(select(t).where(t.c.starts_at <= now, t.c.ends_at > now)
                             .order_by(t.c.id))
            return [Silence(*r) for r in rows]

    def all(self) -> list[Silence]:
        """Every silence, by id."""
        with self._db.unit() as c:
            return [Silence(*r) for r in c.execute(select(silences).order_by(silences.c.id))]

    def expire(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False when unknown or already ended."""
        now = utc(now, "now")
        t = silences
        with self._db.unit() as c:
            return c.execute(update(t).where(t.c.id == silence_id, t.c.ends_at > now)
                             .values(ends_at=now)).rowcount == 1

    def prune(self, before: datetime) -> int:
        """Delete silences that ended before a time."""
        with self._db.unit() as c:
            return c.execute(delete(silences)
                             .where(silences.c.ends_at < utc(before, "before"))).rowcount


class SqlAcks:
    """Acks and snoozes per alert; safe against double clicks in two processes."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def ack(self, alert_id: str, user: str, now: datetime) -> bool:
        """Acknowledge; False when acknowledged already."""
        now = utc(now, "now")
        t = alert_states
        with self._db.unit() as c:
            self._ensure(alert_id, now)
            return c.execute(update(t).where(t.c.alert_id == alert_id, t.c.acked_at.is_(None))
                             .values(acked_by=user, acked_at=now, updated_at=now)).rowcount == 1

    def snooze(self, alert_id: str, user: str, until: datetime, now: datetime) -> bool:
        """Snooze until a time; False when already snoozed at least that long."""
        now, until = utc(now, "now"), utc(until, "until")
        t = alert_states
        with self._db.unit() as c:
            self._ensure(alert_id, now)
            return c.execute(
                update(t).where(t.c.alert_id == alert_id,
                                or_(t.c.snoozed_until.is_(None), t.c.snoozed_until < until))
                .values(snoozed_by=user, snoozed_until=until, updated_at=now)
            ).rowcount == 1

    def get(self, alert_id: str) -> AlertState | None:
        """The alert's state."""
        with self._db.unit() as c:
            row = c.execute(select(alert_states)
                            .where(alert_states.c.alert_id == alert_id)).first()
        return None if row is None else AlertState(*row)

    def many(self, alert_ids: Iterable[str]) -> dict[str, AlertState]:
        """States by alert id (unknown ids are left out)."""
        found: dict[str, AlertState] = {}
        with self._db.unit() as c:
            for part in chunks(list(dict.fromkeys(alert_ids))):
                rows = c.execute(select(alert_states).where(alert_states.c.alert_id.in_(part)))
                found.update({r.alert_id: AlertState(*r) for r in rows})
        return found

    def _ensure(self, alert_id: str, now: datetime) -> None:
        with self._db.unit() as c:
            c.execute(self._db.insert(alert_states).values(alert_id=alert_id, updated_at=now)
                      .on_conflict_do_nothing(index_elements=["alert_id"]))


class SqlSlack:
    """The first Slack message of each alert."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def remember(
        self, alert_id: str, channel: str, ts: str, now: datetime, *, replace: bool = False
    ) -> SlackRef:
        """Store the reference unless one exists (``replace``: in any case); the stored one."""
        t = slack_messages
        row = {"alert_id": alert_id, "channel": channel, "ts": ts, "posted_at": utc(now, "now")}
        stmt = self._db.insert(t).values(row)
        with self._db.unit() as c:
            if replace:
                c.execute(stmt.on_conflict_do_update(index_elements=["alert_id"], set_=row))
            else:
                c.execute(stmt.on_conflict_do_nothing(index_elements=["alert_id"]))
            return SlackRef(*c.execute(select(t).where(t.c.alert_id == alert_id)).one())

    def get(self, alert_id: str) -> SlackRef | None:
        """The alert's message."""
        with self._db.unit() as c:
            row = c.execute(select(slack_messages)
                            .where(slack_messages.c.alert_id == alert_id)).first()
        return None if row is None else SlackRef(*row)

    def by_message(self, channel: str, ts: str) -> SlackRef | None:
        """The alert of a message."""
        t = slack_messages
        with self._db.unit() as c:
            row = c.execute(select(t).where(t.c.channel == channel, t.c.ts == ts)
                            .order_by(t.c.alert_id).limit(1)).first()
        return None if row is None else SlackRef(*row)
