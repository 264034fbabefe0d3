"""Tests for the firmware readers: the portal's text layout and firmwatch's JSON index."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.sources.firmware_json import KNOWN, SCHEMA, Package
from bot.sources.firmware_text import (
    FirmwareTextError,
    html_to_text,
    normalize_models,
    package_key,
    parse_date,
    read_package,
)
from tests.test_feed import cases, check_case

DOCS = Path(__file__).parents[1] / "docs"


@pytest.mark.parametrize("path", cases("firmware"))
def test_firmware_case(path: Path) -> None:
    check_case(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-20", date(2026, 7, 20)),
        ("2026/7/20", date(2026, 7, 20)),
        ("2026.07.20", date(2026, 7, 20)),
        ("2026年7月20日", date(2026, 7, 20)),
        ("20260720", date(2026, 7, 20)),
        ("20 July 2026", date(2026, 7, 20)),
        ("July 20, 2026", date(2026, 7, 20)),
        ("Jul. 20th, 2026", date(2026, 7, 20)),
        ("20/07/2026", date(2026, 7, 20)),
        ("07/20/2026", date(2026, 7, 20)),
        ("05/05/2026", date(2026, 5, 5)),
        ("2026-07-20T08:00:00+08:00", date(2026, 7, 20)),
        ("03/04/2026", None),  # March 4th or 3 April: not guessed
        ("2026-02-30", None),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def _read(text: str, links: list[tuple[str, str]] | None = None, **kw: Any) -> tuple[str, ...]:
    release, _ = read_package(text.splitlines(), links or [], **kw)
    return release.models


def test_version_and_build_come_from_the_file_name_when_there_is_no_version_line() -> None:
    links = [("https://h.example/dl/Firmware__V5.8.7_260330_S3000712757.zip", "enclosure")]
    release, notes = read_package(["Applied to: DS-2DF8442IXS-AELWY(T5)"], links, title="PTZ")
    assert release.version == "V5.8.7 build 260330"
    assert release.key.endswith("|V5.8.7 build 260330|Firmware__V5.8.7_260330_S3000712757.zip")
    assert notes == []


def test_a_version_line_without_build_takes_the_build_from_the_same_version_in_the_file() -> None:
    links = [("https://h.example/IPC_G2_EN_STD_V5.7.15_250101.zip", "")]
    release, _ = read_package(["Applied to: DS-2CD3321G2-I", "Version: V5.7.15"], links)
    assert release.version == "V5.7.15 build 250101"


def test_a_version_line_that_disagrees_with_the_file_name_wins() -> None:
    links = [("https://h.example/IPC_G2_EN_STD_V5.7.14_241201.zip", "")]
    release, _ = read_package(["Applied to: DS-2CD3321G2-I", "Version: V5.7.15"], links)
    assert release.version == "V5.7.15"


def test_an_unreadable_version_is_quoted() -> None:
    with pytest.raises(FirmwareTextError, match=r"'V5\.9\.x-rc1'"):
        read_package(["Applied to: DS-2CD3321G2-I", "Version: V5.9.x-rc1"])


def test_no_version_anywhere_is_an_error() -> None:
    with pytest.raises(FirmwareTextError, match="no 'Version:' line"):
        read_package(["Applied to: DS-2CD3321G2-I"], title="Camera firmware")


def test_the_version_can_come_from_the_title_last() -> None:
    release, _ = read_package(["Applied to: DS-2CD3321G2-I"], title="Firmware V5.7.15")
    assert release.version == "V5.7.15"


def test_applied_to_lists_are_split_sorted_and_normalised() -> None:
    text = "Applied to: ds-2cd3321g2-i、DS-2CD3121G2-I; DS-2CD3xx1G2\nDS-2CD3021G2-IS (2.8mm)\n"
    models = _read(text + "Version: V5.7.15")
    assert models == ("DS-2CD3021G2-IS", "DS-2CD3121G2-I", "DS-2CD3321G2-I", "DS-2CD3xx1G2")


def test_applied_to_order_and_spelling_do_not_change_the_key() -> None:
    a = _read("Applied to: DS-2CD3321G2-I, DS-2CD3121G2-I\nVersion: V5.7.15_250101")
    b = _read("Applied to: DS-2CD3121G2-I、ds-2cd3321g2-i\nVersion: V5.7.15 build 250101")
    assert a == b
    assert package_key(a, "V5.7.15 build 250101", None) == package_key(
        b, "V5.7.15 build 250101", "https://h.example/"
    )


def test_prose_after_the_models_ends_the_list() -> None:
    models = _read("Applied to: DS-2CD3321G2-I\nImproves night vision.\nVersion: V5.7.15")
    assert models == ("DS-2CD3321G2-I",)


def test_security_comes_from_cves_or_wording() -> None:
    def security(line: str) -> bool:
        release, _ = read_package(["Applied to: DS-2CD3321G2-I", "Version: V5.7.15", line])
        return release.security

    assert security("Fixed: CVE-2021-36260")
    assert security("This version fixed some vulnerabilities.")
    assert security("Improves the security of the web interface.")
    assert security("See HSRC-202412-01.")
    assert not security("Improves night vision and ONVIF compatibility.")


def test_checksums_keep_their_algorithm() -> None:
    head = ["Applied to: DS-2CD3321G2-I", "Version: V5.7.15"]
    release, _ = read_package([*head, "MD5: ABCDEF0123456789abcdef0123456789"])
    assert release.checksum == "md5:abcdef0123456789abcdef0123456789"
    release, _ = read_package([*head, "SHA256: not-a-hash"])
    assert release.checksum is None


def test_an_unreadable_release_date_falls_back_to_the_entry_date_with_a_note() -> None:
    lines = ["Applied to: DS-2CD3321G2-I", "Version: V5.7.15", "Release date: 03/04/2026"]
    release, notes = read_package(lines, published=date(2026, 4, 3))
    assert release.released == date(2026, 4, 3)
    assert notes == ["cannot read the release date '03/04/2026'; using the entry's date"]


def test_html_is_reduced_to_lines_without_scripts_and_with_resolved_links() -> None:
    page = html_to_text(
        "<div><b>Applied to:</b> DS-2CD3321G2-I<br>Version: <i>V5.7.15</i>"
        "<script>steal()</script><style>p{}</style><p><a href='/f/x.zip'>file</a></p></div>",
        "https://h.example/a/b",
    )
    assert page.lines == ("Applied to: DS-2CD3321G2-I", "Version: V5.7.15", "file")
    assert page.links == (("https://h.example/f/x.zip", "file"),)


def test_normalize_models_rejects_prose() -> None:
    with pytest.raises(ValueError, match="cameras"):
        normalize_models(["all cameras"])


def test_the_json_schema_document_matches_the_parser() -> None:
    schema = json.loads((DOCS / "firmware-index.schema.json").read_text(encoding="utf-8"))
    package = schema["$defs"]["package"]
    assert schema["properties"]["schema"]["const"] == SCHEMA
    assert set(package["properties"]) == set(KNOWN)
    required = {name for name, field in Package.model_fields.items() if field.is_required()}
    assert set(package["required"]) == required


def test_the_docs_example_is_a_valid_index() -> None:
    from bot.config import SourceSettings
    from bot.sources import firmware_json

    text = (DOCS / "firmware-json.md").read_text(encoding="utf-8")
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    source = SourceSettings(name="d", kind="firmware", format="firmware-json", url="file:///x")
    result = firmware_json.parse(example.encode(), {}, source)
    assert len(result.items) == 2
    assert result.warnings == []
