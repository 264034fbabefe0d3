"""A realistic alert document built from the bundled samples (``firmwatch notify test``, tests).

The bundled advisory feed, KEV catalog and firmware index go through the real parsers, matching,
routing and :func:`bot.alertdoc.alert_document` for a made-up fleet, so the sample looks exactly
like a real alert. Its id and dedupe key are marked as a test so receivers never mistake it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from importlib import resources
from typing import Any

from bot.alertdoc import alert_document
from bot.catalog import Catalog, parse_catalog_csv
from bot.config import SourceSettings
from bot.context import Context
from bot.enrich import enrich
from bot.findings import advisory_findings
from bot.fleets import make_group
from bot.items import Advisory, ExploitSignal, FirmwareRelease
from bot.matching import FleetIndex
from bot.routing import FleetRouting, ItemHeader, Routing, route
from bot.sources import feed, firmware_json, kev_json

SAMPLE_ADVISORY = "HSRC-202109-01"
SAMPLE_FLEET = "sample-fleet"
_DEVICES = (
    ("DS-2CD3321G2-I", "V5.5.0 build 200101", 12, "HQ"),
    ("DS-2CD3321G2-I", "V5.5.0 build 200101", 3, "Depot"),
)


def sample_document(receiver: str, now: datetime) -> dict[str, Any]:
    """A test alert to ``receiver``: the bundled command-injection advisory on a sample fleet."""
    advisory, releases, kev = _samples()
    groups = [make_group(SAMPLE_FLEET, m, fw, n, site) for m, fw, n, site in _DEVICES]
    catalog = Catalog(parse_catalog_csv(_text("samples/catalog.csv"), "bundled catalog.csv"))
    (enriched,) = enrich([advisory], {}, kev)
    findings = advisory_findings(
        enriched, FleetIndex.build(groups), Context(catalog, now.date()), releases
    )
    header = ItemHeader(
        enriched.key,
        "advisory",
        enriched.title,
        enriched.url,
        enriched.revision,
        enriched.vendor_id,
    )
    routing = Routing({SAMPLE_FLEET: FleetRouting(SAMPLE_FLEET, (receiver,))})
    (alert,) = route([(header, findings)], routing, now)
    doc = alert_document(alert, now)
    dedupe = f"{receiver}|test|{now.isoformat()}"
    doc["dedupe_key"] = dedupe
    doc["id"] = "fw_test_" + hashlib.sha256(dedupe.encode()).hexdigest()[:16]
    doc["summary"] = "TEST from `firmwatch notify test`: " + doc["summary"]
    return doc


def _samples() -> tuple[Advisory, list[FirmwareRelease], dict[str, ExploitSignal]]:
    def source(kind: str, fmt: str) -> SourceSettings:
        return SourceSettings.model_validate(
            {"name": "bundled", "kind": kind, "format": fmt, "url": "file:///bundled"}
        )

    parsed = feed.parse(_bytes("samples/sources/advisories.rss"), {}, source("advisory", "feed"))
    advisory = next(
        i for i in parsed.items if isinstance(i, Advisory) and i.vendor_id == SAMPLE_ADVISORY
    )
    packages = firmware_json.parse(
        _bytes("samples/sources/firmware.json"), {}, source("firmware", "firmware-json")
    )
    releases = [i for i in packages.items if isinstance(i, FirmwareRelease)]
    listed = kev_json.parse(_bytes("samples/sources/kev.json"), {}, source("exploited", "kev-json"))
    kev = {i.key: i for i in listed.items if isinstance(i, ExploitSignal)}
    return advisory, releases, kev


def _bytes(name: str) -> bytes:
    return resources.files("bot").joinpath(name).read_bytes()


def _text(name: str) -> str:
    return _bytes(name).decode("utf-8")
