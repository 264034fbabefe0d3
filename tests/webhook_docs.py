"""Alert documents for the webhook tests: real ones from routing, and varied ones for hypothesis."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

from bot.alertdoc import alert_document
from bot.finding import CveVerdict, Finding
from bot.policy import Promise, Stage
from bot.routing import FleetRouting, ItemHeader, Routing, route

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_finding(
    item: str = "HSRC-202108-01",
    fleet: str = "hq",
    model: str = "DS-2CD3321G2-I",
    site: str = "Site A",
    count: int = 4,
    cves: tuple[CveVerdict, ...] | None = None,
    stage: Stage = Stage.DYNAMIC,
    fixed: str | None = "V5.5.800",
    reason: str = "firmware V5.5.0 is below V5.5.800",
) -> Finding:
    """A real advisory finding for one device group."""
    verdicts = cves if cves is not None else (cve(),)
    return Finding(
        key=f"{fleet}|{model}|{site}|{item}",
        kind="advisory",
        fleet=fleet,
        group_key=f"{model}|{site}",
        model=model,
        firmware="V5.5.0",
        count=count,
        site=site,
        item_key=item,
        status="affected",
        reason=reason,
        stage=stage,
        fix_promised=Promise.YES,
        fixed_version=fixed,
        download_url="https://firmware.example.net/fw/V5.5.800.zip",
        cves=verdicts,
    )


def cve(
    ident: str = "CVE-2021-36260",
    score: float | None = 9.8,
    severity: str | None = "Critical",
    kev: date | None = None,
) -> CveVerdict:
    """One CVE verdict."""
    return CveVerdict(ident, "affected", Promise.YES, score, severity, "3.1", kev_added=kev)


def document(
    findings: list[Finding] | None = None,
    receiver: str = "ticketing",
    item: str = "HSRC-202108-01",
    title: str = "Command injection vulnerability in the web server of some Hikvision cameras",
    url: str = "https://www.hikvision.com/en/support/cybersecurity/security-advisory/x/",
    changes: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The alert document routing makes for ``findings`` (default: one critical finding)."""
    found = findings or [make_finding(item)]
    header = ItemHeader(item, "advisory", title, url, "r1", item)
    fleets = {f.fleet: FleetRouting(f.fleet, (receiver,)) for f in found}
    (alert,) = route([(header, found)], Routing(fleets), NOW)
    doc = alert_document(replace(alert, changes=changes), NOW)
    doc.update(extra)
    return doc


_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)  # utf-8: no lone surrogates


@st.composite
def _long(draw: st.DrawFn) -> str:
    """Short or very long text, cheap to draw: a drawn piece repeated up to 300 times."""
    return str(draw(_TEXT)) * draw(st.sampled_from([1, 1, 2, 40, 300]))


_URL = st.sampled_from(
    ["https://vendor.example/a", "", "javascript:alert(1)", "https://x.example/" + "a" * 3000]
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Varied alert documents: long and odd text, many fleets, groups and CVEs, some resolved."""
    item = draw(st.one_of(st.just("HSRC-202108-01"), _TEXT.filter(bool)))
    n_fleets = draw(st.integers(1, 40))
    fleets = [f"fleet-{i}-{draw(_TEXT)}" for i in range(n_fleets)]
    verdicts = tuple(
        cve(
            f"CVE-2024-{j:05d}",
            draw(st.one_of(st.none(), st.floats(0, 10))),
            draw(st.sampled_from(["Critical", "High", "Medium", "Low", None])),
            draw(st.one_of(st.none(), st.just(date(2024, 1, 2)))),
        )
        for j in range(draw(st.integers(0, 25)))
    )
    findings = [
        make_finding(
            item,
            fleet=fleets[i % n_fleets],
            model=draw(st.sampled_from(["DS-2CD3321G2-I", "DS-96064NI-I16", "iDS-7716NXI"])),
            site=f"{i}-{draw(_TEXT)}",
            count=draw(st.integers(1, 10**6)),
            cves=verdicts[: draw(st.integers(0, len(verdicts)))],
            stage=draw(st.sampled_from(list(Stage))),
            fixed=draw(st.one_of(st.none(), _TEXT)),
            reason=draw(_long()),
        )
        for i in range(draw(st.integers(1, 50)))
    ]
    changes = tuple(draw(st.lists(_long(), max_size=4)))
    doc = document(findings, item=item, title=draw(_long()), url=draw(_URL), changes=changes)
    if draw(st.booleans()):
        doc["resolved"] = True
        doc["resolution"] = draw(st.sampled_from(["withdrawn", "fixed"]))
    return doc
