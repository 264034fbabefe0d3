"""Plain WSGI request and response helpers: JSON bodies and errors, size limits, bearer tokens."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs
from wsgiref.types import WSGIEnvironment

JSON = "application/json"


class HttpError(Exception):
    """An error answered as JSON: ``{"error": message, "problems": [...]}``."""

    def __init__(
        self, status: int, message: str, problems: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """The JSON response for this error."""
        body: dict[str, Any] = {"error": self.message}
        if self.problems:
            body["problems"] = self.problems
        resp = json_response(self.status, body)
        resp.headers.extend(self.headers.items())
        return resp


@dataclass
class Response:
    """A status, headers and a body."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status_line(self) -> str:
        """``"200 OK"``."""
        try:
            return f"{self.status} {HTTPStatus(self.status).phrase}"
        except ValueError:
            return f"{self.status} Unknown"


def json_response(status: int, data: object) -> Response:
    """A JSON response (UTF-8, no caching)."""
    body = json.dumps(data, ensure_ascii=False, indent=1, default=str).encode("utf-8") + b"\n"
    return Response(status, body, [("Content-Type", f"{JSON}; charset=utf-8"),
                                   ("Cache-Control", "no-store")])


def text_response(status: int, text: str | bytes, content_type: str) -> Response:
    """A plain response with its content type."""
    body = text.encode("utf-8") if isinstance(text, str) else text
    return Response(status, body, [("Content-Type", content_type)])


class Request:
    """The parts of a WSGI environ the handlers use."""

    def __init__(self, environ: WSGIEnvironment, max_body: int) -> None:
        self.environ = environ
        self.method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        raw = str(environ.get("PATH_INFO", "") or "/")
        try:  # WSGI hands the path over as latin-1 text; names are UTF-8
            self.path = raw.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            self.path = raw
        self.max_body = max_body

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (the last value of each wins)."""
        parsed = parse_qs(str(self.environ.get("QUERY_STRING", "")), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def header(self, name: str) -> str:
        """A request header ('' when absent)."""
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return str(self.environ.get(key, "") or "")
        return str(self.environ.get(f"HTTP_{key}", "") or "")

    @property
    def length(self) -> int:
        """The declared body length (0 when absent); HttpError when not a number."""
        text = self.header("Content-Length").strip() or "0"
        if not text.isdigit():
            raise HttpError(400, "Content-Length is not a number")
        return int(text)

    def check_size(self) -> None:
        """Refuse a body larger than the limit before reading it (413)."""
        if self.length > self.max_body:
            raise HttpError(413, f"the request body is larger than {self.max_body} bytes")

    def body(self) -> bytes:
        """The body, read up to its declared length (within the limit)."""
        self.check_size()
        stream = self.environ["wsgi.input"]
        data: bytes = stream.read(self.length) if self.length else b""
        return data

    def json(self) -> object:
        """The body parsed as JSON (415 for another content type, 400 when it does not parse)."""
        kind = self.header("Content-Type").split(";")[0].strip().lower()
        if kind and kind != JSON:
            raise HttpError(415, f"expected a JSON body ({JSON}), got {kind}")
        data = self.body()
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HttpError(400, f"the body is not JSON: {exc}") from None
        except RecursionError:  # a few KiB of "[[[[…" would otherwise be a 500 and a traceback
            raise HttpError(400, "the body is JSON nested too deeply to read") from None


def bearer_ok(request: Request, expected: str) -> bool:
    """True when the request carries ``Authorization: Bearer <expected>`` (constant-time)."""
    scheme, _, given = request.header("Authorization").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))
