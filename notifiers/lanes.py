"""How many sends to run at once for one receiver, learned from how busy the process is.

Sending is partly waiting on the network and partly Python work, and Python work runs on one
core at a time (the GIL). Lanes help only while there is waiting to overlap: against a receiver
that takes 50 ms per request sixteen lanes send sixteen times faster, but against one that
answers in half a millisecond extra lanes only fight over the GIL and send slower than one.

So the worker starts a receiver on one lane and, after every batch, compares the process's CPU
time with the batch's wall time. ``busy`` near 1 means the sends are CPU-bound; near 0, that they
are mostly waiting. The next batch gets the number of lanes that would keep the process about
``TARGET`` busy: all the way up to the notifier's ``concurrency`` at once when there is room, and
at most half as many as before when the process is saturated (contention inflates ``busy``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

TARGET = 0.8  # the share of one core the sends of a receiver should keep busy


@dataclass
class Lanes:
    """The lane count for a receiver's next batch; ``ceiling`` is the notifier's concurrency."""

    ceiling: int
    now: int = 1
    wall: Callable[[], float] = field(default=time.perf_counter, repr=False)
    cpu: Callable[[], float] = field(default=time.process_time, repr=False)
    _started: tuple[float, float] | None = field(default=None, repr=False)

    def start(self) -> int:
        """Mark the start of a batch; how many lanes it gets."""
        self._started = (self.wall(), self.cpu())
        return self.now

    def done(self) -> int:
        """Mark the end of the batch started last; the lane count for the next one."""
        if self._started is None:
            return self.now
        wall0, cpu0 = self._started
        self._started = None
        self.now = next_lanes(self.now, self.ceiling, self.wall() - wall0, self.cpu() - cpu0)
        return self.now


def next_lanes(lanes: int, ceiling: int, wall: float, cpu: float) -> int:
    """Lanes that would keep the process ``TARGET`` busy, given a batch on ``lanes`` lanes.

    ``wall`` and ``cpu`` are the batch's elapsed and CPU seconds. The count falls by at most half
    per batch and never leaves ``1..ceiling``.
    """
    ceiling = max(1, ceiling)
    if wall <= 0:
        return min(max(lanes, 1), ceiling)
    busy = max(cpu / wall, 1e-3)
    wanted = int(lanes * TARGET / busy)
    return max(1, min(ceiling, max(wanted, lanes // 2)))
