"""Sources: one fetcher, one parser module per format, and the plain dict registries below.

``PARSERS`` maps the ``format`` of a ``[[sources]]`` entry to the function that reads a fetched
body; ``DETAIL_PARSERS`` maps a format whose listing links to pages (``hikvision-html``) to the
function that reads one linked page.
"""

from __future__ import annotations

from bot.sources import feed, firmware_json, hikvision_html, kev_json, nvd_json
from bot.sources.base import Parser
from bot.sources.runner import DetailParser

PARSERS: dict[str, Parser] = {
    "feed": feed.parse,
    "hikvision-html": hikvision_html.parse_listing,
    "nvd-json": nvd_json.parse,
    "kev-json": kev_json.parse,
    "firmware-json": firmware_json.parse,
}

DETAIL_PARSERS: dict[str, DetailParser] = {"hikvision-html": hikvision_html.read_detail}

__all__ = ["DETAIL_PARSERS", "PARSERS"]
