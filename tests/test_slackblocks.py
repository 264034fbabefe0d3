"""The Slack Block Kit builder: content, buttons, truncation, Slack's limits for any document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alertdoc import digest_document
from notifiers import mrkdwn as md
from notifiers import slackblocks as sb
from notifiers.sample import sample_document
from tests.notifier_helpers import NOW, document, finding, kev_update


def limit_problems(message: Mapping[str, Any]) -> list[str]:
    """Every way ``message`` breaks a Slack limit (empty when it is within all of them)."""
    problems: list[str] = []
    blocks = message["blocks"]
    text = message["text"]
    if not text.strip() or len(text) > sb.FALLBACK_TEXT:
        problems.append(f"fallback text of {len(text)} characters")
    if len(blocks) > sb.MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks")
    for i, block in enumerate(blocks):
        kind = block["type"]
        if kind == "header":
            t = block["text"]["text"]
            if not t.strip() or len(t) > sb.HEADER_TEXT:
                problems.append(f"block {i}: header of {len(t)}")
        if kind == "section":
            if "text" in block:
                t = block["text"]["text"]
                if not t.strip() or len(t) > sb.SECTION_TEXT:
                    problems.append(f"block {i}: section text of {len(t)}")
            fields = block.get("fields", [])
            if len(fields) > sb.FIELDS:
                problems.append(f"block {i}: {len(fields)} fields")
            problems += [f"block {i}: field of {len(f['text'])}" for f in fields
                         if not f["text"].strip() or len(f["text"]) > sb.FIELD_TEXT]
        if kind == "actions":
            elements = block["elements"]
            if not 0 < len(elements) <= sb.ACTIONS_ELEMENTS:
                problems.append(f"block {i}: {len(elements)} elements")
            ids = [e["action_id"] for e in elements]
            if len(set(ids)) != len(ids):
                problems.append(f"block {i}: duplicate action_id")
            for e in elements:
                label = e["text"]["text"]
                if not label.strip() or len(label) > sb.BUTTON_TEXT:
                    problems.append(f"block {i}: button text of {len(label)}")
                if len(e.get("url", "")) > sb.BUTTON_URL or len(e.get("value", "")) > 2000:
                    problems.append(f"block {i}: button url or value too long")
        if kind == "context":
            for e in block["elements"]:
                if len(e["text"]) > sb.CONTEXT_TEXT or not e["text"].strip():
                    problems.append(f"block {i}: context of {len(e['text'])}")
    return problems


def mrkdwn(message: Mapping[str, Any]) -> str:
    """Every mrkdwn text of the message, one per line."""
    out: list[str] = []
    for block in message["blocks"]:
        parts = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        out += [p["text"] for p in parts if isinstance(p, dict) and p.get("type") == "mrkdwn"]
    return "\n".join(out)


def test_sample_alert_has_header_kev_badge_links_and_action_buttons() -> None:
    doc = sample_document("ops", NOW)
    message = sb.build_message(doc)
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"].startswith("CRITICAL · Security Advisory - Command Injection")
    assert sb.KEV_BADGE in blocks[1]["text"]["text"]
    every_text = mrkdwn(message)
    assert "sample-fleet" in every_text and "HQ" in every_text and "Depot" in every_text
    assert "*dynamic*\n15 devices in 1 fleet" in every_text
    assert "Fixed in* V5.5.800 build 210628" in every_text
    assert "Exploited in the wild (CISA KEV since 2022-01-10)" in every_text  # the risk note
    actions = [b for b in blocks if b["type"] == "actions"]
    links = {e["text"]["text"]: e["url"] for e in actions[0]["elements"]}
    assert links["Advisory"] == doc["item"]["url"]
    assert links["Download V5.9.72 build 260713"] == doc["findings"][0]["download_url"]
    buttons = actions[1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("fw_ack", doc["id"]), ("fw_snooze", doc["id"]), ("fw_ticket", doc["id"])]
    assert message["text"].startswith("[CRITICAL] [EXPLOITED: CISA KEV] Security Advisory")
    assert limit_problems(message) == []


def test_an_update_says_what_changed() -> None:
    message = sb.build_message(kev_update())
    changed = message["blocks"][2]["text"]["text"]
    assert changed == "*What changed*\n• listed in CISA KEV on 2026-11-27"


def test_text_is_escaped_for_mrkdwn() -> None:
    doc = document(title="Overflow <script> & <!channel>")
    message = sb.build_message(doc)
    assert "<!channel>" not in mrkdwn(message) and "<!channel>" not in message["text"]
    assert "&lt;!channel&gt;" in message["text"]
    assert message["blocks"][0]["text"]["text"].endswith("Overflow <script> & <!channel>")


def test_many_findings_and_groups_are_cut_with_and_n_more() -> None:
    findings = [finding(fleet=f"fleet-{i:03d}", site=f"site-{j}") for i in range(80)
                for j in range(2)]
    message = sb.build_message(document(findings=findings))
    blocks = message["blocks"]
    assert len(blocks) == sb.MAX_BLOCKS
    overflow = [b for b in blocks if "…and" in b.get("text", {}).get("text", "")]
    assert overflow and overflow[-1]["text"]["text"].startswith("…and ")
    assert "more finding(s)" in overflow[-1]["text"]["text"]
    assert limit_problems(message) == []


def test_long_titles_and_notes_are_clipped() -> None:
    doc = document(title="T" * 500)
    doc["findings"][0]["risk_note"] = "word " * 2000
    doc["changes"] = [f"change {i} " + "x" * 100 for i in range(100)]
    message = sb.build_message(doc)
    assert len(message["blocks"][0]["text"]["text"]) == sb.HEADER_TEXT
    assert "…and " in message["blocks"][2]["text"]["text"]
    assert limit_problems(message) == []


def test_notices_have_no_action_buttons() -> None:
    from notifiers.health import notice_document

    message = sb.build_message(notice_document("chat", "pager", "HTTP 410 Gone", NOW))
    assert message["blocks"][0]["text"]["text"] == "NOTICE · Receiver pager was disabled"
    assert not [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"].startswith(("fw_ack", "fw_snooze", "fw_ticket"))]


def test_a_resolved_alert_has_no_action_buttons() -> None:
    """Nothing is left to acknowledge, snooze or file a ticket for: a resolution carried the
    buttons, so a ticket could be opened for it."""
    doc = {**sample_document("ops", NOW), "resolved": True, "resolution": "fixed",
           "findings": []}
    message = sb.build_message(doc)
    assert not [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e.get("action_id", "").startswith(("fw_ack", "fw_snooze", "fw_ticket"))]


def test_fit_lines_and_join_some() -> None:
    assert md.fit_lines(["a", "b"], 10) == "a\nb"
    assert md.fit_lines(["aaaa"] * 5, 17) == "aaaa\n…and 4 more"
    assert md.join_some(["CVE-1", "CVE-2", "CVE-3"], 18) == "CVE-1, …and 2 more"
    assert md.clip_esc("a&b&c&d", 9) == "a&amp;b…"


_text = st.text(st.characters(codec="utf-8"), max_size=400)  # utf-8: no lone surrogates
_huge = st.sampled_from(["<&>" * 1500, "x" * 4000, "a|b " * 1200, "é" * 3001])
_big = st.one_of(_text, _huge)
_maybe_url = st.one_of(st.none(), st.just(""), _text, st.builds(
    lambda s, n: "https://ex.com/" + s * n, st.text(alphabet="abc/|<>", max_size=8),
    st.integers(0, 600)))
_group = st.fixed_dictionaries({"model": _text, "firmware": st.one_of(st.none(), _text),
                                "count": st.integers(0, 10**6), "site": _text})
_cve = st.fixed_dictionaries({"id": _text, "score": st.one_of(st.none(), st.floats(0, 10)),
                              "fix_promised": _text, "kev": st.one_of(st.none(), _text)})
_finding = st.fixed_dictionaries({
    "fleet": _text, "status": _text, "stage": _text, "stage_ends": st.one_of(st.none(), _text),
    "devices": st.integers(0, 10**6), "device_groups": st.lists(_group, max_size=30),
    "risk_note": _big, "fixed_version": st.one_of(st.none(), _text),
    "update_available": st.one_of(st.none(), _text), "download_url": _maybe_url,
    "notes_url": _maybe_url, "cves": st.lists(_cve, max_size=30)})
_doc = st.fixed_dictionaries({
    "id": st.one_of(_text, st.text(min_size=1990, max_size=2100)),
    "kind": st.sampled_from(["advisory", "firmware", "lifecycle", "exploited", "digest",
                             "notice"]),
    "severity": st.one_of(st.none(), _text), "score": st.one_of(st.none(), st.floats(0, 10)),
    "cvss_version": st.one_of(st.none(), _text), "kev": st.one_of(st.none(), _text),
    "created_at": _text, "summary": _big, "changes": st.lists(_big, max_size=40),
    "item": st.fixed_dictionaries({"key": _text, "id": _text, "kind": _text, "title": _big,
                                   "url": _maybe_url}),
    "findings": st.lists(_finding, max_size=70),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(_doc)
def test_any_document_yields_blocks_within_every_limit(doc: dict[str, Any]) -> None:
    message = sb.build_message(doc)
    assert limit_problems(message) == []
    for block in message["blocks"]:
        for e in block.get("elements", []):
            if e.get("action_id") in ("fw_ack", "fw_snooze", "fw_ticket"):
                assert e["value"] == doc["id"]


def test_a_digest_with_a_score_but_no_single_cvss_version_reads_cvss_score() -> None:
    """The planning channel's digest read "digest:daily:… · CVSS  9.8 · digest" (two spaces:
    a digest sums up several alerts, so it has a top score but no one CVSS version)."""
    digest = digest_document("planning", "daily", [sample_document("planning", NOW)], NOW)
    assert digest["cvss_version"] is None and digest["score"] is not None
    text = mrkdwn(sb.build_message(digest))
    assert "CVSS  " not in text and f"CVSS {digest['score']}" in text
