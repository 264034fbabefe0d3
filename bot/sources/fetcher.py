"""The one HTTP client of the bot: address guard, timeouts, total deadline, size cap, user agent.

Every request goes to the address :mod:`bot.netguard` checked (the URL host is rewritten to it; the
Host header and TLS SNI keep the name), redirects are followed by hand and re-checked, bodies are
streamed and decoded here so that the deadline and the size cap hold for every byte.
"""

from __future__ import annotations

import mimetypes
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

import bot
from bot.config import NetworkSettings
from bot.netguard import (
    AddressRefused,
    CachingResolver,
    Resolver,
    Target,
    check_url,
    default_resolve,
    redact_url,
)
from bot.sources.paging import local_path

MAX_REDIRECTS = 3
DNS_TTL = 2.0  # seconds a DNS answer is reused (every attempt still judges the addresses)
CONNECT_TIMEOUT = 10.0
_REDIRECTS = {301, 302, 303, 307, 308}
_GZIP_MAGIC = b"\x1f\x8b\x08"  # a gzip member (deflate): no text format starts so
MAX_RETRY_AFTER = 24 * 3600.0  # seconds: a longer Retry-After is taken as a day


class FetchError(Exception):
    """A fetch that failed; the message says what happened in plain words (no query strings)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        timed_out: bool = False,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out  # the time allowed ran out
        self.retry_after = retry_after  # the answer's Retry-After header, as sent


@dataclass
class FetchResult:
    """A fetched body (decoded), its final URL, status and headers (lower-case keys)."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    not_modified: bool


class Fetcher:
    """The bot's HTTP client: build one from ``[network]`` settings, share it, close it."""

    def __init__(
        self,
        network: NetworkSettings,
        *,
        user_agent: str | None = None,
        resolve: Resolver = default_resolve,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.monotonic,
        dns_ttl: float | None = None,
    ) -> None:
        """``dns_ttl`` (capped at CachingResolver.MAX_TTL) defaults to DNS_TTL for the system
        resolver and to 0 (ask every time) for an injected one."""
        self.allow_hosts = tuple(network.allow_hosts)
        self.total = network.timeout.total_seconds()
        self.max_bytes = int(network.max_body_mib * 1024 * 1024)
        self._cap_words = _size_words(network.max_body_mib)
        ttl = (DNS_TTL if resolve is default_resolve else 0.0) if dns_ttl is None else dns_ttl
        self._resolve: Resolver = CachingResolver(resolve, ttl, clock) if ttl > 0 else resolve
        self._clock = clock
        self._transport = transport or _PerNameTransport(verify=verify)
        self._client = httpx.Client(
            headers={
                "User-Agent": user_agent or f"firmwatch/{bot.__version__}",
                "Accept-Encoding": "gzip",
            },
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: we connect to the checked address
            transport=self._transport,
        )
        self._plain_headers = httpx.Headers(self._client.headers)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def check(self, url: str, *, allow_file: bool = False) -> Target:
        """Run the address guard with this client's allow-list and resolver."""
        return check_url(url, self.allow_hosts, self._resolve, allow_file=allow_file)

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET ``url`` (or read a file:// URL), conditionally when validators are given."""
        try:
            target = self.check(url, allow_file=True)
        except AddressRefused as exc:
            raise FetchError(str(exc)) from None
        if target.scheme == "file":
            return self._read_file(url, etag)
        sent = {"Accept": accept or "*/*", **(headers or {})}
        if etag:
            sent["If-None-Match"] = etag
        if last_modified:
            sent["If-Modified-Since"] = last_modified
        deadline = self._clock() + self.total
        for hop in range(MAX_REDIRECTS + 1):
            with self._open("GET", target, sent, deadline) as response:
                status = response.status_code
                if status not in _REDIRECTS:
                    return self._result(target, response, deadline, etag, last_modified)
                target, sent = self._redirect(target, response, sent, hop)
        raise AssertionError("unreachable")  # pragma: no cover

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_body: int = 64 * 1024,
    ) -> FetchResult:
        """Send one request (a webhook POST) and return the reply whatever its status.

        A redirect is returned, never followed. At most ``max_body`` bytes of the body are read
        (the rest is dropped), and only while the deadline lasts. The guard refusing the URL raises
        AddressRefused; network errors and the deadline before the status raise FetchError.
        """
        target = self.check(url)
        total = self.total if timeout is None else timeout
        deadline = self._clock() + total
        sent = {"Accept-Encoding": "identity", **(headers or {})}
        with self._open(method, target, sent, deadline, content, total, plain=True) as response:
            head = {k.lower(): v for k, v in response.headers.items()}
            body = self._read_some(response, head, deadline, max_body)
            return FetchResult(url, response.status_code, body, head, head.get("etag"), None, False)

    def _read_some(
        self, response: httpx.Response, headers: dict[str, str], deadline: float, cap: int
    ) -> bytes:
        """Up to ``cap`` bytes of the body, best effort: what arrived before the deadline."""
        body = bytearray()
        try:
            decoder = _Decoder(headers.get("content-encoding", ""), cap)
            for raw in response.iter_raw():
                body += decoder.feed(raw)
                if len(body) >= cap or self._clock() > deadline:
                    break
        except (FetchError, httpx.HTTPError):
            pass  # the status decides; a broken or odd body only shortens the message
        return bytes(body[:cap])

    def _redirect(
        self, target: Target, response: httpx.Response, sent: dict[str, str], hop: int
    ) -> tuple[Target, dict[str, str]]:
        location = response.headers.get("location")
        if not location:
            raise FetchError(
                f"HTTP {response.status_code} without a Location header", response.status_code
            )
        if hop == MAX_REDIRECTS:
            raise FetchError(f"too many redirects ({MAX_REDIRECTS})", response.status_code)
        next_url = urljoin(target.url, location.strip())
        try:
            following = self.check(next_url)
        except AddressRefused as exc:
            raise FetchError(f"refused redirect to {exc.shown_url}: {exc.reason}") from None
        if (following.scheme, following.host, following.port) != (
            target.scheme,
            target.host,
            target.port,
        ):  # another origin gets no caller headers (API keys) and no validators
            sent = {"Accept": sent.get("Accept", "*/*")}
        return following, sent

    def _open(
        self,
        method: str,
        target: Target,
        headers: Mapping[str, str],
        deadline: float,
        content: bytes | None = None,
        total: float | None = None,
        *,
        plain: bool = False,
    ) -> _Stream:
        """``plain``: a request of its own (a webhook POST), sent straight to the transport —
        no client cookie jar, auth or redirect machinery, which such a request never uses."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise self._timed_out(total)
        pinned, host = _pinned(target.scheme, target.address, target.port, target.host, target.url)
        timeout = httpx.Timeout(remaining, connect=min(CONNECT_TIMEOUT, remaining))
        extensions: dict[str, Any] = {}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        if plain:
            sent = self._plain_headers.copy()
            sent.update(headers)
            sent["Host"] = host
            extensions["timeout"] = timeout.as_dict()
            request = httpx.Request(
                method, pinned, content=content, headers=sent, extensions=extensions
            )
            return _Stream(self, request, target, total, plain=True)
        request = self._client.build_request(
            method,
            pinned,
            content=content,
            headers={**headers, "Host": host},
            extensions=extensions,
            timeout=timeout,
        )
        return _Stream(self, request, target, total)

    def _result(
        self,
        target: Target,
        response: httpx.Response,
        deadline: float,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        status = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        if status >= 400:
            asked = headers.get("retry-after")
            wait = _asked_to_wait(asked or "")
            raise FetchError(
                f"HTTP {status} {response.reason_phrase}".rstrip() + wait, status, retry_after=asked
            )
        not_modified = status == 304
        body = b"" if not_modified else self._gunzipped(
            self._read_body(response, headers, deadline)
        )
        return FetchResult(
            url=target.url,
            status=status,
            body=body,
            headers=headers,
            etag=headers.get("etag") or (etag if not_modified else None),
            last_modified=headers.get("last-modified") or (last_modified if not_modified else None),
            not_modified=not_modified,
        )

    def _read_body(
        self, response: httpx.Response, headers: dict[str, str], deadline: float
    ) -> bytes:
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise self._too_large()
        decoder = _Decoder(headers.get("content-encoding", ""), self.max_bytes)
        body = bytearray()
        for raw in response.iter_raw():  # each piece as it arrives
            if self._clock() > deadline:
                raise self._timed_out()
            body += decoder.feed(raw)
            if len(body) > self.max_bytes:
                raise self._too_large()
        body += decoder.flush()
        if self._clock() > deadline:
            raise self._timed_out()
        if len(body) > self.max_bytes:
            raise self._too_large()
        return bytes(body)

    def _read_file(self, url: str, etag: str | None) -> FetchResult:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"file:// URLs must name a local path (got host {parts.netloc!r})")
        path = Path(local_path(url))  # decoded once, as on_site confined it
        try:
            stat = path.stat()
            if stat.st_size > self.max_bytes:
                raise self._too_large()
            tag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            headers = {"etag": tag, "last-modified": formatdate(stat.st_mtime, usegmt=True)}
            kind = mimetypes.guess_type(path.name)[0]
            if kind:
                headers["content-type"] = kind
            if etag == tag:
                return FetchResult(url, 304, b"", headers, tag, headers["last-modified"], True)
            with path.open("rb") as fh:
                body = fh.read(self.max_bytes + 1)
        except FileNotFoundError:
            raise FetchError(f"file not found: {path}") from None
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
        if len(body) > self.max_bytes:
            raise self._too_large()
        body = self._gunzipped(body)
        headers["content-length"] = str(len(body))
        return FetchResult(url, 200, body, headers, tag, headers["last-modified"], False)

    def _gunzipped(self, body: bytes) -> bytes:
        """A body still gzip'd after its Content-Encoding was undone (a file served gzip'd under
        another type, or gzip'd twice by a CDN), inflated within the size cap; else ``body``."""
        if not body.startswith(_GZIP_MAGIC):
            return body
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflate.decompress(body, self.max_bytes + 1)
        except zlib.error:
            return body  # not gzip after all: the parser says what the body is not
        if len(out) > self.max_bytes or inflate.unconsumed_tail:
            raise self._too_large()
        if not inflate.eof:
            raise FetchError("the gzip'd body is cut off (it ends before its gzip stream does)")
        return out

    def _timed_out(self, total: float | None = None) -> FetchError:
        seconds = _seconds(self.total if total is None else total)
        return FetchError(f"timed out after {seconds} s", timed_out=True)

    def _too_large(self) -> FetchError:
        return FetchError(f"body larger than {self._cap_words}")


class _Stream:
    """Send a request and stream its response, turning transport errors into FetchError."""

    def __init__(
        self,
        fetcher: Fetcher,
        request: httpx.Request,
        target: Target,
        total: float | None,
        *,
        plain: bool = False,
    ) -> None:
        self._plain = plain
        self._fetcher = fetcher
        self._request = request
        self._target = target
        self._total = total
        self._response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        try:
            if self._plain:
                self._response = self._fetcher._transport.handle_request(self._request)
                self._response.request = self._request
            else:
                self._response = self._fetcher._client.send(self._request, stream=True)
        except httpx.HTTPError as exc:
            raise self._explain(exc) from None
        return self._response

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            self._response.close()
        if isinstance(exc, httpx.HTTPError):
            raise self._explain(exc) from None

    def _explain(self, exc: httpx.HTTPError) -> FetchError:
        host = self._target.host
        where = f"[{host}]:{self._target.port}" if ":" in host else f"{host}:{self._target.port}"
        if isinstance(exc, httpx.ConnectTimeout):
            timeout = self._request.extensions.get("timeout", {}).get("connect")
            return FetchError(f"could not connect to {where} within {_seconds(timeout)} s")
        if isinstance(exc, httpx.TimeoutException):
            return self._fetcher._timed_out(self._total)
        if isinstance(exc, httpx.ConnectError):
            return FetchError(f"could not connect to {where}: {exc}")
        if isinstance(exc, httpx.RemoteProtocolError):
            return FetchError(f"the server at {where} broke the HTTP protocol: {exc}")
        return FetchError(f"network error talking to {where}: {exc}")


class _Decoder:
    """Undo gzip/deflate content-encoding without ever inflating more than the cap allows."""

    def __init__(self, encoding: str, cap: int) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise FetchError(f"unsupported Content-Encoding {encoding!r}")
        self._inflate = None if encoding in ("", "identity") else zlib.decompressobj(32 + 15)
        self._room = cap + 1
        self._encoding = encoding

    def feed(self, data: bytes) -> bytes:
        if self._inflate is None:
            return data
        try:
            out = self._inflate.decompress(data, self._room)
        except zlib.error as exc:
            raise FetchError(f"cannot decode the {self._encoding} body: {exc}") from None
        self._room = max(self._room - len(out), 1)  # a full ``room`` means over the cap
        return out

    def flush(self) -> bytes:
        return self._inflate.flush() if self._inflate is not None else b""


class _PerNameTransport(httpx.BaseTransport):
    """One connection pool per TLS server name, so a connection verified for one name is
    never reused for another name served from the same address."""

    def __init__(self, **options: Any) -> None:
        if options.get("verify", True) is True:  # the default trust store, loaded once
            options["verify"] = _default_tls()
        self._options = options
        self._pools: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        name = str(request.extensions.get("sni_hostname", ""))
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                pool = self._pools[name] = httpx.HTTPTransport(**self._options)
        return pool.handle_request(request)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


@lru_cache(maxsize=1)
def _default_tls() -> ssl.SSLContext:
    """The verifying TLS context (certifi's roots) shared by every pool: loading the roots costs
    about 20 ms, and a delivery pass builds its notifiers, so their pools, afresh."""
    return httpx.create_ssl_context()


@lru_cache(maxsize=256)
def _pinned(scheme: str, address: str, port: int, host: str, url: str) -> tuple[httpx.URL, str]:
    """The URL to request (the checked address, the path and query of ``url``) and the Host."""
    connect_to = f"[{address}]" if ":" in address else address
    parts = urlsplit(url.strip())
    query = f"?{parts.query}" if parts.query else ""
    try:  # only the path and query come from the URL; where to connect comes from the guard
        pinned = httpx.URL(f"{scheme}://{connect_to}:{port}{parts.path or '/'}{query}")
    except httpx.InvalidURL:
        raise FetchError(
            f"cannot request {redact_url(url)}: the URL is not valid for HTTP"
        ) from None
    default_port = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    return pinned, name if port == default_port else f"{name}:{port}"


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date) at ``now``, at
    most MAX_RETRY_AFTER; None when there is none or it cannot be read."""
    asked = _retry_after(value or "")
    if asked is None:
        return None
    seconds = float(asked) if isinstance(asked, int) else (asked - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _asked_to_wait(value: str) -> str:
    """A ``Retry-After`` (seconds or an HTTP date) in words for the error, else nothing."""
    asked = _retry_after(value)
    if asked is None:
        return ""
    if isinstance(asked, int):
        if asked > 999_999_999:
            return ""  # not a wait anybody means
        return f" (the server asks to wait {asked} s before asking again)"
    moment = asked.isoformat(timespec="seconds")
    return f" (the server asks to wait until {moment} before asking again)"


def _retry_after(value: str) -> int | datetime | None:
    """A ``Retry-After`` as seconds or as an aware UTC time; None when it cannot be read."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        until = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (until if until.tzinfo else until.replace(tzinfo=UTC)).astimezone(UTC)


def _seconds(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float | int) else "?"


def _size_words(mib: float) -> str:
    return f"{mib:.1f} MiB" if mib >= 0.1 else f"{mib * 1024:.0f} KiB"
