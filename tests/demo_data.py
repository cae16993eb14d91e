"""What the demo's end-to-end tests share: `yuqing` run as a user would, in a data directory of its own, and what
the demo's first run crawled and made of it (events, posts, alerts) to compare other runs against."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo_env(data_dir: Path) -> dict[str, str]:
    """The environment of a user running `yuqing` on `data_dir` with the shipped configuration."""
    env = {**os.environ, "YUQING_DATA_DIR": str(data_dir)}
    env.pop("YUQING_CONFIG", None)
    return env


def yuqing(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "yuqing.cli.main", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)


def first_crawl(data_dir: Path) -> list[dict]:
    """The raw posts of the demo's crawl, once each, in the order they were crawled."""
    from transport.base import RAW_POSTS
    from transport.sqlite_log import SqliteTransport

    transport = SqliteTransport(data_dir / "transport.sqlite3")
    with transport.consumer("test-crawl-orders", [RAW_POSTS]) as consumer:
        values = [m.value for m in sorted(consumer.poll(5000, timeout=0.5), key=lambda m: m.timestamp)]
    transport.close()
    return list({value["id"]: value for value in reversed(values)}.values())[::-1]


def outcome(data_dir: Path) -> tuple[list, list, list]:
    """Events (all but the merged), each post's event (the one it was merged into, if it was) and original, and
    the alerts (group, level, title)."""
    from alerts.service import open_alert_store
    from search import open_index
    from search.base import SearchQuery
    from yuqing.config import load_settings

    settings = load_settings(None, data_dir=data_dir)
    with open_index(settings) as index:
        events = sorted((e.id, e.size, e.reprints, e.title, tuple(e.places)) for e in index.events(limit=1000)
                        if not e.merged_into)
        hits = index.search(SearchQuery(limit=1000)).hits
    with sqlite3.connect(data_dir / "index.sqlite3") as db:
        merged = dict(db.execute("SELECT id, json_extract(doc, '$.merged_into') FROM events WHERE merged = 1"))

    def surviving(event_id: str | None) -> str | None:
        while event_id in merged:
            event_id = merged[event_id]
        return event_id

    posts = sorted((p.id, surviving(p.event_id), p.reprint_of) for p in hits)
    store = open_alert_store(settings, read_only=True)
    try:  # every alert, whatever its status: a test of the demo closes its alert
        alerts = sorted((a.group_key, a.level.value, a.title) for a in store.alerts())
    finally:
        store.close()
    return events, posts, alerts
