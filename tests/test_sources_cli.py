"""``firmwatch sources`` and ``firmwatch fetch`` end to end, with sources on 127.0.0.1 and file://."""

from __future__ import annotations

import json
import mimetypes
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.sources.health import SourceHealth, record_failure, record_success
from bot.sources.runner import Cursor
from state import open_store
from tests.httpserver import LocalServer, Route
from tests.test_cli import run

SAMPLES = Path(__file__).parents[1] / "bot" / "samples" / "sources"
LISTING = "/samples/hikvision/listing.html"
FORMATS = {  # name: (kind, format, path under /samples)
    "hik": ("advisory", "hikvision-html", "hikvision/listing.html"),
    "advisories": ("advisory", "feed", "advisories.rss"),
    "firmware": ("firmware", "feed", "firmware.rss"),
    "nvd": ("scores", "nvd-json", "nvd.json"),
    "kev": ("exploited", "kev-json", "kev.json"),
    "index": ("firmware", "firmware-json", "firmware.json"),
}


def _serve_samples(server: LocalServer) -> None:
    for path in SAMPLES.rglob("*"):
        if path.is_file():
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            rel = path.relative_to(SAMPLES).as_posix()
            server.route(f"/samples/{rel}", Route(body=path.read_bytes(), etag=f'"{rel}"',
                                                  headers={"Content-Type": kind}))


def _config(tmp_path: Path, sources: dict[str, tuple[str, str, str]], extra: str = "") -> str:
    text = '[state]\nurl = "tinydb:///state.json"\n[network]\nallow_hosts = ["127.0.0.1"]\n'
    text += 'timeout = "3s"\n'
    for name, (kind, fmt, url) in sources.items():
        text += (
            f'[[sources]]\nname = "{name}"\nkind = "{kind}"\nformat = "{fmt}"\nurl = "{url}"\n'
        )
    path = tmp_path / "bot.toml"
    path.write_text(text + extra, encoding="utf-8")
    return str(path)


@pytest.fixture
def served(http_server: LocalServer, tmp_path: Path) -> str:
    """A config with one source per format, all served from 127.0.0.1."""
    _serve_samples(http_server)
    return _config(tmp_path, {
        name: (kind, fmt, http_server.url(f"/samples/{path}"))
        for name, (kind, fmt, path) in FORMATS.items()
    })  # fmt: skip


def _fetch_json(config: str, name: str) -> list[dict[str, Any]]:
    code, out, err = run("fetch", name, "--config", config, "--json")
    assert (code, err) == (0, ""), err
    items: list[dict[str, Any]] = json.loads(out)
    return items


def test_fetch_json_advisories_from_the_listing_and_its_pages(served: str) -> None:
    items = {i["key"]: i for i in _fetch_json(served, "hik")}
    assert len(items) == 4
    assert {"HSRC-202508-03", "HSRC-202412-02", "HSRC-202109-01"} < set(items)
    storage = items["HSRC-202508-03"]
    assert storage["kind"] == "advisory" and storage["revision"]
    assert [c["id"] for c in storage["cves"]] == ["CVE-2025-39250", "CVE-2025-39251"]
    score = storage["cves"][0]["scores"][0]
    assert (score["version"], score["base_score"], score["severity"]) == ("3.1", 9.8, "Critical")
    assert {"product": "DS-A80624S", "cve": "CVE-2025-39250", "affected": "V2.X ≤ V2.3.8-6",
            "fixed": "V2.3.8-8", "problem": None} in storage["rows"]
    assert items["HSRC-202412-02"]["cves"][0]["scores"][0]["version"] == "4.0"


def test_fetch_json_advisory_feed(served: str) -> None:
    items = _fetch_json(served, "advisories")
    assert [i["key"] for i in items][:1] == ["HSRC-202508-03"]
    assert all(i["kind"] == "advisory" and i["cves"] and i["rows"] for i in items)


@pytest.mark.parametrize("name", ["firmware", "index"])
def test_fetch_json_firmware(served: str, name: str) -> None:
    items = _fetch_json(served, name)
    assert items and all(i["kind"] == "firmware" for i in items)
    first = items[0]
    assert first["models"] and first["version"].startswith("V")
    assert first["download_url"].startswith("https://") and first["download_url"].endswith(".zip")


def test_fetch_json_scores_and_kev(served: str) -> None:
    nvd = {i["key"]: i for i in _fetch_json(served, "nvd")}
    assert [(s["source"], s["base_score"]) for s in nvd["CVE-2023-28808"]["scores"]] == [
        ("vendor", 9.1), ("nvd", 9.8)
    ]  # fmt: skip
    kev = _fetch_json(served, "kev")
    assert [(i["key"], i["date_added"]) for i in kev] == [
        ("CVE-2021-36260", "2022-01-10"), ("CVE-2017-7921", "2022-03-25")
    ]  # fmt: skip


def test_fetch_readable_with_limit_and_warnings(served: str) -> None:
    code, out, err = run("fetch", "hik", "--config", served, "--limit", "1")
    assert (code, err) == (0, "")
    assert out.startswith("hik: 1 of 4 items (advisory, hikvision-html, HTTP 200)\n")
    assert "\nadvisory HSRC-202508-03: Security Advisory - Multiple Vulnerabilities" in out
    assert "  CVE-2025-39250: 9.8 Critical (CVSS 3.1, vendor)\n" in out
    assert "\n1 warning:\n  - " in out and "kept but flagged" in out


def test_fetch_stores_nothing_and_sends_no_validators(
    served: str, http_server: LocalServer, tmp_path: Path
) -> None:
    for _ in range(2):
        assert run("fetch", "kev", "--config", served)[0] == 0
    assert not (tmp_path / "state.json").exists()
    sent = http_server.requests_to("/samples/kev.json")
    assert len(sent) == 2 and all("if-none-match" not in r.headers for r in sent)


def test_fetch_a_disabled_file_source(tmp_path: Path) -> None:
    config = _config(tmp_path, {"kev": ("exploited", "kev-json", (SAMPLES / "kev.json").as_uri())},
                     "enabled = false\n")
    code, out, _ = run("fetch", "kev", "--config", config)
    assert code == 0
    assert out.startswith("kev: 2 items (exploited, kev-json, read from file)\n")
    assert "exploited CVE-2021-36260: Hikvision Improper Input Validation" in out


@pytest.mark.parametrize(
    ("route", "words"),
    [
        (Route(404, b"gone"), "firmwatch fetch: source bad: HTTP 404 Not Found\n"),
        (Route(body=b"<html><title>Login</title></html>", headers={"Content-Type": "text/html"}),
         "firmwatch fetch: source bad: cannot read the body as kev-json: not JSON"),
    ],
)
def test_a_failing_source_exits_1_with_the_error_in_words(
    http_server: LocalServer, tmp_path: Path, route: Route, words: str
) -> None:
    config = _config(tmp_path, {"bad": ("exploited", "kev-json", http_server.route("/k", route))})
    code, out, err = run("fetch", "bad", "--config", config, "--json")
    assert (code, out) == (1, "")
    assert err.startswith(words)


def test_fetch_an_unknown_source_is_a_usage_error(served: str) -> None:
    code, _, err = run("fetch", "nope", "--config", served)
    assert code == 2
    assert "no [[sources]] entry is named 'nope' (configured: hik, advisories, firmware" in err
    assert run("fetch", "kev", "--config", served, "--limit", "0")[0] == 2


def test_fetched_text_cannot_drive_the_terminal(http_server: LocalServer, tmp_path: Path) -> None:
    hostile = json.dumps({"vulnerabilities": [{
        "cveID": "CVE-2021-36260", "vendorProject": "Hikvision",
        "vulnerabilityName": "Bad\x1b]0;owned\x07\x1b[2J name\u009b31m",
    }]}).encode()  # fmt: skip
    config = _config(tmp_path, {"kev": ("exploited", "kev-json", http_server.route(
        "/kev", Route(body=hostile)))})  # fmt: skip
    code, out, _ = run("fetch", "kev", "--config", config)
    assert code == 0 and "exploited CVE-2021-36260: Bad]0;owned[2J name31m\n" in out
    code, out, _ = run("fetch", "kev", "--config", config, "--json")
    assert "\x1b" not in out and "\x9b" not in out
    assert json.loads(out)[0]["name"] == "Bad\x1b]0;owned\x07\x1b[2J name\u009b31m"


def test_sources_lists_config_health_and_cursor(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)  # the health line says "just now"
    config = _config(tmp_path, {
        "nvd": ("scores", "nvd-json",
                "https://services.nvd.nist.gov/rest/json/cves/2.0?keywordSearch=hik&apiKey=s3cr3t"),
        "kev": ("exploited", "kev-json", "https://www.cisa.gov/kev.json"),
        "new": ("firmware", "firmware-json", "https://mirror.example.org/index.json"),
    }, 'every = "2h30m"\nenabled = false\n')  # fmt: skip
    ok = record_success(SourceHealth(), now, 200, ["entry 3: skipped: no link"], 12)
    failing = record_failure(record_failure(ok, now, "HTTP 503 Service Unavailable", 503),
                             now, "HTTP 503 Service Unavailable", 503)
    with open_store(f"tinydb:///{tmp_path / 'state.json'}") as store:
        store.sources.put_health("nvd", failing.to_dict(), now)
        store.sources.put_cursor("nvd", Cursor(nvd_last_modified="2025-06-01T12:00:00.000+00:00")
                                 .to_dict(), now)
        store.sources.put_health("kev", record_success(ok, now, 304, ok.warnings, 0).to_dict(), now)
        store.sources.put_cursor("kev", Cursor(etag='"k1"', pages={"a": "b"}).to_dict(), now)
    code, out, err = run("sources", "--config", config, "--json")
    assert (code, err) == (0, "")
    views = {v["name"]: v for v in json.loads(out)}
    assert list(views) == ["nvd", "kev", "new"]
    nvd = views["nvd"]
    assert (nvd["kind"], nvd["format"], nvd["every"], nvd["enabled"]) == (
        "scores", "nvd-json", "1h", True)  # fmt: skip
    assert nvd["url"].endswith("?keywordSearch=hik&apiKey=***")
    assert nvd["health"]["consecutive_failures"] == 2
    assert nvd["health"]["last_error"] == "HTTP 503 Service Unavailable"
    assert nvd["health"]["last_status"] == 503
    assert nvd["health"]["last_success"] == now.isoformat()
    assert nvd["health"]["warnings"] == ["entry 3: skipped: no link"]
    assert nvd["status"].startswith("failing \u00d72 since just now: HTTP 503")
    assert nvd["cursor"]["nvd_last_modified"] == "2025-06-01T12:00:00.000+00:00"
    assert views["kev"]["cursor"] == {"etag": '"k1"', "last_modified": None, "detail_pages": 1,
                                      "nvd_last_modified": None}
    new = views["new"]
    assert (new["every"], new["every_seconds"], new["enabled"]) == ("2h30m", 9000, False)
    assert (new["status"], new["health"]["last_attempt"]) == ("never polled", None)

    code, text, _ = run("sources", "--config", config)
    assert code == 0 and "s3cr3t" not in text
    assert "nvd (scores, nvd-json, every 1h, enabled)\n" in text
    assert "  last error: HTTP 503 Service Unavailable\n" in text
    assert "last HTTP status 503; failures in a row 2" in text
    assert "  cursor: ETag \"k1\", 1 detail pages\n" in text
    assert "  warning: entry 3: skipped: no link\n" in text
    assert "new (firmware, firmware-json, every 2h30m, disabled)\n  url: " in text


def test_sources_without_a_store_does_not_create_one(tmp_path: Path) -> None:
    config = _config(tmp_path, {"kev": ("exploited", "kev-json", "https://www.cisa.gov/kev.json")})
    code, out, _ = run("sources", "--config", config)
    assert code == 0 and "  health: never polled\n" in out
    assert not (tmp_path / "state.json").exists()
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    assert run("sources", "--config", str(empty)) == (0, "no [[sources]] are configured\n", "")


def test_the_sources_docs_examples_are_valid_and_name_every_json_key(tmp_path: Path) -> None:
    from bot.config import parse
    from bot.sources import PARSERS

    text = (Path(__file__).parents[1] / "docs" / "sources.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    settings = parse("\n".join(blocks), "docs/sources.md")
    assert {s.format for s in settings.sources} == set(PARSERS)
    nvd = next(s for s in settings.sources if s.format == "nvd-json")
    assert nvd.api_key_env == "NVD_API_KEY"
    config = _config(tmp_path, {"kev": ("exploited", "kev-json", "https://www.cisa.gov/k.json")})
    (view,) = json.loads(run("sources", "--config", config, "--json")[1])
    documented = text.split("`--json` prints one array", 1)[1].split("\n\n", 1)[0]
    for key in [*view, *view["health"], *view["cursor"]]:
        assert re.search(rf"\b{key}\b", documented), key


def test_fetch_reads_a_listing_shown_two_advisories_a_page(
    http_server: LocalServer, tmp_path: Path
) -> None:
    """The bundled listing cut into two pages, the first naming the second as rel=next."""
    _serve_samples(http_server)
    text = (SAMPLES / "hikvision" / "listing.html").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    head, items, tail = "".join(lines[:37]), lines[37:69], "".join(lines[69:])
    first = head.replace("</head>", '<link rel="next" href="listing-2.html"></head>')
    pages = {"listing-1.html": first + "".join(items[:16]) + tail,
             "listing-2.html": head + "".join(items[16:]) + tail}
    for name, body in pages.items():
        http_server.route(f"/samples/hikvision/{name}", Route(body=body.encode()))
    url = http_server.url("/samples/hikvision/listing-1.html")
    config = _config(tmp_path, {"hik": ("advisory", "hikvision-html", url)})
    keys = {i["key"] for i in _fetch_json(config, "hik")}
    assert len(keys) == 4 and {"HSRC-202508-03", "HSRC-202109-01"} < keys
