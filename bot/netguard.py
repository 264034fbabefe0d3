"""The address guard: which URLs the bot may fetch or post to, and which address to connect to.

Only ``https://`` to globally routable addresses, unless ``[network] allow_hosts`` admits the host
(by name, address or CIDR network), which also admits ``http://``. Every resolved address is judged;
IPv4 spelled in decimal, octal or hex and IPv6 forms that embed an IPv4 address are judged by the
address they mean. The resolver is injected, so the rules are tested without DNS.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

_ADVICE = "to [network] allow_hosts in bot.toml to allow it"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARS = re.compile(r"^[a-z0-9_.-]+$")
_NUMBER = {10: re.compile(r"^[0-9]+$"), 16: re.compile(r"^[0-9a-f]*$"), 8: re.compile(r"^[0-7]+$")}
_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_V4_CLASSES: tuple[tuple[_V4, str], ...] = (
    (_V4("169.254.169.254/32"), "the cloud metadata address"),
    (_V4("0.0.0.0/8"), "an unspecified ('this network') address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("100.64.0.0/10"), "a carrier-grade NAT (100.64.0.0/10) address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)
_V6_CLASSES: tuple[tuple[_V6, str], ...] = (
    (_V6("::/128"), "the unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("2001::/32"), "a Teredo tunnel address (2001::/32)"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local (private) address"),
    (_V6("fc00::/7"), "a unique-local (private) address"),
    (_V6("ff00::/8"), "a multicast address"),
    (_V6("::/96"), "an IPv4-compatible (deprecated, reserved) address"),
)
_GLOBAL_UNICAST = _V6("2000::/3")
_SIX_TO_FOUR = _V6("2002::/16")
_NAT64 = _V6("64:ff9b::/96")


class AddressRefused(ValueError):
    """A URL the guard will not connect to; the message says why and what to do."""

    def __init__(self, shown_url: str, reason: str) -> None:
        super().__init__(f"refused {shown_url}: {reason}")
        self.shown_url = shown_url
        self.reason = reason


class UnresolvedHost(AddressRefused):
    """The host name did not resolve, so it could not be checked (often temporary)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its canonical host and port, and the address that was checked."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def default_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (raises OSError)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CachingResolver:
    """A resolver that remembers each (host, port) answer for ``ttl`` seconds (at most MAX_TTL).

    Only the DNS answer is remembered: every attempt still judges the addresses against the
    allow-list and the address classes, and connects to the address it judged. Failures are not
    remembered. A name whose answer turns private is refused once the remembered answer expires.
    """

    MAX_TTL = 5.0

    def __init__(
        self, resolve: Resolver, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = min(max(ttl, 0.0), self.MAX_TTL)
        self._resolve = resolve
        self._clock = clock
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[str]:
        now = self._clock()
        with self._lock:
            known = self._answers.get((host, port))
        if known is not None and now < known[0]:
            return list(known[1])
        answer = list(self._resolve(host, port))
        with self._lock:
            if len(self._answers) >= 256:  # stale ones go first; never unbounded
                self._answers = {k: v for k, v in self._answers.items() if now < v[0]}
            if len(self._answers) < 256:
                self._answers[(host, port)] = (now + self.ttl, answer)
        return list(answer)


def redact_url(url: str, *, keep_path: bool = True) -> str:
    """``scheme://host[:port]/path`` without userinfo, query or fragment, safe for logs."""
    return _redact(url, keep_path)


@lru_cache(maxsize=256)  # pure; a receiver's URL is redacted on every attempt
def _redact(url: str, keep_path: bool) -> str:
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "(an unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") if keep_path else "/…"
    return f"{parts.scheme.lower()}://{netloc}{path}"


def check_url(
    url: str,
    allow_hosts: Sequence[str],
    resolve: Resolver = default_resolve,
    *,
    allow_file: bool = False,
) -> Target:
    """Check ``url`` against the rules; return where to connect or raise AddressRefused."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise AddressRefused(shown, "the URL or its port cannot be read") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        if not allow_file:
            raise AddressRefused(shown, "file:// URLs are only read for configured sources")
        return Target(url, "file", "", 0, "")
    if scheme not in _DEFAULT_PORTS:
        raise AddressRefused(shown, f"the {scheme or 'missing'}:// scheme is not supported")
    if "@" in parts.netloc:
        raise AddressRefused(
            shown, "credentials in URLs are not allowed; name an environment variable instead"
        )
    written = parts.hostname or ""
    host, literal = _canonical_host(shown, written)
    port = port if port is not None else _DEFAULT_PORTS[scheme]
    names, networks = _allow_list(tuple(allow_hosts))
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [_parse_ip(shown, a) for a in resolve(host, port)]
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise UnresolvedHost(shown, f"cannot resolve {host} ({reason})") from None
        if not addresses:
            raise UnresolvedHost(shown, f"{host} resolves to no address")
    in_networks = [any(_judged(a) in n for n in networks) for a in addresses]
    if host not in names and not all(in_networks):
        for address, allowed in zip(addresses, in_networks, strict=True):
            if allowed:
                continue
            words = _why_not_public(address)
            if words:
                raise AddressRefused(shown, _explain(host, written, literal, address, words))
        if scheme == "http":
            raise AddressRefused(
                shown,
                "plain http:// is only allowed to hosts in [network] allow_hosts;"
                f" use https:// or add {host} {_ADVICE}",
            )
    return Target(url, scheme, host, port, str(addresses[0]))


def _explain(host: str, written: str, literal: IP | None, address: IP, words: str) -> str:
    advise = _judged(address)
    if literal is None:
        return f"{host} resolves to {address}, {words}; add {host} {_ADVICE}"
    if isinstance(literal, ipaddress.IPv4Address) and written != str(literal):
        return f"{written} means {address}, {words}; add {advise} {_ADVICE}"
    if advise != address:
        return f"{written} is {words}; add {advise} {_ADVICE}"
    return f"{written} is {words}; add it {_ADVICE}"


def _judged(address: IP) -> IP:
    """An IPv4-mapped IPv6 address is judged (and allowed) as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=1024)  # pure: the same address is judged the same way every time
def _why_not_public(address: IP) -> str | None:
    """Words for why ``address`` is not globally routable, or None when it is."""
    if isinstance(address, ipaddress.IPv4Address):
        for network, words in _V4_CLASSES:
            if address in network:
                return words
        return None if address.is_global else "a reserved (not globally routable) address"
    address = ipaddress.IPv6Address(address.packed)  # judge without any %scope
    embedded, form = _embedded_v4(address)
    if embedded is not None:
        inner = _why_not_public(embedded)
        return f"{form} {embedded}, {inner}" if inner else None
    for network6, words in _V6_CLASSES:
        if address in network6:
            return words
    if address not in _GLOBAL_UNICAST or not address.is_global:
        return "a reserved (not globally routable) address"
    return None


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "an IPv4-mapped IPv6 address of"
    if address in _SIX_TO_FOUR:
        return address.sixtofour, "a 6to4 address embedding"
    if address in _NAT64:
        return ipaddress.IPv4Address(address.packed[-4:]), "a NAT64 address embedding"
    return None, ""


@lru_cache(maxsize=256)  # pure (refusals raise and are not cached)
def _canonical_host(shown: str, written: str) -> tuple[str, IP | None]:
    """The host in canonical ASCII form, and the address when it is an IP literal."""
    if not written:
        raise AddressRefused(shown, "the URL has no host")
    if ":" in written:
        address = _parse_ip(shown, written)
        return str(address), address
    try:
        host = written.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        raise AddressRefused(shown, f"{written!r} is not a valid host name") from None
    if not _HOST_CHARS.match(host):
        raise AddressRefused(shown, f"{written!r} is not a valid host name")
    labels = host.split(".")
    if _NUMBER[10].match(labels[-1]) or re.match(r"^0x[0-9a-f]*$", labels[-1]):
        v4 = _parse_ipv4(labels)
        if v4 is None:
            raise AddressRefused(shown, f"{written!r} is not a valid IPv4 address")
        return str(v4), v4
    return host, None


def _parse_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    """The WHATWG URL reading of an IPv4 host: 1-4 parts, each decimal, 0-octal or 0x-hex."""
    if len(labels) > 4:
        return None
    numbers: list[int] = []
    for label in labels:
        base, digits = 10, label
        if label[:2] == "0x":
            base, digits = 16, label[2:]
        elif len(label) > 1 and label[0] == "0":
            base, digits = 8, label[1:]
        if not label or not _NUMBER[base].match(digits):
            return None
        numbers.append(int(digits, base) if digits else 0)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(numbers[:-1]))
    return ipaddress.IPv4Address(value)


def _parse_ip(shown: str, text: str) -> IP:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        raise AddressRefused(shown, f"{text!r} is not a valid IP address") from None


@lru_cache(maxsize=64)
def _allow_list(entries: tuple[str, ...]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Split allow_hosts into host names and networks (an address is a one-address network)."""
    names: set[str] = set()
    networks: list[Network] = []
    for entry in entries:
        text = entry.strip().strip("[]").lower()
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            names.add(text.rstrip("."))
    return frozenset(names), tuple(networks)
