"""Test helpers of the social spiders: a loopback HTTP server with a route table, and crawl runs.

Weibo's API is addressed by query string (containerid, page, id) and board messages change
between crawls (a reply arrives), so a directory server is not enough: tests map exact
path+query strings to answers and may change them between crawls. Unknown paths are 404.
Requests are recorded so tests can tell what was fetched.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from stores.state import SEEN_FILE
from transport import RAW_POSTS, open_transport
from workers.crawl import crawl_in_subprocess
from yuqing.config import Settings, load_settings
from yuqing.config.datafiles import Source
from yuqing.schema import CrawlHealth


@dataclass
class Answer:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def file(cls, path: Path, content_type: str | None = None) -> Answer:
        if content_type is None:
            content_type = "application/json; charset=utf-8" if path.suffix == ".json" else "text/html"
        return cls(body=path.read_bytes(), content_type=content_type)


class RouteServer:
    """`routes["/path?query"] = Answer(...)`; `url("/path?query")` is the absolute URL."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.requests: list[str] = []
        self.cookies: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                server.cookies.append(self.headers.get("Cookie", ""))
                answer = server.routes.get(self.path) or Answer(b"not found", status=404)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def fetched(self, path: str) -> int:
        """How many times `path` (exact path and query) was requested."""
        return self.requests.count(path)

    @contextmanager
    def running(self) -> Iterator[RouteServer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()


def crawl_settings(data_dir: Path, **crawl: Any) -> Settings:
    """Settings for a fast loopback crawl into an embedded transport under `data_dir`."""
    return load_settings(data_dir=data_dir, crawl={"download_delay": 0, "autothrottle": False, **crawl})


def crawl(settings: Settings, *sources: Source) -> dict[str, CrawlHealth]:
    """One crawl run (in a child process: Scrapy's reactor starts once per process), health by source."""
    # Social kinds extract nothing with trafilatura: no extraction worker processes to start.
    return {health.source: health for health in crawl_in_subprocess(settings, sources, extract_workers=0)}


def published(settings: Settings) -> list[dict[str, Any]]:
    """Every post published to RAW_POSTS so far, in publish order per partition."""
    transport = open_transport(settings)
    values: list[dict[str, Any]] = []
    with transport.consumer(f"test-{uuid.uuid4().hex}", [RAW_POSTS]) as consumer:
        while batch := consumer.poll(max_messages=500, timeout=0.2):
            values.extend(message.value for message in batch)
    transport.close()
    return values


def age_seen_pages(settings: Settings, days: float) -> None:
    """Pretend every page in the seen-store was first seen `days` earlier (to leave the revisit window)."""
    with sqlite3.connect(settings.path(SEEN_FILE)) as db:
        db.execute("UPDATE pages SET first_seen = first_seen - ?", (days * 86400,))
