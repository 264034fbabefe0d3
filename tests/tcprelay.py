"""A TCP relay on 127.0.0.1 in front of a real server (PostgreSQL), that a test can freeze.

``freeze()`` stands for a database that stops answering without hanging up (a stalled server, a
network partition): connections stay open, new ones are accepted, and nothing passes either way.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit


class TcpRelay:
    """Relays connections to ``target`` (host, port) until frozen; ``close`` ends everything."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TcpRelay:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def url(self, url: str) -> str:
        """``url`` (a PostgreSQL URL to ``target``) pointed at the relay instead."""
        parts = urlsplit(url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def freeze(self) -> None:
        """From now on nothing passes; connections stay open."""
        self.frozen.set()

    def close(self) -> None:
        """Stop relaying and close every connection."""
        self._closed.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):  # a thread blocked in recv keeps a closed
                    s.shutdown(socket.SHUT_RDWR)  # socket open: the server would not hear
                s.close()
        self._thread.join(timeout=5)

    def _keep(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.extend(sockets)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            if self.frozen.is_set():
                continue  # accepted, never answered
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._keep(server)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.frozen.is_set():
                    self._closed.wait()  # hold the bytes: the other side waits for an answer
                    return
                sink.sendall(data)
        except OSError:
            pass
