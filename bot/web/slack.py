"""The Slack side of the web process: build the bolt App when Slack is configured, or say why not.

HTTP mode serves ``/slack/events``; Socket Mode is chosen when the app-level token variable
(``[slack] app_token_env``) is set: no public URL needed. A missing variable never stops the
process: ``/slack/events`` answers 503 and ``/readyz`` says why.

Every request is checked before bolt parses it (:meth:`SlackEndpoint.serve`): the ``v0`` signature
of the raw body with the signing secret and a timestamp within 5 minutes, else 401; a signature
accepted before (within those 5 minutes, in this process) is a replay, 401, unless it is Slack's
own retry (``X-Slack-Retry-Num``) of a request already answered: 200 and nothing more. A signed
body that bolt cannot read is a 400.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from slack_bolt import App, BoltRequest
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackClientError

from bot.config import ConfigError, Settings
from bot.service.logs import redact
from bot.web.http import HttpError, Request, Response
from state import Store

log = logging.getLogger("firmwatch.web")
Mode = Literal["http", "socket"]
WINDOW = 5 * 60  # seconds a Slack signature stays valid (its timestamp's age, either way)
REMEMBERED = 20_000  # signatures kept for replay refusal (Slack sends far fewer in 5 minutes)
_STAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class BuildApp(Protocol):
    """``bot.slack.app.build_app``."""

    def __call__(
        self, store: Store, settings: Settings, *, environ: Mapping[str, str],
        clock: Callable[[], datetime],
    ) -> App: ...


class SocketHandle(Protocol):
    """What the runner needs of ``SocketModeHandler``."""

    def connect(self) -> Any: ...
    def close(self) -> Any: ...


SocketFactory = Callable[[App, str], SocketHandle]


class Replays:
    """The signatures accepted within the last 5 minutes, at most ``limit`` (the oldest go first).

    A signature covers its timestamp and the body, so a repeat is the same request sent again.
    Memory is per process: with several web processes a replay reaching another is not caught.
    """

    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()  # signature -> when it goes stale
        self._lock = threading.Lock()
        self._warned = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def claim(self, signature: str, stamp: float, now: float) -> bool:
        """Remember ``signature`` (timestamp ``stamp``); False when it was seen already."""
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if signature in self._seen:
                return False
            if len(self._seen) >= self.limit:
                for old in [k for k, stale in self._seen.items() if stale < now]:
                    del self._seen[old]
            while len(self._seen) >= self.limit:
                self._seen.popitem(last=False)
                if not self._warned:
                    self._warned = True
                    log.warning("more Slack requests than the replay memory holds: the oldest"
                                " are forgotten before their 5 minutes end",
                                extra={"limit": self.limit})
            self._seen[signature] = stamp + WINDOW + 1
            return True

    def forget(self, signature: str) -> None:
        """Let a request that was not handled come again (Slack retries it)."""
        with self._lock:
            self._seen.pop(signature, None)


@dataclass
class SlackEndpoint:
    """The bolt App and the signing secret its HTTP requests are checked with, or the reason
    Slack is off."""

    mode: Mode
    app: App | None = None
    reason: str | None = None
    signing_secret: str | None = None  # None: no HTTP request verifies (Socket Mode)
    replays: Replays = field(default_factory=Replays)
    wall: Callable[[], float] = time.time

    @property
    def status(self) -> str:
        """One line for ``/readyz``."""
        return f"ok ({self.mode} mode)" if self.app is not None else f"off: {self.reason}"

    def serve(self, request: Request) -> Response:
        """Check one POST to ``/slack/events``, then hand it to bolt; HttpError for 400/401."""
        if self.app is None:
            raise HttpError(503, self.reason or "Slack is off")
        raw = request.body()
        signature = self._verify(request, raw)
        stamp = int(request.header("X-Slack-Request-Timestamp").strip())
        if not self.replays.claim(signature, stamp, self.wall()):
            if request.header("X-Slack-Retry-Num").strip():  # Slack asks again: already answered
                return Response(200, b"", [("X-Slack-No-Retry", "1")])
            raise HttpError(401, "this request was received before (a replay)")
        handled = False
        try:
            response = self._dispatch(self.app, request, raw)
            handled = response.status < 400
            return response
        finally:
            if not handled:
                self.replays.forget(signature)

    def _verify(self, request: Request, raw: bytes) -> str:
        """The request's signature when it is Slack's, else HttpError 401."""
        stamp = request.header("X-Slack-Request-Timestamp").strip()
        given = request.header("X-Slack-Signature").strip()
        if self.signing_secret is None:
            raise HttpError(401, "this app takes no HTTP requests (Socket Mode without a"
                                 " signing secret)")
        if not stamp or not given:
            raise HttpError(401, "the request is not signed (X-Slack-Signature and"
                                 " X-Slack-Request-Timestamp)")
        if not _STAMP.fullmatch(stamp) or abs(self.wall() - int(stamp)) > WINDOW:
            raise HttpError(401, "the request timestamp is not within 5 minutes of this"
                                 " machine's clock")
        # Over the raw bytes: slack_sdk's SignatureVerifier decodes the body as UTF-8 first, so a
        # signed body that is not UTF-8 would fail as unsigned (401) instead of unreadable (400).
        base = b"v0:" + stamp.encode("ascii") + b":" + raw
        expected = "v0=" + hmac.new(self.signing_secret.encode("utf-8"), base,
                                    hashlib.sha256).hexdigest()
        if not (_SIGNATURE.fullmatch(given) and hmac.compare_digest(expected, given)):
            raise HttpError(401, "the request signature does not match")
        return given

    @staticmethod
    def _dispatch(app: App, request: Request, raw: bytes) -> Response:
        """Bolt's answer to a verified request; 400 when bolt cannot read the body."""
        environ = request.environ
        headers: dict[str, str | Sequence[str]] = {
            key[5:].lower().replace("_", "-"): str(value)
            for key, value in environ.items() if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.lower().replace("_", "-")] = str(environ[key])
        try:
            parsed = BoltRequest(body=raw.decode("utf-8"),
                                 query=str(environ.get("QUERY_STRING", "")), headers=headers)
        except Exception as exc:  # noqa: BLE001 - whatever bolt trips on, the body is at fault
            raise HttpError(400, "the body is not a Slack request firmwatch can read"
                                 f" ({type(exc).__name__})") from None
        answer = app.dispatch(parsed)
        body = answer.body.encode("utf-8") if isinstance(answer.body, str) else answer.body
        out = [(name, value) for name, values in answer.headers.items()
               if name.lower() != "content-length" for value in values]
        return Response(answer.status, body, out)


def slack_mode(settings: Settings, environ: Mapping[str, str]) -> Mode:
    """Socket Mode when the app-level token variable is set, else HTTP."""
    return "socket" if environ.get(settings.slack.app_token_env) else "http"


def load_slack(
    store: Store, settings: Settings, *, environ: Mapping[str, str],
    clock: Callable[[], datetime], build: BuildApp | None = None,
) -> SlackEndpoint:
    """Build the App when its variables are set; otherwise an endpoint that says what is missing."""
    mode = slack_mode(settings, environ)
    s = settings.slack
    needed = [("slack.bot_token_env", s.bot_token_env)]
    needed.append(("slack.app_token_env", s.app_token_env) if mode == "socket"
                  else ("slack.signing_secret_env", s.signing_secret_env))
    missing = [f"{env} (named by {key})" for key, env in needed if not environ.get(env)]
    if missing:
        return SlackEndpoint(mode, reason="Slack is not configured: set the environment"
                             f" variable{'s' if len(missing) > 1 else ''} {' and '.join(missing)}")
    if build is None:
        try:
            from bot.slack.app import build_app  # type: ignore[import-not-found, unused-ignore]
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("bot.slack"):
                raise
            return SlackEndpoint(mode, reason="the Slack app is not part of this installation"
                                 " (module bot.slack.app is missing)")
        build = build_app
    try:
        app = build(store, settings, environ=environ, clock=clock)
    except (ConfigError, BoltError, SlackClientError) as exc:
        reason = redact(f"the Slack app could not start: {exc}".splitlines()[0])
        log.warning("Slack is off", extra={"reason": reason})
        return SlackEndpoint(mode, reason=reason)
    secret = environ.get(s.signing_secret_env) or None
    return SlackEndpoint(mode, app=app, signing_secret=secret)


def socket_mode_handler(app: App, app_token: str) -> SocketHandle:
    """The real Socket Mode connection (slack_sdk's built-in client)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(app, app_token)
