"""Source-health notices: a source that keeps failing is told to receivers once, and its recovery.

Through the real cycle: a TinyDB store, a KEV source on 127.0.0.1 that answers 500, the outbox.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import parse
from bot.pipeline import CycleReport, run_cycle
from bot.sourcenotice import SourceView, notices
from bot.sources.fetcher import Fetcher
from bot.sources.health import TIMES, SourceHealth, record_failure, record_success
from notifiers.console import render_text
from notifiers.presets import PRESETS
from notifiers.slackblocks import build_message
from state import OutboxEntry, Store, open_store
from tests.httpserver import LocalServer, Route
from tests.test_presets import CHECKS, CTX, VALIDATOR, wire

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
KEV = (Path(__file__).parents[1] / "bot" / "samples" / "sources" / "kev.json").read_bytes()
FAIL = Route(status=500, body=b"oops")
OK = Route(body=KEV, headers={"Content-Type": "application/json"})


@dataclass
class World:
    """A config whose KEV source is on the local server, and helpers to run cycles."""

    root: Path
    server: LocalServer
    policy: str = 'source_receivers = ["ops"]\n'
    query: str = "?token=s3cr3t-t0ken"
    enabled: bool = True

    @property
    def path(self) -> str:
        return str(self.root / "bot.toml")

    def config(self) -> str:
        text = f"""
[state]
url = "tinydb:///state.json"

[network]
allow_hosts = ["127.0.0.1"]
timeout = "3s"

[policy]
{self.policy}

[[sources]]
name = "kev"
kind = "exploited"
format = "kev-json"
url = "{self.server.url('/kev.json')}{self.query}"
enabled = {str(self.enabled).lower()}

[[receivers]]
name = "ops"
type = "console"

[[receivers]]
name = "chat"
type = "console"

[[fleets]]
name = "hq"
receivers = ["chat"]

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.5.0 build 200911"
count = 40
site = "Site A"
"""
        Path(self.path).write_text(text, encoding="utf-8")
        return text

    def answer(self, route: Route) -> None:
        self.server.route("/kev.json", route)

    def store(self) -> Store:
        return open_store(f"tinydb:///{self.root / 'state.json'}")

    def cycle(self, now: datetime, **kw: Any) -> CycleReport:
        settings = parse(self.config(), "bot.toml")
        with self.store() as store, Fetcher(settings.network) as fetcher:
            return run_cycle(store, settings, now, fetcher=fetcher, base=self.root, **kw)

    def cycles(self, n: int, start: datetime) -> list[CycleReport]:
        return [self.cycle(start + timedelta(hours=i)) for i in range(n)]

    def outbox(self, receiver: str | None = None) -> list[OutboxEntry]:
        with self.store() as store:
            return store.outbox.all(receiver=receiver)


@pytest.fixture
def world(http_server: LocalServer, tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path, http_server)
    world.answer(FAIL)
    yield world


def _notices(report: CycleReport) -> list[dict[str, Any]]:
    return [d for d in report.alerts if d["kind"] == "source"]


def test_a_source_failing_three_times_enqueues_one_notice_to_the_source_receivers(
    world: World,
) -> None:
    first, second, third = world.cycles(3, NOW)
    assert first.sources["kev"].startswith("failed: HTTP 500")
    assert _notices(first) == _notices(second) == []
    (doc,) = _notices(third)
    assert third.enqueued == 1
    (entry,) = world.outbox()
    assert entry.receiver == "ops" and entry.payload == doc  # only the source receivers
    assert doc["receivers"] == ["ops"] and doc["severity"] == "none" and doc["findings"] == []
    assert doc["item"]["key"] == "source:kev" and doc["item"]["kind"] == "source"
    assert doc["item"]["title"] == "Source kev is failing"
    assert doc["dedupe_key"] == "ops|source:kev|failing:2026-11-30T09:00:00+00:00"
    assert doc["source"] == {
        "name": "kev",
        "kind": "exploited",
        "format": "kev-json",
        "state": "failing",
        "failing_since": "2026-11-30T09:00:00+00:00",
        "failures": 3,
        "last_error": "HTTP 500 Internal Server Error",
        "last_status": 500,
        "last_success": None,
        "last_attempt": "2026-11-30T11:00:00+00:00",
    }
    summary = doc["summary"]
    assert "kev has failed 3 polls in a row since 2026-11-30 09:00 UTC" in summary
    assert "HTTP 500 Internal Server Error" in summary and "CISA KEV listings" in summary
    assert "firmwatch fetch kev" in summary  # what to do
    assert "s3cr3t" not in json.dumps(doc)  # the query string is never shown


def test_more_failures_and_reruns_add_nothing(world: World) -> None:
    world.cycles(3, NOW)
    later = world.cycles(4, NOW + timedelta(hours=3))
    assert all(_notices(r) == [] and r.enqueued == 0 for r in later)
    assert len(world.outbox()) == 1
    with world.store() as store:
        health = SourceHealth.from_dict(store.sources.get("kev").health)  # type: ignore[union-attr]
    assert health.consecutive_failures == 7


def test_recovery_sends_one_resolved_notice_and_a_new_outage_a_new_one(world: World) -> None:
    world.cycles(5, NOW)
    world.answer(OK)
    recovered = world.cycle(NOW + timedelta(hours=5))
    assert recovered.sources["kev"] == "2 items"
    (doc,) = _notices(recovered)
    assert doc["resolved"] is True and doc["resolution"] == "recovered"
    assert doc["item"]["key"] == "source:kev"  # the same incident: PagerDuty resolves it
    assert doc["item"]["title"] == "Source kev recovered"
    assert doc["dedupe_key"] == "ops|source:kev|recovered:2026-11-30T09:00:00+00:00"
    assert doc["source"]["state"] == "recovered" and doc["source"]["failures"] == 5
    assert doc["source"]["last_success"] == "2026-11-30T14:00:00+00:00"
    assert "after 5 failed polls" in doc["summary"]
    assert [e.payload["source"]["state"] for e in world.outbox("ops")] == ["failing", "recovered"]
    assert _notices(world.cycle(NOW + timedelta(hours=6))) == []  # once per transition
    world.answer(FAIL)
    again = world.cycles(3, NOW + timedelta(hours=7))
    assert [len(_notices(r)) for r in again] == [0, 0, 1]
    assert _notices(again[2])[0]["dedupe_key"].endswith("failing:2026-11-30T16:00:00+00:00")
    assert len(world.outbox("ops")) == 3


def test_a_dry_run_shows_the_notice_and_stores_nothing(world: World) -> None:
    world.cycles(2, NOW)
    dry = world.cycle(NOW + timedelta(hours=2), dry_run=True)
    assert len(_notices(dry)) == 1 and world.outbox() == []
    real = world.cycle(NOW + timedelta(hours=3))
    assert len(_notices(real)) == 1 and len(world.outbox()) == 1


def test_a_source_disabled_while_failing_resolves_its_notice(world: World) -> None:
    world.cycles(3, NOW)
    world.enabled = False
    (doc,) = _notices(world.cycle(NOW + timedelta(hours=3)))
    assert doc["resolved"] is True and doc["resolution"] == "not-watched"
    assert doc["source"]["state"] == "not-watched"
    assert "no longer watched" in doc["summary"]
    assert _notices(world.cycle(NOW + timedelta(hours=4))) == []


def test_the_threshold_is_configurable(world: World) -> None:
    world.policy = 'source_receivers = ["ops", "chat"]\nsource_failures = 1\n'
    (report,) = world.cycles(1, NOW)
    assert sorted(d["receivers"][0] for d in _notices(report)) == ["chat", "ops"]
    assert "kev has failed 1 poll in a row" in _notices(report)[0]["summary"]


def test_without_source_receivers_check_and_sources_warn_and_check_exits_0(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.policy = ""
    world.cycles(2, NOW)
    warning = "warning: source kev is unhealthy"
    hint = "no receiver is told (name receivers in [policy] source_receivers)"
    out = io.StringIO()
    assert main(["check", "--config", world.path, "--no-deliver"], out=out) == 0
    text = out.getvalue()
    assert warning in text and hint in text and f"failing {TIMES}3" in text
    assert world.outbox() == []
    out = io.StringIO()
    assert main(["check", "--config", world.path, "--dry-run", "--json"], out=out) == 0
    json.loads(out.getvalue())  # stdout stays JSON; the warning goes to stderr
    assert warning in capsys.readouterr().err
    out = io.StringIO()
    assert main(["sources", "--config", world.path], out=out) == 0
    assert warning in out.getvalue() and hint in out.getvalue()
    out = io.StringIO()
    assert main(["sources", "--config", world.path, "--json"], out=out) == 0
    (view,) = json.loads(out.getvalue())
    assert view["unhealthy"] is True
    assert warning in capsys.readouterr().err


def test_with_source_receivers_there_is_no_warning_and_check_delivers_the_notice(
    world: World,
) -> None:
    world.cycles(2, NOW)
    out = io.StringIO()
    assert main(["check", "--config", world.path], out=out) == 0
    text = out.getvalue()
    assert "warning: source kev" not in text
    assert "→ ops: [source down] kev: Source kev is failing" in text
    assert "[SOURCE DOWN] Source kev is failing" in text  # delivered to the console receiver
    assert [e.status for e in world.outbox("ops")] == ["sent"]
    out = io.StringIO()
    assert main(["sources", "--config", world.path], out=out) == 0
    assert "warning:" not in out.getvalue() and f"failing {TIMES}3" in out.getvalue()


def test_a_healthy_or_briefly_failing_source_warns_nobody(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.policy = ""
    world.cycles(2, NOW)  # below the threshold
    out = io.StringIO()
    assert main(["sources", "--config", world.path], out=out) == 0
    assert f"failing {TIMES}2" in out.getvalue() and "warning: source" not in out.getvalue()


# Rendering: the documents the cycle makes, through every notifier.

def _docs() -> tuple[dict[str, Any], dict[str, Any]]:
    """A failing notice and its recovery, as the pure step makes them."""
    health = SourceHealth()
    for i in range(3):
        health = record_failure(health, NOW + timedelta(hours=i), "HTTP 503 Service Unavailable",
                                503)
    view = SourceView("nvd", "scores", "nvd-json", health, health)
    (failing,), noticed = notices([view], ["pager"], 3, {}, NOW + timedelta(hours=2))
    healed = record_success(health, NOW + timedelta(hours=3), 200, [], 4)
    (recovered,), after = notices(
        [SourceView("nvd", "scores", "nvd-json", healed, health)], ["pager"], 3, noticed,
        NOW + timedelta(hours=3),
    )
    assert after == {}
    return failing, recovered


def test_the_documents_fit_the_payload_schema() -> None:
    for doc in _docs():
        VALIDATOR.validate(wire(PRESETS["generic"].payload(doc, CTX)))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_renders_source_notices_within_its_limits(name: str) -> None:
    for doc in _docs():
        CHECKS[name](wire(doc), wire(PRESETS[name].payload(doc, CTX)))


def test_pagerduty_triggers_then_resolves_the_same_incident() -> None:
    failing, recovered = _docs()
    trigger = PRESETS["pagerduty"].payload(failing, CTX)
    resolve = PRESETS["pagerduty"].payload(recovered, CTX)
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"]
    payload = trigger["payload"]
    assert payload["summary"].startswith("[SOURCE DOWN] Source nvd has failed 3 polls")
    assert payload["severity"] == "warning" and payload["class"] == "source"
    assert payload["custom_details"]["source"]["last_error"] == "HTTP 503 Service Unavailable"


@pytest.mark.parametrize("name", ["jira", "servicenow", "opsgenie", "discord", "teams"])
def test_other_presets_never_say_none_for_a_source_notice(name: str) -> None:
    failing, recovered = _docs()
    assert "[NONE]" not in json.dumps(PRESETS[name].payload(failing, CTX))
    assert "SOURCE DOWN" in json.dumps(PRESETS[name].payload(failing, CTX))
    assert "RESOLVED" in json.dumps(PRESETS[name].payload(recovered, CTX))


def test_slack_and_console_render_source_notices_without_alert_buttons() -> None:
    failing, recovered = _docs()
    message = build_message(failing)
    assert message["blocks"][0]["text"]["text"] == "SOURCE DOWN · Source nvd is failing"
    assert "HTTP 503 Service Unavailable" in json.dumps(message)
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert build_message(recovered)["blocks"][0]["text"]["text"].startswith("RESOLVED · ")
    text = render_text(failing)
    assert "[SOURCE DOWN] Source nvd is failing" in text and "firmwatch fetch nvd" in text
    assert "[RESOLVED] Source nvd recovered" in render_text(recovered)


def test_the_readme_names_every_key_of_a_source_notice() -> None:
    from tests.test_alertdoc import README, _readme_keys

    top, _ = _readme_keys()
    (row,) = [r for r in README.read_text(encoding="utf-8").splitlines()
              if r.startswith("| `source` |")]
    failing, recovered = _docs()
    for doc in (failing, recovered):
        assert set(doc) <= top, set(doc) - top
        assert all(f"`{key}`" in row for key in doc["source"]), row
