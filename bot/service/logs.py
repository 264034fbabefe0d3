"""Structured logs: one JSON object per line on stdout, with anything secret-looking redacted.

Every record carries ``time`` (UTC), ``level``, ``logger`` and ``message`` plus the ``extra=``
fields given at the call. :class:`RedactFilter` sits on the handler, so it sees every record of
every logger: tokens, bearer credentials, passwords in URLs, secret query parameters and the values
of the configured secret variables become ``***``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.config import Settings

LEVEL_ENV = "FIRMWATCH_LOG_LEVEL"
MASK = "***"
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), MASK),  # Slack bot/user tokens
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), MASK),  # Slack app-level tokens
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), MASK),  # Standard Webhooks secrets
    (re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"), MASK),  # JWTs
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@"), r"\1" + MASK + "@"),
    (re.compile(r"(?i)([?&;](?:api[_-]?key|apikey|access[_-]?token|token|secret|password|passwd"
                r"|sig|signature|client[_-]?secret)=)[^&\s'\"]+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(password|passwd|secret|token|api[_-]?key)(\"?\s*[=:]\s*\"?)"
                r"(?!\*\*\*)[^\s\"',&]+"), r"\1\2" + MASK),
)
MIN_SECRET = 6


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secret values and anything that looks like a credential masked."""
    for value in secrets:
        if len(value) >= MIN_SECRET:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def secret_values(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """The values of every variable a ``*_env`` setting names (and DATABASE_URL-like ones)."""
    names: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(key, str) and key.endswith("_env") and isinstance(item, str):
                    names.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(settings.model_dump())
    return sorted((environ[n] for n in names if environ.get(n)), key=len, reverse=True)


class RedactFilter(logging.Filter):
    """Masks secrets in the message, the extra fields and the traceback of every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= MIN_SECRET]

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, self._clean(value))
        return True

    def _clean(self, value: object) -> object:
        if isinstance(value, str):
            return redact(value, self.secrets)
        if isinstance(value, Mapping):
            return {str(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(v) for v in value]
        return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(
    secrets: Iterable[str] = (), *, level: str = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """Send every logger's records to ``stream`` (stdout) as redacted JSON lines."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO")
    # APScheduler's own job warnings and errors repeat what the scheduler's listeners log.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
    # Alembic speaks at INFO each time the schema revision is read: every /readyz probe.
    for noisy in ("httpx", "httpcore", "waitress.queue", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return handler
