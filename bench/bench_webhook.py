"""Benchmark signed webhooks: the issue's delivery figure, signing cost, rendering per preset.

The figure (issue 6): webhook deliveries per second through the whole worker path —
``notifiers.delivery.deliver_due`` on a real store (TinyDB and SQLite): outbox claim → render →
sign → POST → record — against a bare httpx loop that signs and POSTs the very same bodies, made
ahead. Rounds of each are interleaved in one run, against a fast receiver and one that takes 50 ms
per request (threaded HTTP servers on 127.0.0.1, in child processes so their CPU is not counted).
Targets: firmwatch ≥ 80 % of the bare loop with the fast receiver, ≥ 150/s with the slow one.

Run: ``.venv/bin/python bench/bench_webhook.py [--rounds N] [--delivery-only]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from notifiers.delivery import deliver_due  # noqa: E402
from notifiers.presets import PRESETS  # noqa: E402
from notifiers.presets.base import Context  # noqa: E402
from notifiers.signing import load_signer, message_id, sign  # noqa: E402
from notifiers.templates import UserTemplate  # noqa: E402
from notifiers.webhook import WebhookNotifier  # noqa: E402
from state import open_store  # noqa: E402
from tests.webhook_docs import SECRET, document, make_finding  # noqa: E402

CTX = Context("bench", "https://h.example/x", {"project": "OPS"}, {"routing_key": "k", "auth": "a"})
ENV = {"BENCH_WHSEC": SECRET}
TEMPLATE = """{"text": {{ alert.summary | tojson }}, "severity": {{ alert.severity | tojson }},
 "fleets": [{% for f in alert.findings %}{"name": {{ f.fleet | tojson }},
 "note": {{ f.risk_note | clip(200) | tojson }}}{{ "," if not loop.last }}{% endfor %}]}"""


def rate(seconds: float, count: int) -> str:
    return f"{count / seconds:10,.0f}/s ({seconds / count * 1e6:8.1f} µs each)"


def timed(once: Callable[[], Any], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        once()
    return time.perf_counter() - start


def bench_signing(docs: dict[str, dict[str, Any]]) -> None:
    signer = load_signer("bench", "BENCH_WHSEC", ENV)
    now = datetime.now(UTC)
    for label, doc in docs.items():
        body = json.dumps(PRESETS["generic"].payload(doc, CTX), separators=(",", ":")).encode()
        n = 5_000
        key = doc["dedupe_key"]
        spent = timed(partial(sign, signer, key, body, now), n)
        print(f"sign {label:<28} {len(body):>8,} B  {rate(spent, n)}")


def bench_presets(docs: dict[str, dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.j2"
        path.write_text(TEMPLATE)
        template = UserTemplate(path)
        for label, doc in docs.items():
            for name, preset in PRESETS.items():
                n = 2_000 if label.startswith("typical") else 200
                spent = timed(partial(preset.payload, doc, CTX), n)
                print(f"render {name:<12} {label:<22} {rate(spent, n)}")
            n = 500 if label.startswith("typical") else 50
            variables = {"alert": doc, "receiver": "bench", "message_id": "x"}
            spent = timed(partial(template.render, variables), n)
            print(f"render {'template':<12} {label:<22} {rate(spent, n)} (sandboxed, traced)")


def serve(conn: Connection, delay: float) -> None:
    """A threaded receiver on 127.0.0.1 answering 204 after ``delay`` s (in a child process).

    It verifies the signature of every 8th request (as a real receiver would, but sampled so that
    the fast receiver stays cheaper than either sender) and reports how many it got and refused.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    verifier = Webhook(SECRET)
    counts = {"received": 0, "bad": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                counts["received"] += 1
                check = counts["received"] % 8 == 0
            if check:
                try:
                    verifier.verify(body, {k.lower(): v for k, v in self.headers.items()})
                except WebhookVerificationError:
                    with lock:
                        counts["bad"] += 1
            if delay:
                time.sleep(delay)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    conn.send(f"http://127.0.0.1:{httpd.server_address[1]}/hook")
    while conn.recv() == "counts":
        with lock:
            conn.send(dict(counts))
    httpd.shutdown()


class Receiver:
    """A receiver child process (so its CPU is not the senders'): ``url``, ``counts()``."""

    def __init__(self, delay: float) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("fork").Process(
            target=serve, args=(child, delay), daemon=True
        )
        self._process.start()
        self.url: str = self._conn.recv()

    def counts(self) -> dict[str, int]:
        self._conn.send("counts")
        counts: dict[str, int] = self._conn.recv()
        return counts

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)


def delivery_docs(count: int, round_no: int) -> list[dict[str, Any]]:
    """``count`` typical alert documents (3 device groups), each about its own item."""
    base = document([make_finding(site=f"Site {i}") for i in range(3)], receiver="bench")
    return [
        {
            **base,
            "id": f"fw_{round_no}_{i}",
            "dedupe_key": f"bench|{round_no}|{i}",
            "item": {**base["item"], "key": f"ITEM-{round_no}-{i}"},
        }
        for i in range(count)
    ]


def bench_settings(url: str) -> Settings:
    return Settings.model_validate(
        {
            "network": {"allow_hosts": ["127.0.0.1"], "timeout": "15s"},
            "receivers": [
                {"name": "bench", "type": "webhook", "url": url, "secret_env": "BENCH_WHSEC"}
            ],
        }
    )


def firmwatch_round(
    kind: str, folder: Path, settings: Settings, docs: list[dict[str, Any]], tag: str
) -> float:
    """Deliveries/s of one ``deliver_due`` pass (as the worker runs it) over ``docs``.

    Filling the outbox is not timed; the pass (claim → render → sign → POST → record, building the
    notifier as the service does every pass) is.
    """
    ext = "json" if kind == "tinydb" else "db"
    with open_store(f"{kind}:///{folder}/{tag}.{ext}") as store:
        now = datetime.now(UTC)
        with store.transaction():
            for doc in docs:
                store.outbox.enqueue("bench", doc["dedupe_key"], doc, now, alert_id=doc["id"])
        start = time.perf_counter()
        report = deliver_due(
            store, settings, datetime.now(UTC), worker="bench", environ=ENV, limit=len(docs)
        )
        spent = time.perf_counter() - start
        assert report.sent == len(docs), report.describe() + str(report.waiting)
        left = store.outbox.claim("check", datetime.now(UTC), lease=timedelta(seconds=1))
        assert not left, f"{len(left)} entries not recorded as sent"
    return len(docs) / spent


def bare_bodies(docs: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """The (webhook-id, body) firmwatch sends for each doc, made ahead of the bare loop."""
    ctx = Context("bench", "http://127.0.0.1/", {}, {})
    return [
        (
            message_id(doc),
            json.dumps(
                PRESETS["generic"].payload(doc, ctx), ensure_ascii=False, separators=(",", ":")
            ).encode(),
        )
        for doc in docs
    ]


def bare_round(url: str, bodies: list[tuple[str, bytes]], threads: int) -> float:
    """Deliveries/s of a bare httpx loop: sign each ready body and POST it (one shared client)."""
    signer = load_signer("bench", "BENCH_WHSEC", ENV)
    limits = httpx.Limits(max_connections=max(threads, 10), max_keepalive_connections=threads)
    with httpx.Client(limits=limits) as client:

        def post(item: tuple[str, bytes]) -> None:
            msg_id, body = item
            headers = sign(signer, msg_id, body, datetime.now(UTC))
            headers["Content-Type"] = "application/json"
            reply = client.post(url, content=body, headers=headers)
            assert reply.status_code == 204, reply.status_code

        post(bodies[0])  # connect outside the timing, as the notifier's pool is reused
        start = time.perf_counter()
        if threads == 1:
            for item in bodies:
                post(item)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(post, bodies))
        spent = time.perf_counter() - start
    return len(bodies) / spent


def bench_delivery(rounds: int, fast_n: int, slow_n: int) -> None:
    """The issue's figure: firmwatch delivery vs a bare httpx loop, interleaved, two receivers."""
    lanes = WebhookNotifier.concurrency
    folder = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    for label, delay, n in (("fast", 0.0, fast_n), ("50 ms", 0.05, slow_n)):
        receiver = Receiver(delay)
        settings = bench_settings(receiver.url)
        rates: dict[str, list[float]] = defaultdict(list)
        warm = delivery_docs(min(n, 50), -1)
        firmwatch_round("sqlite", folder, settings, warm, f"warm-{delay}")
        bare_round(receiver.url, bare_bodies(warm), 1)
        try:
            for r in range(rounds):
                docs = delivery_docs(n, r)
                bodies = bare_bodies(docs)
                tag = f"{label.replace(' ', '')}-{r}"
                if delay == 0:
                    rates["bare httpx loop, 1 thread"].append(bare_round(receiver.url, bodies, 1))
                rates[f"bare httpx, {lanes} threads"].append(
                    bare_round(receiver.url, bodies, lanes)
                )
                for kind in ("tinydb", "sqlite"):
                    rates[f"firmwatch deliver_due, {kind}"].append(
                        firmwatch_round(kind, folder, settings, docs, f"{kind}-{tag}")
                    )
            counts = receiver.counts()
        finally:
            receiver.close()
        print(
            f"\n{label} receiver: {n} deliveries a round, {rounds} interleaved rounds,"
            f" median (min-max) deliveries/s; receiver got {counts['received']:,},"
            f" {counts['bad']} of the sampled signatures failed"
        )
        median = {name: statistics.median(values) for name, values in rates.items()}
        for name, values in rates.items():
            print(f"  {name:<34} {median[name]:8,.0f}/s ({min(values):,.0f}-{max(values):,.0f})")
        if delay == 0:
            bare = max(v for k, v in median.items() if k.startswith("bare"))
            for kind in ("tinydb", "sqlite"):
                ratio = median[f"firmwatch deliver_due, {kind}"] / bare
                print(
                    f"  firmwatch/{kind} vs the faster bare loop: {ratio:6.1%} (target ≥ 80 %)"
                    f" {'met' if ratio >= 0.8 else 'NOT met'}"
                )
        else:
            for kind in ("tinydb", "sqlite"):
                got = median[f"firmwatch deliver_due, {kind}"]
                print(
                    f"  firmwatch/{kind}: {got:,.0f}/s (target ≥ 150/s)"
                    f" {'met' if got >= 150 else 'NOT met'}"
                )
    shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per receiver")
    parser.add_argument("--fast", type=int, default=1000, help="deliveries a round, fast receiver")
    parser.add_argument("--slow", type=int, default=600, help="deliveries a round, 50 ms receiver")
    parser.add_argument("--delivery-only", action="store_true", help="only the issue's figure")
    args = parser.parse_args()
    if not args.delivery_only:
        docs = {
            "typical (3 groups)": document([make_finding(site=f"Site {i}") for i in range(3)]),
            "large (200 groups)": document(
                [make_finding(fleet=f"fleet-{i % 20}", site=f"Site {i}") for i in range(200)]
            ),
        }
        bench_signing(docs)
        bench_presets(docs)
    bench_delivery(args.rounds, args.fast, args.slow)


if __name__ == "__main__":
    main()
