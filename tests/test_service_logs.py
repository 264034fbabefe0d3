"""JSON logs: one object per line with the extra fields; nothing secret-looking gets through."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.config import parse
from bot.service.logs import redact, secret_values, setup_logging
from state import open_store


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Root logging into a buffer (restored afterwards)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    tuned = {n: logging.getLogger(n).level for n in ("apscheduler", "apscheduler.executors",
                                                      "httpx", "httpcore", "waitress.queue",
                                                      "alembic")}
    stream = io.StringIO()
    setup_logging(["hunter2-database-password"], stream=stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
        for name, was in tuned.items():
            logging.getLogger(name).setLevel(was)
        logging.captureWarnings(False)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_extra_fields(captured: io.StringIO) -> None:
    logging.getLogger("firmwatch.test").info("job %s finished", "deliver",
                                              extra={"job": "deliver", "seconds": 0.5})
    (line,) = _lines(captured)
    assert line["level"] == "INFO" and line["logger"] == "firmwatch.test"
    assert line["message"] == "job deliver finished"
    assert line["job"] == "deliver" and line["seconds"] == 0.5
    assert str(line["time"]).endswith("Z")


@pytest.mark.parametrize(
    ("leak", "secret"),
    [
        ("xoxb-1234567890-abcdefghijkl", "1234567890-abcdefghijkl"),
        ("xapp-1-A0123-456-abcdef", "A0123-456-abcdef"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789abcdef"),
        ("postgresql://firmwatch:s3cr3tpw@db.example.com/firmwatch", "s3cr3tpw"),
        ("https://services.nvd.nist.gov/rest?apiKey=0000-1111&x=1", "0000-1111"),
        ("https://hooks.example.com/x?token=tok-value-1234", "tok-value-1234"),
        ("password=swordfish1", "swordfish1"),
        ("connect with hunter2-database-password", "hunter2-database-password"),
    ],
)
def test_secrets_are_redacted_everywhere(captured: io.StringIO, leak: str, secret: str) -> None:
    log = logging.getLogger("firmwatch.test")
    log.warning("failed with %s", leak, extra={"error": f"got {leak}", "nested": {"u": [leak]}})
    try:
        raise RuntimeError(f"boom {leak}")
    except RuntimeError:
        log.exception("request failed")
    text = captured.getvalue()
    assert secret not in text
    assert text.count("***") >= 4
    assert len(_lines(captured)) == 2


def test_redact_keeps_ordinary_text() -> None:
    text = "environment variable FIRMWATCH_API_TOKEN (named by web.api_token_env) is not set"
    assert redact(text) == text
    assert redact("https://www.hikvision.com/en/support/") == "https://www.hikvision.com/en/support/"


def test_secret_values_come_from_the_variables_settings_name() -> None:
    settings = parse('[[receivers]]\nname = "t"\ntype = "webhook"\n'
                     'url = "https://t.example.com/h"\nsecret_env = "HOOK_SECRET"\n', "t.toml")
    environ = {"HOOK_SECRET": "whsec_abc123", "SLACK_BOT_TOKEN": "xoxb-1", "OTHER": "visible"}
    values = secret_values(settings, environ)
    assert "whsec_abc123" in values and "xoxb-1" in values and "visible" not in values


def test_readiness_checks_on_postgresql_log_nothing(captured: io.StringIO, pg_url: str) -> None:
    # /readyz asks the store for its schema revision on every probe: Alembic's chatter about it
    # ("Context impl PostgresqlImpl.", plugin set-up) flooded the logs, two lines or more a probe.
    with open_store(pg_url) as store:
        for _ in range(3):
            store.check()
    assert [r for r in _lines(captured) if str(r["logger"]).startswith("alembic")] == []
