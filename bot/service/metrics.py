"""Prometheus metrics: this process's counters, plus gauges read from the store at scrape time.

Counters (cycles, deliveries, job runs, HTTP requests) count what this process did. The store
gauges (outbox by status, sources' health, the scheduler's job book) describe the shared state, so
the ``web`` process reports them truthfully even though the ``worker`` does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from bot.service.bounded import Bounded
from notifiers.health import DISABLED
from state import Store, StoreError
from state.records import OUTBOX_STATUSES

log = logging.getLogger(__name__)
JOBS_KEY = "scheduler.jobs"
CONTENT_TYPE = CONTENT_TYPE_LATEST
SCRAPE_WITHIN = 5.0  # seconds a scrape waits for the store's figures


class Metrics:
    """Every metric firmwatch exports, in a registry of its own."""

    def __init__(self, store: Store | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        r = self.registry = CollectorRegistry()
        self.cycles = Counter("firmwatch_cycles", "Cycles run by this process, by outcome",
                              ["outcome"], registry=r)
        self.cycle_seconds = Histogram(
            "firmwatch_cycle_duration_seconds", "How long cycles took", registry=r,
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
        )
        self.source_failures = Counter("firmwatch_source_failures",
                                       "Failed source polls seen by this process, by source",
                                       ["source"], registry=r)
        self.deliveries = Counter("firmwatch_deliveries",
                                  "Delivery attempts made by this process, by outcome",
                                  ["outcome"], registry=r)
        self.job_runs = Counter("firmwatch_job_runs",
                                "Scheduled job runs, by job and outcome (ok, failed, timeout)",
                                ["job", "outcome"], registry=r)
        self.job_failures = Counter("firmwatch_job_failures",
                                    "Scheduled job runs that failed or passed their deadline",
                                    ["job"], registry=r)
        self.job_misses = Counter("firmwatch_job_misses",
                                  "Scheduled runs skipped (missed their time or still running)",
                                  ["job"], registry=r)
        self.leader = Gauge("firmwatch_scheduler_leader",
                            "1 while this process runs the scheduler's leader-only jobs",
                            registry=r)
        self.http_requests = Counter("firmwatch_http_requests",
                                     "HTTP requests, by route, method and status",
                                     ["route", "method", "status"], registry=r)
        self.http_seconds = Histogram("firmwatch_http_request_duration_seconds",
                                      "HTTP request latency, by route", ["route"], registry=r,
                                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        if store is not None:
            r.register(StoreCollector(store))

    def exposition(self) -> bytes:
        """The text exposition format, for ``/metrics``."""
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """Gauges read from the store on every scrape; a store that fails shows ``store_up 0``."""

    def __init__(self, store: Store, within: float = SCRAPE_WITHIN) -> None:
        self.store = store
        self._read = Bounded(self._reads, within, "metrics-store")

    def _reads(self) -> tuple[Any, ...]:
        store = self.store
        return (store.outbox.counts(), store.sources.all(), store.meta.get(JOBS_KEY) or {},
                store.meta.get(DISABLED) or {})

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not touch the store."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the outbox counts, sources' health, disabled receivers and the job book."""
        up = GaugeMetricFamily("firmwatch_store_up", "1 when the store answered this scrape")
        try:  # bounded: a scrape of a store that stopped answering says so, not hangs
            counts, sources, jobs, disabled = self._read()
        except (StoreError, TimeoutError) as exc:
            log.warning("metrics: the store did not answer", extra={"error": str(exc)})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        outbox = GaugeMetricFamily("firmwatch_outbox_entries", "Outbox entries, by status",
                                   labels=["status"])
        for status in OUTBOX_STATUSES:
            outbox.add_metric([status], counts.get(status, 0))
        yield outbox
        failing = GaugeMetricFamily("firmwatch_source_consecutive_failures",
                                    "Failed polls in a row, by source", labels=["source"])
        success = GaugeMetricFamily("firmwatch_source_last_success_timestamp_seconds",
                                    "When each source last polled successfully", labels=["source"])
        not_before = GaugeMetricFamily(
            "firmwatch_source_not_before_timestamp_seconds",
            "Until when each source's server asked not to be polled (Retry-After)",
            labels=["source"],
        )
        for source in sources:
            failing.add_metric([source.name], int(source.health.get("consecutive_failures") or 0))
            when = _timestamp(source.health.get("last_success"))
            if when is not None:
                success.add_metric([source.name], when)
            until = _timestamp(source.health.get("not_before"))
            if until is not None:
                not_before.add_metric([source.name], until)
        yield failing
        yield success
        yield not_before
        off = GaugeMetricFamily("firmwatch_receiver_disabled",
                                "1 for a receiver disabled (410, or failing for 5 days): its "
                                "entries wait until `firmwatch outbox enable`", labels=["receiver"])
        for name in sorted(disabled if isinstance(disabled, dict) else {}):
            off.add_metric([name], 1)
        yield off
        yield from _job_gauges(jobs if isinstance(jobs, dict) else {})


def _job_gauges(jobs: dict[str, Any]) -> Iterator[Metric]:
    failing = GaugeMetricFamily("firmwatch_scheduler_job_consecutive_failures",
                                "Failed runs in a row, by job (from the job book)", labels=["job"])
    missed = GaugeMetricFamily("firmwatch_scheduler_job_misses",
                               "Missed runs recorded in the job book, by job", labels=["job"])
    ok = GaugeMetricFamily("firmwatch_scheduler_job_last_success_timestamp_seconds",
                           "When each job last ran successfully", labels=["job"])
    for name, record in sorted(jobs.items()):
        if not isinstance(record, dict):
            continue
        failing.add_metric([name], int(record.get("consecutive_failures") or 0))
        missed.add_metric([name], int(record.get("misses") or 0))
        when = _timestamp(record.get("last_ok"))
        if when is not None:
            ok.add_metric([name], when)
    yield failing
    yield missed
    yield ok


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
