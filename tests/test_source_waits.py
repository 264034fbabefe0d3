"""A source whose server asks to wait (429/503 with Retry-After) is not polled before that time.

Polls and whole cycles against a server on 127.0.0.1: the refusal counts once, the cycles inside
the wait leave the source out (no request, nothing stored changes, no notice), the other sources
are polled as usual, and the first cycle after the time polls it again. The operator reads the
wait on the cycle's source line, in ``firmwatch sources`` and in the JSON outputs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import NetworkSettings, SourceSettings, parse
from bot.service.jobs import plan_jobs, real_work
from bot.service.metrics import Metrics
from bot.sources import PARSERS
from bot.sources.fetcher import Fetcher
from bot.sources.health import SourceHealth, describe, record_failure, record_success
from bot.sources.runner import Cursor, poll
from tests.httpserver import LocalServer, Route
from tests.test_broken_sources import NOTICES
from tests.test_cli import run
from tests.test_cutoff import HIK, HTML, NOW, PAGES, SAMPLES, Site, _source

KEV = (SAMPLES / "kev.json").read_bytes()
BUSY = Route(429, b"slow down", {"Retry-After": "3600"})
HOUR = timedelta(hours=1)


@pytest.fixture
def site(http_server: LocalServer, tmp_path: Path) -> Iterator[Site]:
    """The Hikvision listing and pages, and CISA KEV, on 127.0.0.1; ops hears of source health
    after two failures in a row."""
    for page in PAGES:
        http_server.route(page, Route(body=(HIK / page.lstrip("/")).read_bytes(), headers=HTML))
    kev = http_server.route("/kev.json", Route(body=KEV))
    listing = http_server.route(
        "/listing.html", Route(body=HIK.joinpath("listing.html").read_bytes(), headers=HTML)
    )
    sources = NOTICES + _source("hik", "advisory", "hikvision-html", listing)
    sources += _source("kev", "exploited", "kev-json", kev)
    yield Site(http_server, tmp_path, sources)


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    network = NetworkSettings(allow_hosts=["127.0.0.1"], timeout=timedelta(seconds=2))
    with Fetcher(network) as f:
        yield f


def _kev(url: str) -> SourceSettings:
    return SourceSettings.model_validate(
        {"name": "kev", "kind": "exploited", "format": "kev-json", "url": url}
    )


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "until"),
    [
        (429, "3600", NOW + HOUR),
        (503, _http_date(NOW + timedelta(minutes=90)), NOW + timedelta(minutes=90)),
        (503, _http_date(NOW + timedelta(days=9)), NOW + timedelta(days=1)),  # at most a day
        (429, "99999999999", NOW + timedelta(days=1)),
        (429, "soon", None),  # unreadable: ignored
        (429, _http_date(NOW - HOUR), None),  # already past
        (429, "0", None),
        (500, "60", None),  # only 429 and 503 are waited out
        (403, "60", None),
    ],
)  # fmt: skip
def test_the_wait_a_refusal_asks_for(
    http_server: LocalServer,
    fetcher: Fetcher,
    status: int,
    retry_after: str,
    until: datetime | None,
) -> None:
    url = http_server.route("/kev.json", Route(status, b"no", {"Retry-After": retry_after}))
    outcome = poll(_kev(url), fetcher, Cursor(), SourceHealth(), NOW, parsers=PARSERS)
    assert outcome.health.consecutive_failures == 1 and not outcome.waiting
    assert outcome.health.not_before == until
    again = poll(_kev(url), fetcher, Cursor(), outcome.health, NOW + timedelta(minutes=1),
                 parsers=PARSERS)  # fmt: skip
    assert again.waiting is (until is not None)
    assert len(http_server.requests_to("/kev.json")) == (1 if until else 2)


def test_a_waiting_poll_sends_nothing_and_keeps_everything(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    url = http_server.route("/kev.json", Route(body=KEV))
    cursor = Cursor(etag='"v1"', last_modified="Mon, 30 Nov 2026 08:00:00 GMT")
    good = record_success(SourceHealth(), NOW - HOUR, 200, ["a warning"], 2)
    refused = record_failure(good, NOW, "HTTP 429 Too Many Requests", 429, NOW + HOUR)
    outcome = poll(_kev(url), fetcher, cursor, refused, NOW + timedelta(minutes=59),
                   parsers=PARSERS)  # fmt: skip
    assert outcome.waiting and outcome.items == []
    assert outcome.cursor is cursor and outcome.health is refused
    assert http_server.requests_to("/kev.json") == []
    after = poll(_kev(url), fetcher, cursor, refused, NOW + HOUR, parsers=PARSERS)
    assert not after.waiting and len(after.items) == 2
    assert after.health.not_before is None and after.health.consecutive_failures == 0


def test_health_stored_before_waits_existed_still_loads() -> None:
    old: dict[str, Any] = {
        "last_attempt": "2026-11-30T08:00:00+00:00",
        "last_success": "2026-11-30T08:00:00+00:00",
        "last_error": None,
        "consecutive_failures": 0,
        "last_status": 200,
        "warnings": [],
        "items_last_poll": 4,
        "failing_since": None,
    }
    health = SourceHealth.from_dict(old)
    assert health.not_before is None and health.items_last_read == 4
    assert SourceHealth.from_dict(health.to_dict()) == health
    assert SourceHealth.from_dict({**old, "not_before": "next tuesday"}).not_before is None
    naive = SourceHealth.from_dict({**old, "not_before": "2026-12-01T10:00:00"})
    assert naive.not_before == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_describe_says_until_when_while_the_wait_holds() -> None:
    refused = record_failure(SourceHealth(), NOW, "HTTP 429 Too Many Requests", 429, NOW + HOUR)
    waiting = "; waiting until 2026-11-30T10:00:00+00:00 (the server asked)"
    assert describe(refused, NOW + timedelta(minutes=5)) == (
        f"failing \u00d71 since 5 min ago: HTTP 429 Too Many Requests{waiting}"
    )
    assert not describe(refused, NOW + HOUR).endswith(waiting)  # polled at its next turn


def test_cycles_leave_a_waiting_source_out_and_poll_it_again_after(site: Site) -> None:
    first = site.cycle(NOW)
    assert first.sources == {"hik": "4 items", "kev": "2 items"}
    site.server.route("/kev.json", BUSY, Route(body=KEV))
    site.server.route(
        "/listing.html", Route(body=HIK.joinpath("listing.html").read_bytes(), headers=HTML)
    )

    refused = site.cycle(NOW + HOUR)
    assert refused.sources["kev"] == (
        "failed: HTTP 429 Too Many Requests (the server asks to wait 3600 s before asking"
        " again); waiting until 2026-11-30T11:00:00+00:00 (the server asked)"
    )
    cursor, health = site.cursor("kev"), site.health("kev")
    assert health["not_before"] == "2026-11-30T11:00:00+00:00"
    assert health["consecutive_failures"] == 1
    asked = len(site.server.requests_to("/kev.json"))
    listing_reads = len(site.server.requests_to("/listing.html"))

    for minutes in (10, 30, 59):  # three cycles inside the wait: the notice threshold is two
        inside = site.cycle(NOW + HOUR + timedelta(minutes=minutes))
        assert inside.sources["kev"] == (
            "waiting until 2026-11-30T11:00:00+00:00 (the server asked); not polled"
        )
        assert inside.waiting == {"kev": "2026-11-30T11:00:00+00:00"}
        assert inside.sources["hik"] in ("unchanged", "0 items")  # the others are polled
        assert inside.alerts == [] and inside.findings["resolved"] == 0
    assert len(site.server.requests_to("/kev.json")) == asked
    assert len(site.server.requests_to("/listing.html")) == listing_reads + 3
    assert (site.cursor("kev"), site.health("kev")) == (cursor, health)
    with site.store() as store:
        assert len(store.items.all("exploited")) == 2

    after = site.cycle(NOW + 2 * HOUR)
    assert after.sources["kev"] in ("unchanged", "2 items") and after.waiting == {}
    assert after.alerts == []  # never unhealthy: nothing to recover from
    recovered = site.health("kev")
    assert recovered["consecutive_failures"] == 0 and recovered["not_before"] is None


def test_a_waiting_source_neither_raises_nor_repeats_a_notice(site: Site) -> None:
    site.server.route("/kev.json", Route(500), BUSY, Route(body=KEV))
    site.cycle(NOW)
    refused = site.cycle(NOW + HOUR)  # the second failure in a row: unhealthy, told once
    assert [(d["kind"], d["item"]["key"]) for d in refused.alerts] == [("source", "source:kev")]
    inside = site.cycle(NOW + HOUR + timedelta(minutes=30))
    assert inside.alerts == [] and inside.enqueued == 0
    assert site.health("kev")["consecutive_failures"] == 2
    after = site.cycle(NOW + 2 * HOUR)
    told = [d.get("resolution") for d in after.alerts if d["kind"] == "source"]
    assert told == ["recovered"]


def test_the_scheduler_s_tick_for_a_waiting_source_polls_nothing(site: Site) -> None:
    site.server.route("/kev.json", BUSY, Route(body=KEV))
    settings = parse(site.config_text(), "bot.toml")
    with site.store() as store, Fetcher(settings.network) as fetcher:
        work = real_work(store, settings, fetcher=fetcher, base=site.root,
                         config_name="bot.toml", environ={}, worker="w:1", stop=_never())
        tick = {s.id: s for s in plan_jobs(settings, work)}["source:kev"].body
        tick(NOW)
        waited = tick(NOW + timedelta(minutes=30))
        assert getattr(waited, "sources", None) == {
            "kev": "waiting until 2026-11-30T10:00:00+00:00 (the server asked); not polled"
        }
        assert len(site.server.requests_to("/kev.json")) == 1
        tick(NOW + HOUR)
        assert len(site.server.requests_to("/kev.json")) == 2
    assert site.server.requests_to("/listing.html") == []  # the tick polls only its source


def test_the_wait_is_a_metric(site: Site) -> None:
    site.server.route("/kev.json", BUSY)
    site.cycle(NOW)
    with site.store() as store:
        exposed = Metrics(store).exposition().decode()
    (family,) = [f for f in text_string_to_metric_families(exposed)
                 if f.name == "firmwatch_source_not_before_timestamp_seconds"]
    (sample,) = family.samples
    assert sample.labels == {"source": "kev"} and sample.value == (NOW + HOUR).timestamp()


def test_the_operator_reads_the_wait_in_check_and_sources(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.server.route("/kev.json", BUSY)
    config = site.root / "bot.toml"
    config.write_text(site.config_text(), encoding="utf-8")
    code, out, _ = run("check", "--config", str(config), "--no-deliver")
    assert code == 0 and "  source kev: failed: HTTP 429 Too Many Requests" in out
    assert "; waiting until " in out

    code, out, _ = run("check", "--config", str(config), "--source", "kev", "--no-deliver")
    (line,) = [li for li in out.splitlines() if li.startswith("  source kev: ")]
    assert line.startswith("  source kev: waiting until ") and line.endswith(
        " (the server asked); not polled"
    )
    capsys.readouterr()
    code, out, _ = run("check", "--config", str(config), "--json", "--no-deliver")
    assert code == 0 and json.loads(out) == []
    assert line in capsys.readouterr().err.splitlines()  # the same words, on stderr beside the JSON
    assert len(site.server.requests_to("/kev.json")) == 1

    code, out, _ = run("sources", "--config", str(config))
    (health,) = [li for li in out.splitlines() if li.startswith("  health: failing")]
    assert health.endswith(" (the server asked)") and "; waiting until " in health
    code, out, _ = run("sources", "--config", str(config), "--json")
    views = {v["name"]: v for v in json.loads(out)}
    until = views["kev"]["waiting_until"]
    assert until == views["kev"]["health"]["not_before"] and until in line
    assert views["hik"]["waiting_until"] is None


def _never() -> threading.Event:
    return threading.Event()
