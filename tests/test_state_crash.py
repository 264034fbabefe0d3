"""Crash safety: a writer killed with SIGKILL at random moments never loses a reported commit."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from bot.fleets import Fleet, make_group
from state import open_store
from tests.state_helpers import BACKENDS, spawn, url_for

ROUNDS = {"tinydb": 10, "sqlite": 4, "postgresql": 4}
BALLAST = 3000  # device groups, so that each TinyDB commit writes a file worth killing mid-way


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_reported_commit_survives_sigkill(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = url_for(backend, tmp_path, request)
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    with open_store(url) as store, store.transaction():
        store.fleets.put(Fleet("hq"))
        store.fleets.put_groups(make_group("hq", "DS-2CD3321G2-I", f"V5.{i}", 1, "A")
                                for i in range(BALLAST))
    reported: set[int] = set()
    start = 0
    for round_ in range(ROUNDS[backend]):
        where = f"seed {seed}, round {round_}"
        with spawn("write", url, str(start)) as writer:
            assert writer.stdout is not None and writer.stdout.readline() == "ready\n", where
            deadline = time.monotonic() + rng.uniform(0.02, 0.4)
            lines = []
            while time.monotonic() < deadline:
                lines.append(writer.stdout.readline())
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
            text = "".join(lines) + writer.stdout.read()
        reported.update(int(n) for n in text.split("\n")[:-1])  # only whole lines
        with open_store(url) as store:
            n = store.items.count()
            keys = store.items.current_revisions(f"item-{i}" for i in range(n))
            assert len(keys) == n, f"items are not 0..{n - 1} ({where})"
            assert reported <= set(range(n)), f"a reported commit was lost ({where})"
            assert store.findings.count() == n, f"a cycle was half written ({where})"
            assert len(store.outbox.all()) == n, f"a cycle was half written ({where})"
            assert store.meta.get("last") == (n - 1 if n else None), where
            assert len(store.fleets.groups("hq")) == BALLAST, where
        start = n
    assert len(reported) > ROUNDS[backend], "the writer should have committed in most rounds"
