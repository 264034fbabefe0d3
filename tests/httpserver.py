"""A threaded HTTP server on 127.0.0.1 with scripted routes, for tests of anything that talks HTTP.

Register responses per path with :meth:`LocalServer.route` (served in turn, the last one repeats),
then read what arrived in :attr:`LocalServer.requests`. Slow, dripping, oversized, redirecting and
conditional (ETag / Last-Modified) responses are one keyword away. Use the ``http_server`` fixture.
"""

from __future__ import annotations

import gzip
import ssl
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pytest


@dataclass
class Route:
    """One scripted response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before anything is sent (a slow first byte)
    drip: float = 0.0  # seconds between body bytes (sent one at a time)
    redirect: str | None = None  # Location; the status becomes 302 unless it is a 3xx
    etag: str | None = None  # answer 304 when If-None-Match carries it
    last_modified: str | None = None  # answer 304 when If-Modified-Since repeats it
    gzip: bool = False  # gzip the body and say so
    chunked: bool = False  # no Content-Length: chunked transfer encoding
    close: bool = False  # hang up after the body (with a lying Content-Length: a truncated body)


@dataclass(frozen=True)
class Recorded:
    """A request the server received (header names lower-case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalServer:
    """The server: ``route()`` responses, ``url()`` to reach them, ``requests`` to inspect."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Recorded] = []
        self._routes: dict[str, list[Route]] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self.port: int = self._httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        if tls:
            self._httpd.socket = tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Wake every sleeping response and shut down."""
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        """The URL of ``path`` on this server (``host`` for a name the test resolves itself)."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, *responses: Route) -> str:
        """Serve ``responses`` at ``path`` in turn (the last repeats); return the URL."""
        with self._lock:
            self._routes[urlsplit(path).path] = list(responses) or [Route()]
        return self.url(path)

    def requests_to(self, path: str) -> list[Recorded]:
        """The requests received for ``path`` (query ignored)."""
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]

    def _next(self, path: str) -> Route:
        with self._lock:
            queue = self._routes.get(urlsplit(path).path)
            if not queue:
                return Route(404, b"no route\n", {"Content-Type": "text/plain"})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, size caps) is expected here, not an error."""


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            server._record(Recorded(self.command, self.path, headers, body))
            route = server._next(self.path)
            if route.delay and server.stopping.wait(route.delay):
                self.close_connection = True
                return
            try:
                self._respond(route, headers)
            except (TimeoutError, ConnectionError):
                self.close_connection = True

        def _respond(self, route: Route, request: dict[str, str]) -> None:
            status, payload, extra = route.status, route.body, dict(route.headers)
            if route.redirect is not None:
                status = status if 300 <= status < 400 else 302
                extra["Location"] = route.redirect
            if route.etag:
                extra["ETag"] = route.etag
            if route.last_modified:
                extra["Last-Modified"] = route.last_modified
            if (route.etag and request.get("if-none-match") == route.etag) or (
                route.last_modified and request.get("if-modified-since") == route.last_modified
            ):
                status, payload = 304, b""
            if route.gzip and payload:
                payload = gzip.compress(payload)
                extra["Content-Encoding"] = "gzip"
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif "content-length" not in {k.lower() for k in extra}:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command == "HEAD" or status == 304:
                return
            step = 1 if route.drip else 64 * 1024
            for i in range(0, len(payload), step):
                if i and route.drip and server.stopping.wait(route.drip):
                    self.close_connection = True
                    return
                piece = payload[i : i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if route.chunked else piece)
            if route.chunked:
                self.wfile.write(b"0\r\n\r\n")
            if route.close:
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


def gzip_bomb(decoded_size: int) -> bytes:
    """A small gzip body that inflates to ``decoded_size`` zero bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + 15)
    block = bytes(1024 * 1024)
    out = [packer.compress(block) for _ in range(decoded_size // len(block))]
    out.append(packer.compress(bytes(decoded_size % len(block))))
    out.append(packer.flush())
    return b"".join(out)


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A running LocalServer on 127.0.0.1, stopped after the test."""
    with LocalServer() as server:
        yield server
