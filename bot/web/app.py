"""The WSGI application: Slack events, health and readiness, Prometheus metrics, the REST API.

Routes: ``POST /slack/events`` (slack-bolt, behind the signature check of
:mod:`bot.web.slack`), ``GET /healthz`` (the process answers), ``GET /readyz``
(the store answers and its schema is current; also says whether Slack and the API are on),
``GET /metrics``, and ``/api/v1/...`` behind a bearer token (:mod:`bot.web.api`). Errors are JSON;
unknown paths are 404, known paths with another method 405. Secrets are never logged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from bot import __version__
from bot.config import Settings
from bot.service.metrics import CONTENT_TYPE, Metrics
from bot.web import api
from bot.web.http import HttpError, Request, Response, bearer_ok, json_response, text_response
from bot.web.probe import StoreProbe
from bot.web.slack import SlackEndpoint
from state import Store, StoreError

log = logging.getLogger("firmwatch.web")
MIN_TOKEN = 16
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})
Handler = Callable[[Request, dict[str, str]], Response]


@dataclass(frozen=True)
class Route:
    """A path pattern, its metrics label, its handlers by method, and whether it needs the token."""

    label: str
    pattern: re.Pattern[str]
    methods: Mapping[str, Handler]
    auth: bool = False


def api_token(settings: Settings, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The REST API's token, or None with the reason the API is off."""
    name = settings.web.api_token_env
    value = environ.get(name, "")
    if not value:
        return None, f"off: set the environment variable {name} (named by web.api_token_env)"
    if len(value) < MIN_TOKEN:
        return None, f"off: {name} (named by web.api_token_env) is shorter than {MIN_TOKEN}" \
            " characters"
    return value, "ok"


class WebApp:
    """firmwatch's HTTP endpoints as one WSGI callable."""

    def __init__(
        self, store: Store, settings: Settings, *, metrics: Metrics, slack: SlackEndpoint,
        environ: Mapping[str, str],
    ) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.slack = slack
        self.max_body = settings.web.max_body_kib * 1024
        self.probe = StoreProbe(store)
        self.token, self.api_status = api_token(settings, environ)
        fleet = r"(?P<name>[^/]+)"
        self.routes = [
            Route("/", re.compile(r"/"), {"GET": self._index}),
            Route("/healthz", re.compile(r"/healthz"), {"GET": self._healthz}),
            Route("/readyz", re.compile(r"/readyz"), {"GET": self._readyz}),
            Route("/metrics", re.compile(r"/metrics"), {"GET": self._metrics}),
            Route("/slack/events", re.compile(r"/slack/events"),
                  {"POST": lambda r, p: slack.serve(r)}),
            Route("/api/v1/fleets", re.compile(r"/api/v1/fleets"),
                  {"GET": lambda r, p: api.list_fleets(store)}, auth=True),
            Route("/api/v1/fleets/{name}", re.compile(rf"/api/v1/fleets/{fleet}"), {
                "GET": lambda r, p: api.get_fleet(store, p["name"]),
                "PUT": lambda r, p: api.put_fleet(store, settings, r, p["name"]),
                "DELETE": lambda r, p: api.delete_fleet(store, p["name"]),
            }, auth=True),
            Route("/api/v1/alerts", re.compile(r"/api/v1/alerts"),
                  {"GET": lambda r, p: api.list_alerts(store, r)}, auth=True),
        ]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request; count it and log it (without query string or headers)."""
        started = time.perf_counter()
        request = Request(environ, self.max_body)
        route, params = self._match(request.path)
        label = route.label if route else "unmatched"
        status = [500]

        def respond(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = int(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        try:
            response = self._respond(request, route, params)
            headers = [*response.headers, ("Content-Length", str(len(response.body)))]
            respond(response.status_line, headers)
            body = [b""] if request.method == "HEAD" else [response.body]
        except HttpError as exc:
            response = exc.response()
            respond(response.status_line,
                    [*response.headers, ("Content-Length", str(len(response.body)))])
            body = [response.body]
        seconds = time.perf_counter() - started
        self.metrics.http_requests.labels(label, request.method, str(status[0])).inc()
        self.metrics.http_seconds.labels(label).observe(seconds)
        log.log(logging.DEBUG if label in QUIET and status[0] < 400 else logging.INFO,
                "http request", extra={"method": request.method, "route": label,
                                       "path": request.path, "status": status[0],
                                       "ms": round(seconds * 1000, 1)})
        return body

    def _match(self, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            m = route.pattern.fullmatch(path)
            if m:
                return route, m.groupdict()
        return None, {}

    def _respond(self, request: Request, route: Route | None, params: dict[str, str]) -> Response:
        try:
            if route is None:
                if request.path.startswith("/api/"):
                    self._authorize(request)
                raise HttpError(404, f"no such endpoint: {request.path}")
            if route.auth:
                self._authorize(request)
            method = "GET" if request.method == "HEAD" else request.method
            handler = route.methods.get(method)
            if handler is None:
                allowed = ", ".join(sorted({*route.methods, *(["HEAD"] if "GET" in route.methods
                                                              else [])}))
                raise HttpError(405, f"{request.method} is not allowed here (allowed: {allowed})",
                                headers={"Allow": allowed})
            if method in ("GET", "DELETE"):
                request.check_size()
            return handler(request, params)
        except HttpError as exc:
            return exc.response()
        except StoreError as exc:
            log.warning("the store did not answer", extra={"route": route.label if route else "",
                                                           "error": str(exc)})
            return json_response(503, {"error": f"the store did not answer: {exc}"})
        except Exception:
            log.exception("request failed", extra={"route": route.label if route else ""})
            return json_response(500, {"error": "internal error (logged)"})

    def _authorize(self, request: Request) -> None:
        if self.token is None:
            raise HttpError(503, f"the REST API is {self.api_status}")
        if not bearer_ok(request, self.token):
            raise HttpError(401, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": 'Bearer realm="firmwatch"'})

    def _index(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(200, {"service": "firmwatch", "version": __version__,
                                   "endpoints": [r.label for r in self.routes if r.label != "/"]})

    def _healthz(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(200, {"status": "ok"})

    def _readyz(self, request: Request, params: dict[str, str]) -> Response:
        checks = {"slack": self.slack.status, "api": self.api_status}
        store = self.probe.check(details=self.token is not None and bearer_ok(request, self.token))
        if store != "ok":
            return json_response(503, {"status": "not ready",
                                       "checks": {"store": store, **checks}})
        return json_response(200, {"status": "ready", "checks": {"store": "ok", **checks}})

    def _metrics(self, request: Request, params: dict[str, str]) -> Response:
        return text_response(200, self.metrics.exposition(), CONTENT_TYPE)
