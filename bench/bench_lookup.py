"""Benchmark ``/firmware lookup`` end to end, as the person typing it waits for it.

A signed slash command goes over HTTP to the bolt app under waitress; the answer arrives at a
fake ``response_url`` served by another process on 127.0.0.1, which notes the (system-wide
monotonic) time it arrived. The store holds 1,000,000 device groups, 10,000 advisories, one
firmware release per model and the open findings of one model in twenty. Every backend is built
once, then served by a fresh process whose peak memory is reported.

Run: ``.venv/bin/python bench/bench_lookup.py [--groups N] [--advisories N] [--lookups N]
[--backends tinydb,sqlite]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.catalog import CatalogEntry
from bot.fleets import Fleet, make_group
from bot.items import Advisory, AffectedRow, CveInfo, CvssScore, FirmwareRelease
from state import FindingData, Store, open_store

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FLEETS, SITES, HOT_EVERY = 50, 2000, 20
SUFFIXES = ("I", "IZS", "LIZSU")


def models_for(groups: int) -> list[str]:
    """About 200 device groups per model, in the covered camera families."""
    n = max(groups // 200, 20)
    return [f"DS-2CD{3 + 2 * (i % 3)}{(i // 3) % 1000:03d}G{2 * ((i // 3000) % 2)}-"
            f"{SUFFIXES[(i // 6000) % 3]}" for i in range(n)]


def advisories_for(n: int, models: list[str]) -> list[Advisory]:
    """Advisories naming one to three models (one in a hundred a wildcard family)."""
    rng = random.Random(7)
    found = []
    for i in range(n):
        products = rng.sample(models, k=1 + i % 3)
        if i % 100 == 0:
            products[0] = products[0][:8] + "xxG2"
        cve = f"CVE-2025-{i:05d}"
        score = round(4.0 + (i % 60) / 10, 1)
        severity = "Critical" if score >= 9 else "High" if score >= 7 else "Medium"
        found.append(Advisory(
            key=f"HSRC-2025{i % 12 + 1:02d}-{i:05d}", title=f"Security advisory {i} for"
            " some Hikvision network cameras", url=f"https://www.example.com/advisory/{i}",
            vendor_id=f"HSRC-2025{i % 12 + 1:02d}-{i:05d}", published=date(2025, 1, 1),
            summary="A vulnerability in the web server. " * 8,
            cves=(CveInfo(cve, (CvssScore("3.1", score, severity, None, "vendor"),),
                          kev_added=date(2025, 6, 1) if i % 20 == 0 else None),),
            rows=tuple(AffectedRow(p, cve, "Versions below V5.5.800 (including V5.5.800)",
                                   "V5.5.800 build 210628") for p in products)))
    return found


def finding_data(adv: Advisory, fleet: str, model: str, group_key: str, count: int
                 ) -> dict[str, Any]:
    """A finding as the pipeline stores it (``bot.alertdoc.finding_record``)."""
    cve = adv.cves[0]
    score = cve.scores[0]
    return {"key": f"{fleet}|{group_key}|{adv.key}", "kind": "advisory", "item_key": adv.key,
            "group_key": group_key, "model": model, "fleet": fleet, "status": "affected",
            "reason": "V5.4.5 is at or below V5.5.800", "device_groups": [
                {"model": model, "firmware": "V5.4.5 build 200101", "count": count,
                 "site": "site"}], "devices": count, "stage": "dynamic", "stage_ends": None,
            "fix_promised": "yes", "severity": score.severity.lower(), "score": score.base_score,
            "cvss_version": "3.1", "cves": [{"id": cve.id, "status": "affected",
                                             "fix_promised": "yes", "score": score.base_score,
                                             "severity": score.severity.lower(),
                                             "cvss_version": "3.1", "vector": None,
                                             "kev": None}],
            "fixed_version": "V5.5.800 build 210628", "download_url": None, "notes_url": None,
            "update_available": None, "resolves": [], "change": None,
            "risk_note": "Upgrade these devices to V5.5.800 or later; the vendor fixes it."}


def build(store: Store, groups: int, advisories: int) -> tuple[list[str], list[str]]:
    """Fill the store; (every model, the models with open findings)."""
    models = models_for(groups)
    advs = advisories_for(advisories, models)
    naming: dict[str, list[Advisory]] = {}
    for a in advs:
        for row in a.rows:
            naming.setdefault(row.product, []).append(a)
    with store.transaction():
        for i in range(FLEETS):
            store.fleets.put(Fleet(f"fleet-{i:02d}"))
        store.fleets.put_groups(
            make_group(f"fleet-{g % FLEETS:02d}", models[(g * 7919) % len(models)],
                       f"V5.{g // SITES % 8}.{g // SITES % 97} build 2{g % 5}0{1 + g % 9}15",
                       1 + g % 40, f"site-{g % SITES}") for g in range(groups))
        store.catalog.put(CatalogEntry(m, date(2020 + i % 6, 1 + i % 12, 15), None, "bench")
                          for i, m in enumerate(models) if i % 3 == 0)
    with store.transaction():
        for a in advs:
            store.items.put_item(a, NOW)
        for i, m in enumerate(models):
            store.items.put_item(FirmwareRelease(
                f"fw:{m}", f"{m} firmware", (m,),
                f"V5.{8 + i % 3}.{i % 50} build 2507{10 + i % 20}",
                date(2025, 7, 10), f"https://firmware.example.net/{m}.zip"), NOW)
    hot = models[::HOT_EVERY]
    with store.transaction():
        for model in hot:
            found = [FindingData(g.fleet, g.key, a.key, "r1",
                                 finding_data(a, g.fleet, model, g.key, g.count))
                     for g in store.fleets.groups_of_model(model) for a in naming.get(model, [])]
            store.findings.put_many(found, NOW)
        store.meta.put("cycle.last", {"started": NOW.isoformat(), "seconds": 1.0}, NOW)
    return models, hot


def fake_slack(conn: Connection) -> None:
    """A fake Slack in this (child) process: every response_url post's arrival time goes back."""
    sys.path.insert(0, str(ROOT))
    from tests.slackharness import Call, FakeSlack

    def arrived(call: Call) -> None:
        if call.method == "respond":
            conn.send((call.path, time.monotonic()))

    fake = FakeSlack(on_call=arrived)
    conn.send(fake.port)
    conn.recv()  # until the benchmark is done
    fake.close()


def serve(url: str, lookups: int, models: list[str], hot: list[str]) -> dict[str, Any]:
    """Open the store in this fresh process and time ``lookups`` signed lookups."""
    sys.path.insert(0, str(ROOT))
    from bot.config import Settings
    from bot.slack.app import build_app
    from tests.slackharness import SECRET, TOKEN, AppServer, command_body, signed

    parent, child = multiprocessing.get_context("spawn").Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=fake_slack, args=(child,))
    proc.start()
    port = parent.recv()
    started = time.perf_counter()
    store = open_store(url)
    opened = time.perf_counter() - started
    settings = Settings.model_validate({"slack": {"api_base_url": f"http://127.0.0.1:{port}/api/"}})
    app = build_app(store, settings, environ={"SLACK_BOT_TOKEN": TOKEN,
                                              "SLACK_SIGNING_SECRET": SECRET},
                    clock=lambda: NOW)
    server = AppServer(app, store, settings)
    rng = random.Random(11)
    waits, acks = [], []
    first = 0.0
    try:
        for i in range(lookups + 5):
            model = rng.choice(hot) if i % 2 else rng.choice(models)
            path = f"/respond/{i}"
            body = command_body(f"lookup {model}", f"http://127.0.0.1:{port}{path}")
            start = time.monotonic()
            status, raw = server.post(body, signed(body))
            acked = time.monotonic()
            assert status == 200 and not raw.strip(), (status, raw[:200])
            got, at = parent.recv()
            assert got == path, (got, path)
            if i == 0:
                first = at - start
            if i >= 5:  # the first builds the item index; a few more warm up
                waits.append((at - start) * 1000)
                acks.append((acked - start) * 1000)
    finally:
        server.close()
        parent.send("done")
        proc.join(timeout=10)
        store.close()
    return {"open_s": opened, "first_s": first, "median": statistics.median(waits),
            "p99": _p99(waits), "max": max(waits), "ack_median": statistics.median(acks),
            "ack_p99": _p99(acks), "peak_mib": peak_mib()}


def peak_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited on exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--advisories", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--backends", default="tinydb,sqlite")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # internal: url|lookups|file
    args = parser.parse_args()
    if args.serve:
        url, lookups, names = args.serve.split("|")
        models, hot = json.loads(Path(names).read_text())
        print(json.dumps(serve(url, int(lookups), models, hot)))
        return
    print(f"/firmware lookup, end to end: {args.groups:,} device groups, {args.advisories:,}"
          f" advisories, {args.lookups} lookups (half of models with open findings)")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            url = (f"tinydb:///{tmp}/state.json" if backend == "tinydb"
                   else f"sqlite:///{tmp}/state.db")
            start = time.perf_counter()
            with open_store(url) as store:
                models, hot = build(store, args.groups, args.advisories)
                findings = store.findings.count()
            built = time.perf_counter() - start
            names = Path(tmp) / "models.json"
            names.write_text(json.dumps([models, hot]))
            out = subprocess.run(
                [sys.executable, __file__, "--serve", f"{url}|{args.lookups}|{names}"],
                check=True, capture_output=True, text=True, cwd=ROOT).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"  {backend:<7} built in {built:6.1f} s ({len(models):,} models,"
                  f" {findings:,} open findings); opened in {r['open_s']:.1f} s;"
                  f" first lookup {r['first_s'] * 1000:.0f} ms (builds the item index)")
            print(f"          answer at response_url: median {r['median']:.1f} ms,"
                  f" p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms  (target p99 < 100 ms)")
            print(f"          ack: median {r['ack_median']:.1f} ms, p99 {r['ack_p99']:.1f} ms;"
                  f" peak memory of the serving process {r['peak_mib']:,.0f} MiB")
    print(f"  peak memory while building the stores: {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
