"""The delivery worker as a child process for the crash test.

``python -m tests.delivery_workers STORE_URL SLACK_URL HOURS`` delivers to two Slack receivers
(channels #a and #b on the fake Slack API) at NOW + HOURS until nothing is due, then prints
``done``. The test kills it with SIGKILL at random moments and starts it again later.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from notifiers import build_notifiers
from notifiers.delivery import deliver_due
from notifiers.slack import ChannelLimiter, SlackNotifier
from state import open_store

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOKEN = "xoxb-fake-0123456789-secret"


def settings(slack_url: str) -> Settings:
    """Two Slack receivers on the fake API."""
    return Settings.model_validate({
        "network": {"allow_hosts": ["127.0.0.1"]},
        "slack": {"api_base_url": slack_url},
        "receivers": [{"name": "a", "type": "slack", "channel": "#a"},
                      {"name": "b", "type": "slack", "channel": "#b"}],
    })


def main(url: str, slack_url: str, hours: float) -> None:
    """Deliver until nothing is due."""
    config = settings(slack_url)
    built, problems = build_notifiers(config, {"SLACK_BOT_TOKEN": TOKEN})
    assert not problems, problems
    for notifier in built.values():
        assert isinstance(notifier, SlackNotifier)
        notifier.limiter = ChannelLimiter(0)
    now = NOW + timedelta(hours=hours)
    with open_store(url) as store:
        print("ready", flush=True)
        while True:
            report = deliver_due(store, config, now, worker=f"child-{os.getpid()}",
                                 notifiers=built, limit=5)
            if report.sent + report.retried + report.dead == 0:
                break
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
