"""The burst tracker's `signals` (the alert stage calls it every batch) with a city's fortnight of quiet events held.

    python -m bench.burst_signals [--per-day 21000] [--days 14] [--batches 50]

At 100,000 posts a day the events stage makes about 21,000 new events a day, nearly all of one post or a few; the
tracker keeps each for its 15-day horizon (the 1d/14d window's baseline), so after two weeks it holds ~300,000
subjects, of which the few hundred posted about today are the only ones a signal can come from. Each batch here
brings 500 posts to 50 lively events. The baseline is the same batches on a tracker holding the lively events only,
in the same run: a `signals` that looks at the lively subjects only costs about the same (ratio near 1); one that
goes through every subject costs about `quiet / lively` times more. The last line reads

    burst-signals: <ms> ms/batch with <N> subjects held (baseline <ms> ms/batch with <M>, x<ratio>)
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta

from analysis.bursts import BurstTracker
from yuqing.schema import SHANGHAI, EnrichedPost, Sentiment, SentimentLabel

LIVELY = 50
BATCH = 500
START = datetime(2026, 1, 20, tzinfo=SHANGHAI)


def post(number: int, when: datetime, event: str) -> EnrichedPost:
    return EnrichedPost(id=f"weibo:{number}", url=f"https://weibo.example.cn/{number}", platform="weibo",
                        source="weibo", text="某事", published_at=when, event_id=event,
                        sentiment=Sentiment(score=0.5, label=SentimentLabel.NEUTRAL))


def cpu_ms_per_batch(quiet_per_day: int, days: int, batches: int) -> tuple[float, int]:
    """Hold `days` days of `quiet_per_day` one-post events, then time `batches` batches; (ms per batch, held)."""
    tracker = BurstTracker([])
    number = 0
    for day in range(days, 0, -1):
        for n in range(quiet_per_day):
            number += 1
            tracker.add(post(number, START - timedelta(days=day, seconds=n % 86_000), f"quiet-{number}"))
    tracker.signals(START)  # the quiet ones are found quiet once
    prepared = []
    for batch in range(batches):
        now = START + timedelta(minutes=batch)
        prepared.append((now, [post(number + batch * BATCH + n + 1, now, f"lively-{n % LIVELY}") for n in range(BATCH)]))
    began = time.process_time()
    for now, posts in prepared:
        for item in posts:
            tracker.add(item)
        tracker.signals(now)
    return (time.process_time() - began) * 1000 / batches, len(tracker.records())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=21_000, help="new quiet events a day")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--batches", type=int, default=50)
    args = parser.parse_args()
    baseline, lively = cpu_ms_per_batch(0, 0, args.batches)
    measured, held = cpu_ms_per_batch(args.per_day, args.days, args.batches)
    print(f"burst-signals: {measured:.1f} ms/batch with {held} subjects held "
          f"(baseline {baseline:.1f} ms/batch with {lively}, x{measured / baseline:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
