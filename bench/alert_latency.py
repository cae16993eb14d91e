"""Alert latency: from a post's arrival in the transport to the webhook delivery of its alert.

Posts go into ENRICHED_POSTS through the configured transport (embedded SQLite log by default;
`--transport kafka`, with YUQING_KAFKA__BOOTSTRAP_SERVERS); the alert worker (workers.stages.AlertStage
under workers.runner.Worker, as `yuqing worker alert` runs it) evaluates the rules and delivers
to a webhook receiver on 127.0.0.1, which notes when each alert arrives. Every incident post names
a new place, so it opens its own alert group and is delivered exactly once.

Baseline, measured in the same run: the transport alone (publish → a consumer polling the same
way receives it), so the ratio shows what rules, store, outbox and HTTP add.

    python bench/alert_latency.py                 # 200 incidents among 800 ordinary posts, 20 posts/s
    python bench/alert_latency.py --down 20       # receiver refuses for 20 s: nothing may be lost
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from alerts.service import AlertService
from alerts.testing import make_post
from analysis.bursts import BurstTracker
from transport import ENRICHED_POSTS, open_transport
from transport.base import Message
from workers.runner import BatchResult, Worker
from workers.stages import AlertStage
from yuqing.config import ConfigError, Settings, load_settings
from yuqing.config.datafiles import load_watchlists

TARGET_P95 = 5.0  # seconds, from the issue


class Receiver:
    """Webhook endpoint: records the arrival time of each alert by its first post id."""

    def __init__(self, down_for: float) -> None:
        self.arrivals: dict[str, float] = {}
        self.refused = 0
        self.up_at = time.time() + down_for
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if time.time() < receiver.up_at:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                payload = json.loads(body)
                if payload["kind"] == "fired":
                    receiver.arrivals.setdefault(payload["alert"]["post_ids"][0], time.time())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_rules(path: Path, url: str) -> None:
    path.write_text(yaml.safe_dump({
        "retry": {"first": "1s", "max": "4s"},
        # The pipeline's own delay is measured: the settle window is a deliberate wait added on top of it.
        "delivery": {"settle": "0s", "min_interval": "0s"},
        "channels": [{"name": "bench", "type": "webhook", "rate_per_minute": 100_000, "options": {"url": url}}],
        "defaults": {"channels": ["bench"], "escalate_to": []},
        "rules": [{"name": "拆迁维权", "type": "keyword_context",
                   "options": {"terms": ["拆迁"], "context": ["上访", "维权"], "min_posts": 1, "group_by": "place"}}],
    }, allow_unicode=True), encoding="utf-8")


class ReadyAlertStage(AlertStage):
    """The alert stage, telling when its worker first got past a poll, i.e. has joined its group."""

    def __init__(self, service: AlertService, bursts: BurstTracker) -> None:
        super().__init__(service, bursts)
        self.ready = threading.Event()

    def process(self, messages: list[Message]) -> BatchResult:
        self.ready.set()
        return super().process(messages)

    def idle(self) -> None:
        self.ready.set()
        super().idle()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def baseline(settings: Settings, messages: int, interval: float) -> list[float]:
    """Transport alone: publish → poll by a consumer in another thread, with the worker's poll timeout."""
    topic = "bench.baseline"
    received: dict[str, float] = {}
    joined, done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            with open_transport(settings) as transport, transport.consumer("bench-baseline", [topic]) as consumer:
                while not done.is_set():
                    batch = consumer.poll(200, 0.5)
                    joined.set()
                    for message in batch:
                        received.setdefault(message.value["n"], time.time())
                    consumer.commit(batch)
        except BaseException as exc:  # reported below instead of dying silently in the thread
            failures.append(exc)
            joined.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    joined.wait(timeout=30)
    sent: dict[str, float] = {}
    with open_transport(settings) as transport:
        for n in range(messages):
            sent[str(n)] = time.time()
            transport.publish(topic, {"n": str(n)}, key=str(n))
            time.sleep(interval)
    deadline = time.time() + 30
    while len(received) < messages and time.time() < deadline and not failures:
        time.sleep(0.05)
    done.set()
    thread.join(timeout=5)
    if failures:
        raise RuntimeError(f"baseline consumer failed: {failures[0]!r}") from failures[0]
    if not received:
        raise RuntimeError("baseline consumer received nothing within 30 s")
    return [received[k] - sent[k] for k in sent if k in received]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=200, help="posts that each open an alert")
    parser.add_argument("--background", type=int, default=4, help="ordinary posts per incident post")
    parser.add_argument("--rate", type=float, default=20.0, help="posts per second into the transport")
    parser.add_argument("--down", type=float, default=0.0, help="seconds the webhook refuses at the start")
    parser.add_argument("--transport", choices=["embedded", "kafka"], default=None)
    parser.add_argument("--timeout", type=float, default=120.0, help="give up waiting for deliveries after")
    args = parser.parse_args(argv)

    receiver = Receiver(args.down)
    with tempfile.TemporaryDirectory(prefix="yuqing-bench-") as tmp:
        rules = Path(tmp) / "rules.yaml"
        write_rules(rules, receiver.url)
        overrides = {"data_dir": Path(tmp) / "var", "rules_file": rules}
        if args.transport:
            overrides["transport"] = args.transport
        try:
            settings = load_settings(**overrides)
            interval = 1.0 / args.rate
            base = baseline(settings, min(args.incidents, 200), interval)
            tracker = BurstTracker(load_watchlists(settings.watchlists_file))
            worker_transport = open_transport(settings)
        except ConfigError as exc:
            print(exc.message, file=sys.stderr)
            return 2
        stage = ReadyAlertStage(AlertService.from_settings(settings), tracker)
        worker = Worker(worker_transport, stage, batch_size=200, poll_timeout=0.5)
        sent: dict[str, float] = {}
        started = time.monotonic()

        def inject() -> None:
            """Publish the stream at the given rate, then stop the worker once all alerts arrived."""
            # Posts sent before the worker has joined its consumer group would time the join (Kafka: seconds,
            # once per worker start), not the alert path: it is reported on its own line instead.
            stage.ready.wait(timeout=args.timeout)
            ready_after.append(time.monotonic() - started)
            ordinary = ["地铁三号线沿线拆迁工作顺利推进", "市政府召开常务会议", "供暖季准备工作就绪", "公交线路调整公告"]
            with open_transport(settings) as transport:
                for n in range(args.incidents):
                    for b in range(args.background):
                        post = make_post(ordinary[b % len(ordinary)], places=["北关街道"],
                                         at=datetime.now().astimezone())
                        transport.publish(ENRICHED_POSTS, post.model_dump(mode="json"), key=post.id)
                        time.sleep(interval)
                    post = make_post(f"第{n}村拆迁户上访维权", places=[f"第{n}村"], sentiment="negative",
                                     at=datetime.now().astimezone())
                    sent[post.id] = time.time()
                    transport.publish(ENRICHED_POSTS, post.model_dump(mode="json"), key=post.id)
                    time.sleep(interval)
            deadline = time.time() + args.timeout
            while len(receiver.arrivals) < len(sent) and time.time() < deadline:
                time.sleep(0.05)
            worker.stop()

        ready_after: list[float] = []
        injector = threading.Thread(target=inject, daemon=True)
        injector.start()
        worker.run()  # in the main thread, as `yuqing worker alert` runs it (it installs a SIGTERM handler)
        injector.join()
        worker_transport.close()
        receiver.close()

    latencies = [receiver.arrivals[k] - sent[k] for k in sent if k in receiver.arrivals]
    lost = len(sent) - len(latencies)
    print(f"transport: {settings.transport}; burst signals: on (analysis.bursts.BurstTracker); "
          f"{args.incidents} incidents + {args.incidents * args.background} ordinary posts at {args.rate:g}/s")
    print(f"worker ready (consumer group joined) {ready_after[0]:.1f} s after start; the stream began then")
    if args.down:
        print(f"webhook down for the first {args.down:g} s: refused {receiver.refused} deliveries")
    print(f"baseline (transport only, {len(base)} msgs): p50 {statistics.median(base):.3f} s  "
          f"p95 {percentile(base, 0.95):.3f} s")
    if not latencies:
        print(f"alert path: nothing delivered within {args.timeout:g} s")
        return 1
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(f"alert path (post arrival → webhook, {len(latencies)} alerts): p50 {p50:.3f} s  p95 {p95:.3f} s  "
          f"max {max(latencies):.3f} s")
    print(f"ratio to baseline: p50 ×{p50 / max(statistics.median(base), 1e-6):.1f}  "
          f"p95 ×{p95 / max(percentile(base, 0.95), 1e-6):.1f}")
    verdict = "met" if p95 < TARGET_P95 and not lost else "NOT met"
    if args.down:
        verdict += " (includes the time the webhook was down)"
    print(f"lost: {lost}    target p95 < {TARGET_P95:g} s: {verdict}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
