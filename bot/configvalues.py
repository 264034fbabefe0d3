"""The value types of bot.toml (pure): durations, names, times of day, time zones, hosts,
URLs, state URLs, device models and lifecycle dates, each a pydantic ``Annotated`` type whose
validator says what is wrong in words; and ``hide_credentials`` for values echoed in errors."""

from __future__ import annotations

import ipaddress
import re
from datetime import date, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field

from bot.models import ModelError, normalize_model
from bot.policy import reckonable

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LONGEST = 100 * 366 * 86400  # seconds; far past any interval, and within what timedelta holds
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# Everything between a URL's scheme:// and its last "@" could be credentials (a password may hold
# "/" or "@"), and so could a password query parameter.
_URL_USERINFO = re.compile(r"^(\s*[A-Za-z][A-Za-z0-9+.\-]*://).*@", re.DOTALL)
_URL_PASSWORD = re.compile(r"([?&](?:password|passwd|sslpassword)=)[^&#]*", re.IGNORECASE)


class DurationTooLong(ValueError):
    """A duration longer than any interval firmwatch takes (or a clock holds)."""


def parse_duration(value: object) -> timedelta:
    """Parse ``"90s"``, ``"30m"``, ``"2h30m"``, ``"1d"`` or ``"1w"`` into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a duration such as '30m', '2h' or '1d'")
    text = value.strip().lower().replace(" ", "")
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError("expected a duration such as '30m', '2h' or '1d'")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    if seconds > _LONGEST:
        raise DurationTooLong("a duration must be shorter than 100 years")
    return timedelta(seconds=seconds)


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError("expected the NAME of an environment variable, not its value")
    return value


def _time_of_day(value: str) -> str:
    if not _TIME_OF_DAY.match(value):
        raise ValueError("expected a local time as HH:MM")
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as 'UTC' or 'Europe/Berlin'") from None
    return value


def listen_host(value: str) -> str:
    """``value`` when it is an IP address or a host name to listen on, else ValueError."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.?)*[A-Za-z0-9]?", value):
            raise ValueError("expected an IP address such as 0.0.0.0 or 127.0.0.1, or a host"
                             " name") from None
    return value


def hide_credentials(text: str) -> str:
    """``text`` with a URL's user and password (up to its last ``@``) and password query values
    shown as ``***``: safe to echo in an error."""
    return _URL_PASSWORD.sub(r"\1***", _URL_USERINFO.sub(r"\1***@", text))


def _url_scheme(value: str) -> str:
    if not re.match(r"^(https?|file)://", value):
        raise ValueError("expected an https://, http:// or file:// URL")
    readable = _port_readable(value)  # "https://user:pa/ss@host" reads as host "user", port "pa"
    if re.match(r"^https?://[^/]*@", value) or ("@" in value and not readable):
        raise ValueError(
            "credentials in URLs are not allowed; name an environment variable instead"
            f" (got {hide_credentials(value)!r})"
        )
    if not readable:
        raise ValueError("the host or port of this URL cannot be read")
    return value


def _port_readable(url: str) -> bool:
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return port is None or port >= 0


def _state_url(value: str) -> str:
    if not re.match(r"^(tinydb|sqlite|postgresql(\+psycopg)?|postgres)://", value):
        raise ValueError("expected tinydb://, sqlite:// or postgresql://")
    # SQLAlchemy reads "scheme://user:PASSWORD@host": the password runs to the first "@"
    if re.match(r"^[^:]+://[^:/@]*:[^@]*@", value) or _URL_PASSWORD.search(value):
        raise ValueError(
            "put database passwords in the variable named by url_env, not in the file"
            f" (got {hide_credentials(value)!r})"
        )
    return value


def _device_model(value: str) -> str:
    """A model number firmwatch can read (kept as written; fleets normalise it)."""
    try:
        normalize_model(value)
    except ModelError as exc:
        raise ValueError(str(exc).removeprefix(f"{value!r}: ")) from None
    return value


# A name of a fleet, receiver, route or source: what Slack's ``fleet NAME``, the REST API's URL
# and a CSV cell can all carry (a trailing or doubled space could not be told apart from none).
# ``\Z``, not ``$``: ``$`` also matches before a trailing newline ("acme\n" is not "acme").
NAME = re.compile(r"^(?=.{1,80}\Z)[A-Za-z0-9](?:[A-Za-z0-9_.\-]| (?=[A-Za-z0-9_.\-]))*\Z")
NAME_RULE = (
    "letters, digits, '.', '_' or '-', starting with a letter or digit, with single spaces"
    " between words, at most 80 characters"
)


def _name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(f"a name is {NAME_RULE}")
    return value


def _lifecycle_date(value: date) -> date:
    try:
        return reckonable(value)
    except ValueError as exc:
        raise ValueError(f"{exc}; leave it out when it is not known (got {value})") from None


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
LifecycleDate = Annotated[date, AfterValidator(_lifecycle_date)]
EnvName = Annotated[str, AfterValidator(_env_name)]
TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
ListenHost = Annotated[str, AfterValidator(listen_host)]
SourceUrl = Annotated[str, AfterValidator(_url_scheme)]
StateUrlText = Annotated[str, AfterValidator(_state_url)]
DeviceModel = Annotated[str, Field(min_length=1), AfterValidator(_device_model)]
Name = Annotated[str, AfterValidator(_name)]
Severity = Literal["none", "low", "medium", "high", "critical"]
AlertKind = Literal["advisory", "firmware", "lifecycle"]
# A route's stages; "unknown" is a model the catalog has no dates for (its promise unknown).
StageName = Literal[
    "intense", "dynamic", "security-only", "end-of-support", "not-covered", "unknown"
]


_HOST_NAME = re.compile(r"^(?=.{1,253}\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
                        r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$", re.IGNORECASE)


def _allowed_host(value: str) -> str:
    """An allow-list entry: a host name, an IP address or a network (``10.0.0.0/8``)."""
    text = value.strip().strip("[]")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        if "/" in text or ":" in text or not _HOST_NAME.match(text):
            raise ValueError(
                "expected a host name, an IP address or a network such as 10.0.0.0/8"
                " (no scheme, port or path)"
            ) from None
        return value
    if network.prefixlen == 0:
        raise ValueError("this network is every address: the address guard would be off")
    return value


AllowedHost = Annotated[str, AfterValidator(_allowed_host)]
