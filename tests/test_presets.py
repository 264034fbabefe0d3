"""Payload presets: every API's field limits and required fields, over varied documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings

from bot.sources.fetcher import FetchResult
from notifiers.presets import PRESETS
from notifiers.presets.base import Context, Request, clip, dedupe_label, fit_id, reply_json
from notifiers.presets.jira import exchange as jira_exchange
from tests.webhook_docs import cve, document, documents, make_finding

ROOT = Path(__file__).parent.parent
CTX = Context(
    "ticketing",
    "https://api.example.net/base",
    {"project": "OPS", "routing_key_env": "PD_KEY", "auth_env": "AUTH"},
    {"routing_key": "R" * 32, "auth": "ops@example.net:token"},
)
SCHEMA = json.loads((ROOT / "docs/webhook-payload.schema.json").read_text())


def strict(schema: Any) -> Any:
    """The schema with additionalProperties false wherever properties are listed: a document
    field the schema does not describe fails the test (receivers themselves may ignore them)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


VALIDATOR = jsonschema.Draft202012Validator(strict(SCHEMA))


def wire(value: Any) -> Any:
    """As the receiver sees it: strict JSON (no NaN), parsed back."""
    return json.loads(json.dumps(value, allow_nan=False, ensure_ascii=False))


def sent_size(body: Any) -> int:
    """Bytes on the wire, encoded as the notifier encodes bodies."""
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def check_generic(doc: dict[str, Any], body: dict[str, Any]) -> None:
    data = body["data"]
    VALIDATOR.validate({**body, "data": {**data, "findings": data["findings"][:5]}})  # speed
    assert data == doc and body["type"] == "firmwatch.alert"


def check_pagerduty(doc: dict[str, Any], body: dict[str, Any]) -> None:
    assert body["routing_key"] == "R" * 32 and 0 < len(body["dedup_key"]) <= 255
    if doc.get("resolved"):
        assert body["event_action"] == "resolve" and "payload" not in body
        return
    assert body["event_action"] == "trigger"
    payload = body["payload"]
    assert 0 < len(payload["summary"]) <= 1024 and payload["source"]
    assert payload["severity"] in ("critical", "error", "warning", "info")
    assert sent_size(body) <= 512 * 1024
    assert all(link["href"].startswith(("https://", "http://")) for link in body["links"])


def check_jira(doc: dict[str, Any], body: dict[str, Any]) -> None:
    fields = body["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"]["name"]
    assert 0 < len(fields["summary"]) <= 255 and "\n" not in fields["summary"]
    assert dedupe_label(doc) in fields["labels"]
    assert all(0 < len(x) <= 255 and " " not in x for x in fields["labels"])
    adf = fields["description"]
    assert adf["type"] == "doc" and adf["version"] == 1
    texts = list(_adf_texts(adf))
    assert texts and all(isinstance(t, str) and t for t in texts)
    assert sum(len(t) for t in texts) <= 32_767


def _adf_texts(node: Any) -> Any:
    if node.get("type") == "text":
        yield node["text"]
    for child in node.get("content", []):
        assert child["type"] in ("paragraph", "text", "heading", "bulletList", "listItem")
        yield from _adf_texts(child)


def check_servicenow(doc: dict[str, Any], body: dict[str, Any]) -> None:
    assert 0 < len(body["short_description"]) <= 160 and len(body["description"]) <= 4000
    assert 0 < len(body["correlation_id"]) <= 100
    assert body["urgency"] in ("1", "2", "3") and body["impact"] in ("1", "2", "3")


def check_teams(doc: dict[str, Any], body: dict[str, Any]) -> None:
    assert body["type"] == "message" and sent_size(body) <= 28_000
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert all(block.get("text", "x") for block in card["body"])
    assert all(a["url"].startswith(("https://", "http://")) for a in card["actions"])


def check_opsgenie(doc: dict[str, Any], body: dict[str, Any]) -> None:
    if doc.get("resolved"):  # the close-alert body
        assert set(body) == {"source", "note"} and 0 < len(body["note"]) <= 25_000
        assert 0 < len(body["source"]) <= 100
        return
    assert 0 < len(body["message"]) <= 130 and 0 < len(body["alias"]) <= 512
    assert len(body["description"]) <= 15_000
    assert len(body["tags"]) <= 20 and all(0 < len(t) <= 50 for t in body["tags"])
    assert sum(len(k) + len(v) for k, v in body["details"].items()) <= 8_000
    assert body["priority"] in ("P1", "P2", "P3", "P4", "P5")
    assert len(body["entity"]) <= 512 and len(body["source"]) <= 100


def check_discord(doc: dict[str, Any], body: dict[str, Any]) -> None:
    assert 0 < len(body["content"]) <= 2_000 and body["allowed_mentions"] == {"parse": []}
    (embed,) = body["embeds"]
    assert 0 < len(embed["title"]) <= 256 and len(embed["description"]) <= 4_096
    assert len(embed["fields"]) <= 25
    assert all(0 < len(f["name"]) <= 256 and 0 < len(f["value"]) <= 1_024 for f in embed["fields"])
    assert len(embed["footer"]["text"]) <= 2_048
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6_000


CHECKS = {
    "generic": check_generic,
    "pagerduty": check_pagerduty,
    "jira": check_jira,
    "servicenow": check_servicenow,
    "teams": check_teams,
    "opsgenie": check_opsgenie,
    "discord": check_discord,
}


def test_every_preset_is_checked() -> None:
    assert set(CHECKS) == set(PRESETS)


def test_the_schema_is_valid_and_describes_real_payloads_whole() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    doc = document([make_finding(site=f"Site {i}") for i in range(8)], changes=("CVE added",))
    VALIDATOR.validate(wire(PRESETS["generic"].payload(doc, CTX)))
    VALIDATOR.validate(wire(PRESETS["generic"].payload({**doc, "resolved": True}, CTX)))
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(wire(PRESETS["generic"].payload({**doc, "surprise": 1}, CTX)))


def test_digest_documents_fit_the_schema() -> None:
    from bot.alertdoc import digest_document
    from tests.webhook_docs import NOW

    docs = [document(), document(item="HSRC-202501-02")]
    digest = digest_document("ticketing", "daily", docs, NOW)
    VALIDATOR.validate(wire(PRESETS["generic"].payload(digest, CTX)))


def test_the_notify_test_sample_fits_the_schema() -> None:
    from notifiers.sample import sample_document
    from tests.webhook_docs import NOW

    doc = sample_document("ticketing", NOW)
    assert doc["id"].startswith("fw_test_")
    VALIDATOR.validate(wire(PRESETS["generic"].payload(doc, CTX)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_every_preset_keeps_its_api_limits(doc: dict[str, Any]) -> None:
    for name, preset in PRESETS.items():
        CHECKS[name](wire(doc), wire(preset.payload(doc, CTX)))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_real_document_renders_within_limits(name: str) -> None:
    doc = document([make_finding(site=f"Site {i}", count=i + 1) for i in range(3)])
    CHECKS[name](wire(doc), wire(PRESETS[name].payload(doc, CTX)))


def _pagerduty_popping(doc: dict[str, Any]) -> dict[str, Any]:
    """The PagerDuty event cut to size the plain way: drop the last finding until it fits."""
    from notifiers.presets import pagerduty

    event = pagerduty.payload(doc, CTX)
    details = event["payload"]["custom_details"]
    details["findings"] = pagerduty._details(doc, list(doc["findings"]))["findings"]
    details.pop("more_findings", None)
    while sent_size(event) > pagerduty.MAX_EVENT and details["findings"]:
        details["findings"].pop()
        details["more_findings"] = len(doc["findings"]) - len(details["findings"])
    return event


@pytest.mark.parametrize("cap", [900, 2_000, 2_600, 5_000, 9_999, 10_001, 50_000])
def test_pagerduty_keeps_the_longest_head_of_findings_that_fits(
    cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifiers.presets import pagerduty

    doc = document([make_finding(fleet=f"fleet-{i}" + "x" * (i % 7), count=i + 1)
                    for i in range(120)])
    assert len(doc["findings"]) == 120
    monkeypatch.setattr(pagerduty, "MAX_EVENT", cap)
    event = pagerduty.payload(doc, CTX)
    assert event == _pagerduty_popping(doc)
    assert sent_size(event) <= cap or not event["payload"]["custom_details"]["findings"]


def test_pagerduty_cuts_an_alert_of_thousands_of_groups_encoding_it_a_few_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A big estate's alert lists thousands of entries; the event was encoded once per entry
    dropped (an alert of 18,864 entries took 340 s to render)."""
    from notifiers.presets import pagerduty

    encoded: list[int] = []

    def counting(value: Any) -> int:
        if isinstance(value, dict) and "payload" in value:
            encoded.append(1)
        return sent_size(value)

    monkeypatch.setattr(pagerduty, "size", counting)
    doc = document([make_finding(fleet=f"fleet-{i}") for i in range(2_000)])
    details = pagerduty.payload(doc, CTX)["payload"]["custom_details"]
    assert 0 < len(details["findings"]) < 2_000
    assert details["more_findings"] == 2_000 - len(details["findings"])
    assert len(encoded) <= 5


def test_long_text_is_cut_with_an_ellipsis() -> None:
    doc = document(title="Overflow " * 500)
    assert PRESETS["discord"].payload(doc, CTX)["embeds"][0]["title"].endswith("…")
    summary = PRESETS["jira"].payload(document(item="X" * 400), CTX)["fields"]["summary"]
    assert len(summary) == 255 and summary.endswith("…")
    assert clip("abcdef", 4) == "abc…" and clip("abc", 3) == "abc"


def test_ids_are_hashed_never_cut() -> None:
    long = "ticketing|" + "https://vendor.example/" + "a" * 200 + "|0123"
    assert fit_id(long, 100) == fit_id(long, 100) and len(fit_id(long, 100)) <= 100
    assert fit_id(long, 100) != fit_id(long + "5", 100)
    assert fit_id("ticketing|HSRC-202108-01|abc", 100) == "ticketing|HSRC-202108-01|abc"


@pytest.mark.parametrize(
    ("severity", "kev", "expected"),
    [
        ("Critical", None, "critical"),
        ("High", None, "error"),
        ("Medium", None, "warning"),
        ("Low", None, "info"),
        ("Medium", "2024-01-02", "critical"),
    ],
)
def test_pagerduty_severity_mapping(severity: str, kev: str | None, expected: str) -> None:
    from datetime import date

    verdict = cve(severity=severity, kev=date.fromisoformat(kev) if kev else None)
    doc = document([make_finding(cves=(verdict,))])
    assert PRESETS["pagerduty"].payload(doc, CTX)["payload"]["severity"] == expected


def test_pagerduty_resolves_the_incident_its_trigger_opened() -> None:
    trigger = PRESETS["pagerduty"].payload(document(), CTX)
    update = PRESETS["pagerduty"].payload(document([make_finding(count=40)]), CTX)
    resolve = PRESETS["pagerduty"].payload(document(resolved=True, resolution="fixed"), CTX)
    assert trigger["dedup_key"] == update["dedup_key"] == resolve["dedup_key"]
    assert resolve == {
        "routing_key": "R" * 32,
        "dedup_key": trigger["dedup_key"],
        "event_action": "resolve",
    }


def test_servicenow_keys_the_item_and_an_update_raises_urgency_never_lowers_it() -> None:
    from datetime import date

    from notifiers.presets.servicenow import work_note

    doc, update = document(), document([make_finding(count=40)])
    correlation = PRESETS["servicenow"].payload(doc, CTX)["correlation_id"]
    assert correlation == PRESETS["servicenow"].payload(update, CTX)["correlation_id"]
    assert correlation == "firmwatch|ticketing|HSRC-202108-01"
    listed = cve(severity="Medium", score=5.0, kev=date(2026, 11, 27))
    kev = document([make_finding(cves=(listed,))])
    assert work_note(kev, "2")["urgency"] == "1"
    medium = document([make_finding(cves=(cve(severity="Medium", score=5.0),))])
    assert "urgency" not in work_note(medium, "1") and work_note(medium, "3")["urgency"] == "2"


def test_opsgenie_keys_the_item_not_the_revision() -> None:
    doc, update = document(), document([make_finding(count=40)])
    assert doc["dedupe_key"] != update["dedupe_key"]
    alias = PRESETS["opsgenie"].payload(doc, CTX)["alias"]
    assert alias == PRESETS["opsgenie"].payload(update, CTX)["alias"]
    assert alias == "firmwatch|ticketing|HSRC-202108-01"
    assert PRESETS["opsgenie"].headers(CTX) == {"Authorization": "GenieKey ops@example.net:token"}


def test_jira_search_that_answers_nonsense_is_retried() -> None:
    def call(request: Request) -> FetchResult:
        return FetchResult(request.url, 200, b"<html>maintenance</html>", {}, None, None, False)

    result = jira_exchange(document(), CTX, call)
    assert result.status == 502


def test_masked_context_names_the_variables() -> None:
    masked = CTX.masked()
    assert masked.secrets == {"routing_key": "(secret from $PD_KEY)", "auth": "(secret from $AUTH)"}


def test_a_reply_nested_too_deeply_reads_as_no_json() -> None:
    """A receiver's reply of "[[[[…" (under the 64 KiB cap) raised RecursionError out of the
    preset: a logged traceback and "the notifier failed" instead of the reply's status."""
    deep = FetchResult("https://jira.example/rest", 200, b"[" * 60_000, {}, None, None, False)
    assert reply_json(deep) is None
