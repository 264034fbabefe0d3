"""Webhook receivers on 127.0.0.1 for the tests: they verify every signature as a real one would.

:class:`SignedReceiver` answers scripted statuses and records each delivery with whether
``standardwebhooks.Webhook(secret).verify(body, headers)`` accepted it. :class:`FakeTicketing` is a
small Jira Cloud / ServiceNow stand-in that files tickets and answers searches for them.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.webhook_docs import SECRET


@dataclass(frozen=True)
class Delivery:
    """One request as received (header names lower-case) and whether its signature verified."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: Any = None


@dataclass
class Answer:
    """A scripted answer."""

    status: int = 204
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (after the request was handled)


class _Base:
    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.received: list[Delivery] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/hook") -> str:
        """The URL of ``path`` here."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Delivery:
        """Verify exactly as a receiver would, and remember the request."""
        payload, verified = None, False
        if method != "GET":
            try:
                payload = Webhook(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                pass
        delivery = Delivery(method, path, headers, body, verified, payload)
        with self.lock:
            self.received.append(delivery)
        return delivery

    def answer(self, delivery: Delivery) -> Answer:
        raise NotImplementedError


class SignedReceiver(_Base):
    """Answers the scripted answers in turn (the last repeats); 401 when a signature fails."""

    def __init__(self, *answers: Answer, secret: str = SECRET) -> None:
        super().__init__(secret)
        self.answers = list(answers) or [Answer()]

    def answer(self, delivery: Delivery) -> Answer:
        if not delivery.verified:
            return Answer(401, b'{"error": "bad signature"}')
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    @property
    def ids(self) -> list[str]:
        """The webhook-id of every delivery, in order."""
        return [d.headers.get("webhook-id", "") for d in self.received]


class FakeTicketing(_Base):
    """Jira Cloud (search/jql, issue, comment) and ServiceNow (table/incident: query, create,
    update) endpoints over one store of tickets; a ticket is open until a test sets ``open`` false.

    ``slow_creates`` makes the first N creates answer only after ``delay`` seconds (after filing the
    ticket): the sender's deadline passes, as when a reply is lost, and it retries.
    """

    def __init__(self, slow_creates: int = 0, delay: float = 2.0, secret: str = SECRET) -> None:
        super().__init__(secret)
        self.tickets: list[dict[str, Any]] = []
        self.slow_creates = slow_creates
        self.delay = delay

    def answer(self, delivery: Delivery) -> Answer:
        path = urlsplit(delivery.path).path
        if delivery.method != "GET" and not delivery.verified:
            return Answer(401, b'{"errorMessages": ["bad signature"]}')
        if path == "/rest/api/3/search/jql":
            return self._jira_search(delivery.payload["jql"])
        if path == "/api/now/table/incident" and delivery.method == "GET":
            return self._servicenow_query(parse_qs(urlsplit(delivery.path).query))
        if path in ("/rest/api/3/issue", "/api/now/table/incident"):
            fields = delivery.payload.get("fields", delivery.payload)
            with self.lock:
                key = f"OPS-{len(self.tickets) + 1}"
                ticket = {"key": key, "sys_id": f"sys{len(self.tickets) + 1}", "open": True,
                          "notes": [], **fields, "labels": fields.get("labels", [])}
                self.tickets.append(ticket)
                slow = self.slow_creates > 0
                self.slow_creates -= 1
            return _json(201, {"key": key}, self.delay if slow else 0.0)
        jira = re.fullmatch(r"/rest/api/3/issue/([^/]+)/comment", path)
        servicenow = re.fullmatch(r"/api/now/table/incident/([^/]+)", path)
        if jira and delivery.method == "POST":
            return self._note("key", jira[1], delivery.payload["body"], {})
        if servicenow and delivery.method == "PATCH":
            changed = {k: v for k, v in delivery.payload.items() if k != "work_notes"}
            return self._note("sys_id", servicenow[1], delivery.payload["work_notes"], changed)
        return Answer(404, b"no such endpoint")

    def _jira_search(self, jql: str) -> Answer:
        label = re.search(r'labels = "([^"]+)"', jql)
        open_only = "statusCategory != Done" in jql
        with self.lock:
            found = [t for t in self.tickets if label and label[1] in t["labels"]
                     and (t["open"] or not open_only)]
        return _json(200, {"issues": [{"key": t["key"], "fields": {"labels": t["labels"]}}
                                      for t in found][:1]})

    def _servicenow_query(self, params: dict[str, list[str]]) -> Answer:
        terms = dict(t.split("=", 1) for t in params["sysparm_query"][0].split("^"))
        wanted = params.get("sysparm_fields", ["sys_id,number"])[0].split(",")
        with self.lock:
            rows = [t for t in self.tickets if t.get("correlation_id") == terms["correlation_id"]
                    and (t["open"] or terms.get("active") != "true")]
        names = {"number": "key"}
        return _json(200, {"result": [{f: t.get(names.get(f, f)) for f in wanted}
                                      for t in rows][:1]})

    def _note(self, field: str, ident: str, note: Any, changed: dict[str, Any]) -> Answer:
        with self.lock:
            tickets = [t for t in self.tickets if t[field] == ident]
            for t in tickets:
                t["notes"].append(note)
                t.update(changed)
        return _json(201 if field == "key" else 200, {"ok": True}) if tickets else Answer(404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A sender that hung up (its deadline) is expected here, not an error."""


def _json(status: int, body: Any, delay: float = 0.0) -> Answer:
    return Answer(status, json.dumps(body).encode(), {"Content-Type": "application/json"}, delay)


def _handler(server: _Base) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # the sender died mid-request: nothing was delivered
                self.close_connection = True
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = server.answer(server.record(self.command, self.path, headers, body))
            if answer.delay and server.stopping.wait(answer.delay):
                self.close_connection = True
                return
            reply = answer.body  # read once: a test may change the script meanwhile
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (TimeoutError, ConnectionError):
                self.close_connection = True

        do_GET = do_POST = do_PATCH = do_PUT = _serve

    return Handler
