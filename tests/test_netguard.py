"""Tests for bot.netguard, driven by tests/data/netguard.toml, plus hypothesis properties."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.netguard import AddressRefused, CachingResolver, UnresolvedHost, check_url, redact_url
from tests.conftest import case_id, load_cases

CASES = load_cases("netguard.toml")


def _resolver(case: dict[str, Any]) -> Any:
    def resolve(host: str, port: int) -> list[str]:
        if case.get("resolve_error"):
            raise OSError(-2, "Name or service not known")
        assert "resolved" in case, f"the resolver was asked about {host!r}"
        return list(case["resolved"])

    return resolve


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_guard_table(case: dict[str, Any]) -> None:
    allow = case.get("allow_hosts", [])
    resolve = _resolver(case)
    if "refused" in case:
        with pytest.raises(AddressRefused) as caught:
            check_url(case["url"], allow, resolve, allow_file=case.get("allow_file", False))
        message = str(caught.value)
        for words in case["refused"]:
            assert words in message
        assert message.startswith("refused ")
        for hidden in [*case.get("hidden", []), "s3cr3t", "token=", "?"]:
            assert hidden not in message
    else:
        target = check_url(case["url"], allow, resolve, allow_file=case.get("allow_file", False))
        assert target.address == case["address"]
        assert target.url == case["url"]


def test_every_case_is_named_once() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))


def test_unresolvable_is_a_refusal_subclass() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError(-3, "Temporary failure in name resolution")

    with pytest.raises(UnresolvedHost, match="Temporary failure"):
        check_url("https://feeds.example.com/", [], fail)


def test_resolver_gets_host_and_port() -> None:
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["93.184.215.14"]

    target = check_url("https://Feeds.Example.com:8443/a", [], resolve)
    assert asked == [("feeds.example.com", 8443)]
    assert (target.scheme, target.host, target.port) == ("https", "feeds.example.com", 8443)


def test_resolver_answering_nothing_is_refused() -> None:
    with pytest.raises(UnresolvedHost, match="resolves to no address"):
        check_url("https://empty.example.com/", [], lambda h, p: [])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@Example.com:8443/a b/c?token=x#frag", "https://example.com:8443/a%20b/c"),
        ("http://[::1]:80/x?y", "http://[::1]:80/x"),
        ("https://example.com", "https://example.com/"),
        ("file:///srv/feed.xml", "file:///srv/feed.xml"),
        ("http://[bad/", "(an unreadable URL)"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_url_can_hide_the_path() -> None:
    hook = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    assert redact_url(hook, keep_path=False) == "https://hooks.slack.com/…"


_NON_PUBLIC = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]


def _spellings(value: int) -> list[str]:
    """Ways to write one IPv4 address that URL parsers (and inet_aton) accept."""
    a, b, c, d = value.to_bytes(4, "big")
    return [
        str(value),
        hex(value),
        f"0{value:o}",
        f"{a}.{b}.{c}.{d}",
        f"0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}",
        f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"[::ffff:{a}.{b}.{c}.{d}]",
        f"[2002:{a:02x}{b:02x}:{c:02x}{d:02x}::1]",
        f"[64:ff9b::{a:02x}{b:02x}:{c:02x}{d:02x}]",
    ]


@given(st.sampled_from(_NON_PUBLIC), st.integers(min_value=0), st.integers(0, 10))
def test_no_spelling_of_a_non_public_v4_slips_through(
    network: ipaddress.IPv4Network, offset: int, which: int
) -> None:
    value = int(network.network_address) + offset % network.num_addresses
    host = _spellings(value)[which]
    with pytest.raises(AddressRefused):
        check_url(f"https://{host}/", [], lambda h, p: pytest.fail("resolver asked"))


@given(st.text(alphabet="ABCDEFXYZ0123456789", min_size=8, max_size=40))
def test_query_never_shown(token: str) -> None:
    with pytest.raises(AddressRefused) as caught:
        check_url(f"http://10.1.2.3/feed?token={token}&x=1", [])
    assert token not in str(caught.value)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cached_dns_answer_is_still_judged_and_turns_private_after_the_ttl() -> None:
    answers = {"hook.example": ["93.184.215.14"]}
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(answers[host])

    clock = _Clock()
    cached = CachingResolver(resolve, 2.0, clock)
    url = "https://hook.example/x"
    assert check_url(url, [], cached).address == "93.184.215.14"
    answers["hook.example"] = ["10.1.2.3"]  # DNS rebinding to an internal address
    clock.now += 1.0
    assert check_url(url, [], cached).address == "93.184.215.14"  # the checked answer, reused
    assert asked == ["hook.example"]
    clock.now += 1.0  # the TTL has passed: asked again, and refused
    with pytest.raises(AddressRefused, match=r"resolves to 10\.1\.2\.3, a private address"):
        check_url(url, [], cached)
    assert asked == ["hook.example", "hook.example"]


def test_cached_answers_are_judged_against_the_allow_list_every_time() -> None:
    clock = _Clock()
    cached = CachingResolver(lambda h, p: ["127.0.0.1"], 2.0, clock)
    assert check_url("http://hook.internal:81/", ["hook.internal"], cached).address == "127.0.0.1"
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.1, a loopback address"):
        check_url("http://hook.internal:81/", [], cached)  # same cached answer, refused


def test_dns_cache_ttl_is_bounded_and_failures_are_not_cached() -> None:
    calls: list[int] = []

    def flaky(host: str, port: int) -> list[str]:
        calls.append(port)
        if len(calls) == 1:
            raise OSError(-3, "Temporary failure in name resolution")
        return ["93.184.215.14"]

    clock = _Clock()
    cached = CachingResolver(flaky, 3600.0, clock)
    assert cached.ttl == CachingResolver.MAX_TTL
    with pytest.raises(UnresolvedHost):
        check_url("https://a.example/", [], cached)
    assert cached("a.example", 443) == ["93.184.215.14"]  # the failure was not remembered
    assert cached("a.example", 443) == ["93.184.215.14"] and len(calls) == 2
    clock.now += CachingResolver.MAX_TTL
    assert cached("a.example", 443) == ["93.184.215.14"] and len(calls) == 3
    assert cached("a.example", 8443) == ["93.184.215.14"] and len(calls) == 4  # per (host, port)
    assert CachingResolver(flaky, -1.0, clock).ttl == 0.0
