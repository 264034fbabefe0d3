"""SQL repositories: the outbox (claimed with FOR UPDATE SKIP LOCKED) and the delivery log."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, or_, select, update

from state.errors import StoreError
from state.records import (
    OUTBOX_STATUSES,
    Attempt,
    Delivery,
    Json,
    NewEntry,
    OutboxEntry,
    OutboxStatus,
    clip,
    utc,
)
from state.sql.engine import SqlDb, chunks
from state.sql.schema import deliveries, outbox

ENQUEUE_CHUNK = 100  # rows per INSERT: 900 parameters, within any SQLite's limit

_DUE = ("pending", "retrying")
_STATUS = {"sent": "sent", "retry": "retrying", "dead": "dead"}
_COLUMNS = [c for c in outbox.c if c.name != "sent_at"]


def _entry(r: Row[Any]) -> OutboxEntry:
    return OutboxEntry(**r._mapping)


class SqlOutbox:
    """Alerts to deliver, one per (receiver, dedupe key)."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def enqueue(
        self, receiver: str, dedupe_key: str, payload: Json, now: datetime,
        *, alert_id: str | None = None,
    ) -> int | None:
        """Add an entry due now; its id, or None when it exists already."""
        return self.enqueue_many([NewEntry(receiver, dedupe_key, payload, alert_id)], now)[0]

    def enqueue_many(self, entries: Sequence[NewEntry], now: datetime) -> list[int | None]:
        """Add entries due now, in order, a multi-row INSERT per chunk (not a round trip per
        entry: a big estate's first cycle queues thousands); each one's id, or None when it
        exists already or came earlier in ``entries``."""
        now = utc(now, "now")
        rows = [{"receiver": e.receiver, "dedupe_key": e.dedupe_key, "alert_id": e.alert_id,
                 "payload": e.payload, "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now, "updated_at": now} for e in entries]
        made: dict[tuple[str, str], int] = {}
        with self._db.unit() as c:
            for part in chunks(rows, ENQUEUE_CHUNK):
                stmt = (self._db.insert(outbox).values(part)
                        .on_conflict_do_nothing(index_elements=["receiver", "dedupe_key"])
                        .returning(outbox.c.id, outbox.c.receiver, outbox.c.dedupe_key))
                for entry_id, receiver, dedupe_key in c.execute(stmt):
                    made[receiver, dedupe_key] = entry_id
        return [made.pop((e.receiver, e.dedupe_key), None) for e in entries]

    def claim(
        self, worker: str, now: datetime, *, lease: timedelta, limit: int = 10,
        receivers: Collection[str] | None = None,
    ) -> list[OutboxEntry]:
        """Lease due entries to ``worker``; locked rows are skipped, never waited for."""
        now = utc(now, "now")
        t = outbox
        q = (select(t.c.id).where(t.c.status.in_(_DUE), t.c.next_attempt_at <= now,
                                  or_(t.c.claimed_until.is_(None), t.c.claimed_until <= now))
             .order_by(t.c.next_attempt_at, t.c.id).limit(limit)
             .with_for_update(skip_locked=True))
        if receivers is not None:
            q = q.where(t.c.receiver.in_(list(receivers)))
        with self._db.unit() as c:
            ids = list(c.execute(q).scalars())
            if not ids:
                return []
            c.execute(update(t).where(t.c.id.in_(ids))
                      .values(claimed_by=worker, claimed_until=now + lease))
            rows = c.execute(select(*_COLUMNS).where(t.c.id.in_(ids))
                             .order_by(t.c.next_attempt_at, t.c.id))
            return [_entry(r) for r in rows]

    def record(self, entry_id: int, attempt: Attempt) -> OutboxEntry:
        """Log an attempt and set the status (sent is final); the worker's lease ends."""
        if attempt.outcome == "retry" and attempt.next_attempt_at is None:
            raise ValueError("a retry needs next_attempt_at")
        at = utc(attempt.at, "attempt.at")
        t = outbox
        with self._db.unit() as c:
            row = c.execute(select(t).where(t.c.id == entry_id).with_for_update()).first()
            if row is None:
                raise StoreError(f"no outbox entry with id {entry_id}")
            values: dict[str, Any] = {"attempts": row.attempts + 1, "updated_at": at,
                                      "last_status": attempt.status_code,
                                      "last_error": clip(attempt.error)}
            if row.claimed_by == attempt.worker:
                values.update(claimed_by=None, claimed_until=None)
            if row.status != "sent":
                values["status"] = _STATUS[attempt.outcome]
                if attempt.outcome == "sent":
                    values["sent_at"] = at
                if attempt.outcome == "retry" and attempt.next_attempt_at is not None:
                    values["next_attempt_at"] = utc(attempt.next_attempt_at)
            c.execute(update(t).where(t.c.id == entry_id).values(values))
            c.execute(insert(deliveries).values(
                outbox_id=entry_id, receiver=row.receiver, dedupe_key=row.dedupe_key,
                attempt=values["attempts"], outcome=attempt.outcome,
                status_code=attempt.status_code, error=clip(attempt.error),
                worker=attempt.worker, at=at, duration_ms=attempt.duration_ms))
            return _entry(c.execute(select(*_COLUMNS).where(t.c.id == entry_id)).one())

    def record_many(self, attempts: Sequence[tuple[int, Attempt]]) -> None:
        """``record`` for each pair in one unit of work: one read, grouped writes, no read-back."""
        if any(a.outcome == "retry" and a.next_attempt_at is None for _, a in attempts):
            raise ValueError("a retry needs next_attempt_at")
        t = outbox
        ids = sorted({entry_id for entry_id, _ in attempts})
        with self._db.unit() as c:
            rows: dict[int, dict[str, Any]] = {}
            for start in range(0, len(ids), 500):  # within every database's parameter limit
                chunk = ids[start : start + 500]
                found = c.execute(
                    select(t.c.id, t.c.receiver, t.c.dedupe_key, t.c.status, t.c.attempts,
                           t.c.claimed_by).where(t.c.id.in_(chunk)).with_for_update())
                rows.update((r.id, dict(r._mapping)) for r in found)
            changes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            logs: list[dict[str, Any]] = []
            for entry_id, attempt in attempts:
                row = rows.get(entry_id)
                if row is None:
                    raise StoreError(f"no outbox entry with id {entry_id}")
                at = utc(attempt.at, "attempt.at")
                row["attempts"] += 1
                values: dict[str, Any] = {"attempts": row["attempts"], "updated_at": at,
                                          "last_status": attempt.status_code,
                                          "last_error": clip(attempt.error)}
                if row["claimed_by"] == attempt.worker:
                    values.update(claimed_by=None, claimed_until=None)
                    row["claimed_by"] = None
                if row["status"] != "sent":
                    row["status"] = values["status"] = _STATUS[attempt.outcome]
                    if attempt.outcome == "sent":
                        values["sent_at"] = at
                    if attempt.outcome == "retry" and attempt.next_attempt_at is not None:
                        values["next_attempt_at"] = utc(attempt.next_attempt_at)
                changes.setdefault(tuple(sorted(values)), []).append({"_id": entry_id, **values})
                logs.append({
                    "outbox_id": entry_id, "receiver": row["receiver"],
                    "dedupe_key": row["dedupe_key"], "attempt": row["attempts"],
                    "outcome": attempt.outcome, "status_code": attempt.status_code,
                    "error": clip(attempt.error), "worker": attempt.worker, "at": at,
                    "duration_ms": attempt.duration_ms})
            for names, params in changes.items():  # one executemany per shape of change
                stmt = (update(t).where(t.c.id == bindparam("_id"))
                        .values({n: bindparam(n) for n in names}))
                for first in range(0, len(params), 500):
                    c.execute(stmt, params[first : first + 500])
            if logs:
                c.execute(insert(deliveries), logs)

    def release(self, entry_id: int, worker: str, until: datetime | None = None) -> bool:
        """Give a claimed entry back unattempted (due at ``until`` when given)."""
        t = outbox
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": None}
        if until is not None:
            values["next_attempt_at"] = utc(until, "until")
        with self._db.unit() as c:
            return c.execute(update(t).where(t.c.id == entry_id, t.c.claimed_by == worker)
                             .values(values)).rowcount == 1

    def replay(
        self, entry_id: int, now: datetime, only: Collection[OutboxStatus] | None = None
    ) -> OutboxEntry | None:
        """Make an entry due again with its attempts reset (when its status is in ``only``)."""
        now = utc(now, "now")
        t = outbox
        which = t.c.id == entry_id
        if only is not None:
            which = which & t.c.status.in_(list(only))
        with self._db.unit() as c:
            done = c.execute(update(t).where(which).values(
                status="pending", attempts=0, next_attempt_at=now, claimed_by=None,
                claimed_until=None, updated_at=now, sent_at=None)).rowcount
            if not done:
                return None
            return _entry(c.execute(select(*_COLUMNS).where(t.c.id == entry_id)).one())

    def get(self, entry_id: int) -> OutboxEntry | None:
        """One entry."""
        with self._db.unit() as c:
            row = c.execute(select(*_COLUMNS).where(outbox.c.id == entry_id)).first()
        return None if row is None else _entry(row)

    def find(self, receiver: str, dedupe_key: str) -> OutboxEntry | None:
        """One entry by identity."""
        t = outbox
        with self._db.unit() as c:
            row = c.execute(select(*_COLUMNS).where(t.c.receiver == receiver,
                                                    t.c.dedupe_key == dedupe_key)).first()
        return None if row is None else _entry(row)

    def for_alert(self, alert_id: str) -> list[OutboxEntry]:
        """Entries of one alert id, by id."""
        with self._db.unit() as c:
            rows = c.execute(select(*_COLUMNS).where(outbox.c.alert_id == alert_id)
                             .order_by(outbox.c.id))
            return [_entry(r) for r in rows]

    def all(
        self, statuses: Collection[OutboxStatus] | None = None, receiver: str | None = None,
        limit: int | None = None,
    ) -> list[OutboxEntry]:
        """Entries by id (filtered)."""
        t = outbox
        q = select(*_COLUMNS).order_by(t.c.id).limit(limit)
        if statuses is not None:
            q = q.where(t.c.status.in_(list(statuses)))
        if receiver is not None:
            q = q.where(t.c.receiver == receiver)
        with self._db.unit() as c:
            return [_entry(r) for r in c.execute(q)]

    def counts(self) -> dict[OutboxStatus, int]:
        """Entries per status."""
        q = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        with self._db.unit() as c:
            found = {status: int(n) for status, n in c.execute(q)}
        return {s: found.get(s, 0) for s in OUTBOX_STATUSES}

    def unsent_by_receiver(self) -> dict[str, int]:
        """Pending and retrying entries per receiver."""
        q = (select(outbox.c.receiver, func.count()).where(outbox.c.status.in_(_DUE))
             .group_by(outbox.c.receiver))
        with self._db.unit() as c:
            return {receiver: int(n) for receiver, n in c.execute(q)}

    def next_due(self) -> datetime | None:
        """When the earliest pending or retrying entry is due."""
        q = select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status.in_(_DUE))
        with self._db.unit() as c:
            value: datetime | None = c.execute(q).scalar()
        return value

    def prune_sent(self, before: datetime) -> int:
        """Delete entries sent before a time."""
        t = outbox
        with self._db.unit() as c:
            return c.execute(delete(t).where(t.c.status == "sent",
                                             t.c.sent_at < utc(before, "before"))).rowcount


class SqlDeliveries:
    """The delivery log."""

    def __init__(self, db: SqlDb) -> None:
        self._db = db

    def recent(
        self, outbox_id: int | None = None, receiver: str | None = None, limit: int = 100,
    ) -> list[Delivery]:
        """Log lines, newest first."""
        t = deliveries
        q = select(t).order_by(t.c.id.desc()).limit(limit)
        if outbox_id is not None:
            q = q.where(t.c.outbox_id == outbox_id)
        if receiver is not None:
            q = q.where(t.c.receiver == receiver)
        with self._db.unit() as c:
            return [Delivery(*r) for r in c.execute(q)]

    def prune(self, before: datetime) -> int:
        """Delete log lines older than a time."""
        with self._db.unit() as c:
            return c.execute(delete(deliveries)
                             .where(deliveries.c.at < utc(before, "before"))).rowcount
