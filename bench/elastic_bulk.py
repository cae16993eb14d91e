"""Client-side cost of indexing into Elasticsearch, against the embedded index as baseline.

Both runs index the same real Weibo posts (shared/data/sentiment/smp2020_usual_eval.json) and both
segment them with jieba. The Elasticsearch run goes through `ElasticIndex.upsert` (document
building, bulk serialisation, HTTP) to a loopback bulk sink that answers like Elasticsearch 8
("created" per document) without storing anything: it measures what the index worker spends per
post, not a cluster's own indexing speed.

Run: `.venv/bin/python -m bench.elastic_bulk [--posts N]`
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from search.elastic import ElasticIndex
from search.sqlite_fts import SqliteIndex
from yuqing.config.settings import ElasticsearchSettings
from yuqing.schema import EnrichedPost, now

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sentiment" / "smp2020_usual_eval.json"


class BulkSink(BaseHTTPRequestHandler):
    """Answers HEAD <index> and POST/PUT <index>/_bulk as Elasticsearch 8 would on success."""

    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, body: dict | None) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("X-elastic-product", "Elasticsearch")
        self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_HEAD(self) -> None:
        self._answer(200, None)

    def do_PUT(self) -> None:
        lines = self.rfile.read(int(self.headers["Content-Length"])).splitlines()
        index = self.path.split("/")[1]
        items = [{"index": {"_index": index, "_id": json.loads(action)["index"]["_id"], "_version": 1,
                            "result": "created", "status": 201, "_seq_no": n, "_primary_term": 1}}
                 for n, action in enumerate(lines[0::2])]
        self._answer(200, {"errors": False, "took": 1, "items": items})

    do_POST = do_PUT

    def log_message(self, *args: object) -> None:
        pass


def load_posts(limit: int) -> list[EnrichedPost]:
    rows = json.loads(DATA.read_text(encoding="utf-8"))[:limit]
    start = now()
    return [EnrichedPost(id=f"weibo:smp-{row['id']}", url=f"https://m.weibo.cn/status/smp-{row['id']}",
                         platform="weibo", source="smp2020", text=row["content"], masked_text=row["content"],
                         published_at=start - timedelta(minutes=n)) for n, row in enumerate(rows)]


def timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000, help="at most 2000 (the size of the file)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest is reported")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs the shared data: {DATA} is missing")
    posts = load_posts(args.posts)

    def embedded_run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            embedded = SqliteIndex(Path(tmp) / "index.sqlite3")
            embedded.upsert(posts)
            embedded.close()

    baseline = min(timed(embedded_run) for _ in range(args.repeat))

    server = ThreadingHTTPServer(("127.0.0.1", 0), BulkSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    elastic = ElasticIndex(ElasticsearchSettings(url=f"http://127.0.0.1:{server.server_address[1]}"))
    try:
        elapsed = min(timed(lambda: elastic.upsert(posts)) for _ in range(args.repeat))
    finally:
        elastic.close()
        server.shutdown()

    n = len(posts)
    print(f"posts: {n} real Weibo posts")
    print(f"embedded SqliteIndex.upsert (baseline): {baseline:.2f} s, {n / baseline:,.0f} posts/s")
    print(f"ElasticIndex.upsert to a loopback bulk sink: {elapsed:.2f} s, {n / elapsed:,.0f} posts/s")
    print(f"ratio elastic/embedded time: {elapsed / baseline:.2f} (fastest of {args.repeat} runs each)")


if __name__ == "__main__":
    main()
