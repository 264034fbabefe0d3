"""Benchmark signed webhooks: signing cost, payload rendering per preset, POSTs per second.

The receiver (which verifies every signature, as a real one would) runs in a child process so
its CPU is not counted. A bare httpx loop posting the same body is printed for comparison.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import NetworkSettings, ReceiverSettings, Settings  # noqa: E402
from notifiers.presets import PRESETS  # noqa: E402
from notifiers.presets.base import Context  # noqa: E402
from notifiers.signing import load_signer, sign  # noqa: E402
from notifiers.templates import UserTemplate  # noqa: E402
from notifiers.webhook import WebhookNotifier, build  # noqa: E402
from tests.webhook_docs import SECRET, document, make_finding  # noqa: E402

POSTS = 600
CTX = Context("bench", "https://h.example/x", {"project": "OPS"}, {"routing_key": "k", "auth": "a"})
TEMPLATE = """{"text": {{ alert.summary | tojson }}, "severity": {{ alert.severity | tojson }},
 "fleets": [{% for f in alert.findings %}{"name": {{ f.fleet | tojson }},
 "note": {{ f.risk_note | clip(200) | tojson }}}{{ "," if not loop.last }}{% endfor %}]}"""


def serve(conn: Connection, delay: float = 0.0) -> None:
    """A signature-verifying receiver answering 204 after ``delay`` s, in this (child) process."""
    from tests.webhook_receiver import Answer, SignedReceiver

    with SignedReceiver(Answer(204, delay=delay)) as server:
        conn.send(server.url())
        conn.recv()


def rate(seconds: float, count: int) -> str:
    return f"{count / seconds:10,.0f}/s ({seconds / count * 1e6:8.1f} µs each)"


def timed(once: Callable[[], Any], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        once()
    return time.perf_counter() - start


def bench_signing(docs: dict[str, dict[str, Any]]) -> None:
    signer = load_signer("bench", "S", {"S": SECRET})
    now = datetime.now(UTC)
    for label, doc in docs.items():
        body = json.dumps(PRESETS["generic"].payload(doc, CTX), separators=(",", ":")).encode()
        n = 5_000
        key = doc["dedupe_key"]
        spent = timed(lambda body=body, key=key: sign(signer, key, body, now), n)
        print(f"sign {label:<28} {len(body):>8,} B  {rate(spent, n)}")


def bench_presets(docs: dict[str, dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.j2"
        path.write_text(TEMPLATE)
        template = UserTemplate(path)
        for label, doc in docs.items():
            for name, preset in PRESETS.items():
                n = 2_000 if label.startswith("typical") else 200
                spent = timed(lambda preset=preset, doc=doc: preset.payload(doc, CTX), n)
                print(f"render {name:<12} {label:<22} {rate(spent, n)}")
            n = 500 if label.startswith("typical") else 50
            variables = {"alert": doc, "receiver": "bench", "message_id": "x"}
            spent = timed(lambda v=variables: template.render(v), n)
            print(f"render {'template':<12} {label:<22} {rate(spent, n)} (sandboxed, traced)")


def notifier(url: str) -> WebhookNotifier:
    network = NetworkSettings(allow_hosts=["127.0.0.1"], timeout=timedelta(seconds=5))
    receiver = ReceiverSettings.model_validate(
        {"name": "bench", "type": "webhook", "url": url, "secret_env": "S"}
    )
    return build(receiver, Settings(network=network, receivers=[receiver]), {"S": SECRET})


def bench_slow(url: str, doc: dict[str, Any]) -> None:
    hook = notifier(url)
    n = 400
    with ThreadPoolExecutor(hook.concurrency) as pool:
        start = time.perf_counter()
        results = list(pool.map(lambda _: hook.send(doc), range(n)))
        spent = time.perf_counter() - start
    assert all(r.ok for r in results)
    hook.close()
    print(f"POST to a 50 ms receiver, {hook.concurrency} threads {rate(spent, n)}")


def bench_posts(url: str, doc: dict[str, Any]) -> None:
    hook = notifier(url)
    for _ in range(30):
        assert hook.send(doc).ok
    spent = timed(lambda: hook.send(doc), POSTS)
    print(f"POST firmwatch webhook, 1 thread   {rate(spent, POSTS)}")
    with ThreadPoolExecutor(8) as pool:
        start = time.perf_counter()
        results = list(pool.map(lambda _: hook.send(doc), range(POSTS)))
        spent = time.perf_counter() - start
    assert all(r.ok for r in results)
    print(f"POST firmwatch webhook, 8 threads  {rate(spent, POSTS)}")
    hook.close()
    signer = load_signer("bench", "S", {"S": SECRET})
    body = json.dumps(PRESETS["generic"].payload(doc, CTX), separators=(",", ":")).encode()
    with httpx.Client() as client:

        def bare() -> None:
            headers = sign(signer, doc["dedupe_key"], body, datetime.now(UTC))
            reply = client.post(url, content=body, headers=headers)
            assert reply.status_code == 204

        for _ in range(30):
            bare()
        spent = timed(bare, POSTS)
    print(f"POST bare httpx loop (signed), 1 thread {rate(spent, POSTS)}")


def main() -> None:
    docs = {
        "typical (3 groups)": document([make_finding(site=f"Site {i}") for i in range(3)]),
        "large (200 groups)": document(
            [make_finding(fleet=f"fleet-{i % 20}", site=f"Site {i}") for i in range(200)]
        ),
    }
    bench_signing(docs)
    bench_presets(docs)
    for delay, run in ((0.0, bench_posts), (0.05, bench_slow)):
        parent, child = multiprocessing.Pipe()
        server = multiprocessing.get_context("fork").Process(target=serve, args=(child, delay))
        server.start()
        try:
            run(parent.recv(), docs["typical (3 groups)"])
        finally:
            parent.send("done")
            server.join(timeout=10)


if __name__ == "__main__":
    main()
