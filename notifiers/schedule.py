"""The retry schedule and how one send's result becomes the outbox entry's next state (pure).

Attempts: immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, each delay with
±20 % jitter; after the eighth failure the entry is dead. ``Retry-After`` moves the next attempt
later, never sooner (capped at a day, so a hostile endpoint cannot park an alert for ever).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from notifiers.base import SendResult
from state import Attempt

DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(DELAYS) + 1
JITTER = 0.2
MAX_RETRY_AFTER = timedelta(days=1)
Uniform = Callable[[float, float], float]


def next_attempt(
    failed: int,
    at: datetime,
    uniform: Uniform = random.uniform,
    retry_after: float | None = None,
) -> datetime | None:
    """When to try again after the ``failed``-th failed attempt (1-based); None when spent."""
    if failed < 1 or failed > len(DELAYS):
        return None
    delay = DELAYS[failed - 1] * uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return at + delay


def attempt_for(
    result: SendResult,
    attempts_before: int,
    at: datetime,
    worker: str,
    uniform: Uniform = random.uniform,
    duration_ms: int | None = None,
) -> Attempt:
    """The Attempt to record for one send's result.

    A receiver that is gone (``disable``) leaves the entry due: it waits, unattempted by the
    worker, until the receiver is enabled again.
    """
    status, error = result.status, result.error
    if result.ok:
        return Attempt("sent", at, worker, status, None, None, duration_ms)
    if result.disable:
        why = f"receiver disabled: {error or 'gone'}"
        return Attempt("retry", at, worker, status, why, at, duration_ms)
    if result.permanent:
        return Attempt("dead", at, worker, status, error or "refused", None, duration_ms)
    failed = attempts_before + 1
    when = next_attempt(failed, at, uniform, result.retry_after)
    if when is None:
        spent = f"gave up after {failed} attempts; last error: {error or 'unknown'}"
        return Attempt("dead", at, worker, status, spent, None, duration_ms)
    return Attempt("retry", at, worker, status, error or "failed", when, duration_ms)
