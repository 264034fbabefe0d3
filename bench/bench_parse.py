"""Benchmark the feed parser: a 1,000-entry advisory feed parsed and extracted (target < 2 s).

Entries are the bundled advisories.rss items, renumbered so every entry is a distinct advisory.
Prints the whole parse + extract, where the time goes (feedparser with and without its HTML
sanitiser, the advisory extractor alone), and a firmware feed of the same size.
Run: .venv/bin/python bench/bench_parse.py [ENTRIES]
"""

from __future__ import annotations

import io
import re
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import feedparser

from bot.config import SourceSettings
from bot.sources import feed
from bot.sources.advisory_text import extract_with_warnings

SAMPLES = Path(__file__).parents[1] / "bot" / "samples" / "sources"
TARGET_S = 2.0  # per 1,000 entries


def advisory_feed(n: int) -> bytes:
    """An RSS feed of n advisories made from the bundled sample's entries."""
    text = (SAMPLES / "advisories.rss").read_text(encoding="utf-8")
    items = re.findall(r"<item>.*?</item>", text, re.S)
    head, tail = text.split("<item>", 1)[0], "</channel>\n</rss>\n"
    out = []
    for i in range(n):
        sn = f"HSRC-{200001 + i // 1000}-{i % 1000:03d}"  # distinct SN No. per entry
        entry = re.sub(r"HSRC-\d{6}-\d{2}", sn, items[i % len(items)])
        entry = entry.replace("</link>", f"-{i}</link>", 1)
        entry = re.sub(r"CVE-(\d{4})-(\d{4,})", partial(_shifted, by=i), entry)
        out.append(entry)
    return (head + "\n".join(out) + tail).encode()


def firmware_feed(n: int) -> bytes:
    """An RSS feed of n firmware packages made from the bundled firmware sample."""
    text = (SAMPLES / "firmware.rss").read_text(encoding="utf-8")
    items = re.findall(r"<item>.*?</item>", text, re.S)
    head, tail = text.split("<item>", 1)[0], "</channel>\n</rss>\n"
    out = [items[i % len(items)].replace(".zip", f"_{i}.zip").replace(".pak", f"_{i}.pak")
           .replace("<title>", f"<title>#{i} ") for i in range(n)]
    return (head + "\n".join(out) + tail).encode()


def _shifted(m: re.Match[str], by: int) -> str:
    """A CVE id with its number moved on by ``by`` (distinct CVEs per entry)."""
    return f"CVE-{m[1]}-{int(m[2]) + by}"


def timed(label: str, n: int, work: Callable[[], Any], target: float | None = None) -> float:
    """Run work once and print its cost, and whether it met the target (seconds)."""
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    verdict = "" if target is None else ("  OK" if elapsed < target else f"  OVER {target:g} s")
    print(f"{label:<52} {elapsed:7.3f} s  {elapsed / n * 1000:6.2f} ms/entry{verdict}")
    return elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    target = TARGET_S * n / 1000
    body = advisory_feed(n)
    advisory = SourceSettings(name="bench", kind="advisory", format="feed",
                              url="https://advisories.example.net/hikvision.rss")
    headers = {"content-type": "application/rss+xml; charset=utf-8"}
    feed.parse(advisory_feed(5), headers, advisory)  # warm caches and imports
    print(f"advisory feed: {n} entries, {len(body) / 1e6:.1f} MB")

    result = feed.parse(body, headers, advisory)
    assert len(result.items) == n, (len(result.items), result.warnings[:3])
    timed("feed.parse, kind=advisory (parse + extract)", n,
          lambda: feed.parse(body, headers, advisory), target)
    timed("  feedparser, sanitiser and URI rewriting off", n,
          lambda: feedparser.parse(io.BytesIO(body), response_headers=headers,
                                   sanitize_html=False, resolve_relative_uris=False))
    timed("  feedparser, library defaults (for comparison)", n,
          lambda: feedparser.parse(io.BytesIO(body), response_headers=headers))
    entries = feedparser.parse(io.BytesIO(body), sanitize_html=False,
                               resolve_relative_uris=False).entries
    timed("  advisory extractor alone", n, lambda: [
        extract_with_warnings(e.summary, e.link, title=e.title) for e in entries
    ])

    fw_body = firmware_feed(n)
    firmware = SourceSettings(name="bench", kind="firmware", format="feed",
                              url="https://www.hikvision.com/fw.rss")
    fw = feed.parse(fw_body, headers, firmware)
    assert len(fw.items) == n, (len(fw.items), fw.warnings[:3])
    timed("feed.parse, kind=firmware (parse + extract)", n,
          lambda: feed.parse(fw_body, headers, firmware), target)


if __name__ == "__main__":
    main()
