"""Signed webhooks: JSON POSTs per the Standard Webhooks specification, shaped by a preset.

Every request carries ``webhook-id`` (the alert's dedupe key, the same on every retry),
``webhook-timestamp`` and ``webhook-signature: v1,…`` made with the receiver's ``whsec_`` secret.
An attempt has one total deadline (15 s). Success is 2xx only; a redirect is never followed; 410
disables the receiver, and so do 401 and 403 (from any of its calls) and 404, 301 and 308 from
the configured URL itself (its alerts wait for the fix); 408, 425, 429, 5xx and network errors
are retried (429 and 503 honour ``Retry-After``); any other 4xx is permanent. The address guard
checks the URL when the notifier is built and the resolved address before every attempt.
Secrets never appear in errors.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from bot.config import ConfigError, ReceiverSettings, Settings
from bot.config import secret as read_secret
from bot.netguard import AddressRefused, Resolver, UnresolvedHost, check_url, default_resolve
from bot.netguard import redact_url as _redact
from bot.sources.fetcher import Fetcher, FetchError, FetchResult, retry_after
from notifiers.base import AlertDoc, SendResult, Thread
from notifiers.presets import PRESETS
from notifiers.presets.base import Context, PayloadError, Preset, Request, line
from notifiers.signing import Signer, load_signer, message_id, sign
from notifiers.templates import TemplateProblem, UserTemplate

DEADLINE = 15.0
MAX_REPLY = 64 * 1024
_RETRIED = {408, 425, 429}
# Answers no alert gets past until someone fixes the receiver: the receiver is disabled and its
# alerts wait, rather than each going to the dead letters. Refused credentials (a rotated secret,
# a revoked Jira or ServiceNow token) from any call of the receiver; 404 (a deleted Discord, Slack
# or Teams webhook) from the configured URL itself only: a preset's other calls answering 404 (a
# ticket looked up by URL) are about one alert, dead-lettered.
_CREDENTIALS = frozenset({401, 403})
_REFUSED = {
    401: "the endpoint refuses the signature or credentials: check secret_env or auth_env",
    403: "the endpoint refuses the signature or credentials: check secret_env or auth_env",
    404: "the endpoint is not found: the webhook was deleted or its URL is wrong",
}
_WAITS = "; the receiver is disabled and its alerts wait: fix it, then `firmwatch outbox enable`"


def build(
    receiver: ReceiverSettings,
    settings: Settings,
    environ: Mapping[str, str],
    *,
    deadline: float = DEADLINE,
    resolve: Resolver = default_resolve,
    transport: httpx.BaseTransport | None = None,
    verify: ssl.SSLContext | bool = True,
    wall: Callable[[], datetime] | None = None,
) -> WebhookNotifier:
    """The notifier of one ``type = "webhook"`` receiver; ConfigError names what is missing."""
    index = next((i for i, r in enumerate(settings.receivers) if r.name == receiver.name), None)

    def key(name: str) -> str:
        return f"receivers[{index}].{name}" if index is not None else f"{receiver.name}.{name}"

    if not receiver.secret_env:
        raise ConfigError([f"{key('secret_env')}: a webhook receiver needs secret_env"])
    signer = load_signer(key("secret_env"), receiver.secret_env, environ)
    url = receiver.url or read_secret(key("url_env"), receiver.url_env or "", environ)
    _check_when_configured(key("url_env" if receiver.url_env else "url"), url, settings)
    secrets = {
        name: read_secret(key(f"{name}_env"), env, environ) for name, env in _secrets(receiver)
    }
    preset = _preset(receiver, key("template"))
    fetcher = Fetcher(settings.network, resolve=resolve, transport=transport, verify=verify)
    whsec = list(signer.secrets)
    hidden = [*secrets.values(), *whsec, *(w.removeprefix("whsec_") for w in whsec)]
    hidden += [base64.b64encode(v.encode()).decode() for v in secrets.values()]
    if receiver.url_env:
        hidden += [url, urlsplit(url).path, urlsplit(url).query]
    return WebhookNotifier(
        receiver.name,
        preset,
        Context(receiver.name, url, _options(receiver), secrets),
        signer,
        fetcher,
        deadline=deadline,
        wall=wall or (lambda: datetime.now(UTC)),
        hidden=[h for h in hidden if len(h) >= 6],
        shown_url=_redact(url, keep_path=not receiver.url_env),
    )


def preview(receiver: ReceiverSettings, doc: AlertDoc) -> str:
    """What ``receiver`` would be sent for ``doc``, needing no secret (for dry runs)."""
    url = receiver.url or f"(the URL in ${receiver.url_env})"
    ctx = Context(
        receiver.name, url, _options(receiver), dict.fromkeys(dict(_secrets(receiver)), "")
    )
    return render(_preset(receiver, f"{receiver.name}.template"), ctx.masked(), doc)


def render(preset: Preset, ctx: Context, doc: AlertDoc) -> str:
    """The body ``preset`` makes for ``doc`` as indented JSON, or why it cannot."""
    try:
        return json.dumps(preset.payload(doc, ctx), indent=2, ensure_ascii=False)
    except PayloadError as exc:
        return f"(cannot render the {preset.name} payload: {exc})"


def _options(receiver: ReceiverSettings) -> dict[str, str]:
    names = ("project", "issue_type", "assignment_group", "routing_key_env", "auth_env")
    return {n: str(v) for n in names if (v := getattr(receiver, n)) is not None}


def _secrets(receiver: ReceiverSettings) -> list[tuple[str, str]]:
    """(secret, variable) pairs the preset needs besides the signing secret."""
    pairs = (("routing_key", receiver.routing_key_env), ("auth", receiver.auth_env))
    return [(name, env) for name, env in pairs if env]


def _preset(receiver: ReceiverSettings, settings_key: str) -> Preset:
    if receiver.template:
        return template_preset(settings_key, Path(receiver.template))
    return PRESETS[receiver.preset]


def template_preset(settings_key: str, path: Path) -> Preset:
    """A preset whose body is a user template (the generic preset's place)."""
    try:
        template = UserTemplate(path)
    except TemplateProblem as exc:
        raise ConfigError([f"{settings_key}: {exc}"]) from None

    def payload(doc: AlertDoc, ctx: Context) -> object:
        variables = {"alert": doc, "receiver": ctx.receiver, "message_id": message_id(doc)}
        try:
            return template.render(variables)
        except TemplateProblem as exc:
            raise PayloadError(str(exc)) from None

    return Preset(f"template {path.name}", payload)


class WebhookNotifier:
    """Sends alert documents to one webhook receiver; never raises for the endpoint's faults."""

    concurrency = 16  # thread-safe: the worker may send this many items' alerts at once

    def __init__(
        self,
        name: str,
        preset: Preset,
        ctx: Context,
        signer: Signer,
        fetcher: Fetcher,
        *,
        deadline: float = DEADLINE,
        wall: Callable[[], datetime],
        hidden: list[str],
        shown_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.preset = preset
        self.deadline = deadline
        self.shown_url = shown_url
        self._ctx = ctx
        self._signer = signer
        self._fetcher = fetcher
        self._wall = wall
        self._hidden = sorted(set(hidden), key=len, reverse=True)
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"WebhookNotifier({self.name!r}, preset={self.preset.name!r}, url={self.shown_url!r})"
        )

    def render(self, doc: AlertDoc) -> str:
        """The body that would be sent (secrets shown by variable name), as indented JSON."""
        return self._scrub(render(self.preset, self._ctx.masked(), doc))

    def send(self, doc: AlertDoc, *, thread: Thread | None = None) -> SendResult:
        """One attempt: sign, POST (or the preset's calls) within the deadline, judge the reply."""
        call = partial(self._call, message_id(doc), self._clock() + self.deadline)
        try:
            if self.preset.exchange is not None:
                reply = self.preset.exchange(doc, self._ctx, call)
            else:
                reply = call(Request("POST", self._ctx.url, self.preset.payload(doc, self._ctx)))
        except PayloadError as exc:
            error = f"cannot render the {self.preset.name} payload: {exc}"
            return SendResult(False, error=self._scrub(error), permanent=True)
        except UnresolvedHost as exc:
            return SendResult(False, error=self._scrub(f"{self._where()}: {exc.reason}"))
        except AddressRefused as exc:
            error = f"refused {self._where()}: {exc.reason}"
            return SendResult(False, error=self._scrub(error), permanent=True)
        except FetchError as exc:
            return SendResult(False, exc.status, self._scrub(f"{self._where()}: {exc}"))
        return self._judge(reply)

    def close(self) -> None:
        """Close the pooled connections."""
        self._fetcher.close()

    def _call(self, msg_id: str, deadline_at: float, request: Request) -> FetchResult:
        body = None
        headers = {"Accept": "application/json", **self.preset.headers(self._ctx)}
        if request.body is not None:
            body = json.dumps(request.body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
            headers.update(sign(self._signer, msg_id, body, self._wall()))
        headers.update(request.headers)
        remaining = deadline_at - self._clock()
        if remaining <= 0:
            raise FetchError(f"timed out after {self.deadline:g} s", timed_out=True)
        try:
            return self._fetcher.request(
                request.method,
                request.url,
                content=body,
                headers=headers,
                timeout=remaining,
                max_body=MAX_REPLY,
            )
        except FetchError as exc:
            if exc.timed_out:  # the fetcher was given what was left: say the deadline
                raise FetchError(f"timed out after {self.deadline:g} s", timed_out=True) from None
            raise

    def _judge(self, reply: FetchResult) -> SendResult:
        status = reply.status
        if 200 <= status < 300:
            return SendResult(True, status)
        said = line(self._scrub(reply.body.decode("utf-8", "replace")), 300)
        error = self._scrub(f"{self._where()}: HTTP {status}" + (f": {said}" if said else ""))
        if 300 <= status < 400:
            location = reply.headers.get("location", "")
            target = _redact(urljoin(self._ctx.url, location), keep_path=False) if location else ""
            error = self._scrub(
                f"{self._where()}: HTTP {status} redirect{' to ' + target if target else ''}"
                " not followed; configure the final URL"
            )
            if status in (301, 308) and reply.url == self._ctx.url:
                return SendResult(False, status, error + _WAITS, permanent=True, disable=True)
            return SendResult(False, status, error, permanent=status in (301, 308))
        if status == 410:
            error += " (the endpoint is gone: the receiver is disabled)"
            return SendResult(False, status, error, permanent=True, disable=True)
        if status in _REFUSED and (status in _CREDENTIALS or reply.url == self._ctx.url):
            error += f" ({_REFUSED[status]}){_WAITS}"
            return SendResult(False, status, error, permanent=True, disable=True)
        after = retry_after(reply.headers.get("retry-after"), self._wall())
        if status in _RETRIED or status >= 500:
            return SendResult(False, status, error, after if status in (429, 503) else None)
        return SendResult(False, status, error, permanent=400 <= status < 500)

    def _where(self) -> str:
        return f"webhook {self.name!r} ({self.shown_url})"

    def _scrub(self, text: str) -> str:
        for value in self._hidden:
            text = text.replace(value, "***")
        return text


def _check_when_configured(settings_key: str, url: str, settings: Settings) -> None:
    """The guard's rules that need no DNS (scheme, literal addresses, allow-list) at build time."""

    def later(host: str, port: int) -> list[str]:
        raise OSError("names are resolved and judged before every attempt")

    try:
        check_url(url, settings.network.allow_hosts, later)
    except UnresolvedHost:
        pass
    except AddressRefused as exc:
        raise ConfigError(
            [f"{settings_key}: {exc.reason} (got {_redact(url, keep_path=False)})"]
        ) from None
