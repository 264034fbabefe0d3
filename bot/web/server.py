"""Serve the WSGI app with waitress (a production server) in a thread, and stop it gracefully.

Stopping closes the listening socket first, lets requests in progress finish within the time
given, then closes every connection, on a failed start too. Waitress's wake-up pipes are
closed descriptor by descriptor (see `close_channels`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any
from wsgiref.types import WSGIApplication

from waitress import wasyncore
from waitress.server import create_server
from waitress.task import ThreadedTaskDispatcher
from waitress.trigger import trigger

from bot.commands.common import UsageError

log = logging.getLogger("firmwatch.web")
DEFAULT_PORT = 3000
PORT_ENV = "PORT"


def resolve_port(cli_value: int | None, environ: Mapping[str, str]) -> int:
    """``--port``, else ``$PORT``, else 3000; UsageError for a bad value."""
    if cli_value is not None:
        port, where = cli_value, "--port"
    elif environ.get(PORT_ENV, "").strip():
        text = environ[PORT_ENV].strip()
        if not text.isdigit():
            raise UsageError(f"${PORT_ENV}: expected a port number (got {text!r})")
        port, where = int(text), f"${PORT_ENV}"
    else:
        return DEFAULT_PORT
    if not 0 <= port <= 65535:
        raise UsageError(f"{where}: expected a port from 0 to 65535 (got {port})")
    return port


class WebServer:
    """A waitress server bound at construction (so the port is known), served by ``start``."""

    def __init__(
        self, app: WSGIApplication, *, host: str, port: int, threads: int = 8,
        max_body: int = 1024 * 1024,
    ) -> None:
        channels: dict[int, Any] = {}
        workers = ThreadedTaskDispatcher()  # its threads start once the socket is bound
        try:
            self._server = create_server(
                app, map=channels, _dispatcher=workers, host=host, port=port, threads=threads,
                ident="firmwatch", max_request_body_size=max_body + 64 * 1024,
                channel_timeout=60, clear_untrusted_proxy_headers=True, expose_tracebacks=False,
            )
            if not hasattr(self._server, "effective_port"):  # waitress listens on each address
                raise OSError(f"{host} resolves to several addresses: listen on one of them")
        except ValueError:  # waitress's word for a host name that does not resolve
            close_channels(channels)
            raise OSError(f"{host} is neither an address nor a host name that resolves") from None
        except BaseException:  # e.g. the port is in use: close the wake-up pipe and socket made
            close_channels(channels)
            raise
        self.host = str(self._server.effective_host)
        self.port = int(self._server.effective_port)
        self._thread: threading.Thread | None = None
        workers.set_thread_count(threads)

    @property
    def url(self) -> str:
        """Where the server listens."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)
        self._thread.start()
        log.info("serving HTTP", extra={"host": self.host, "port": self.port, "url": self.url})

    def stop(self, timeout: float) -> None:
        """Stop accepting, let requests in progress finish within ``timeout`` s, close."""
        server = self._server
        server.accepting = False  # the loop stops polling the listening socket
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=max(timeout, 0.1))
        # A request still running when time is up ends by waking the loop through its pipe:
        # that stays open (until the process exits), so the write cannot land in a descriptor
        # opened since under the same number.
        keep = server.trigger if server.task_dispatcher.threads else None
        if self._thread is None or not self._thread.is_alive():
            close_channels(server._map, keep=keep)
            return

        def close() -> None:  # in the loop's thread: nothing else touches its sockets
            close_channels(server._map, keep=keep)

        try:
            server.trigger.pull_trigger(close)
        except OSError as exc:
            # The loop's wake-up pipe was closed under it (seen rarely in the test suite, cause
            # not found). A new one joins the loop's map and is polled within a second.
            log.warning("the HTTP server's wake-up pipe is closed; waking it through a new one",
                        extra={"error": str(exc)})
            trigger(server._map).pull_trigger(close)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            # The loop may have run ``close`` from the old pipe (a byte already in it) and ended
            # before the new pipe joined its map: nothing else would close that one.
            close_channels(server._map, keep=keep)
        log.info("HTTP server stopped")


def close_channels(channels: dict[int, Any], *, keep: object = None) -> None:
    """Close every channel of a waitress loop, wake-up pipes first, but for the pipe ``keep``
    (the one requests still running will write to, see `WebServer.stop`): it stays open.

    Waitress closes a wake-up pipe's descriptors one after the other and stops at the first
    that fails: one already closed (seen rarely in the test suite) leaked the rest. Here each is
    closed, and every failure is logged without stopping the others.
    """
    every = list(channels.items())
    try:
        for _, channel in every:
            if isinstance(channel, trigger):
                _close_trigger(channel, keep_pipe=channel is keep)
        for _, channel in every:
            try:
                channel.close()
            except Exception as exc:  # noqa: BLE001 - closing the others matters more
                log.warning("closing an HTTP channel failed",
                            extra={"channel": type(channel).__name__, "error": str(exc)})
    finally:
        # What was closed leaves the map (closing usually removes it). A channel that joined
        # meanwhile (stop's new wake-up pipe, from another thread) stays, for the loop or stop.
        for number, channel in every:
            if channels.get(number) is channel:
                del channels[number]


def _close_trigger(pipe: Any, *, keep_pipe: bool) -> None:
    """`trigger.close`, going on past a descriptor that fails (waitress's own stops there)."""
    if pipe._closed:
        return
    pipe._closed = True
    pipe.del_channel()
    if keep_pipe:  # a write must find the pipe: open, with a reader (else EPIPE in the worker)
        log.warning("requests still run: the HTTP server's wake-up pipe stays open")
    else:
        fds, pipe._fds = pipe._fds, []
        for fd in fds:
            try:
                os.close(fd)
            except OSError as exc:  # already closed: the number may be another's by now
                log.warning("a descriptor of the HTTP server's wake-up pipe was already closed",
                            extra={"fd": fd, "error": str(exc)})
    wasyncore.file_dispatcher.close(pipe)  # the loop's copy of the read end
