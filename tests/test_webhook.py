"""The signed webhook notifier against real receivers on 127.0.0.1 that verify every signature."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import bot
from bot.config import ConfigError, NetworkSettings, ReceiverSettings, Settings
from bot.sources.fetcher import retry_after
from notifiers.webhook import WebhookNotifier, build, preview
from tests.httpserver import LocalServer, Route
from tests.webhook_docs import NOW, SECRET, document, make_finding
from tests.webhook_receiver import Answer, FakeTicketing, SignedReceiver

_POOL: list[httpx.HTTPTransport] = []
ENV = {"HOOK_SECRET": SECRET, "PD_KEY": "pd-routing-key-0123456789", "AUTH": "ops@x.example:tok3n"}


def settings(*receivers: ReceiverSettings, allow: tuple[str, ...] = ("127.0.0.1",)) -> Settings:
    return Settings(
        network=NetworkSettings(allow_hosts=list(allow), timeout=timedelta(seconds=5)),
        receivers=list(receivers),
    )


def receiver_for(url: str | None, **extra: Any) -> ReceiverSettings:
    fields = {"name": "ticketing", "type": "webhook", "secret_env": "HOOK_SECRET", **extra}
    return ReceiverSettings.model_validate(fields | ({"url": url} if url else {}))


def notifier(
    url: str | None, deadline: float = 5.0, env: dict[str, str] = ENV, **extra: Any
) -> WebhookNotifier:
    receiver = receiver_for(url, **extra)
    return build(receiver, settings(receiver), env, deadline=deadline, transport=_POOL[0])


@pytest.fixture(autouse=True, scope="module")
def _one_pool() -> Iterator[None]:
    """One connection pool for every notifier of the module, closed at its end (building TLS
    settings for a pool costs 0.15 s)."""
    _POOL.append(httpx.HTTPTransport())
    yield
    _POOL.pop().close()


@pytest.fixture
def signed() -> Iterator[SignedReceiver]:
    with SignedReceiver() as server:
        yield server


def test_a_signed_post_verifies_at_the_receiver(signed: SignedReceiver) -> None:
    doc = document()
    result = notifier(signed.url()).send(doc)
    assert result.ok and result.status == 204
    (got,) = signed.received
    assert got.verified and got.method == "POST"
    assert got.headers["webhook-id"] == doc["dedupe_key"]
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == f"firmwatch/{bot.__version__}"
    assert got.payload == {"type": "firmwatch.alert", "timestamp": NOW.isoformat(), "data": doc}


def test_a_receiver_with_another_secret_rejects_the_signature() -> None:
    other = "whsec_" + "QUJD" * 8
    with SignedReceiver(secret=other) as server:
        result = notifier(server.url()).send(document())
    assert not result.ok and result.status == 401 and result.permanent
    assert server.received[0].verified is False


def test_a_secret_being_rotated_signs_with_the_new_and_the_old() -> None:
    """During a rotation the receiver verifies with whichever secret it has; one secret per
    receiver made every alert fail (401) on the side still on the other."""
    new = "whsec_" + "QUJD" * 8
    env = {**ENV, "HOOK_SECRET": f"{new} {SECRET}"}
    for secret in (SECRET, new):
        with SignedReceiver(secret=secret) as server:
            hook = notifier(server.url(), env=env)
            assert hook.send(document()).ok
        assert server.received[0].verified
        assert server.received[0].headers["webhook-signature"].count("v1,") == 2
    assert "QUJD" * 8 not in repr(hook) + (hook.send(document()).error or "")
    with pytest.raises(ConfigError) as caught:
        notifier("http://127.0.0.1:9/x", env={**ENV, "HOOK_SECRET": f"{new} whsec_nope"})
    assert "(its secret number 2)" in str(caught.value) and "QUJD" not in str(caught.value)


def test_every_retry_carries_the_same_webhook_id() -> None:
    doc = document()
    with SignedReceiver(Answer(500), Answer(503), Answer(200)) as server:
        hook = notifier(server.url())
        outcomes = [hook.send(doc) for _ in range(3)]
    assert [o.ok for o in outcomes] == [False, False, True]
    assert not any(o.permanent for o in outcomes)
    assert server.ids == [doc["dedupe_key"]] * 3
    assert all(d.verified for d in server.received)


def test_an_unfit_dedupe_key_becomes_a_stable_hashed_id(signed: SignedReceiver) -> None:
    doc = document(item="Überwachung: ünïcode advisory")
    hook = notifier(signed.url())
    hook.send(doc)
    hook.send(doc)
    first, second = signed.ids
    assert first == second and first.startswith("fw_") and first.isascii()


def test_a_redirect_is_never_followed(http_server: LocalServer) -> None:
    target = http_server.route("/target", Route(200))
    http_server.route("/hook", Route(302, redirect=target))
    result = notifier(http_server.url("/hook")).send(document())
    assert not result.ok and result.status == 302 and not result.permanent
    assert "not followed" in (result.error or "")
    assert http_server.requests_to("/target") == []
    http_server.route("/moved", Route(301, redirect=target))
    moved = notifier(http_server.url("/moved")).send(document())
    assert moved.permanent and http_server.requests_to("/target") == []


def test_410_disables_the_receiver() -> None:
    with SignedReceiver(Answer(410, b"gone")) as server:
        result = notifier(server.url()).send(document())
    assert not result.ok and result.disable and result.permanent and result.status == 410


@pytest.mark.parametrize("status", [401, 403, 404])
def test_an_endpoint_that_refuses_every_alert_disables_the_receiver(status: int) -> None:
    """A deleted webhook (404), a rotated secret (401) or revoked permissions (403) sent each
    alert to the dead letters one by one: the receiver is disabled and its alerts wait."""
    with SignedReceiver(Answer(status, b"unknown webhook")) as server:
        result = notifier(server.url()).send(document())
    assert not result.ok and result.disable and result.status == status
    assert "the receiver is disabled and its alerts wait" in (result.error or "")


def test_an_endpoint_moved_for_good_disables_the_receiver(http_server: LocalServer) -> None:
    target = http_server.route("/target", Route(200))
    for status in (301, 308):
        http_server.route(f"/moved-{status}", Route(status, redirect=target))
        result = notifier(http_server.url(f"/moved-{status}")).send(document())
        assert result.disable and "configure the final URL" in (result.error or "")
    assert http_server.requests_to("/target") == []


def test_a_follow_up_call_answering_404_is_about_one_alert(http_server: LocalServer) -> None:
    """A preset's calls to other URLs than the configured one (Jira's search under its base
    URL) answering 404 dead-letter that alert alone; the receiver stays on."""
    http_server.route("/jira/rest/api/3/search/jql", Route(404, body=b"no such project"))
    hook = notifier(http_server.url("/jira"), preset="jira", auth_env="AUTH", project="OPS")
    result = hook.send(document())
    assert result.permanent and not result.disable and result.status == 404
    # Refused credentials are the receiver's, whichever call meets them: a revoked Jira token
    # dead-lettered every alert one by one.
    http_server.route("/jira/rest/api/3/search/jql", Route(401, body=b"token revoked"))
    refused = hook.send(document())
    assert refused.disable and "check secret_env or auth_env" in (refused.error or "")


@pytest.mark.parametrize(
    ("answer", "permanent", "after"),
    [
        (Answer(429, headers={"Retry-After": "120"}), False, 120.0),
        (Answer(503, headers={"Retry-After": "in five minutes"}), False, 300.0),
        (Answer(429), False, None),
        (Answer(500, headers={"Retry-After": "60"}), False, None),
        (Answer(408), False, None),
        (Answer(425), False, None),
        (Answer(502), False, None),
        (Answer(400, b'{"error": "bad field"}'), True, None),
        (Answer(404), True, None),
        (Answer(422), True, None),
    ],
    ids=lambda v: str(v.status) if isinstance(v, Answer) else None,
)
def test_status_decides_retry_or_dead_letter(
    answer: Answer, permanent: bool, after: float | None
) -> None:
    if answer.headers.get("Retry-After") == "in five minutes":  # an HTTP date, made now
        soon = datetime.now(UTC) + timedelta(minutes=5)
        answer = Answer(answer.status, headers={"Retry-After": format_datetime(soon, usegmt=True)})
    with SignedReceiver(answer) as server:
        result = notifier(server.url()).send(document())
    assert not result.ok and result.status == answer.status
    assert result.permanent is permanent
    if after is None:
        assert result.retry_after is None
    else:
        assert result.retry_after == pytest.approx(after, abs=5)
    assert f"HTTP {answer.status}" in (result.error or "")


def test_retry_after_forms() -> None:
    assert retry_after("30", NOW) == 30.0
    assert retry_after(format_datetime(NOW - timedelta(hours=1)), NOW) == 0.0
    assert retry_after("99999999", NOW) == 24 * 3600.0
    assert retry_after("soon", NOW) is None and retry_after(None, NOW) is None


def test_a_slow_endpoint_hits_the_deadline_and_is_retried(http_server: LocalServer) -> None:
    http_server.route("/slow", Route(200, delay=3))
    result = notifier(http_server.url("/slow"), deadline=0.3).send(document())
    assert not result.ok and not result.permanent
    assert "timed out after 0.3 s" in (result.error or "")


def test_a_huge_reply_is_read_only_up_to_the_cap(http_server: LocalServer) -> None:
    http_server.route("/big", Route(500, body=b"x" * (20 * 1024 * 1024)))
    result = notifier(http_server.url("/big")).send(document())
    assert not result.ok and result.status == 500 and not result.permanent
    assert len(result.error or "") < 500


def test_a_closed_port_is_a_network_error_to_retry() -> None:
    with SignedReceiver() as server:
        url = server.url()
    result = notifier(url).send(document())
    assert not result.ok and not result.permanent and result.status is None
    assert "could not connect" in (result.error or "")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://10.0.0.5/hook", "a private address"),
        ("http://169.254.169.254/latest/meta-data", "the cloud metadata address"),
        ("http://[::ffff:192.168.1.1]/x", "192.168.1.1"),
        ("http://0x7f000002/x", "a loopback address"),
    ],
)
def test_a_hostile_url_is_refused_when_configured(url: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        notifier(url)
    message = str(caught.value)
    assert "receivers[0].url" in message and words in message


def test_plain_http_to_a_public_name_is_refused_at_the_attempt() -> None:
    receiver = receiver_for("http://hooks.example.com/x")
    hook = build(
        receiver,
        settings(receiver),
        ENV,
        resolve=lambda h, p: ["93.184.215.14"],
        transport=_POOL[0],
    )
    result = hook.send(document())
    assert result.permanent and "plain http:// is only allowed" in (result.error or "")


def test_the_resolved_address_is_checked_before_every_attempt(signed: SignedReceiver) -> None:
    answers = {"hook.test": ["127.0.0.1"]}
    receiver = receiver_for(f"http://hook.test:{signed.port}/hook")
    hook = build(
        receiver,
        settings(receiver),
        ENV,
        resolve=lambda host, port: answers[host],
        transport=_POOL[0],
    )
    assert hook.send(document()).ok  # hook.test resolves to 127.0.0.1, which is allowed
    answers["hook.test"] = ["10.1.2.3"]  # DNS rebinding to an internal address
    result = hook.send(document())
    assert not result.ok and result.permanent
    assert "resolves to 10.1.2.3, a private address" in (result.error or "")
    assert len(signed.received) == 1
    assert signed.received[0].headers["host"] == f"hook.test:{signed.port}"


def test_missing_or_malformed_secrets_name_the_variable_never_the_value() -> None:
    for env in ({}, {"HOOK_SECRET": "not-a-whsec-value-1234"}, {"HOOK_SECRET": "whsec_!!!"}):
        with pytest.raises(ConfigError) as caught:
            notifier("https://hooks.example.com/x", env=env)
        message = str(caught.value)
        assert "HOOK_SECRET" in message and "receivers[0].secret_env" in message
        assert "not-a-whsec" not in message and "!!!" not in message


def test_errors_never_echo_secrets() -> None:
    echo = Answer(400)
    with SignedReceiver(echo) as server:
        hook = notifier(server.url(), preset="pagerduty", routing_key_env="PD_KEY")
        probe = hook.send(document())  # learn what was sent, then echo all of it back
        sent = server.received[0]
        echo.body = sent.body + json.dumps(sent.headers).encode()
        result = hook.send(document())
    assert probe.permanent and result.permanent
    for value in (ENV["PD_KEY"], SECRET, SECRET.removeprefix("whsec_")):
        assert value not in (result.error or "") and value not in repr(hook)
    assert "***" in (result.error or "")


def test_render_shows_the_body_with_secrets_named_not_shown() -> None:
    hook = notifier(
        "https://events.example.com/v2/enqueue", preset="pagerduty", routing_key_env="PD_KEY"
    )
    shown = hook.render(document())
    assert json.loads(shown)["routing_key"] == "(secret from $PD_KEY)"
    assert ENV["PD_KEY"] not in shown


def test_preview_needs_no_secret() -> None:
    receiver = receiver_for("https://h.example/x", preset="pagerduty", routing_key_env="PD_KEY")
    body = json.loads(preview(receiver, document()))
    assert body["routing_key"] == "(secret from $PD_KEY)" and body["event_action"] == "trigger"


def test_url_from_the_environment_is_never_shown(signed: SignedReceiver) -> None:
    env = {**ENV, "DISCORD_URL": signed.url("/api/webhooks/1/t0ken-in-the-path")}
    hook = notifier(None, env=env, url_env="DISCORD_URL", preset="discord")
    assert hook.send(document()).ok
    assert "t0ken" not in repr(hook)
    with SignedReceiver(Answer(404, b"unknown webhook /api/webhooks/1/t0ken-in-the-path")) as gone:
        env["DISCORD_URL"] = gone.url("/api/webhooks/1/t0ken-in-the-path")
        result = notifier(None, env=env, url_env="DISCORD_URL", preset="discord").send(document())
    assert result.permanent and "t0ken" not in (result.error or "")


@pytest.mark.parametrize("preset", ["jira", "servicenow"])
def test_search_before_create_files_one_ticket_across_retries(preset: str) -> None:
    extra: dict[str, Any] = {"preset": preset, "auth_env": "AUTH"} | (
        {"project": "OPS"} if preset == "jira" else {}
    )
    doc = document()
    with FakeTicketing(slow_creates=1, delay=2.0) as api:
        hook = notifier(api.url(""), deadline=0.5, **extra)
        first = hook.send(doc)  # the ticket is filed but the answer comes too late
        second = hook.send(doc)  # the retry finds it
        third = hook.send(doc)
    assert not first.ok and "timed out" in (first.error or "")
    assert second.ok and third.ok
    assert len(api.tickets) == 1
    assert all(d.verified for d in api.received if d.method == "POST")
    auth = api.received[0].headers["authorization"]
    assert auth.startswith("Basic ") and ENV["AUTH"] not in auth


def test_a_new_alert_files_a_new_jira_issue() -> None:
    with FakeTicketing() as api:
        hook = notifier(api.url(""), preset="jira", auth_env="AUTH", project="OPS")
        assert hook.send(document()).ok
        assert hook.send(document(item="HSRC-202501-02")).ok
    assert [t["key"] for t in api.tickets] == ["OPS-1", "OPS-2"]
    assert api.tickets[0]["project"] == {"key": "OPS"}


def test_a_timeout_names_the_deadline_not_what_was_left_of_it(http_server: LocalServer) -> None:
    """The attempt starts a little after the deadline is set (as on a busy machine): the
    error still says the deadline the receiver has."""
    http_server.route("/slow", Route(200, delay=3))
    sender = notifier(http_server.url("/slow"), deadline=0.3)
    ticks = iter([100.0, 100.05])  # the deadline set, then the request made 50 ms later
    sender._clock = lambda: next(ticks)  # the notifier's injectable clock
    result = sender.send(document())
    assert not result.ok and (result.error or "").endswith("timed out after 0.3 s")


def test_opsgenie_updates_and_closes_the_alert_its_first_create_opened() -> None:
    """Opsgenie's Alert API (https://docs.opsgenie.com/docs/alert-api): ``alias`` is "the key
    element of Alert De-Duplication ... there can be only one alert with open status with the
    same alias", and Close Alert is ``POST /v2/alerts/:identifier/close?identifierType=alias``.
    An alias per revision opened a second alert for every update and a third, "[RESOLVED]" one,
    for the resolution, leaving the first open for ever."""
    first = document()
    update = document([make_finding(count=40)], changes=("36 more devices affected",))
    resolved = document(resolved=True, resolution="fixed")
    assert first["dedupe_key"] != update["dedupe_key"]
    with SignedReceiver(Answer(202, b'{"result": "Request will be processed"}')) as api:
        hook = notifier(api.url("/v2/alerts"), preset="opsgenie", auth_env="AUTH")
        assert all(hook.send(doc).ok for doc in (first, update, resolved))
    assert all(d.verified for d in api.received)
    (alias,) = {d.payload["alias"] for d in api.received if d.path == "/v2/alerts"}
    quoted = quote(alias, safe="")
    assert [(d.method, d.path) for d in api.received] == [
        ("POST", "/v2/alerts"),
        ("POST", "/v2/alerts"),
        ("POST", f"/v2/alerts/{quoted}/notes?identifierType=alias"),
        ("POST", f"/v2/alerts/{quoted}/close?identifierType=alias"),
    ]
    note, close = api.received[2].payload, api.received[3].payload
    assert "36 more devices affected" in note["note"]
    assert close["source"] == "firmwatch/ticketing" and "RESOLVED" in close["note"]
    auth = api.received[0].headers["authorization"]
    assert auth == f"GenieKey {ENV['AUTH']}"


@pytest.mark.parametrize("preset", ["jira", "servicenow"])
def test_tickets_opened_from_two_customers_channels_stay_two_tickets(preset: str) -> None:
    """An MSP's customers each open a ticket from their own channel about one advisory: the
    second went into the first customer's ticket as a comment, its fleet and devices with it.
    A ticket is keyed by whose alert it is (``ticket_for``) too."""
    extra: dict[str, Any] = {"preset": preset, "auth_env": "AUTH"} | (
        {"project": "OPS"} if preset == "jira" else {}
    )
    acme = document([make_finding(fleet="acme")], ticket_for="acme-alerts")
    bravo = document([make_finding(fleet="bravo")], ticket_for="bravo-alerts")
    acme_again = document([make_finding(fleet="acme", count=9)], ticket_for="acme-alerts",
                          changes=("device count: 4 → 9",))
    with FakeTicketing() as api:
        hook = notifier(api.url(""), **extra)
        assert all(hook.send(doc).ok for doc in (acme, bravo, acme_again))
        assert len(api.tickets) == 2
        first, second = api.tickets
        assert "bravo" not in json.dumps(first) and "acme" not in json.dumps(second)
        assert "device count: 4 → 9" in json.dumps(first["notes"], ensure_ascii=False)


@pytest.mark.parametrize("preset", ["jira", "servicenow"])
def test_updates_and_resolutions_go_to_the_open_ticket_never_a_new_one(preset: str) -> None:
    """Jira (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/
    #api-rest-api-3-issue-issueidorkey-comment-post: "Adds a comment to an issue") and ServiceNow's
    Table API (https://www.servicenow.com/docs/bundle/xanadu-api-reference/page/integrate/
    inbound-rest/concept/c_TableAPI.html: "PATCH /now/table/{tableName}/{sys_id} Updates the
    specified record") update a ticket in place. The ticket was found by the alert's dedupe key,
    which changes with every revision: each update of an advisory and its resolution filed a
    new ticket, and the first stayed open for ever."""
    extra: dict[str, Any] = {"preset": preset, "auth_env": "AUTH"} | (
        {"project": "OPS"} if preset == "jira" else {}
    )
    first = document()
    update = document([make_finding(count=40)], changes=("36 more devices affected",))
    resolved = document(  # a resolution is an alert of its own: its own dedupe key and id
        resolved=True, resolution="fixed", dedupe_key="ticketing|HSRC-202108-01|0", id="fw_r1"
    )
    with FakeTicketing() as api:
        hook = notifier(api.url(""), **extra)
        assert all(hook.send(doc).ok for doc in (first, update, update, resolved))
        (ticket,) = api.tickets
        notes = json.dumps(ticket["notes"])
        assert "36 more devices affected" in notes and "RESOLVED" in notes
        ticket["open"] = False  # closed by its assignee
        assert hook.send(resolved).ok  # nothing open to resolve: nothing filed
        assert len(api.tickets) == 1
        assert hook.send(document([make_finding(count=7)])).ok  # affected again: a new ticket
        assert len(api.tickets) == 2
    assert all(d.verified for d in api.received if d.method != "GET")


def test_a_reply_cannot_write_terminal_escapes_into_the_error() -> None:
    """The error (kept as the outbox entry's last error, printed by ``firmwatch outbox``) quotes
    the reply: control characters in it, an ANSI escape that would rewrite the operator's
    terminal, are left out."""
    hostile = b"\x1b]0;owned\x07\x1b[2Jbad \xc2\x9b31mrequest\x00\x08\r"
    with SignedReceiver(Answer(400, hostile)) as server:
        result = notifier(server.url()).send(document())
    assert result.permanent
    assert (result.error or "").endswith(": HTTP 400: ]0;owned[2Jbad 31mrequest")
