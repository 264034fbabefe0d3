"""User Jinja2 payload templates: sandboxed, bounded, JSON only; hostile templates fail clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import ConfigError, NetworkSettings, ReceiverSettings, Settings, load
from notifiers.templates import TemplateProblem, UserTemplate
from notifiers.webhook import build
from tests.webhook_docs import SECRET, document
from tests.webhook_receiver import SignedReceiver

GOOD = """{
  "title": {{ alert.item.title | clip(20) | tojson }},
  "severity": {{ alert.severity | tojson }},
  "devices": {{ alert.totals.devices }},
  "fleets": [{% for f in alert.findings %}{{ f.fleet | tojson }}{{ "," if not loop.last }}
             {% endfor %}],
  "receiver": {{ receiver | tojson }},
  "id": {{ message_id | tojson }}
}
"""


def template(tmp_path: Path, text: str, seconds: float = 0.5) -> UserTemplate:
    path = tmp_path / "payload.j2"
    path.write_text(text, encoding="utf-8")
    return UserTemplate(path, seconds=seconds)


def render(tmp_path: Path, text: str, seconds: float = 0.5) -> object:
    doc = document()
    variables = {"alert": doc, "receiver": "ticketing", "message_id": doc["dedupe_key"]}
    return template(tmp_path, text, seconds).render(variables)


def test_a_template_renders_json_from_the_document(tmp_path: Path) -> None:
    body = render(tmp_path, GOOD)
    assert body == {
        "title": "Command injection v…",
        "severity": "critical",
        "devices": 4,
        "fleets": ["hq"],
        "receiver": "ticketing",
        "id": document()["dedupe_key"],
    }


def test_tojson_is_plain_json_without_html_escaping(tmp_path: Path) -> None:
    assert render(tmp_path, '{{ "<a & b>" | tojson }}') == "<a & b>"


HOSTILE = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "not allowed in the sandbox"),
    ("{{ self.__init__.__globals__ }}", "not allowed in the sandbox"),
    ("{{ alert.__class__ }}", "not allowed in the sandbox"),
    ("{{ alert.findings.append(1) }}", "not allowed in the sandbox"),
    ("{{ alert.update({'x': 1}) }}", "not allowed in the sandbox"),
    ("{{ '{0.__class__}'.format(alert) }}", "str.format is not allowed"),
    ("{{ '%999999999s' % 1 }}", "string % formatting is not allowed"),
    ("{{ 'x' * 1000000000 }}", "repeating would make more than"),
    ("{{ 10 ** 100000 }}", "more than 1000 digits"),
    ("{{ 'x' | center(999999999) }}", "center: 999999999 is larger"),
    ("{{ 'x'.ljust(999999999) }}", "ljust: 999999999 is larger"),
    ("{% set s = 'a' * 50000 %}{{ s | replace('a', s) }}", "replace would make more than"),
    ("{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('x') }}", "larger than 1024 KiB"),
    ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "output is larger than 1024 KiB"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recurses too deeply"),
    ("{{ namespace(x=1) }}", "'namespace' is undefined"),
    ("{{ alert.no_such_field }}", "has no attribute 'no_such_field'"),
    ("{{ alert.summary }}", "output is not valid JSON"),
]


@pytest.mark.parametrize(("text", "words"), HOSTILE, ids=[h[1] for h in HOSTILE])
def test_hostile_templates_fail_with_a_clear_error(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(TemplateProblem) as caught:
        render(tmp_path, text)
    message = str(caught.value)
    assert words in message and str(tmp_path / "payload.j2") in message


@pytest.mark.parametrize(
    "text",
    [
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "{% set s = 'x' * 5000 %}{% for a in s %}{% for b in s %}{% for c in s %}"
        "{% endfor %}{% endfor %}{% endfor %}",
    ],
    ids=["nested ranges", "nested loops over text"],
)
def test_endless_work_is_stopped_at_the_deadline(tmp_path: Path, text: str) -> None:
    with pytest.raises(TemplateProblem, match=r"payload\.j2:1: rendering took longer than 0\.2 s"):
        render(tmp_path, text, seconds=0.2)


def test_syntax_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match=r"payload\.j2:3: template syntax error"):
        template(tmp_path, '{\n"a": 1,\n{% for %}\n}')


def test_oversized_and_unreadable_templates_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match="larger than 256 KiB"):
        template(tmp_path, "x" * (257 * 1024))
    with pytest.raises(TemplateProblem, match="cannot read the template"):
        UserTemplate(tmp_path / "missing.j2")


def _config(tmp_path: Path, url: str, template_text: str) -> Settings:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hook.j2").write_text(template_text, encoding="utf-8")
    (tmp_path / "bot.toml").write_text(
        f"""
[network]
allow_hosts = ["127.0.0.1"]

[[receivers]]
name = "custom"
type = "webhook"
url = "{url}"
secret_env = "HOOK_SECRET"
template = "templates/hook.j2"
"""
    )
    return load(tmp_path / "bot.toml")


def test_a_template_receiver_sends_its_output_signed(tmp_path: Path) -> None:
    with SignedReceiver() as server, httpx.HTTPTransport() as pool:
        settings = _config(tmp_path, server.url(), GOOD)
        receiver = settings.receivers[0]
        assert receiver.template == str(tmp_path / "templates" / "hook.j2")
        hook = build(receiver, settings, {"HOOK_SECRET": SECRET}, transport=pool)
        assert hook.send(document()).ok
        assert json.loads(hook.render(document()))["receiver"] == "custom"
    (got,) = server.received
    assert got.verified and got.payload["fleets"] == ["hq"]


def test_a_template_that_fails_on_a_document_is_a_dead_letter(tmp_path: Path) -> None:
    with SignedReceiver() as server, httpx.HTTPTransport() as pool:
        settings = _config(tmp_path, server.url(), "{{ alert.item.nothing | tojson }}")
        hook = build(settings.receivers[0], settings, {"HOOK_SECRET": SECRET}, transport=pool)
        result = hook.send(document())
    assert (
        not result.ok and result.permanent and "has no attribute 'nothing'" in (result.error or "")
    )
    assert server.received == []


def test_a_broken_template_is_a_config_error_when_built(tmp_path: Path) -> None:
    settings = _config(tmp_path, "https://hooks.example.com/x", "{% if %}")
    with pytest.raises(
        ConfigError, match=r"receivers\[0\]\.template: .*hook\.j2:1: template syntax"
    ):
        build(settings.receivers[0], settings, {"HOOK_SECRET": SECRET})


def test_a_template_only_replaces_the_generic_preset() -> None:
    with pytest.raises(ValueError, match="cannot be combined with preset 'jira'"):
        ReceiverSettings.model_validate(
            {
                "name": "x",
                "type": "webhook",
                "url": "https://h.example/x",
                "secret_env": "S",
                "preset": "jira",
                "project": "OPS",
                "auth_env": "A",
                "template": "t.j2",
            }
        )


def _block(language: str) -> str:
    text = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text()
    return text.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_template_example_in_the_docs_renders(tmp_path: Path) -> None:
    body = render(tmp_path, _block("jinja"))
    assert isinstance(body, dict) and body["fleets"] == ["hq"] and body["severity"] == "critical"


def test_the_verification_example_in_the_docs_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRMWATCH_WEBHOOK_SECRET", SECRET)
    opened: list[object] = []
    seen: set[str] = set()
    space: dict[str, Any] = {
        "seen_before": seen.__contains__, "remember": seen.add, "open_ticket": opened.append
    }
    exec(_block("python"), space)
    with SignedReceiver(secret=SECRET) as server, httpx.HTTPTransport() as pool:
        settings = _config_plain(server.url())
        hook = build(settings.receivers[0], settings, {"HOOK_SECRET": SECRET}, transport=pool)
        assert hook.send(document()).ok
    got = server.received[0]
    assert space["handle"](got.body, got.headers) == 204
    assert space["handle"](got.body, got.headers) == 204  # the retry is recognised
    assert len(opened) == 1
    assert space["handle"](got.body + b" ", got.headers) == 401


def _config_plain(url: str) -> Settings:
    receiver = ReceiverSettings.model_validate(
        {"name": "t", "type": "webhook", "url": url, "secret_env": "HOOK_SECRET"}
    )
    return Settings(network=NetworkSettings(allow_hosts=["127.0.0.1"]), receivers=[receiver])
