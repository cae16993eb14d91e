"""Counting and faceting the posts of an event that thousands of events were merged into, against an event with as
many posts and no merges, in one run: what the daily report reads about each of its top events.

    python -m bench.event_merges [--merged 5000] [--days 3] [--per-day 6000] [--repeat 3]

Builds a temporary embedded index of `--days` days of `--per-day` posts. A sixth of each day's posts go to the event
`merged` (most of them written under one of `--merged` small events, merged into it afterwards through
`upsert_events`, as the events stage does), a sixth to the event `plain` (all written under it). Then, for each of the
two, the CPU time (best of `--repeat`) of counting its posts on the last day and over all days, of its platforms and
sentiments (`counts_by`), and of the report's summary of it (`summarise_event`); each figure is checked against the posts
generated. A soak's event that swallowed 66,484 others took 10.8 s of CPU to count one day's 12,018 posts, where an
event of its size without merges takes milliseconds: the cost must follow the posts counted, not the merges.

The last line: `event_merges: worst merged/plain CPU ratio <r> over <n> merged events, exact <yes|no>`.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from reports.briefing import summarise_event
from reports.figures import Ledger
from search.base import SearchQuery
from search.sqlite_fts import SqliteIndex
from yuqing.schema import SHANGHAI, EnrichedPost, Event, Sentiment, SentimentLabel

END = datetime(2026, 11, 30, 18, tzinfo=SHANGHAI)
PLATFORMS = ["weibo", "news", "board", "forum", "gov"]
WORDS = ["老旧小区", "改造", "停工", "供暖", "物业", "学校", "招生", "医保", "报销", "道路", "施工", "拆迁", "补偿"]
MERGES_PER_BATCH = 500  # merges written together, as the events stage writes a batch's events


def generate(days: int, per_day: int, merged: int, rng: random.Random) -> list[EnrichedPost]:
    """The posts, oldest day first: a sixth under `merged` or one of the events merged into it, a sixth under
    `plain`, the rest under other events or none."""
    first_day = END.replace(hour=0) - timedelta(days=days - 1)
    posts = []
    for day in range(days):
        for n in range(per_day):
            share = n % 6
            event: str | None
            if share == 0:
                event = f"small{rng.randrange(merged)}" if n % 60 else "merged"
            elif share == 1:
                event = "plain"
            else:
                event = f"other{n % 40}" if share < 4 else None
            posts.append(EnrichedPost(
                url=f"https://example.org/{day}/{n}", platform=rng.choice(PLATFORMS), source=f"src{n % 12}",
                text="".join(rng.choices(WORDS, k=12)),
                published_at=first_day + timedelta(days=day, seconds=rng.randrange(18 * 3600)),
                sentiment=Sentiment(score=0.5, label=rng.choice(list(SentimentLabel))), event_id=event))
    return posts


def build(path: Path, posts: list[EnrichedPost], merged: int) -> SqliteIndex:
    index = SqliteIndex(path)
    for start in range(0, len(posts), 5000):
        index.upsert(posts[start:start + 5000])
    begun = posts[0].when
    index.upsert_events([Event(id=name, label=name, first_seen=begun, last_seen=END) for name in ("merged", "plain")])
    small = [Event(id=f"small{i}", label="小事件", first_seen=begun, last_seen=END, merged_into="merged")
             for i in range(merged)]
    for start in range(0, len(small), MERGES_PER_BATCH):
        index.upsert_events(small[start:start + MERGES_PER_BATCH])
    return index


def cpu(job: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Least CPU seconds of `repeat` runs, and what the job returned."""
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.process_time()
        result = job()
        best = min(best, time.process_time() - began)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merged", type=int, default=5000, help="events merged into one")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    posts = generate(args.days, args.per_day, args.merged, random.Random(7))
    last_day = END.replace(hour=0)
    counted_under = {post.id: "merged" if (post.event_id or "").startswith("small") else post.event_id for post in posts}
    with tempfile.TemporaryDirectory() as tmp:
        began = time.process_time()
        index = build(Path(tmp) / "index.sqlite3", posts, args.merged)
        print(f"index: {len(posts):,} posts over {args.days} days, {args.merged:,} events merged into one "
              f"(built in {time.process_time() - began:.1f} s of CPU)")
        events = {e.id: e for e in index.events(limit=10)}
        ratios, exact = [], True
        for name, measure, expect in (
            ("count, last day", lambda e: index.count(SearchQuery(events=[e], since=last_day, until=END)),
             lambda e: sum(counted_under[p.id] == e and p.when >= last_day for p in posts)),
            ("count, all days", lambda e: index.count(SearchQuery(events=[e])),
             lambda e: sum(counted_under[p.id] == e for p in posts)),
            ("platforms, all days", lambda e: index.counts_by("platform", SearchQuery(events=[e])),
             lambda e: dict(Counter(p.platform.value for p in posts if counted_under[p.id] == e))),
            ("sentiments, last day", lambda e: index.counts_by("sentiment", SearchQuery(events=[e], since=last_day)),
             lambda e: dict(Counter(p.sentiment.label.value for p in posts  # type: ignore[union-attr]
                                    if counted_under[p.id] == e and p.when >= last_day))),
            ("report's event summary", lambda e: [summarise_event(Ledger(index), events[e], last_day, END, {}).today],
             lambda e: [sum(counted_under[p.id] == e and p.when >= last_day for p in posts)]),
        ):
            seconds: dict[str, float] = {}
            for event in ("plain", "merged", "plain", "merged"):  # alternated: both see the same load
                spent, found = cpu(partial(measure, event), args.repeat)
                seconds[event] = min(seconds.get(event, spent), spent)
                exact = exact and found == expect(event)
            ratios.append(seconds["merged"] / max(seconds["plain"], 1e-6))
            print(f"{name}: merged {seconds['merged'] * 1000:.1f} ms, plain {seconds['plain'] * 1000:.1f} ms of CPU, "
                  f"ratio {ratios[-1]:.1f}")
        index.close()
    print(f"event_merges: worst merged/plain CPU ratio {max(ratios):.1f} over {args.merged:,} merged events, "
          f"exact {'yes' if exact else 'no'}")


if __name__ == "__main__":
    main()
