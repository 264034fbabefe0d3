"""bot.toml validation: every problem reported as FILE: key.path: what is wrong (got VALUE)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, Settings, config_path, load, parse, secret
from bot.configvalues import parse_duration
from tests.conftest import case_id, load_cases

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("case", load_cases("config/bad.toml"), ids=case_id)
def test_bad_config_reports_every_problem(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(case["text"], "t.toml")
    assert caught.value.problems == case["errors"]


def test_example_bot_toml_is_valid() -> None:
    settings = load(ROOT / "bot.toml")
    assert settings.policy.severe_cvss == 7.0
    assert {s.format for s in settings.sources} >= {"hikvision-html", "nvd-json", "kev-json"}
    assert settings.fleets[0].devices[0].count == 40


def test_empty_file_gives_defaults() -> None:
    settings = parse("", "t.toml")
    assert settings == Settings()
    assert settings.state.url.startswith("tinydb:///")
    assert settings.schedule.deliver_every == timedelta(seconds=30)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h30m", 9000), ("1d", 86400), ("1w", 604800), (" 5 m", 300)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0s", "5", "m5", "5x", "1h-2m", 30])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_config_path_precedence() -> None:
    assert config_path("a.toml", {"FIRMWATCH_CONFIG": "b.toml"}) == Path("a.toml")
    assert config_path(None, {"FIRMWATCH_CONFIG": "b.toml"}) == Path("b.toml")
    assert config_path(None, {}) == Path("bot.toml")


def test_secret_is_resolved_by_name_and_never_printed() -> None:
    assert secret("slack.bot_token_env", "TOKEN", {"TOKEN": "xoxb-1"}) == "xoxb-1"
    with pytest.raises(ConfigError) as caught:
        secret("slack.bot_token_env", "SLACK_BOT_TOKEN", {"OTHER": "xoxb-secret"})
    message = str(caught.value)
    assert "SLACK_BOT_TOKEN" in message and "slack.bot_token_env" in message
    assert "xoxb" not in message


def test_web_and_schedule_defaults_and_example() -> None:
    default = Settings()
    assert default.web.host == "0.0.0.0" and default.web.api_token_env == "FIRMWATCH_API_TOKEN"
    assert default.web.max_body_kib == 1024 and default.web.threads == 8
    assert default.schedule.leader_retry == timedelta(seconds=15)
    example = load(ROOT / "bot.toml")
    assert example.web == default.web
    assert example.schedule.leader_retry == timedelta(seconds=15)
    custom = parse('[web]\nhost = "127.0.0.1"\n[schedule]\ntimezone = "Europe/Berlin"\n', "t")
    assert custom.web.host == "127.0.0.1" and custom.schedule.timezone == "Europe/Berlin"


def test_slack_ticket_receiver_names_a_receiver() -> None:
    assert Settings().slack.ticket_receiver is None
    example = load(ROOT / "bot.toml")
    assert example.slack.ticket_receiver in {r.name for r in example.receivers}
    settings = parse('[[receivers]]\nname = "t"\ntype = "console"\n[slack]\n'
                     'ticket_receiver = "t"\n', "t.toml")
    assert settings.slack.ticket_receiver == "t"


def test_receiver_templates_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text(
        '[[receivers]]\nname = "t"\ntype = "webhook"\nurl = "https://h.example/x"\n'
        'secret_env = "S"\ntemplate = "templates/t.j2"\n'
    )
    (receiver,) = load(tmp_path / "bot.toml").receivers
    assert receiver.template == str(tmp_path / "templates" / "t.j2")


def test_the_commented_webhook_preset_examples_in_bot_toml_are_valid() -> None:
    lines = (ROOT / "bot.toml").read_text().splitlines()
    start = lines.index("# [[receivers]]")
    block = []
    for text in lines[start:]:
        if not text.startswith("#"):
            break
        block.append(text.removeprefix("#").removeprefix(" "))
    settings = parse("\n".join(block), "bot.toml (commented examples)")
    presets = {r.preset for r in settings.receivers}
    assert presets == {"pagerduty", "jira", "servicenow", "opsgenie", "teams", "discord"}
