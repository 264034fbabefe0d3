"""Tests for bot.sources.fetcher against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

import bot
from bot.config import NetworkSettings
from bot.netguard import AddressRefused
from bot.sources.fetcher import Fetcher, FetchError
from tests.httpserver import LocalServer, Route, gzip_bomb

MIB = 1024 * 1024


class Recording(httpx.BaseTransport):
    """A real transport that remembers every request it was asked to send."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _network(
    timeout: float = 1.0, cap_mib: float = 1.0, allow: list[str] | None = None
) -> NetworkSettings:
    return NetworkSettings(
        allow_hosts=["127.0.0.1"] if allow is None else allow,
        timeout=timedelta(seconds=timeout),
        max_body_mib=cap_mib,
    )


def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"a test asked DNS about {host!r}")


@pytest.fixture
def recording() -> Recording:
    return Recording()


@pytest.fixture
def fetcher(recording: Recording) -> Iterator[Fetcher]:
    with Fetcher(_network(), resolve=_no_dns, transport=recording) as f:
        yield f


def test_ok_with_user_agent_host_and_lowercase_headers(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    url = http_server.route("/feed.xml", Route(body=b"<rss/>", headers={"X-Thing": "1"}))
    result = fetcher.fetch(url + "?page=1", accept="application/rss+xml")
    assert (result.status, result.body, result.not_modified) == (200, b"<rss/>", False)
    assert result.headers["x-thing"] == "1"
    assert result.url == url + "?page=1"
    seen = http_server.requests_to("/feed.xml")[0]
    assert seen.headers["user-agent"] == f"firmwatch/{bot.__version__}"
    assert seen.headers["host"] == f"127.0.0.1:{http_server.port}"
    assert seen.headers["accept"] == "application/rss+xml"
    assert seen.headers["accept-encoding"] == "gzip"
    assert seen.path == "/feed.xml?page=1"


def test_etag_round_trip_gives_not_modified(http_server: LocalServer, fetcher: Fetcher) -> None:
    url = http_server.route("/f", Route(body=b"feed", etag='"v1"'))
    first = fetcher.fetch(url)
    assert first.etag == '"v1"'
    again = fetcher.fetch(url, etag=first.etag)
    assert (again.status, again.body, again.not_modified, again.etag) == (304, b"", True, '"v1"')
    assert http_server.requests_to("/f")[1].headers["if-none-match"] == '"v1"'


def test_last_modified_round_trip(http_server: LocalServer, fetcher: Fetcher) -> None:
    stamp = "Wed, 01 Jan 2025 10:00:00 GMT"
    url = http_server.route("/f", Route(body=b"feed", last_modified=stamp))
    first = fetcher.fetch(url)
    again = fetcher.fetch(url, last_modified=first.last_modified)
    assert again.not_modified and again.last_modified == stamp


def test_304_without_validators_keeps_the_ones_sent(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    url = http_server.route("/f", Route(status=304))
    result = fetcher.fetch(url, etag='"a"', last_modified="Wed, 01 Jan 2025 10:00:00 GMT")
    assert result.not_modified and result.etag == '"a"'
    assert result.last_modified == "Wed, 01 Jan 2025 10:00:00 GMT"


@pytest.mark.parametrize(
    ("status", "retry_after", "words"),
    [
        (429, "3600", "HTTP 429 Too Many Requests (the server asks to wait 3600 s before asking"
         " again)"),
        (503, "Wed, 02 Dec 2026 10:00:00 GMT", "HTTP 503 Service Unavailable (the server asks to"
         " wait until 2026-12-02T10:00:00+00:00 before asking again)"),
        (403, "soon\x1b[31m", "HTTP 403 Forbidden"),  # nothing unreadable is repeated
    ],
)  # fmt: skip
def test_an_error_says_how_long_the_server_asks_to_wait(
    http_server: LocalServer, fetcher: Fetcher, status: int, retry_after: str, words: str
) -> None:
    url = http_server.route("/busy", Route(status, b"slow down", {"Retry-After": retry_after}))
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert (str(caught.value), caught.value.status) == (words, status)


@pytest.mark.parametrize(
    ("status", "words"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")]
)
def test_error_status(http_server: LocalServer, fetcher: Fetcher, status: int, words: str) -> None:
    url = http_server.route("/f", Route(status=status, body=b"<html>oops</html>"))
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert (str(caught.value), caught.value.status) == (words, status)


def test_slow_first_byte_times_out(http_server: LocalServer, fetcher: Fetcher) -> None:
    url = http_server.route("/slow", Route(body=b"late", delay=10))
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 1 s$"):
        fetcher.fetch(url)
    assert time.monotonic() - start < 2.5


def test_drip_one_byte_a_second_fails_at_the_deadline(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    url = http_server.route("/drip", Route(body=b"x" * 30, drip=1.0))
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 1 s$"):
        fetcher.fetch(url)
    assert time.monotonic() - start < 2.5


def test_fast_drip_is_stopped_by_the_total_deadline_not_the_read_timeout(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    url = http_server.route("/drip", Route(body=b"x" * 100, drip=0.05))  # 5 s in all
    start = time.monotonic()
    with pytest.raises(FetchError, match="timed out after 1 s"):
        fetcher.fetch(url)
    assert 0.9 < time.monotonic() - start < 1.6


def test_content_length_over_the_cap_is_refused_before_reading(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    huge = {"Content-Length": str(50 * MIB)}  # the body never comes: reading would time out
    url = http_server.route("/big", Route(body=b"x", headers=huge))
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"^body larger than 1\.0 MiB$"):
        fetcher.fetch(url)
    assert time.monotonic() - start < 0.5


def test_chunked_body_over_the_cap(http_server: LocalServer, fetcher: Fetcher) -> None:
    url = http_server.route("/big", Route(body=b"x" * (MIB + 1), chunked=True))
    with pytest.raises(FetchError, match=r"body larger than 1\.0 MiB"):
        fetcher.fetch(url)


def test_body_exactly_at_the_cap_is_fine(http_server: LocalServer, fetcher: Fetcher) -> None:
    url = http_server.route("/edge", Route(body=b"x" * MIB, chunked=True))
    assert len(fetcher.fetch(url).body) == MIB


def test_gzip_is_decoded(http_server: LocalServer, fetcher: Fetcher) -> None:
    body = b"<rss>" + b"entry " * 1000 + b"</rss>"
    url = http_server.route("/gz", Route(body=body, gzip=True))
    assert fetcher.fetch(url).body == body


def test_gzip_bomb_is_cut_at_the_cap(http_server: LocalServer, fetcher: Fetcher) -> None:
    bomb = gzip_bomb(64 * MIB)
    assert len(bomb) < MIB // 8
    url = http_server.route("/bomb", Route(body=bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError, match=r"body larger than 1\.0 MiB"):
        fetcher.fetch(url)


def test_decoded_size_counts_not_compressed_size(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    packed = gzip.compress(b"a" * (2 * MIB))
    url = http_server.route("/gz", Route(body=packed, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError, match="body larger than"):
        fetcher.fetch(url)


def test_a_body_gzip_d_without_saying_so_or_twice_is_inflated_within_the_cap(
    http_server: LocalServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    body = b'{"vulnerabilities": []}' + b" " * 5000
    packed = gzip.compress(body)
    octets = {"Content-Type": "application/octet-stream"}  # a .json.gz served as it is stored
    undeclared = http_server.route("/kev.json", Route(body=packed, headers=octets))
    assert fetcher.fetch(undeclared).body == body
    twice = http_server.route("/twice", Route(body=packed, gzip=True))  # a CDN gzips it again
    assert fetcher.fetch(twice).body == body
    (tmp_path / "index.json").write_bytes(packed)
    assert fetcher.fetch((tmp_path / "index.json").as_uri()).body == body
    bomb = http_server.route("/bomb", Route(body=gzip_bomb(64 * MIB), headers=octets))
    with pytest.raises(FetchError, match=r"body larger than 1\.0 MiB"):
        fetcher.fetch(bomb)
    cut = http_server.route("/cut", Route(body=packed[: len(packed) // 2], headers=octets))
    with pytest.raises(FetchError, match="gzip'd body is cut off"):
        fetcher.fetch(cut)
    junk = b"\x1f\x8b\x08 not really gzip"
    assert fetcher.fetch(http_server.route("/junk", Route(body=junk))).body == junk


def test_broken_gzip_and_unknown_encoding(http_server: LocalServer, fetcher: Fetcher) -> None:
    bad = http_server.route("/bad", Route(body=b"not gzip", headers={"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError, match="cannot decode the gzip body"):
        fetcher.fetch(bad)
    br = http_server.route("/br", Route(body=b"x", headers={"Content-Encoding": "br"}))
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        fetcher.fetch(br)


def test_small_caps_are_named_in_kib(http_server: LocalServer) -> None:
    url = http_server.route("/f", Route(body=b"x" * 20_000))
    with (
        Fetcher(_network(cap_mib=0.01)) as small,
        pytest.raises(FetchError, match=r"^body larger than 10 KiB$"),
    ):
        small.fetch(url)


def test_non_utf8_body_is_returned_as_bytes(http_server: LocalServer, fetcher: Fetcher) -> None:
    body = "Überwachungskamera".encode("latin-1") + b"\xff\xfe\x00"
    url = http_server.route("/latin", Route(body=body, headers={"Content-Type": "text/xml"}))
    assert fetcher.fetch(url).body == body


def test_redirects_are_followed_and_rechecked(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.route("/a", Route(status=301, redirect="/b"))
    http_server.route("/b", Route(status=307, redirect=http_server.url("/c")))
    http_server.route("/c", Route(body=b"done"))
    result = fetcher.fetch(http_server.url("/a"))
    assert (result.body, result.url) == (b"done", http_server.url("/c"))


def test_redirect_loop_stops_after_three(http_server: LocalServer, fetcher: Fetcher) -> None:
    url = http_server.route("/loop", Route(redirect="/loop"))
    with pytest.raises(FetchError, match=r"^too many redirects \(3\)$") as caught:
        fetcher.fetch(url)
    assert caught.value.status == 302
    assert len(http_server.requests_to("/loop")) == 4


def test_redirect_without_location(http_server: LocalServer, fetcher: Fetcher) -> None:
    url = http_server.route("/r", Route(status=302))
    with pytest.raises(FetchError, match="without a Location header"):
        fetcher.fetch(url)


@pytest.mark.parametrize(
    ("location", "words"),
    [
        (
            "http://10.255.255.1/feed?token=s3cr3t",
            "refused redirect to http://10.255.255.1/feed: "
            "10.255.255.1 is a private address; add it to [network] allow_hosts",
        ),
        (
            "http://169.254.169.254/latest/meta-data",
            "169.254.169.254 is the cloud metadata address",
        ),
        ("http://[::ffff:169.254.169.254]/", "IPv4-mapped IPv6 address of 169.254.169.254"),
        ("http://167772165/", "167772165 means 10.0.0.5, a private address"),
        ("https://internal.example/", "internal.example resolves to 10.0.0.7, a private address"),
        ("file:///etc/passwd", "file:// URLs are only read for configured sources"),
        ("gopher://example.com/", "gopher:// scheme is not supported"),
        ("https://user:pw@example.com/", "credentials in URLs are not allowed"),
    ],
)
def test_redirect_to_a_refused_address_never_connects(
    http_server: LocalServer, recording: Recording, location: str, words: str
) -> None:
    def resolve(host: str, port: int) -> list[str]:
        assert host == "internal.example"
        return ["10.0.0.7"]

    url = http_server.route("/r", Route(redirect=location))
    with (
        Fetcher(_network(), resolve=resolve, transport=recording) as guarded,
        pytest.raises(FetchError) as caught,
    ):
        guarded.fetch(url)
    assert words in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert [r.url.host for r in recording.sent] == ["127.0.0.1"]


def test_refused_url_never_connects(recording: Recording, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match=r"refused http://10\.0\.0\.1/: 10\.0\.0\.1 is a private"):
        fetcher.fetch("http://10.0.0.1/?key=s3cr3t")
    assert recording.sent == []


def test_loopback_is_refused_without_allow_hosts(
    http_server: LocalServer, recording: Recording
) -> None:
    url = http_server.route("/f", Route(body=b"x"))
    with (
        Fetcher(_network(allow=[]), transport=recording) as strict,
        pytest.raises(FetchError, match=r"127\.0\.0\.1 is a loopback address"),
    ):
        strict.fetch(url)
    assert recording.sent == []


def test_connects_to_the_checked_address_with_the_name_in_host(
    http_server: LocalServer, recording: Recording
) -> None:
    http_server.route("/f", Route(body=b"named"))
    url = http_server.url("/f", host="feeds.internal")
    with Fetcher(
        _network(allow=["feeds.internal"]), resolve=lambda h, p: ["127.0.0.1"], transport=recording
    ) as named:
        assert named.fetch(url).body == b"named"
    assert recording.sent[0].url.host == "127.0.0.1"
    assert http_server.requests[0].headers["host"] == f"feeds.internal:{http_server.port}"


def test_cross_origin_redirect_drops_caller_headers(
    http_server: LocalServer, fetcher: Fetcher
) -> None:
    with LocalServer() as other:
        other.route("/landing", Route(body=b"moved"))
        url = http_server.route("/r", Route(redirect=other.url("/landing")))
        assert fetcher.fetch(url, headers={"apiKey": "k-123"}, etag='"e"').body == b"moved"
        arrived = other.requests[0].headers
    assert http_server.requests[0].headers["apikey"] == "k-123"
    assert "apikey" not in arrived and "if-none-match" not in arrived


def test_connection_refused_is_a_clear_error(fetcher: Fetcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match=f"could not connect to 127.0.0.1:{port}"):
        fetcher.fetch(f"http://127.0.0.1:{port}/")


def test_url_that_http_cannot_carry_is_a_fetch_error(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="not valid for HTTP") as caught:
        fetcher.fetch("http://127.0.0.1:1/a\x01b?token=s3cr3t")
    assert "s3cr3t" not in str(caught.value)


def test_file_url_conditional_and_capped(tmp_path: Path, fetcher: Fetcher) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss>one</rss>")
    first = fetcher.fetch(feed.as_uri())
    assert (first.status, first.body, first.headers["content-type"]) == (
        200,
        b"<rss>one</rss>",
        "application/xml",
    )
    assert fetcher.fetch(feed.as_uri(), etag=first.etag).not_modified
    feed.write_bytes(b"<rss>two!</rss>")
    os.utime(feed, ns=(1, 1_000_000_000))
    changed = fetcher.fetch(feed.as_uri(), etag=first.etag)
    assert (changed.not_modified, changed.body) == (False, b"<rss>two!</rss>")
    feed.write_bytes(b"x" * (MIB + 1))
    with pytest.raises(FetchError, match=r"body larger than 1\.0 MiB"):
        fetcher.fetch(feed.as_uri())
    with pytest.raises(FetchError, match="file not found"):
        fetcher.fetch((tmp_path / "missing.xml").as_uri())
    with pytest.raises(FetchError, match="must name a local path"):
        fetcher.fetch("file://server/share/feed.xml")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=feeds.test",
            "-addext",
            "subjectAltName=DNS:feeds.test",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize(("name", "works"), [("feeds.test", True), ("other.test", False)])
def test_https_pins_the_address_and_verifies_the_name(
    certificate: tuple[Path, Path], name: str, works: bool
) -> None:
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    trust = ssl.create_default_context(cafile=str(cert))
    with (
        LocalServer(tls=server_side) as tls_server,
        Fetcher(_network(), resolve=lambda h, p: ["127.0.0.1"], verify=trust) as secure,
    ):
        tls_server.route("/f", Route(body=b"secret feed"))
        url = tls_server.url("/f", host=name)
        if works:
            assert secure.fetch(url).body == b"secret feed"
            assert tls_server.requests[0].headers["host"] == f"feeds.test:{tls_server.port}"
        else:
            with pytest.raises(FetchError, match=r"could not connect to other\.test"):
                secure.fetch(url)


def test_post_reuses_a_dns_answer_for_the_ttl_then_refuses_a_private_one(
    http_server: LocalServer, recording: Recording
) -> None:
    http_server.route("/hook", Route(status=204))
    answers = {"hooks.example": ["127.0.0.1"]}
    asked: list[str] = []
    now = [50.0]

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(answers[host])

    url = http_server.url("/hook", host="hooks.example")
    with Fetcher(
        _network(allow=["127.0.0.1/32"]), resolve=resolve, transport=recording,
        clock=lambda: now[0], dns_ttl=2.0,
    ) as f:
        assert f.request("POST", url, content=b"{}").status == 204
        answers["hooks.example"] = ["10.0.0.9"]  # DNS now points inside
        assert f.request("POST", url, content=b"{}").status == 204  # the checked answer, reused
        assert asked == ["hooks.example"]
        now[0] += 2.0
        with pytest.raises(AddressRefused, match=r"resolves to 10\.0\.0\.9, a private address"):
            f.request("POST", url, content=b"{}")
    assert asked == ["hooks.example"] * 2
    assert [r.url.host for r in recording.sent] == ["127.0.0.1", "127.0.0.1"]
    assert {r.headers["host"] for r in recording.sent} == {f"hooks.example:{http_server.port}"}


def test_an_injected_resolver_is_asked_on_every_attempt_unless_told_otherwise(
    http_server: LocalServer, recording: Recording
) -> None:
    http_server.route("/hook", Route(status=204))
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    url = http_server.url("/hook", host="hooks.example")
    with Fetcher(_network(allow=["127.0.0.1"]), resolve=resolve, transport=recording) as f:
        for _ in range(3):
            assert f.request("POST", url, content=b"{}").status == 204
    assert asked == ["hooks.example"] * 3
    sent = recording.sent[0]
    assert sent.headers["user-agent"] == f"firmwatch/{bot.__version__}"
    assert sent.headers["accept-encoding"] == "identity" and sent.content == b"{}"


def test_a_file_named_with_a_percent_escape_is_read(tmp_path: Path, fetcher: Fetcher) -> None:
    """Path.as_uri() writes % as %25; the path was decoded twice (100%41 read as 100A)."""
    page = tmp_path / "100%41.xml"
    page.write_bytes(b"<rss/>")
    assert fetcher.fetch(page.as_uri()).body == b"<rss/>"
