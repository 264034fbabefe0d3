"""The console notifier: readable text for people, written to a stream."""

from __future__ import annotations

import io
from typing import Any

from bot.config import ReceiverSettings
from notifiers import build_notifier
from notifiers.base import Thread
from notifiers.console import ConsoleNotifier, render_text
from notifiers.health import notice_document
from notifiers.sample import sample_document
from notifiers.slackblocks import build_message
from tests.notifier_helpers import NOW, kev_update, settings


def test_sample_alert_reads_top_down() -> None:
    doc = sample_document("ops", NOW)
    lines = render_text(doc).splitlines()
    assert lines[1] == ("[CRITICAL] Security Advisory - Command Injection Vulnerability in the Web"
                        " Server of Some Hikvision Cameras (HSRC-202109-01)")
    assert lines[2] == "!! EXPLOITED IN THE WILD: listed in CISA KEV since 2022-01-10"
    text = "\n".join(lines)
    assert "Fleet sample-fleet: affected · stage dynamic · 15 devices" in text
    assert "  DS-2CD3321G2-I  V5.5.0 build 200101  x12 at HQ" in text
    assert "  Risk: Exploited in the wild (CISA KEV since 2022-01-10)." in text
    assert "  Fixed version: V5.5.800 build 210628" in text
    assert "  Download: https://firmware.example.net/hikvision/ipc-g2/" in text
    assert f"alert {doc['id']}" in text


def test_update_lists_changes_and_names_the_earlier_alert() -> None:
    stream = io.StringIO()
    notifier = ConsoleNotifier("ops", stream)
    result = notifier.send(kev_update(), thread=Thread("console", "1"))
    assert result.ok
    text = stream.getvalue()
    assert text.startswith("(update to an earlier alert about HSRC-202108-01)")
    assert "What changed:\n  - listed in CISA KEV on 2026-11-27" in text
    assert notifier.render(kev_update()) in text


def test_notice_without_findings() -> None:
    text = render_text(notice_document("ops", "pager", "HTTP 410 Gone", NOW))
    assert "[NOTICE] Receiver pager was disabled (pager)" in text
    assert "firmwatch outbox enable pager" in text


def test_a_closed_stream_is_a_failed_attempt_not_a_crash() -> None:
    result = ConsoleNotifier("ops", _Broken()).send(sample_document("ops", NOW))
    assert not result.ok and not result.permanent
    assert result.error == "cannot write to the console: Broken pipe"


def test_registry_builds_console_receivers() -> None:
    receiver = ReceiverSettings(name="ops", type="console")
    notifier = build_notifier(receiver, settings({"name": "ops", "type": "console"}), {})
    assert isinstance(notifier, ConsoleNotifier) and notifier.name == "ops"


class _Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_alerts_without_a_severity_say_what_they_are_not_none() -> None:
    base = sample_document("ops", NOW)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "firmware", "severity": "none"}, "UPDATE"),
        ({"kind": "lifecycle", "severity": "none"}, "LIFECYCLE"),
        ({"kind": "advisory", "severity": "none", "resolved": True, "findings": []}, "RESOLVED"),
        ({"kind": "advisory", "severity": None}, "UNSCORED"),
        ({"kind": "advisory", "severity": "high"}, "HIGH"),
    ]
    for change, label in cases:
        doc = {**base, **change}
        assert render_text(doc).splitlines()[1].startswith(f"[{label}] "), change
        message = build_message(doc)
        assert message["blocks"][0]["text"]["text"].startswith(f"{label} · "), change
        assert message["text"].startswith(f"[{label}]"), change
