"""The web endpoints over real HTTP on 127.0.0.1: health, readiness, metrics, Slack, REST API."""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import logging
import os
import re
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_bolt import Ack, App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings, parse
from bot.fleets import declared_fleets
from bot.service.metrics import Metrics
from bot.slack.subscriptions import subscribe, subscriptions
from bot.web.app import WebApp
from bot.web.server import WebServer, close_channels
from bot.web.slack import load_slack
from state import FindingData, Store, open_store
from state.fleetsync import sync_declared_fleets

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "test-api-token-0123456789"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
CONFIG = """
[[receivers]]
name = "ops"
type = "console"

[[fleets]]
name = "hq"
receivers = ["ops"]

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.7.13 build 230822"
count = 4

[web]
max_body_kib = 4
"""
LAB = {
    "description": "Lab cameras", "receivers": ["ops"], "tags": ["lab"], "min_severity": "high",
    "devices": [
        {"model": "DS-2CD3321G2-I", "firmware": "V5.7.13 build 230822", "count": 3, "site": "A"},
        {"model": "DS-96064NI-I16", "firmware": "V4.30.096 build 221220", "count": 1},
    ],
}


@dataclass
class Site:
    """A running web app: its URL, store and metrics, and an HTTP client."""

    url: str
    store: Store
    metrics: Metrics
    client: httpx.Client

    def get(self, path: str, token: str | None = TOKEN, **kw: Any) -> httpx.Response:
        return self.call("GET", path, token, **kw)

    def call(self, method: str, path: str, token: str | None = TOKEN, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, self.url + path, headers=headers, **kw)


def _slack_app(store: Store, settings: Settings, *, environ: Mapping[str, str],
               clock: Callable[[], datetime]) -> App:
    """A bolt App with one slash command, authorised offline (no auth.test)."""
    app = App(
        signing_secret=environ["SLACK_SIGNING_SECRET"], process_before_response=True,
        authorize=lambda enterprise_id, team_id: AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-offline",
            bot_user_id="U0", bot_id="B0"),
    )

    @app.command("/firmware")
    def firmware(ack: Ack, command: dict[str, Any]) -> None:
        ack(text=f"you asked: {command['text']}")

    return app


def _serve(tmp_path: Path, environ: dict[str, str], slack: bool = False) -> Iterator[Site]:
    settings = parse(CONFIG, "bot.toml")
    with open_store(f"tinydb:///{tmp_path / 'state.json'}") as store:
        sync_declared_fleets(store, declared_fleets(settings.fleets, "bot.toml"))
        metrics = Metrics(store)
        endpoint = load_slack(store, settings, environ=environ, clock=lambda: T0,
                              build=_slack_app if slack else None)
        app = WebApp(store, settings, metrics=metrics, slack=endpoint, environ=environ)
        server = WebServer(app, host="127.0.0.1", port=0, threads=4, max_body=app.max_body)
        server.start()
        try:
            with httpx.Client(timeout=10) as client:
                yield Site(server.url, store, metrics, client)
        finally:
            server.stop(5)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The web app with the REST API on and Slack off."""
    yield from _serve(tmp_path, {"FIRMWATCH_API_TOKEN": TOKEN})


@pytest.fixture
def slack_site(tmp_path: Path) -> Iterator[Site]:
    """The web app with a Slack app built from the environment."""
    yield from _serve(tmp_path, {"FIRMWATCH_API_TOKEN": TOKEN, "SLACK_BOT_TOKEN": "xoxb-1",
                                 "SLACK_SIGNING_SECRET": SIGNING}, slack=True)


def test_healthz_and_readyz(site: Site) -> None:
    assert site.get("/healthz", None).json() == {"status": "ok"}
    ready = site.get("/readyz", None)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    checks = ready.json()["checks"]
    assert checks["store"] == "ok" and checks["api"] == "ok"
    assert "SLACK_SIGNING_SECRET (named by slack.signing_secret_env)" in checks["slack"]
    assert site.call("HEAD", "/healthz", None).status_code == 200


def test_readyz_fails_when_the_store_does_not_answer(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone who reaches the port (Slack's endpoint is public) may probe: the store's error
    (it names the database's host, user and name, or the state file's path) is shown to the
    API token only, and logged."""
    site.store.close()
    path = str(site.store.path)  # type: ignore[attr-defined]
    for _ in range(2):
        ready = site.get("/readyz", None)
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"
        assert "did not answer" in ready.json()["checks"]["store"]
        assert path not in ready.text and "closed" not in ready.text
    told = site.get("/readyz")
    assert told.status_code == 503 and path in told.json()["checks"]["store"]
    assert "closed" in told.json()["checks"]["store"]
    logged = [r for r in caplog.records if path in r.getMessage() or path in str(vars(r))]
    assert len(logged) == 1, "logged once, not at every probe"
    assert site.get("/healthz", None).status_code == 200, "the process itself is alive"


def test_metrics_parse_and_count_requests(site: Site) -> None:
    site.store.outbox.enqueue("ops", "d1", {"x": 1}, T0)
    site.get("/healthz", None)
    site.get("/api/v1/fleets", None)
    text = site.get("/metrics", None)
    assert text.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text.text) for s in f.samples}
    assert samples[("firmwatch_outbox_entries", (("status", "pending"),))] == 1
    assert samples[("firmwatch_outbox_entries", (("status", "dead"),))] == 0
    assert samples[("firmwatch_http_requests_total",
                    (("method", "GET"), ("route", "/healthz"), ("status", "200")))] == 1
    assert samples[("firmwatch_http_requests_total",
                    (("method", "GET"), ("route", "/api/v1/fleets"), ("status", "401")))] == 1
    families = {f.name for f in text_string_to_metric_families(text.text)}
    assert {"firmwatch_store_up", "firmwatch_cycles", "firmwatch_cycle_duration_seconds",
            "firmwatch_source_failures", "firmwatch_deliveries", "firmwatch_job_runs",
            "firmwatch_job_misses", "firmwatch_job_failures", "firmwatch_scheduler_leader",
            "firmwatch_http_request_duration_seconds"} <= families


def test_the_api_refuses_missing_and_wrong_tokens(site: Site,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for token in (None, "wrong-token-wrong-token", TOKEN + "x", TOKEN[:-1]):
        answer = site.get("/api/v1/fleets", token)
        assert answer.status_code == 401, token
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json() == {"error": "missing or wrong bearer token"}
    basic = site.get("/api/v1/fleets", None, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    assert site.get("/api/v1/unknown", None).status_code == 401, "no hints before the token"
    assert site.get("/api/v1/unknown").status_code == 404
    assert site.get("/api/v1/fleets").status_code == 200
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(("environ", "reason"), [
    ({}, "set the environment variable FIRMWATCH_API_TOKEN"),
    ({"FIRMWATCH_API_TOKEN": "short"}, "shorter than 16 characters"),
])
def test_the_api_is_off_without_a_usable_token(
    tmp_path: Path, environ: dict[str, str], reason: str
) -> None:
    for site in _serve(tmp_path, environ):
        answer = site.get("/api/v1/fleets", environ.get("FIRMWATCH_API_TOKEN"))
        assert answer.status_code == 503 and reason in answer.json()["error"]
        assert reason in site.get("/readyz", None).json()["checks"]["api"]


def test_fleet_put_get_delete_round_trip(site: Site) -> None:
    created = site.call("PUT", "/api/v1/fleets/lab", json=LAB)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["changes"]["fleets_added"] == ["lab"] and body["changes"]["groups_added"] == 2
    fleet = site.get("/api/v1/fleets/lab").json()
    assert fleet["description"] == "Lab cameras" and fleet["receivers"] == ["ops"]
    assert fleet["min_severity"] == "high" and fleet["origin"] == "import"
    assert fleet["devices"] == 4 and fleet["groups"] == 2
    assert {g["model"] for g in fleet["device_groups"]} == {"DS-2CD3321G2-I", "DS-96064NI-I16"}
    again = site.call("PUT", "/api/v1/fleets/lab", json=LAB)
    assert again.status_code == 200 and again.json()["changes"]["groups_unchanged"] == 2
    smaller = {**LAB, "devices": LAB["devices"][:1]}
    changed = site.call("PUT", "/api/v1/fleets/lab", json=smaller).json()["changes"]
    assert changed["groups_removed"] == 1 and changed["groups_unchanged"] == 1
    names = [f["name"] for f in site.get("/api/v1/fleets").json()["fleets"]]
    assert names == ["hq", "lab"]
    gone = site.call("DELETE", "/api/v1/fleets/lab")
    assert gone.status_code == 200
    assert gone.json() == {"removed": "lab", "device_groups": 1, "unsubscribed": []}
    assert site.get("/api/v1/fleets/lab").status_code == 404
    assert site.call("DELETE", "/api/v1/fleets/lab").status_code == 404


def test_a_deleted_fleet_takes_its_slack_channels_with_it(site: Site) -> None:
    """A fleet made later under the name of a deleted one (another customer's, say) inherited
    the old one's channels: a Slack Connect channel shared with the first customer got the new
    one's alerts."""
    assert site.call("PUT", "/api/v1/fleets/lab", json=LAB).status_code == 201
    subscribe(site.store, "lab", "C0LABOPS", T0)
    subscribe(site.store, "hq", "C0HQOPS", T0)
    gone = site.call("DELETE", "/api/v1/fleets/lab").json()
    assert gone["unsubscribed"] == ["C0LABOPS"]
    assert site.call("PUT", "/api/v1/fleets/lab", json=LAB).status_code == 201
    assert subscriptions(site.store) == {"hq": ["C0HQOPS"]}


@pytest.mark.parametrize(("body", "problem"), [
    ({**LAB, "devices": [{"model": "DS-2CD3321G2-I", "count": 0}]},
     "devices[0].count: Input should be greater than or equal to 1"),
    ({**LAB, "devices": [{"model": "DS-2CD3321G2-I", "count": "3"}]},
     "devices[0].count: Input should be a valid integer"),
    ({**LAB, "receivers": ["nobody"]}, "receivers[0]: no [[receivers]] entry has this name"),
    ({**LAB, "colour": "blue"}, "colour: Extra inputs are not permitted"),
    ({**LAB, "devices": [LAB["devices"][0], LAB["devices"][0]]},
     "devices[1]: the same model, firmware and site as an earlier device"),
    ({**LAB, "devices": [{"model": ""}]}, "devices[0].model: String should have at least 1"),
    ([1, 2], "body: expected a JSON object"),
])
def test_a_bad_fleet_is_refused_whole(site: Site, body: object, problem: str) -> None:
    answer = site.call("PUT", "/api/v1/fleets/lab", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"] == "the fleet was not changed"
    assert any(p.startswith(problem) for p in answer.json()["problems"]), answer.json()
    assert site.get("/api/v1/fleets/lab").status_code == 404


def test_a_put_writing_a_stored_version_differently_keeps_the_group(site: Site) -> None:
    """A CMDB that starts writing the firmware another way changes no device group (its key
    and findings stay); a body naming one version two ways at one site is refused."""
    site.call("PUT", "/api/v1/fleets/lab", json=LAB)
    keys = [g["key"] for g in site.get("/api/v1/fleets/lab").json()["device_groups"]]
    cam: dict[str, Any] = {"model": "DS-2CD3321G2-I", "firmware": "V5.7.13build230822",
                           "count": 3, "site": "A"}
    nvr: dict[str, Any] = {"model": "DS-96064NI-I16", "firmware": "v4.30.096_221220"}
    respelled = {**LAB, "devices": [cam, nvr]}
    answer = site.call("PUT", "/api/v1/fleets/lab", json=respelled)
    assert answer.status_code == 200 and answer.json()["changes"]["groups_unchanged"] == 2
    fleet = site.get("/api/v1/fleets/lab").json()
    assert [g["key"] for g in fleet["device_groups"]] == keys and fleet["devices"] == 4
    both = {**LAB, "devices": [LAB["devices"][0], cam]}
    refused = site.call("PUT", "/api/v1/fleets/lab", json=both)
    assert refused.status_code == 422
    assert refused.json()["problems"] == [
        "devices[1]: the same model, firmware and site as an earlier device (got"
        " 'DS-2CD3321G2-I'; firmware 'V5.7.13build230822' is 'V5.7.13 build 230822' written"
        " differently)"]
    assert site.get("/api/v1/fleets/lab").json()["devices"] == 4


def test_fleets_declared_in_bot_toml_are_read_only(site: Site) -> None:
    assert site.get("/api/v1/fleets/hq").json()["origin"] == "config"
    for method in ("PUT", "DELETE"):
        answer = site.call(method, "/api/v1/fleets/hq", json=LAB)
        assert answer.status_code == 409 and "bot.toml" in answer.json()["error"]
    assert site.get("/api/v1/fleets/hq").json()["devices"] == 4


def test_errors_are_json_with_the_right_status(site: Site) -> None:
    assert site.get("/nope", None).status_code == 404
    assert site.get("/nope", None).json()["error"] == "no such endpoint: /nope"
    wrong = site.call("POST", "/api/v1/fleets", json={})
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD"
    assert site.call("DELETE", "/healthz", None).status_code == 405
    huge = site.call("PUT", "/api/v1/fleets/lab",
                     json={**LAB, "description": "x" * 5000})
    assert huge.status_code == 413
    text = site.call("PUT", "/api/v1/fleets/lab", content=b"{}",
                     headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    broken = site.call("PUT", "/api/v1/fleets/lab", content=b"{nope",
                       headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "not JSON" in broken.json()["error"]
    deep = site.call("PUT", "/api/v1/fleets/lab", content=b"[" * 2000 + b"]" * 2000,
                     headers={"Content-Type": "application/json"})  # within the 4 KiB limit
    assert deep.status_code == 400 and "nested" in deep.json()["error"]
    assert site.call("PUT", "/api/v1/fleets/bad%2Fname", json=LAB).status_code in (400, 404)
    # A trailing or doubled space made a fleet Slack's `fleet NAME` and a CSV could not reach.
    for name in ("lab%20", "lab%20%20b", "lab%0A"):
        spaced = site.call("PUT", f"/api/v1/fleets/{name}", json=LAB)
        assert spaced.status_code == 400 and "single spaces" in spaced.json()["error"]


def test_alerts_list_outbox_entries_and_findings(site: Site) -> None:
    store = site.store
    store.outbox.enqueue("ops", "d1", {"title": "one"}, T0, alert_id="a1")
    store.findings.put(FindingData("hq", "g1", "adv-1", "r1", {"severity": "high"}), T0)
    alerts = site.get("/api/v1/alerts").json()
    assert [e["alert_id"] for e in alerts["outbox"]] == ["a1"]
    assert alerts["outbox"][0]["status"] == "pending"
    assert alerts["outbox"][0]["payload"] == {"title": "one"}
    assert [f["item_key"] for f in alerts["findings"]] == ["adv-1"]
    assert site.get("/api/v1/alerts?status=sent").json()["outbox"] == []
    assert site.get("/api/v1/alerts?status=all&fleet=other").json()["findings"] == []
    assert site.get("/api/v1/alerts?state=resolved").json()["findings"] == []
    assert site.get("/api/v1/alerts?status=bogus").status_code == 400
    assert site.get("/api/v1/alerts?state=bogus").status_code == 400  # not an empty list
    assert site.get("/api/v1/alerts?limit=0").status_code == 400


@pytest.mark.parametrize("limit", ["%C2%B2", "%E2%91%A0", "-1", "1e3"])
def test_a_limit_that_is_not_a_plain_number_is_a_400(site: Site, limit: str) -> None:
    answer = site.get(f"/api/v1/alerts?limit={limit}")
    assert answer.status_code == 400 and answer.json()["error"].startswith("limit: ")


def test_slack_events_answer_503_when_slack_is_not_configured(site: Site) -> None:
    answer = site.call("POST", "/slack/events", None, content=b"command=/firmware")
    assert answer.status_code == 503
    assert "SLACK_BOT_TOKEN (named by slack.bot_token_env)" in answer.json()["error"]


def _signed(body: str, secret: str = SIGNING, age: int = 0) -> dict[str, str]:
    stamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}


def test_signed_slack_requests_reach_the_bolt_app(slack_site: Site) -> None:
    body = urlencode({"command": "/firmware", "text": "lookup DS-2CD3321G2-I", "team_id": "T1",
                      "user_id": "U1", "channel_id": "C1", "api_app_id": "A1",
                      "response_url": "https://hooks.slack.com/commands/T1/1/x",
                      "trigger_id": "1.2.3"})
    answer = slack_site.call("POST", "/slack/events", None, content=body.encode(),
                             headers=_signed(body))
    assert answer.status_code == 200, answer.text
    assert answer.text == "you asked: lookup DS-2CD3321G2-I"
    forged = slack_site.call("POST", "/slack/events", None, content=body.encode(),
                             headers=_signed(body, secret="not-the-secret"))
    assert forged.status_code == 401
    assert "ok (http mode)" in slack_site.get("/readyz", None).json()["checks"]["slack"]


def test_the_service_docs_examples_work(site: Site) -> None:
    root = Path(__file__).parent.parent
    doc = (root / "docs" / "service.md").read_text(encoding="utf-8")
    (toml,) = re.findall(r"```toml\n(.*?)```", doc, re.S)
    settings = parse(toml, "docs/service.md")
    assert settings.web == Settings().web and settings.schedule == Settings().schedule
    (body,) = re.findall(r"-d '(\{.*?\})'", doc, re.S)
    example = json.loads(body)
    example["receivers"] = ["ops"]  # the test config's receiver
    assert site.call("PUT", "/api/v1/fleets/warehouse", json=example).status_code == 201
    assert site.get("/api/v1/fleets/warehouse").json()["devices"] == 25
    procfile = (root / "Procfile").read_text(encoding="utf-8")
    assert procfile.splitlines() == ["web: firmwatch web", "worker: firmwatch worker",
                                     "release: firmwatch db upgrade"]
    for line in procfile.splitlines():
        assert line in doc


def test_stopping_survives_a_wake_up_pipe_closed_under_the_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Seen rarely in the suite: waitress's trigger was closed before stop, which then raised
    EBADF and left the server running. Stop wakes the loop through a new trigger instead."""

    def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hi"]

    server = WebServer(hello, host="127.0.0.1", port=0, threads=2)
    server.start()
    assert httpx.get(server.url + "/", timeout=10).text == "hi"

    def closed(*args: object) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(server._server.trigger, "_physical_pull", closed)
    server.stop(1)
    assert server._thread is not None and not server._thread.is_alive()
    assert server._server._map == {}
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/", timeout=2)
    assert "wake-up pipe is closed" in caplog.text


def test_stopping_closes_a_new_wake_up_pipe_the_loop_ended_without() -> None:
    """The loop can run stop's close from the old pipe (a byte was already in it) and end
    before the new pipe joins its map: the new pipe then leaked (a ResourceWarning later)."""
    server = WebServer(_hello, host="127.0.0.1", port=0, threads=2)
    server.start()
    assert httpx.get(server.url + "/", timeout=10).text == "hi"
    pipe = server._server.trigger

    def ran_then_closed(*args: object) -> None:
        with pipe.lock:  # the loop's turn, as its handle_read would run them
            thunks, pipe.thunks = pipe.thunks, []
        for thunk in thunks:
            thunk()
        assert server._thread is not None
        server._thread.join(5)  # an empty map: the loop ends
        raise OSError(errno.EBADF, "Bad file descriptor")

    pipe._physical_pull = ran_then_closed
    server.stop(1)
    assert server._server._map == {}, "the new wake-up pipe is closed too"


def test_closing_channels_leaves_one_that_joined_meanwhile() -> None:
    """Stop's new wake-up pipe can join the map from another thread while the loop closes it:
    it must stay there to be closed (by the loop, woken by it, or by stop), not be dropped."""
    joined = object()
    closed: list[object] = []

    class Channel:
        def close(self) -> None:
            closed.append(self)
            channels.pop(1, None)
            channels[2] = joined  # another thread's, meanwhile

    channels: dict[int, Any] = {1: Channel()}
    close_channels(channels)
    assert len(closed) == 1
    assert channels == {2: joined}


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


def test_stopping_closes_every_descriptor_of_a_wake_up_pipe_one_was_closed_under(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Waitress closes a wake-up pipe's descriptors in turn and stops at the first that fails:
    its copy of the read end then leaked, and its finaliser warned in a later test."""
    server = WebServer(_hello, host="127.0.0.1", port=0, threads=2)
    server.start()
    assert httpx.get(server.url + "/", timeout=10).text == "hi"
    pipe = server._server.trigger
    # Its raw read end as if closed by a stranger: a number nothing has open (descriptors are
    # handed out lowest first), so that no other thread's descriptor can be closed under it.
    read_end = pipe._fds[0]
    pipe._fds = [resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1, pipe._fds[1]]
    server.stop(1)
    os.close(read_end)
    assert server._thread is not None and not server._thread.is_alive()
    assert pipe._fds == [] and pipe.socket is None, "the write end and the copy were closed"
    assert server._server._map == {}
    assert "wake-up pipe was already closed" in caplog.text
    gc.collect()  # nothing left for a finaliser to warn about (warnings are errors)


def test_a_port_in_use_fails_cleanly_leaving_no_thread_or_descriptor() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        before = set(threading.enumerate())
        with pytest.raises(OSError, match="in use"):
            WebServer(_hello, host="127.0.0.1", port=port, threads=4)
        gc.collect()  # an unclosed socket or pipe would warn here (warnings are errors)
        assert set(threading.enumerate()) <= before, "no worker thread was started"


def test_a_host_name_that_does_not_resolve_is_refused_cleanly(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in --host or [web] host: an error naming it, not waitress's ValueError."""
    real = socket.getaddrinfo

    def unknown(host: object, *args: Any, **kwargs: Any) -> Any:
        if host != "nowhere.test":
            return real(host, *args, **kwargs)  # type: ignore[arg-type]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    before = set(threading.enumerate())
    with pytest.raises(OSError, match=r"nowhere\.test"):
        WebServer(_hello, host="nowhere.test", port=0, threads=4)
    gc.collect()
    assert set(threading.enumerate()) <= before


def test_a_host_with_several_addresses_is_refused_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waitress would listen on each address (a server without one port to report)."""
    real = socket.getaddrinfo

    def two(host: object, *args: Any, **kwargs: Any) -> Any:
        if host != "twice.test":
            return real(host, *args, **kwargs)  # type: ignore[arg-type]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, 0))
                for address in ("127.0.0.1", "127.0.0.2")]

    monkeypatch.setattr(socket, "getaddrinfo", two)
    before = set(threading.enumerate())
    with pytest.raises(OSError, match=r"twice\.test resolves to several addresses"):
        WebServer(_hello, host="twice.test", port=0, threads=4)
    gc.collect()  # both listening sockets and both wake-up pipes were closed
    assert set(threading.enumerate()) <= before


def test_a_request_still_running_when_time_is_up_keeps_its_wake_up_pipe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker that ends after stop writes to the pipe: closed, its number could be another's."""
    release, entered = threading.Event(), threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.set()
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"late"]

    server = WebServer(slow, host="127.0.0.1", port=0, threads=1)
    server.start()
    client = threading.Thread(target=lambda: _get_ignoring_errors(server.url + "/"))
    client.start()
    assert entered.wait(10)
    pipe = server._server.trigger
    fds = list(pipe._fds)
    server.stop(0.2)
    try:
        assert list(pipe._fds) == fds and all(os.fstat(fd) for fd in fds), "the pipe stays open"
        assert "wake-up pipe stays open" in caplog.text
        assert pipe.socket is None, "the loop's copy of the read end is closed"
    finally:
        release.set()
        client.join(10)
        server._server.task_dispatcher.shutdown(timeout=10)
        for fd in fds:
            os.close(fd)


def _get_ignoring_errors(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, timeout=10)
