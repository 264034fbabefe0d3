"""A fake Slack Web API on 127.0.0.1, reached through ``WebClient(base_url=...)``.

It checks the Bearer token, records every call's JSON or form body, answers ``chat.postMessage``
with a fresh ``ts`` and can be scripted to answer 429 with ``Retry-After``, 500, an error code, or
to drop the connection; ``refused`` refuses a channel (by ID; ``#name`` is ``CNAME``) with an
error code. Use the ``fake_slack`` fixture (or ``FakeSlack()`` as a context manager).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import pytest

TOKEN = "xoxb-fake-0123456789-secret"


@dataclass(frozen=True)
class Answer:
    """One scripted answer to ``chat.postMessage``."""

    status: int = 200
    error: str | None = None  # {"ok": false, "error": ...}
    retry_after: str | None = None
    drop: bool = False  # close the connection without answering
    body: bytes | None = None  # a raw body instead of JSON


@dataclass(frozen=True)
class Call:
    """A call the fake received."""

    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


@dataclass
class FakeSlack:
    """The server: ``script`` answers, ``calls`` recorded, ``url`` to point WebClient at."""

    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # channel ID -> error, after the script

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/api/"

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def answer(self, *answers: Answer) -> None:
        """Answer the next posts with these, in turn (then ``ok`` again)."""
        with self._lock:
            self.script.extend(answers)

    def posts(self) -> list[Call]:
        """The ``chat.postMessage`` calls that were accepted."""
        with self._lock:
            return [c for c in self.calls if c.method == "chat.postMessage" and "ts" in c.body]

    def wait_for_posts(self, count: int, timeout: float = 30.0) -> bool:
        """Block until ``count`` posts were accepted (False on timeout)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.posts()) >= count, timeout)

    def _take(self, call: Call) -> tuple[Answer, dict[str, Any]]:
        with self._lock:
            channel = str(call.body.get("channel", ""))
            channel = "C" + channel.lstrip("#").upper() if channel.startswith("#") else channel
            refused = self.refused.get(channel)
            answer = self.script.pop(0) if self.script else Answer(error=refused)
            if call.headers.get("authorization") != f"Bearer {self.token}":
                answer = Answer(error="invalid_auth")
            ok = answer.status == 200 and answer.error is None and not answer.drop
            reply: dict[str, Any] = {"ok": ok}
            if ok and call.method == "chat.postMessage":
                n = len(self.posts()) + 1
                reply.update(channel=channel, ts=f"{1_700_000_000 + n}.{n:06d}")
                call.body["ts"] = reply["ts"]
            elif not ok:
                reply["error"] = answer.error or ("ratelimited" if answer.status == 429
                                                  else "internal_error")
            self.calls.append(call)
            self._lock.notify_all()
            return answer, reply


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if len(data) < length:  # the client died mid-request (a crash test's SIGKILL):
                self.close_connection = True  # Slack would not act on half a request either
                return
            raw = data.decode("utf-8")
            headers = {k.lower(): v for k, v in self.headers.items()}
            call = Call(self.path.rsplit("/", 1)[-1], _body(raw, headers), headers,
                        time.monotonic())
            answer, reply = fake._take(call)
            if answer.drop:
                self.close_connection = True
                return
            payload = answer.body if answer.body is not None else json.dumps(reply).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            if answer.retry_after is not None:
                self.send_header("Retry-After", answer.retry_after)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _body(raw: str, headers: dict[str, str]) -> dict[str, Any]:
    if headers.get("content-type", "").startswith("application/json"):
        parsed: dict[str, Any] = json.loads(raw or "{}")
        return parsed
    form = {k: v[0] for k, v in parse_qs(raw).items()}
    if isinstance(form.get("blocks"), str):
        form["blocks"] = json.loads(form["blocks"])
    return form


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running fake Slack Web API, stopped after the test."""
    with FakeSlack() as fake:
        yield fake
