"""The notifier protocol: render an alert document and send it to one receiver.

A notifier is built once per ``[[receivers]]`` entry and sends alert documents (see
:mod:`bot.alertdoc`). It never raises for the receiver's faults: every outcome, good or bad, is
a :class:`SendResult` the delivery worker turns into the outbox entry's next state.

Two optional attributes tune the worker (:mod:`notifiers.delivery`): ``concurrency`` (default 1)
is how many alerts about different items it may send at once (one item's alerts always go in
order; the notifier must then be thread-safe), and ``threaded`` (default False) makes it pass the
item's first message as ``thread`` and remember the ``thread`` a first send returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

AlertDoc = Mapping[str, Any]


@dataclass(frozen=True)
class Thread:
    """Where an earlier message about the same item went (Slack: channel and ``ts``)."""

    channel: str
    ts: str


@dataclass(frozen=True)
class SendResult:
    """One attempt's outcome.

    ``ok`` is success (2xx only). Otherwise ``retry_after`` (seconds, from ``Retry-After``) asks for
    a later retry no sooner than that, ``permanent`` means retrying cannot help (the entry goes
    dead), and ``disable`` means the receiver itself is gone (HTTP 410) and must be switched off.
    ``thread`` is the message a first Slack post created, for later updates to reply to;
    ``new_thread`` says a reply could not go into the item's thread and started a new one there.
    """

    ok: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False
    disable: bool = False
    thread: Thread | None = None
    new_thread: bool = False


def headline(doc: AlertDoc) -> str:
    """The alert's label for people: its severity, or what it is when it has none.

    A firmware update, a stage change, a resolution, a notice or a source-health notice carries
    severity ``none``; showing ``NONE`` would read as "nothing to do".
    """
    if doc.get("resolved"):
        return "RESOLVED"
    kind = str(doc.get("kind") or "")
    if kind in KIND_LABELS:
        return KIND_LABELS[kind]
    severity = str(doc.get("severity") or "none").strip().upper()[:20]
    if severity not in ("", "NONE"):
        return severity
    return _LABELS.get(kind, "UNSCORED")


_LABELS = {"firmware": "UPDATE", "lifecycle": "LIFECYCLE", "digest": "DIGEST"}
KIND_LABELS = {"notice": "NOTICE", "source": "SOURCE DOWN"}  # whatever their severity


class Notifier(Protocol):
    """Sends alert documents to one receiver."""

    name: str

    def send(self, doc: AlertDoc, *, thread: Thread | None = None) -> SendResult:
        """Deliver one alert; ``thread`` is where an earlier message about its item went."""
        ...

    def render(self, doc: AlertDoc) -> str:
        """What would be sent, for ``--dry-run`` and ``firmwatch notify test --dry-run``."""
        ...
