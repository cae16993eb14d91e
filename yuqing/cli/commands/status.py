"""`yuqing status [--json]`: what is waiting, what is indexed, what needs attention."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from search import open_index
from transport import open_transport
from transport.base import DEAD_LETTER_SUFFIX
from workers.stages import stage_groups
from yuqing.cli.common import print_json, settings_from
from yuqing.config import Settings
from yuqing.schema import SHANGHAI


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="queue lag, indexed posts, events, open alerts, last crawls",
                            description="Show the state of the pipeline. Counts do not change when "
                                        "nothing new was crawled.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def collect(settings: Settings) -> dict[str, Any]:
    from alerts.store import OPEN_STATUSES, open_alert_store

    with open_transport(settings) as transport:
        topics = transport.stats(expected=stage_groups())
    with open_index(settings) as index:
        platforms = index.counts_by("platform")
        events = index.event_count()
        health = index.crawl_health()
    # The store alone, read-only: the alert service's rules, channels and policies (and their imports) are not
    # needed to read what is open.
    store = open_alert_store(settings, read_only=True)
    try:
        open_alerts = store.alerts(OPEN_STATUSES)
        open_count = store.count(OPEN_STATUSES)
    finally:
        store.close()
    return {
        "counts": {
            "posts_indexed": sum(platforms.values()),
            "posts_by_platform": platforms,
            "events": events,
            "open_alerts": open_count,
            "dead_letters": {t.topic: t.messages for t in topics if t.topic.endswith(DEAD_LETTER_SUFFIX)},
        },
        "lag": {t.topic: t.lag for t in topics if not t.topic.endswith(DEAD_LETTER_SUFFIX)},
        "open_alerts": [
            {"id": a.id, "level": a.level.value, "title": a.title, "status": a.status.value,
             "due": min((d.due_at for d in a.deadlines if d.met_at is None), default=None)}
            for a in open_alerts
        ],
        "last_crawl": {
            h.source: {"finished_at": h.finished_at, "items": h.items, "new_items": h.new_items,
                       "problems": h.problems, "blind": h.blind}
            for h in health
        },
    }


def local(moment: datetime) -> str:
    """Beijing time, as the office reads it."""
    return f"{moment.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


def run(args: argparse.Namespace) -> int:
    status = collect(settings_from(args))
    if args.json:
        print_json(status)
        return 0
    counts = status["counts"]
    print(f"已索引 posts indexed: {counts['posts_indexed']}  "
          + "  ".join(f"{k}={v}" for k, v in counts["posts_by_platform"].items()))
    print(f"事件 events: {counts['events']}    未关闭预警 open alerts: {counts['open_alerts']}")
    for alert in status["open_alerts"]:
        due = f"  截止 {local(alert['due'])}" if alert["due"] else ""
        print(f"  [{alert['level']}] {alert['title']} ({alert['status']}){due}")
    print("待处理 lag: " + (", ".join(f"{t}: {sum(g.values())}" for t, g in status["lag"].items()) or "none"))
    for topic, n in counts["dead_letters"].items():
        print(f"  死信 dead letters in {topic}: {n}")
    for source, run in status["last_crawl"].items():
        flag = "  ⚠ 无数据 (blind)" if run["blind"] else ""
        print(f"最近采集 {source}: {local(run['finished_at'])}  items={run['items']} "
              f"new={run['new_items']}{flag}")
    return 0
