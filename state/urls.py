"""State URLs: which backend, where, and how to show a URL without its password."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.config import StateSettings
from state.errors import StoreError

Backend = Literal["tinydb", "sqlite", "postgresql"]
_SCHEME = re.compile(r"^(?P<scheme>[a-z][a-z0-9+]*)://(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
# A password may hold "/", "?" or an unescaped "@": hide everything up to the last "@".
_PASSWORD = re.compile(r"^(?P<head>[a-z][a-z0-9+]*://[^/@:]*):.*@", re.IGNORECASE | re.DOTALL)
# SQLAlchemy ends the password at its first "@": one more "@" before the path lands in the host.
_AT_IN_PASSWORD = re.compile(r"^[^:]+://[^:/]*(?::[^@]*)?@[^/:?]*@")
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|sslpassword)=)[^&]*", re.IGNORECASE)


@dataclass(frozen=True)
class StateUrl:
    """A parsed state URL: the backend, and the file path or the SQLAlchemy URL."""

    backend: Backend
    target: str

    def __str__(self) -> str:
        return redact(self.target if self.backend == "postgresql" else self.url())

    def url(self) -> str:
        """The URL to hand to the backend (SQLAlchemy form for SQL backends)."""
        if self.backend == "tinydb":
            return f"tinydb:///{self.target}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.target}"
        return self.target


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for logs and errors)."""
    return _QUERY_SECRET.sub(r"\1***", _PASSWORD.sub(r"\g<head>:***@", url))


def parse_state_url(url: str) -> StateUrl:
    """Read ``tinydb:///path``, ``sqlite:///path`` or ``postgresql://…``; raise StoreError."""
    m = _SCHEME.match(url.strip())
    scheme = m["scheme"].lower() if m else ""
    if m and scheme in ("tinydb", "sqlite"):
        if not m["rest"].startswith("/") or m["rest"] in ("/", "//"):
            raise StoreError(
                f"state url {redact(url)!r}: expected {scheme}:///relative/path or"
                f" {scheme}:////absolute/path"
            )
        return StateUrl(scheme, m["rest"][1:])  # type: ignore[arg-type]
    if m and (scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")):
        if _AT_IN_PASSWORD.match(url.strip()):
            raise StoreError(
                f"state url {redact(url)!r}: the user name or password holds an '@'; write it"
                " as %40 (percent-encode the password)"
            )
        return StateUrl("postgresql", "postgresql+psycopg://" + m["rest"])
    raise StoreError(
        f"state url {redact(url)!r}: expected tinydb:///…, sqlite:///… or postgresql://…"
    )


def resolve_state_url(state: StateSettings, environ: Mapping[str, str], base: Path) -> str:
    """The state URL in force: ``$url_env`` when set, else ``[state] url``; paths made absolute.

    Relative tinydb/sqlite paths are taken relative to ``base`` (the config file's folder).
    """
    url = environ.get(state.url_env, "").strip() or state.url
    parsed = parse_state_url(url)
    if parsed.backend == "postgresql":
        return parsed.target
    path = Path(parsed.target)
    if not path.is_absolute():
        path = base / path
    return f"{parsed.backend}:///{path.absolute()}"
