"""Crash test: the delivery worker is killed with SIGKILL at random moments while delivering.

After restarts every alert reaches every receiver at least once, every copy carries the alert's
own id, and the outbox ends with everything sent.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import defaultdict

from state import open_store
from tests.delivery_workers import settings
from tests.fakeslack import FakeSlack
from tests.notifier_helpers import NOW, document
from tests.state_helpers import ROOT

ALERTS = 20


def spawn(url: str, slack: FakeSlack, hours: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.delivery_workers", url, slack.url,
                             str(hours)], cwd=ROOT, text=True, stdout=subprocess.PIPE)


def alert_id(body: dict[str, object]) -> str:
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    return str(next(e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
                    if e["action_id"] == "fw_ack"))


def test_sigkill_at_random_moments_loses_nothing(store_url: str, fake_slack: FakeSlack) -> None:
    rng = random.Random(20261128)
    expected: dict[str, set[str]] = {}
    with open_store(store_url) as store:
        for receiver in ("a", "b"):
            docs = [document(receiver, f"HSRC-{i:03d}") for i in range(ALERTS)]
            expected[f"C{receiver.upper()}"] = {d["id"] for d in docs}
            for d in docs:
                store.outbox.enqueue(receiver, d["dedupe_key"], d, NOW, alert_id=d["id"])
    for hours in range(3):
        child = spawn(store_url, fake_slack, hours)
        try:
            target = len(fake_slack.posts()) + rng.randint(1, 8)
            assert fake_slack.wait_for_posts(target, timeout=60)
        finally:
            child.kill()
            child.wait(timeout=30)
            assert child.stdout is not None
            child.stdout.close()
    final = spawn(store_url, fake_slack, 10)
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0 and out.split() == ["ready", "done"]
    seen: dict[str, list[str]] = defaultdict(list)
    for post in fake_slack.posts():
        seen[str(post.body["channel"]).replace("#", "C").upper()].append(alert_id(post.body))
    for channel, ids in expected.items():
        assert set(seen[channel]) == ids  # every alert arrived; no copy carries a foreign id
    with open_store(store_url) as store:
        assert store.outbox.counts()["sent"] == 2 * ALERTS
        assert settings(fake_slack.url).receivers[0].name == "a"
