"""Helpers for the notifier and delivery tests: real alert documents and a scriptable notifier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from bot.alertdoc import alert_document
from bot.config import Settings
from bot.facts import facts_of, fingerprint
from bot.finding import CveVerdict, Finding
from bot.policy import Promise, Stage
from bot.routing import FleetRouting, ItemHeader, Previous, Routing, route
from notifiers.base import AlertDoc, SendResult, Thread

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def finding(
    item: str = "HSRC-202108-01", fleet: str = "hq", site: str = "A", count: int = 4,
    score: float = 9.8, kev: date | None = None, stage: Stage = Stage.DYNAMIC,
    model: str = "DS-2CD3321G2-I",
) -> Finding:
    """A real finding of an advisory on one device group."""
    return Finding(
        key=f"{fleet}|{model}|{site}|{item}", kind="advisory", fleet=fleet,
        group_key=f"{model}|{site}", model=model, firmware="V5.5.0", count=count, site=site,
        item_key=item, status="affected", reason="firmware V5.5.0 is below V5.5.800",
        stage=stage, fix_promised=Promise.YES, fixed_version="V5.5.800",
        download_url="https://firmware.example.net/fw/V5.5.800.zip",
        cves=(CveVerdict("CVE-2021-36260", "affected", Promise.YES, score, "Critical", "3.1",
                         kev_added=kev),),
    )


def document(
    receiver: str = "ops", item: str = "HSRC-202108-01", findings: list[Finding] | None = None,
    previous: list[Finding] | None = None, title: str = "Command injection",
) -> dict[str, Any]:
    """The alert document routing makes for ``findings`` (an update when ``previous`` is given)."""
    header = ItemHeader(item, "advisory", title, f"https://vendor.example/{item}", "r1", item)
    found = findings or [finding(item)]
    memory = {}
    if previous is not None:
        facts = facts_of(previous)
        memory[(receiver, item)] = Previous(fingerprint(facts), facts)
    routing = Routing({f.fleet: FleetRouting(f.fleet, (receiver,)) for f in found},
                      previous=memory)
    (alert,) = route([(header, found)], routing, NOW)
    return alert_document(alert, NOW)


def kev_update(receiver: str = "ops", item: str = "HSRC-202108-01") -> dict[str, Any]:
    """The follow-up alert when the item's CVE is listed in CISA KEV."""
    before = [finding(item)]
    after = [before[0]._replace(cves=(replace(before[0].cves[0], kev_added=date(2026, 11, 27)),))]
    return document(receiver, item, after, previous=before)


def settings(*receivers: dict[str, Any], **extra: Any) -> Settings:
    """Settings with these ``[[receivers]]`` (console ones when only names are given)."""
    return Settings.model_validate({"receivers": list(receivers), **extra})


class FakeNotifier:
    """Answers from a script (default ok), records what it was sent; ``hook`` runs per send."""

    def __init__(
        self, name: str, *results: SendResult, concurrency: int = 1, threaded: bool = False,
        hook: Callable[[AlertDoc], None] | None = None,
    ) -> None:
        self.name = name
        self.results = list(results)
        self.concurrency = concurrency
        self.threaded = threaded
        self.hook = hook
        self.sent: list[tuple[str, Thread | None]] = []
        self._lock = threading.Lock()

    def send(self, doc: AlertDoc, *, thread: Thread | None = None) -> SendResult:
        """Record the alert id and answer the next scripted result."""
        if self.hook is not None:
            self.hook(doc)
        with self._lock:
            self.sent.append((str(doc["id"]), thread))
            result = self.results.pop(0) if self.results else SendResult(ok=True, status=200)
        if result.ok and self.threaded and result.thread is None:
            n = len(self.sent)
            result = replace(result, thread=Thread("C1", f"1700000000.{n:06d}"))
        return result

    def render(self, doc: AlertDoc) -> str:
        """The alert id."""
        return str(doc["id"])

    def ids(self) -> list[str]:
        """The alert ids sent, in order."""
        with self._lock:
            return [i for i, _ in self.sent]
