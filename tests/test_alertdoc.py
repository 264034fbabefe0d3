"""The alert document: what its finding entries say of the device groups they list, and the
README's description of it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.alertdoc import (
    BELOW,
    GONE,
    UPGRADED,
    alert_document,
    digest_document,
    superseded_by,
)
from bot.finding import CveVerdict, Finding
from bot.policy import Promise, Stage
from bot.routing import Alert, AlertKind, FleetRouting, ItemHeader, Routing, route
from bot.rows import read_firmware

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
README = Path(__file__).parent.parent / "README.md"
UNREAD = "firmware 'latest' could not be read as a version"


def _finding(
    site: str,
    firmware: str | None,
    reason: str,
    status: str = "affected",
    model: str = "DS-2CD3321G2-I",
    count: int = 1,
) -> Finding:
    """An advisory finding of one device group; groups differ by site, firmware and reason."""
    return Finding(
        key=f"hq|{model}|{site}|HSRC-202109-01", kind="advisory", fleet="hq",
        group_key=f"{model}|{site}", model=model, firmware=firmware, count=count, site=site,
        item_key="HSRC-202109-01", status=status, reason=reason, stage=Stage.DYNAMIC,
        fix_promised=Promise.YES, fixed_version="V5.5.800 build 210628",
        cves=(CveVerdict("CVE-2021-36260", status, Promise.YES, 9.8, "Critical", "3.1"),),
    )


def _document(
    findings: list[Finding], models: Callable[[Finding], str] | None = None
) -> dict[str, Any]:
    header = ItemHeader("HSRC-202109-01", "advisory", "Command injection", "", "r1",
                        "HSRC-202109-01")
    (alert,) = route([(header, findings)], Routing({"hq": FleetRouting("hq", ("ops",))}), NOW)
    return alert_document(alert, NOW) if models is None else alert_document(alert, NOW,
                                                                              models=models)


def test_a_grouped_entry_gives_each_device_group_its_own_reason() -> None:
    doc = _document([
        _finding("Site A", "V5.4.0", "firmware V5.4.0 is in V5.5.800 and earlier", count=40),
        _finding("Site B", "V5.5.800 build 210101",
                 "firmware V5.5.800 build 210101 is in V5.5.800 and earlier", count=5),
    ])
    (entry,) = doc["findings"]
    assert [(g["firmware"], g["reason"]) for g in entry["device_groups"]] == [
        ("V5.4.0", "firmware V5.4.0 is in V5.5.800 and earlier"),
        ("V5.5.800 build 210101", "firmware V5.5.800 build 210101 is in V5.5.800 and earlier"),
    ]
    # The entry's reason is true of both groups: it quotes neither one's firmware.
    assert entry["reason"] == "the firmware of each device group is in the affected versions"
    assert entry["devices"] == 45 and "upgrade the 45 devices" in entry["risk_note"]


def test_an_entry_whose_groups_share_a_reason_keeps_it() -> None:
    said = "firmware V5.4.0 is in V5.5.800 and earlier"
    doc = _document([_finding("Site A", "V5.4.0", said), _finding("Site B", "V5.4.0", said)])
    (entry,) = doc["findings"]
    assert entry["reason"] == said
    assert [g["reason"] for g in entry["device_groups"]] == [said, said]


def test_possibly_affected_groups_of_different_reasons_share_a_true_note() -> None:
    doc = _document([
        _finding("Site C", "latest", UNREAD, status="possibly-affected"),
        _finding("Site D", None, "firmware version not known", status="possibly-affected"),
    ])
    (entry,) = doc["findings"]
    assert [g["reason"] for g in entry["device_groups"]] == [UNREAD, "firmware version not known"]
    for said in (entry["reason"], entry["risk_note"]):
        assert "latest" not in said and "not known" not in said
    assert entry["risk_note"].startswith(f"Possibly affected: {entry['reason']}; check the")


def test_unreadable_firmware_is_quoted_and_missing_firmware_is_not_known() -> None:
    assert read_firmware("latest") == (None, UNREAD)
    assert read_firmware("garbage!!") == (
        None, "firmware 'garbage!!' could not be read as a version"
    )
    assert read_firmware(None) == (None, "firmware version not known")
    assert read_firmware("  ") == (None, "firmware version not known")


def test_device_groups_show_the_model_as_registered() -> None:
    written = {"IDS-7716NXI-M4/X|A": "iDS-7716NXI-M4/X",
               "HIKCENTRALPROFESSIONAL|B": "HikCentral Professional"}
    findings = [
        _finding("A", "V4.62.200", "firmware V4.62.200 is in V4.62.200 and earlier",
                 model="IDS-7716NXI-M4/X"),
        _finding("B", "V2.0.0", "firmware V2.0.0 is in V2.0.0 and earlier",
                 model="HIKCENTRALPROFESSIONAL"),
    ]
    doc = _document(findings, models=lambda f: written[f.group_key])
    shown = [g["model"] for f in doc["findings"] for g in f["device_groups"]]
    assert shown == ["iDS-7716NXI-M4/X", "HikCentral Professional"]
    # Without the registry at hand, the model as the vendor writes it, never the bare key.
    shown = [g["model"] for f in _document(findings)["findings"] for g in f["device_groups"]]
    assert shown[0] == "iDS-7716NXI-M4/X"


def _readme_keys() -> tuple[set[str], set[str]]:
    """The keys the README's schema section names: of the document (its table) and of a finding
    entry (the paragraph after it)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### The alert document", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    top = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    entry = section.split("Each finding:", 1)[1]
    return top, set(re.findall(r"`([a-z_]+)`", entry))


def test_the_readme_names_every_key_of_the_document() -> None:
    top, entry = _readme_keys()
    doc = _document([_finding("Site A", "V5.4.0", "firmware V5.4.0 is in V5.5.800 and earlier")])
    resolved = {**doc, "resolved": True, "resolution": "fixed"}
    digest = digest_document("ops", "daily", [doc], NOW)
    for each in (doc, resolved, digest):
        assert set(each) <= top, set(each) - top
    (finding,) = doc["findings"]
    assert set(finding) <= entry, set(finding) - entry
    assert set(finding["device_groups"][0]) <= entry
    assert {c for c in finding["cves"][0]} <= entry


def test_groups_whose_stages_end_on_other_days_get_their_own_entries_and_notes() -> None:
    """Two models in one fleet and stage: each note quotes its own model's dates."""
    early = _finding("Site A", "V5.4.0", "r")._replace(
        stage=Stage.SECURITY_ONLY, stage_ends=date(2029, 6, 30))
    late = _finding("Site B", "V5.4.0", "r", model="DS-2CD3026G2-IS")._replace(
        stage=Stage.SECURITY_ONLY, stage_ends=date(2031, 1, 31))
    entries = _document([early, late])["findings"]
    assert [e["stage_ends"] for e in entries] == ["2029-06-30", "2031-01-31"]
    assert ["2029-06-30" in e["risk_note"] for e in entries] == [True, False]
    assert ["2031-01-31" in e["risk_note"] for e in entries] == [False, True]


def test_a_lifecycle_note_names_every_site_of_its_groups_and_the_model_as_the_vendor_does() -> None:
    def reminder(site: str, count: int) -> Finding:
        return Finding(
            key=f"hq|IDS-7716NXI-M4/X|{site}|lifecycle:x", kind="lifecycle", fleet="hq",
            group_key=f"IDS-7716NXI-M4/X|{site}", model="IDS-7716NXI-M4/X", firmware=None,
            count=count, site=site, item_key="lifecycle:x", status="stage-change", reason="",
            stage=Stage.DYNAMIC, change_to=Stage.SECURITY_ONLY, change_on=date(2027, 3, 1),
        )

    header = ItemHeader("lifecycle:x", "lifecycle", "t", "", "lifecycle:x")
    (alert,) = route([(header, [reminder("Site A", 2), reminder("Site B", 3)])],
                     Routing({"hq": FleetRouting("hq", ("ops",), kinds=frozenset({"lifecycle"}))}),
                     NOW)
    (entry,) = alert_document(alert, NOW)["findings"]
    assert entry["risk_note"].startswith(
        "5 iDS-7716NXI-M4/X at Site A and Site B enter security-only on 2027-03-01"
    )


def test_entries_come_most_urgent_first_where_a_long_alert_is_cut_short() -> None:
    """Slack shows an alert's first entries: affected before possibly affected, no fix coming
    before a fix, more devices before fewer (they came in advisory-row order)."""
    fixable = _finding("A", "V5.4.0", "r", model="DS-2CD2143G2-I", count=2)
    none_coming = _finding("B", "V5.4.0", "r", model="DS-2CD3021G0-I", count=1)._replace(
        fix_promised=Promise.NO, stage=Stage.END_OF_SUPPORT)
    possibly = _finding("C", None, "firmware not known", status="possibly-affected",
                        model="DS-7608NI-I2", count=90)
    bigger = _finding("D", "V5.4.0", "r", model="DS-2CD2347G2-L", count=30)._replace(
        fixed_version="V5.7.13")  # its own entry
    doc = _document([possibly, fixable, none_coming, bigger])
    assert [e["device_groups"][0]["site"] for e in doc["findings"]] == ["B", "D", "A", "C"]


WEBHOOKS = README.parent / "docs" / "webhooks.md"
SCHEMA = README.parent / "docs" / "webhook-payload.schema.json"
SOURCE_RESOLUTIONS = {"recovered", "not-watched"}  # source-health notices (bot.sourcenotice)


def _resolved_documents() -> dict[str, dict[str, Any]]:
    """A resolved document of each kind `bot.resolution` makes, by the reason it gives."""
    advisory = ItemHeader("HSRC-202109-01", "advisory", "Command injection", "", "r1",
                          "HSRC-202109-01")
    release = ItemHeader("DS-2CD3321G2-I|V5.9.72 build 260713|IPC.zip", "firmware",
                         "Firmware V5.9.72", "", "r1", "Firmware V5.9.72 build 260713")
    newer = superseded_by(["Firmware V5.9.80 build 261020"])
    cases: list[tuple[str, AlertKind, ItemHeader]] = [
        (GONE, "advisory", advisory),
        (BELOW, "advisory", advisory),
        (UPGRADED, "firmware", release),
        (newer, "firmware", release),
    ]
    return {
        why: alert_document(Alert("ops", kind, header, (), "resolved:x", {}, (why,),
                                  resolved=True), NOW)
        for why, kind, header in cases
    }


def _quoted(text: str) -> set[str]:
    return set(re.findall(r'"([a-z][a-z-]*)"', text)) - {"resolved", "resolution"}


def test_the_docs_name_every_resolution_firmwatch_sends_and_no_other() -> None:
    """An integrator reads the resolution values off webhooks.md, the schema and the README:
    they named "withdrawn", which nothing sends, and must gain any value the code adds."""
    sent = {doc["resolution"] for doc in _resolved_documents().values()}
    assert sent == {"fixed", "upgraded", "superseded", "below-threshold"}
    paragraph = WEBHOOKS.read_text(encoding="utf-8").split("**Resolution.**", 1)[1]
    assert _quoted(paragraph.split("\n\n", 1)[0]) == sent
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    described = schema["$defs"]["alertDocument"]["properties"]["resolution"]["description"]
    assert _quoted(described) == sent | SOURCE_RESOLUTIONS
    states = set(schema["$defs"]["source"]["properties"]["state"]["enum"])
    assert SOURCE_RESOLUTIONS | {"failing"} == states
    section = README.read_text(encoding="utf-8").split("### The alert document", 1)[1]
    (row,) = [line for line in section.splitlines() if line.startswith("| `resolved`")]
    named = set(re.findall(r"`([a-z][a-z-]*)`", row.split("|")[2])) - {"true"}
    assert named == sent | SOURCE_RESOLUTIONS


def test_a_resolved_document_lists_nothing_and_the_readme_quotes_its_words() -> None:
    docs = _resolved_documents()
    for doc in docs.values():
        assert doc["resolved"] is True and doc["findings"] == []
        assert doc["totals"] == {"fleets": 0, "device_groups": 0, "devices": 0}
    superseded = next(d for d in docs.values() if d["resolution"] == "superseded")
    quote = re.search(r'resolved as `superseded` \("([^"]+)"\)',
                      " ".join(README.read_text(encoding="utf-8").split()))
    assert quote is not None and quote[1] in superseded["summary"]
    assert superseded["changes"] == ["superseded by Firmware V5.9.80 build 261020"]


def test_the_readme_names_every_key_of_a_digest_finding() -> None:
    """Digest findings carry the item they are about (`item`: key, id, title, url)."""
    _, entry = _readme_keys()
    doc = _document([_finding("Site A", "V5.4.0", "firmware V5.4.0 is in V5.5.800 and earlier")])
    (finding,) = digest_document("ops", "daily", [doc], NOW)["findings"]
    assert set(finding) <= entry, set(finding) - entry
    assert set(finding["item"]) <= entry, set(finding["item"]) - entry
