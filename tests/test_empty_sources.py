"""A source that lists everything it holds and comes back empty is a warning, through whole cycles.

A KEV catalog, a firmware index and a feed read all they hold on every poll: one that answers a
readable, empty body where the last poll that read any read items is told in the source's health
(not a failure: nothing stored is removed). Sources read for changes (NVD with its modification
window) read nothing on most polls and are not warned about.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.httpserver import LocalServer, Route
from tests.test_cutoff import NOW, SAMPLES, Site, _source

HOUR = timedelta(hours=1)


def _kev_without_hikvision() -> bytes:
    catalog = json.loads((SAMPLES / "kev.json").read_bytes())
    catalog["vulnerabilities"] = [
        v for v in catalog["vulnerabilities"] if v["vendorProject"].lower() != "hikvision"
    ]
    return json.dumps(catalog).encode()


def _feed_without_items() -> bytes:
    text = (SAMPLES / "firmware.rss").read_text(encoding="utf-8")
    return re.sub(r"\s*<item>.*?</item>", "", text, flags=re.DOTALL).encode()


EMPTY_INDEX = b'{"schema": "firmwatch.firmware-index/1", "packages": []}'
CASES = {  # name: (kind, format, sample, the same source emptied)
    "kev": ("exploited", "kev-json", "kev.json", _kev_without_hikvision()),
    "index": ("firmware", "firmware-json", "firmware.json", EMPTY_INDEX),
    "feed": ("firmware", "feed", "firmware.rss", _feed_without_items()),
}


@pytest.fixture
def served(http_server: LocalServer, tmp_path: Path) -> Iterator[Site]:
    yield Site(http_server, tmp_path, "")


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_emptied_snapshot_source_is_a_warning_until_it_lists_items_again(
    served: Site, name: str
) -> None:
    kind, fmt, sample, empty = CASES[name]
    full = (SAMPLES / sample).read_bytes()
    url = served.server.route(
        f"/{sample}",
        Route(body=full, etag='"v1"'),
        Route(body=full, etag='"v1"'),  # 304
        Route(body=empty, etag='"v2"'),
        Route(body=empty, etag='"v2"'),  # 304
        Route(body=empty, etag='"v3"'),  # read again, still empty
        Route(body=full, etag='"v4"'),
    )
    served.sources = _source(name, kind, fmt, url)
    first = served.cycle(NOW)
    count = int(first.sources[name].split()[0])
    assert count > 0 and first.sources[name] == f"{count} items"
    assert served.cycle(NOW + HOUR).sources[name] == "unchanged"
    with served.store() as store:
        stored = {s.key for s in store.items.all()}
        open_findings = {f.key for f in store.findings.all(state="open")}

    emptied = served.cycle(NOW + 2 * HOUR)
    warning = (
        f"read no items, where the last poll that read any read {count}: a {fmt} source lists"
        " all it holds on every poll, so it may have been emptied, cut short or moved (an empty"
        " file, a changed URL or filter); nothing stored was removed, and this warning goes once"
        " it lists items again"
    )
    assert emptied.sources[name] == f"0 items; warning: {warning}"
    health = served.health(name)
    assert warning in health["warnings"] and health["consecutive_failures"] == 0
    assert emptied.findings["resolved"] == 0 and emptied.alerts == []
    with served.store() as store:
        assert {s.key for s in store.items.all()} == stored
        assert {f.key for f in store.findings.all(state="open")} == open_findings

    assert served.cycle(NOW + 3 * HOUR).sources[name] == "unchanged"
    assert warning in served.health(name)["warnings"]  # kept through a 304
    assert served.cycle(NOW + 4 * HOUR).sources[name] == f"0 items; warning: {warning}"

    back = served.cycle(NOW + 5 * HOUR)
    assert back.sources[name] == f"{count} items"
    assert not any("read no items" in w for w in served.health(name)["warnings"])


def test_a_source_read_for_changes_that_reads_none_is_not_warned_about(served: Site) -> None:
    nvd = (SAMPLES / "nvd.json").read_bytes()
    nothing_new = json.dumps({
        "resultsPerPage": 0, "startIndex": 0, "totalResults": 0, "format": "NVD_CVE",
        "version": "2.0", "timestamp": "2026-11-30T10:00:00.000", "vulnerabilities": [],
    }).encode()  # fmt: skip
    url = served.server.route("/nvd.json", Route(body=nvd), Route(body=nothing_new))
    served.sources = _source("nvd", "scores", "nvd-json", url)
    assert served.cycle(NOW).sources["nvd"] == "4 items"
    assert served.cycle(NOW + HOUR).sources["nvd"] == "0 items"  # only changes were asked for
    assert served.health("nvd")["warnings"] == []
    (asked,) = served.server.requests_to("/nvd.json")[1:]
    assert "lastModStartDate=" in asked.path
