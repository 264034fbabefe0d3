"""TinyDB repositories: the outbox and the delivery log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

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
    from_text,
    to_text,
    utc,
)
from state.tiny.memory import Doc, Memory

_DUE: tuple[OutboxStatus, ...] = ("pending", "retrying")


def _entry(doc_id: str, d: Doc) -> OutboxEntry:
    def when(v: str | None) -> datetime | None:
        return from_text(v) if v else None

    return OutboxEntry(
        int(doc_id), d["receiver"], d["dedupe_key"], d["alert_id"], d["payload"], d["status"],
        d["attempts"], from_text(d["next_attempt_at"]), d["last_status"], d["last_error"],
        d["claimed_by"], when(d["claimed_until"]), from_text(d["created_at"]),
        from_text(d["updated_at"]),
    )


class TinyOutbox:
    """Alerts to deliver, one per (receiver, dedupe key)."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def enqueue(
        self, receiver: str, dedupe_key: str, payload: Json, now: datetime,
        *, alert_id: str | None = None,
    ) -> int | None:
        """Add an entry due now; its id, or None when it exists already."""
        return self.enqueue_many([NewEntry(receiver, dedupe_key, payload, alert_id)], now)[0]

    def enqueue_many(self, entries: Sequence[NewEntry], now: datetime) -> list[int | None]:
        """Add entries due now, in order, in one transaction; each one's id, or None when it
        exists already or came earlier in ``entries``."""
        stamp = to_text(now, "now")
        ids: list[int | None] = []
        with self._mem.transaction():
            for e in entries:
                if self._mem["outbox"].find((e.receiver, e.dedupe_key)) is not None:
                    ids.append(None)
                    continue
                doc = {"receiver": e.receiver, "dedupe_key": e.dedupe_key,
                       "alert_id": e.alert_id, "payload": e.payload, "status": "pending",
                       "attempts": 0, "next_attempt_at": stamp, "last_status": None,
                       "last_error": None, "claimed_by": None, "claimed_until": None,
                       "created_at": stamp, "updated_at": stamp, "sent_at": None}
                ids.append(int(self._mem.put("outbox", doc, copy=True)))
        return ids

    def claim(
        self, worker: str, now: datetime, *, lease: timedelta, limit: int = 10,
        receivers: Collection[str] | None = None,
    ) -> list[OutboxEntry]:
        """Lease due entries to ``worker``; the lease is kept in memory (see Memory.transaction)."""
        stamp, until = to_text(now, "now"), to_text(utc(now) + lease)
        with self._mem.transaction(durable=False):  # a lease matters to this process only
            t = self._mem["outbox"]
            due = [
                (d["next_attempt_at"], int(i), i) for s in _DUE for i in t.ids_in("status", s)
                if (d := t.docs[i])["next_attempt_at"] <= stamp
                and (d["claimed_until"] is None or d["claimed_until"] <= stamp)
                and (receivers is None or d["receiver"] in receivers)
            ]
            claimed = []
            for _, _, i in sorted(due)[:limit]:
                doc = {**t.docs[i], "claimed_by": worker, "claimed_until": until}
                self._mem.put("outbox", doc, i)
                claimed.append(_entry(i, t.fresh(i)))
            return claimed

    def record(self, entry_id: int, attempt: Attempt) -> OutboxEntry:
        """Log an attempt and set the status (sent is final); the worker's lease ends."""
        with self._mem.transaction():
            self._record(entry_id, attempt)
            return _entry(str(entry_id), self._mem["outbox"].fresh(str(entry_id)))

    def record_many(self, attempts: Sequence[tuple[int, Attempt]]) -> None:
        """``record`` for each pair in one transaction (one file write), reading nothing back."""
        if any(a.outcome == "retry" and a.next_attempt_at is None for _, a in attempts):
            raise ValueError("a retry needs next_attempt_at")
        with self._mem.transaction():
            for entry_id, attempt in attempts:
                self._record(entry_id, attempt)

    def _record(self, entry_id: int, attempt: Attempt) -> None:
        if attempt.outcome == "retry" and attempt.next_attempt_at is None:
            raise ValueError("a retry needs next_attempt_at")
        stamp = to_text(attempt.at, "attempt.at")
        d = self._mem["outbox"].get(entry_id)
        if d is None:
            raise StoreError(f"no outbox entry with id {entry_id}")
        doc = {**d, "attempts": d["attempts"] + 1, "last_status": attempt.status_code,
               "last_error": clip(attempt.error), "updated_at": stamp}
        if d["claimed_by"] == attempt.worker:
            doc.update(claimed_by=None, claimed_until=None)
        if d["status"] != "sent":
            status = {"sent": "sent", "retry": "retrying", "dead": "dead"}[attempt.outcome]
            doc["status"] = status
            if attempt.outcome == "sent":
                doc["sent_at"] = stamp
            if attempt.next_attempt_at is not None and attempt.outcome == "retry":
                doc["next_attempt_at"] = to_text(attempt.next_attempt_at)
        self._mem.put("outbox", doc, str(entry_id))
        self._mem.put("deliveries", {
            "outbox_id": entry_id, "receiver": d["receiver"], "dedupe_key": d["dedupe_key"],
            "attempt": doc["attempts"], "outcome": attempt.outcome,
            "status_code": attempt.status_code, "error": clip(attempt.error),
            "worker": attempt.worker, "at": stamp, "duration_ms": attempt.duration_ms})

    def release(self, entry_id: int, worker: str, until: datetime | None = None) -> bool:
        """Give a claimed entry back unattempted (due at ``until`` when given)."""
        with self._mem.transaction(durable=False):
            d = self._mem["outbox"].get(entry_id)
            if d is None or d["claimed_by"] != worker:
                return False
            due = {"next_attempt_at": to_text(until, "until")} if until is not None else {}
            self._mem.put("outbox", {**d, "claimed_by": None, "claimed_until": None, **due},
                          str(entry_id))
            return True

    def replay(
        self, entry_id: int, now: datetime, only: Collection[OutboxStatus] | None = None
    ) -> OutboxEntry | None:
        """Make an entry due again with its attempts reset (when its status is in ``only``)."""
        stamp = to_text(now, "now")
        with self._mem.transaction():
            t = self._mem["outbox"]
            d = t.get(entry_id)
            if d is None or (only is not None and d["status"] not in only):
                return None
            self._mem.put("outbox", {**d, "status": "pending", "attempts": 0,
                                     "next_attempt_at": stamp, "claimed_by": None,
                                     "claimed_until": None, "updated_at": stamp,
                                     "sent_at": None}, str(entry_id))
            return _entry(str(entry_id), t.fresh(str(entry_id)))

    def get(self, entry_id: int) -> OutboxEntry | None:
        """One entry."""
        with self._mem.lock:
            t = self._mem["outbox"]
            return None if t.get(entry_id) is None else _entry(str(entry_id),
                                                                t.fresh(str(entry_id)))

    def find(self, receiver: str, dedupe_key: str) -> OutboxEntry | None:
        """One entry by identity."""
        with self._mem.lock:
            t = self._mem["outbox"]
            found = t.find((receiver, dedupe_key))
            return None if found is None else _entry(found[0], t.fresh(found[0]))

    def for_alert(self, alert_id: str) -> list[OutboxEntry]:
        """Entries of one alert id, by id."""
        with self._mem.lock:
            t = self._mem["outbox"]
            return [_entry(i, t.fresh(i)) for i in t.ids_in("alert", alert_id)]

    def all(
        self, statuses: Collection[OutboxStatus] | None = None, receiver: str | None = None,
        limit: int | None = None,
    ) -> list[OutboxEntry]:
        """Entries by id (filtered)."""
        with self._mem.lock:
            t = self._mem["outbox"]
            ids = sorted((i for s in (statuses or OUTBOX_STATUSES) for i in t.ids_in("status", s)),
                         key=int)
            ids = [i for i in ids if receiver is None or t.docs[i]["receiver"] == receiver]
            return [_entry(i, t.fresh(i)) for i in ids[:limit]]

    def counts(self) -> dict[OutboxStatus, int]:
        """Entries per status."""
        with self._mem.lock:
            groups = self._mem["outbox"].by_group["status"]
            return {s: len(groups.get(s, ())) for s in OUTBOX_STATUSES}

    def unsent_by_receiver(self) -> dict[str, int]:
        """Pending and retrying entries per receiver."""
        with self._mem.lock:
            t = self._mem["outbox"]
            return dict(Counter(t.docs[i]["receiver"] for s in _DUE for i in t.ids_in("status", s)))

    def next_due(self) -> datetime | None:
        """When the earliest pending or retrying entry is due."""
        with self._mem.lock:
            t = self._mem["outbox"]
            times = [t.docs[i]["next_attempt_at"] for s in _DUE for i in t.ids_in("status", s)]
            return from_text(min(times)) if times else None

    def prune_sent(self, before: datetime) -> int:
        """Delete entries sent before a time."""
        cut = to_text(before, "before")
        with self._mem.transaction():
            t = self._mem["outbox"]
            old = [i for i in t.ids_in("status", "sent") if (t.docs[i]["sent_at"] or "") < cut]
            return self._mem.delete("outbox", old)


class TinyDeliveries:
    """The delivery log."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def recent(
        self, outbox_id: int | None = None, receiver: str | None = None, limit: int = 100,
    ) -> list[Delivery]:
        """Log lines, newest first."""
        with self._mem.lock:
            t = self._mem["deliveries"]
            ids = t.ids_in("outbox", outbox_id) if outbox_id is not None else list(t.docs)
            docs = [(int(i), t.docs[i]) for i in ids]
        docs = sorted((x for x in docs if receiver is None or x[1]["receiver"] == receiver),
                      key=lambda x: x[0], reverse=True)[:limit]
        return [Delivery(i, d["outbox_id"], d["receiver"], d["dedupe_key"], d["attempt"],
                         d["outcome"], d["status_code"], d["error"], d["worker"],
                         from_text(d["at"]), d["duration_ms"]) for i, d in docs]

    def prune(self, before: datetime) -> int:
        """Delete log lines older than a time."""
        cut = to_text(before, "before")
        with self._mem.transaction():
            t = self._mem["deliveries"]
            return self._mem.delete("deliveries", [i for i, d in t.docs.items() if d["at"] < cut])
