"""The retry schedule: delays, jitter bounds, Retry-After, and the outcome of each result."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from notifiers.base import SendResult
from notifiers.schedule import DELAYS, MAX_ATTEMPTS, attempt_for, next_attempt
from tests.notifier_helpers import NOW

EXPECTED = [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
            timedelta(hours=5), timedelta(hours=10), timedelta(hours=10)]


def test_schedule_is_exactly_as_documented() -> None:
    assert list(DELAYS) == EXPECTED and MAX_ATTEMPTS == 8
    middle = [next_attempt(n, NOW, lambda a, b: 1.0) for n in range(1, 8)]
    assert [m - NOW for m in middle if m] == EXPECTED
    assert next_attempt(8, NOW) is None


@pytest.mark.parametrize("failed", range(1, 8))
def test_jitter_stays_within_twenty_percent(failed: int) -> None:
    rng = random.Random(failed)
    base = EXPECTED[failed - 1]
    for _ in range(200):
        when = next_attempt(failed, NOW, rng.uniform)
        assert when is not None and base * 0.8 <= when - NOW <= base * 1.2
    assert next_attempt(failed, NOW, lambda a, b: a) == NOW + base * 0.8
    assert next_attempt(failed, NOW, lambda a, b: b) == NOW + base * 1.2


def test_retry_after_is_later_never_sooner_and_capped() -> None:
    low = lambda a, b: a  # noqa: E731
    assert next_attempt(1, NOW, low, retry_after=60) == NOW + timedelta(seconds=60)
    assert next_attempt(2, NOW, low, retry_after=60) == NOW + timedelta(minutes=4)
    assert next_attempt(1, NOW, low, retry_after=10**9) == NOW + timedelta(days=1)


def test_outcomes() -> None:
    ok = attempt_for(SendResult(ok=True, status=200), 0, NOW, "w", duration_ms=3)
    assert (ok.outcome, ok.status_code, ok.duration_ms) == ("sent", 200, 3)
    dead = attempt_for(SendResult(ok=False, status=404, permanent=True, error="nope"), 0, NOW, "w")
    assert (dead.outcome, dead.error) == ("dead", "nope")
    gone = attempt_for(SendResult(ok=False, status=410, disable=True, error="HTTP 410"), 3, NOW,
                       "w")
    assert (gone.outcome, gone.next_attempt_at) == ("retry", NOW)
    assert gone.error == "receiver disabled: HTTP 410"
    retry = attempt_for(SendResult(ok=False, status=500, error="HTTP 500"), 0, NOW, "w",
                        lambda a, b: 1.0)
    assert (retry.outcome, retry.next_attempt_at) == ("retry", NOW + timedelta(seconds=5))
    spent = attempt_for(SendResult(ok=False, status=500, error="HTTP 500"), 7, NOW, "w")
    assert spent.outcome == "dead"
    assert spent.error == "gave up after 8 attempts; last error: HTTP 500"
