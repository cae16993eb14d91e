"""How long the daily briefing takes on a day of 100,000 posts, in HTML, Word and PDF, against reading
the day's posts once.

    python -m bench.report_daily [--today 100000] [--per-day 2000] [--policies 30] [--repeat 1]

Builds a temporary embedded index (ordinary days before, then `--today` posts on the reported day,
events, alerts), then times `build_daily_report` writing all three formats against the least any
exact report must do: streaming once through the day's posts. Target: under 30 s at 100,000 posts.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from reports.daily import build_daily_report
from reports.figures import stream
from search.base import SearchQuery
from search.sqlite_fts import SqliteIndex
from yuqing.schema import (
    SHANGHAI,
    Alert,
    AlertLevel,
    CrawlHealth,
    Deadline,
    EnrichedPost,
    Event,
    Policy,
    PolicyLink,
    Sentiment,
)

PLACES = ["牡丹区", "定陶区", "曹县", "单县", "成武县", "巨野县", "郓城县", "鄄城县", "东明县"]
PLATFORMS = ["weibo", "news", "board", "forum", "gov"]
WORDS = ["老旧小区", "改造", "停工", "供暖", "物业", "学校", "招生", "医保", "报销", "道路", "施工", "拆迁", "补偿", "公交", "线路", "调整", "菏泽", "市民", "反映", "问题"]


def build_index(path: Path, per_day: int, today: int, n_policies: int, now: datetime, rng: random.Random
                ) -> tuple[SqliteIndex, list[Policy], list[Event]]:
    policies = [Policy(id=f"p{i}", title=f"菏泽市第{i}号政策文件") for i in range(n_policies)]
    index = SqliteIndex(path)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    posts = []
    for back in range(13, -1, -1):
        count = today if back == 0 else per_day
        for n in range(count):
            when = start - timedelta(days=back) + timedelta(seconds=rng.randrange(18 * 3600 if back == 0 else 86400))
            label = rng.choice(["negative", "neutral", "positive", "negative"] if back == 0 else
                               ["negative", "neutral", "positive", "neutral", "positive"])
            posts.append(EnrichedPost(
                url=f"https://example.org/{back}/{n}", platform=rng.choice(PLATFORMS), source=f"src{n % 12}",
                text="".join(rng.choices(WORDS, k=20)), published_at=when,
                sentiment=Sentiment(score=0.5, label=label), places=[rng.choice(PLACES)],
                policies=[PolicyLink(id=f"p{rng.randrange(n_policies)}", score=0.7)] if n % 3 == 0 else [],
                event_id=f"e{n % 40}" if back <= 2 else None,
            ))
    for chunk in range(0, len(posts), 5000):
        index.upsert(posts[chunk:chunk + 5000])
    events = [Event(id=f"e{i}", label=f"事件{i}", first_seen=start - timedelta(days=2), last_seen=now,
                    size=per_day // 10, platforms={"weibo": 5, "news": 3}, policies=[f"p{i % n_policies}"])
              for i in range(40)]
    index.upsert_events(events)
    return index, policies, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--today", type=int, default=100_000, help="posts on the reported day")
    parser.add_argument("--per-day", type=int, default=2000, help="posts on each of the 13 days before")
    parser.add_argument("--policies", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(1)
    now = datetime.now(SHANGHAI).replace(hour=18, minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        index, policies, _ = build_index(Path(tmp) / "index.sqlite3", args.per_day, args.today, args.policies, now,
                                         rng)
        print(f"index: {index.search(SearchQuery(limit=0)).total} posts over 14 days "
              f"(built in {time.perf_counter() - started:.1f} s)")
        alerts = [Alert(id=f"a{i}", rule="r", rule_type="negative_surge", group_key=f"g{i}", title=f"预警{i}",
                        level=list(AlertLevel)[i % 4], subject_kind="policy", subject_id=f"p{i}",
                        fired_at=now - timedelta(hours=i + 1),
                        deadlines=[Deadline(name="发布权威信息", due_at=now - timedelta(hours=i + 1) + timedelta(hours=5))])
                  for i in range(10)]
        health = [CrawlHealth(source=f"src{i}", kind="news", started_at=now - timedelta(minutes=5),
                              finished_at=now, items=10) for i in range(12)]
        day_query = SearchQuery(since=now.replace(hour=0), until=now)

        def read_day() -> int:
            return sum(1 for _ in stream(index, day_query))

        def report() -> Path:
            return build_daily_report(index, alerts=alerts, policies=policies, health=health, now=now,
                                      out_dir=Path(tmp) / "out", formats=("html", "docx", "pdf"))

        timings = {}
        for name, job in (("baseline: stream the day's posts once", read_day),
                          ("build_daily_report (html, docx, pdf)", report)):
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                job()
                best = min(best, time.perf_counter() - t0)
            timings[name] = best
            print(f"{name}: {best:.2f} s (best of {args.repeat})")
        base, full = timings.values()
        sizes = ", ".join(f"{p.suffix[1:]} {p.stat().st_size / 1024:.0f} KiB" for p in sorted((Path(tmp) / "out").iterdir()))
        print(f"report / baseline: {full / base:.1f}x; files: {sizes}; posts today: {read_day()}")
        print(f"report_daily: {full:.1f} s for {args.today:,} posts in three formats "
              f"({'under' if full < 30 else 'OVER'} the 30 s target)")
        index.close()


if __name__ == "__main__":
    main()
