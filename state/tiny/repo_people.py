"""TinyDB repositories: what people did — silences, acks and snoozes, Slack messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from state.records import AlertState, Json, Silence, SlackRef, from_text, to_text, utc
from state.tiny.memory import Doc, Memory


def _silence(doc_id: str, d: Doc) -> Silence:
    return Silence(int(doc_id), d["matchers"], from_text(d["starts_at"]), from_text(d["ends_at"]),
                   d["author"], d["comment"], from_text(d["created_at"]))


class TinySilences:
    """Silences with a time window."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def add(
        self, matchers: list[Json], *, ends_at: datetime, author: str, comment: str,
        now: datetime, starts_at: datetime | None = None,
    ) -> Silence:
        """Create a silence (starting now unless given)."""
        doc = {"matchers": matchers, "starts_at": to_text(starts_at or now, "starts_at"),
               "ends_at": to_text(ends_at, "ends_at"), "author": author, "comment": comment,
               "created_at": to_text(now, "now")}
        with self._mem.transaction():
            doc_id = self._mem.put("silences", doc, copy=True)
            return _silence(doc_id, self._mem["silences"].fresh(doc_id))

    def get(self, silence_id: int) -> Silence | None:
        """One silence."""
        with self._mem.lock:
            t = self._mem["silences"]
            key = str(silence_id)
            return _silence(key, t.fresh(key)) if key in t.docs else None

    def active(self, now: datetime) -> list[Silence]:
        """Silences in force at ``now``."""
        stamp = to_text(now, "now")
        with self._mem.lock:
            t = self._mem["silences"]
            ids = [i for i, d in t.docs.items() if d["starts_at"] <= stamp < d["ends_at"]]
            return [_silence(i, t.fresh(i)) for i in sorted(ids, key=int)]

    def all(self) -> list[Silence]:
        """Every silence, by id."""
        with self._mem.lock:
            t = self._mem["silences"]
            return [_silence(i, t.fresh(i)) for i in sorted(t.docs, key=int)]

    def expire(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False when unknown or already ended."""
        stamp = to_text(now, "now")
        with self._mem.transaction():
            d = self._mem["silences"].get(silence_id)
            if d is None or d["ends_at"] <= stamp:
                return False
            self._mem.put("silences", {**d, "ends_at": stamp}, str(silence_id))
            return True

    def prune(self, before: datetime) -> int:
        """Delete silences that ended before a time."""
        cut = to_text(before, "before")
        with self._mem.transaction():
            t = self._mem["silences"]
            return self._mem.delete("silences", [i for i, d in t.docs.items()
                                                 if d["ends_at"] < cut])


def _state(d: Doc) -> AlertState:
    def when(v: str | None) -> datetime | None:
        return from_text(v) if v else None

    return AlertState(d["alert_id"], d["acked_by"], when(d["acked_at"]), d["snoozed_by"],
                      when(d["snoozed_until"]), from_text(d["updated_at"]))


class TinyAcks:
    """Acks and snoozes per alert."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def ack(self, alert_id: str, user: str, now: datetime) -> bool:
        """Acknowledge; False when acknowledged already."""
        stamp = to_text(now, "now")
        with self._mem.transaction():
            found, doc = self._find(alert_id)
            if doc["acked_at"] is not None:
                return False
            self._mem.put("alert_states", {**doc, "acked_by": user, "acked_at": stamp,
                                           "updated_at": stamp}, found)
            return True

    def snooze(self, alert_id: str, user: str, until: datetime, now: datetime) -> bool:
        """Snooze until a time; False when already snoozed at least that long."""
        stamp, end = to_text(now, "now"), to_text(until, "until")
        with self._mem.transaction():
            found, doc = self._find(alert_id)
            if doc["snoozed_until"] is not None and doc["snoozed_until"] >= end:
                return False
            self._mem.put("alert_states", {**doc, "snoozed_by": user, "snoozed_until": end,
                                           "updated_at": stamp}, found)
            return True

    def get(self, alert_id: str) -> AlertState | None:
        """The alert's state."""
        with self._mem.lock:
            found = self._mem["alert_states"].find(alert_id)
            return None if found is None else _state(found[1])

    def many(self, alert_ids: Iterable[str]) -> dict[str, AlertState]:
        """States by alert id (unknown ids are left out)."""
        with self._mem.lock:
            t = self._mem["alert_states"]
            return {a: _state(f[1]) for a in alert_ids if (f := t.find(a)) is not None}

    def _find(self, alert_id: str) -> tuple[str | None, Doc]:
        found = self._mem["alert_states"].find(alert_id)
        if found is not None:
            return found
        return None, {"alert_id": alert_id, "acked_by": None, "acked_at": None,
                      "snoozed_by": None, "snoozed_until": None, "updated_at": None}


class TinySlack:
    """The first Slack message of each alert."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem

    def remember(
        self, alert_id: str, channel: str, ts: str, now: datetime, *, replace: bool = False
    ) -> SlackRef:
        """Store the reference unless one exists (``replace``: in any case); the stored one."""
        with self._mem.transaction():
            found = self._mem["slack_messages"].find(alert_id)
            if found is not None and not replace:
                return _ref(found[1])
            doc = {"alert_id": alert_id, "channel": channel, "ts": ts,
                   "posted_at": to_text(utc(now), "now")}
            self._mem.put("slack_messages", doc, None if found is None else found[0])
            return _ref(doc)

    def get(self, alert_id: str) -> SlackRef | None:
        """The alert's message."""
        with self._mem.lock:
            found = self._mem["slack_messages"].find(alert_id)
            return None if found is None else _ref(found[1])

    def by_message(self, channel: str, ts: str) -> SlackRef | None:
        """The alert of a message."""
        with self._mem.lock:
            t = self._mem["slack_messages"]
            ids = t.ids_in("message", (channel, ts))
            return _ref(t.docs[ids[0]]) if ids else None


def _ref(d: Doc) -> SlackRef:
    return SlackRef(d["alert_id"], d["channel"], d["ts"], from_text(d["posted_at"]))
