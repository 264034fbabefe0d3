"""A test harness for the Slack app over real HTTP on 127.0.0.1.

* :class:`FakeSlack` answers the Web API (``auth.test``, ``chat.update``, ``views.publish``,
  ``usergroups.users.list``, …) under ``/api/`` and records ``response_url`` posts under
  ``/respond/N``; tests wait on it with :meth:`FakeSlack.wait` (a condition, never a sleep).
* :class:`AppServer` serves a bolt App at ``/slack/events`` of the product's WSGI app
  (:class:`bot.web.app.WebApp`, as ``firmwatch web`` does) under waitress.
* :func:`signed` signs a body exactly as Slack does: ``v0=`` HMAC-SHA256 of
  ``v0:{timestamp}:{body}`` with the signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit
from wsgiref.types import WSGIApplication

from slack_bolt import App
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.service.metrics import Metrics
from bot.web.app import WebApp
from bot.web.server import WebServer
from bot.web.slack import load_slack
from state import Store

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-firmwatch-test"
TEAM = "T0FIRMW"


@dataclass(frozen=True)
class Call:
    """A request the fake received: the API method (or ``respond``), its path and arguments."""

    method: str
    path: str
    data: dict[str, Any]
    auth: str = ""


@dataclass
class FakeSlack:
    """The Slack Web API and response_url endpoints, on 127.0.0.1."""

    groups: dict[str, list[str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    on_call: Callable[[Call], None] | None = None  # e.g. a benchmark's clock

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        self._responses = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def api_url(self) -> str:
        """The Web API base URL for ``[slack] api_base_url``."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self) -> str:
        """A fresh response_url for one request."""
        with self._changed:
            self._responses += 1
            return f"http://127.0.0.1:{self.port}/respond/{self._responses}"

    def api(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call to one Web API method."""
        with self._changed:
            return [c.data for c in self.calls if c.method == method]

    def responded(self, url: str) -> list[dict[str, Any]]:
        """The bodies posted to one response_url."""
        path = urlsplit(url).path
        with self._changed:
            return [c.data for c in self.calls if c.method == "respond" and c.path == path]

    def wait(self, ready: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Block until ``ready()`` holds after some request (or the timeout)."""
        with self._changed:
            return self._changed.wait_for(ready, timeout)

    def wait_response(self, url: str, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The posts to ``url`` once there are ``n`` of them (an AssertionError if not)."""
        if not self.wait(lambda: len(self._unlocked(url)) >= n, timeout):
            raise AssertionError(f"no answer at {url} within {timeout} s: {self.calls}")
        return self.responded(url)

    def _unlocked(self, url: str) -> list[Call]:
        path = urlsplit(url).path
        return [c for c in self.calls if c.method == "respond" and c.path == path]

    def record(self, call: Call) -> dict[str, Any]:
        """Store a call and say what to answer."""
        if self.on_call is not None:
            self.on_call(call)
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        if call.method == "respond":
            return {"ok": True}
        if call.method in self.failures:
            return {"ok": False, "error": self.failures[call.method]}
        answer = _API.get(call.method)
        return answer(self, call.data) if answer is not None else {"ok": True}

    def close(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


_API: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": lambda fake, data: {"ok": True, "url": "https://firmwatch-test.slack.com/",
                                     "team": "Test", "user": "firmwatch", "team_id": TEAM,
                                     "user_id": "UBOT0001", "bot_id": "BBOT0001"},
    "chat.update": lambda fake, data: {"ok": True, "channel": data.get("channel"),
                                       "ts": data.get("ts"), "text": data.get("text")},
    "chat.postMessage": lambda fake, data: {"ok": True, "channel": data.get("channel"),
                                            "ts": "1700000000.000200"},
    "views.publish": lambda fake, data: {"ok": True, "view": {"id": "V1"}},
    "usergroups.users.list": lambda fake, data: (
        {"ok": True, "users": fake.groups[data.get("usergroup", "")]}
        if data.get("usergroup") in fake.groups else {"ok": False, "error": "no_such_subteam"}),
}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            data: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if raw and "json" in (self.headers.get("Content-Type") or ""):
                data.update(json.loads(raw))
            elif raw:
                data.update({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
            method = ("respond" if parts.path.startswith("/respond/")
                      else parts.path.removeprefix("/api/"))
            answer = fake.record(Call(method, parts.path, data,
                                      self.headers.get("Authorization") or ""))
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

    return Handler


class AppServer:
    """A bolt App served on 127.0.0.1 at ``/slack/events`` by the product's `WebApp` and
    `WebServer`: the endpoint ``firmwatch web`` serves (its checks, request log and metrics)."""

    def __init__(self, app: App, store: Store, settings: Settings,
                 environ: Mapping[str, str] | None = None, threads: int = 4) -> None:
        environ = dict(environ if environ is not None
                       else {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET})

        def build(store: Store, settings: Settings, *, environ: Mapping[str, str],
                  clock: Callable[[], datetime]) -> App:
            return app

        endpoint = load_slack(store, settings, environ=environ, clock=lambda: datetime.now(UTC),
                              build=build)
        assert endpoint.app is app, endpoint.reason
        self.metrics = Metrics(store)
        self.web_app = WebApp(store, settings, metrics=self.metrics, slack=endpoint,
                              environ=environ)
        self._web = WebServer(cast(WSGIApplication, self.web_app), host="127.0.0.1",
                              port=0, threads=threads, max_body=self.web_app.max_body)
        self._web.start()
        self.port: int = self._web.port
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self._conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST to /slack/events over one kept-alive connection; (status, body)."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            self._conn.request("POST", "/slack/events", body=body, headers=dict(headers))
            response = self._conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self._conn.close()
            self._conn = None
            raise

    def close(self) -> None:
        """Close the connection and stop the server (requests in flight finish first)."""
        if self._conn is not None:
            self._conn.close()
        self._web.stop(5)


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None,
           content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    """The headers Slack sends with ``body``: timestamp and v0 signature."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if secret and _utf8(body):  # the SDK agrees (it refuses an empty secret, which the tests
        # use to forge, and reads the body as text)
        assert SignatureVerifier(secret).generate_signature(timestamp=stamp,
                                                            body=body) == signature
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature,
            "Content-Type": content_type}


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def command_body(text: str, response_url: str, *, user: str = "UADMIN01",
                 channel: str = "C0OPS0001", command: str = "/firmware",
                 team: str = TEAM, channel_name: str = "ops") -> bytes:
    """A slash command invocation as Slack posts it (form-encoded); ``team`` other than
    :data:`TEAM`: a user of another workspace in a Slack Connect channel."""
    return urlencode({
        "token": "legacy-unused", "team_id": team, "team_domain": "test",
        "channel_id": channel, "channel_name": channel_name, "user_id": user,
        "user_name": "someone",
        "command": command, "text": text, "api_app_id": "A0FIRMW", "is_enterprise_install":
        "false", "response_url": response_url, "trigger_id": "1.2.3",
    }).encode()


def actions_body(action_id: str, value: str, response_url: str, *, user: str = "U0PEOPLE1",
                 blocks: list[dict[str, Any]] | None = None, channel: str = "C0ALERTS1",
                 ts: str = "1700000000.000100", kind: str = "button",
                 text: str = "alert", team: str = TEAM) -> bytes:
    """A ``block_actions`` payload for a click on an alert message (form-encoded); ``team``
    other than :data:`TEAM`: a user of another workspace in a Slack Connect channel."""
    action: dict[str, Any] = {"action_id": action_id, "block_id": "fw_actions", "type": kind,
                              "action_ts": "1700000001.000000"}
    if kind == "static_select":
        action["selected_option"] = {"text": {"type": "plain_text", "text": value},
                                     "value": value}
    else:
        action["value"] = value
    payload = {
        "type": "block_actions", "team": {"id": team, "domain": "test"},
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": "A0FIRMW", "token": "legacy-unused", "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel,
                      "is_ephemeral": False},
        "channel": {"id": channel, "name": "alerts"},
        "message": {"type": "message", "ts": ts, "text": text, "user": "UBOT0001",
                    "blocks": blocks or []},
        "response_url": response_url, "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def event_body(event: dict[str, Any]) -> bytes:
    """An Events API callback (JSON)."""
    return json.dumps({"token": "legacy-unused", "team_id": TEAM, "api_app_id": "A0FIRMW",
                       "event": event, "type": "event_callback", "event_id": "Ev0001",
                       "event_time": int(time.time())}).encode()


@contextmanager
def serving(app: App, store: Store, settings: Settings,
            environ: Mapping[str, str] | None = None) -> Iterator[AppServer]:
    """Serve ``app`` for the duration of the block."""
    server = AppServer(app, store, settings, environ)
    try:
        yield server
    finally:
        server.close()


def texts(message: dict[str, Any]) -> str:
    """Every text of a message, joined (to search answers)."""
    found: list[str] = [message.get("text", "")]

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("text"), str):
                found.append(value["text"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(message.get("blocks", []))
    return "\n".join(found)


def assert_fits(message: dict[str, Any], max_blocks: int = 50) -> None:
    """Slack's limits: blocks, section and header text, context elements, fallback text."""
    blocks = message.get("blocks", [])
    assert 0 < len(blocks) <= max_blocks
    assert len(message.get("text", "")) <= 3000
    for b in blocks:
        if b["type"] == "section":
            assert "text" in b or "fields" in b
            assert 0 < len(b.get("text", {"text": "-"})["text"]) <= 3000
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
        if b["type"] == "context":
            assert 0 < len(b["elements"]) <= 10
            assert all(len(e["text"]) <= 2000 for e in b["elements"])
