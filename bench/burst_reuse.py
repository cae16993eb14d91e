"""The burst tracker's `signals` over a city's day, with each subject's signals handed on while nothing changed them.

    python -m bench.burst_reuse [--per-day 100000] [--batches 40] [--batch 500]

The tracker holds the last day at `--per-day` posts (a fifth of them on new one-post events, as the events stage
makes them, the rest on a few hundred incidents; every post names a place, a third a policy), then takes batches of
`--batch` posts of the same kind, the clock moving on by the time they take to come in. Most subjects with a post in
the last day get none in a batch, and the clock brings few of their buckets across an edge of a window: their
signals are handed on. The baseline, in the same run, is the same batches on a tracker whose subjects are all worked
out afresh before each call (as every one was before they were kept). The last line reads

    burst-reuse: <ms> ms/batch with <N> lively subjects (afresh <ms> ms/batch, x<ratio>)
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta

from analysis.bursts import BurstTracker
from yuqing.schema import SHANGHAI, EnrichedPost, PolicyLink, Sentiment, SentimentLabel

START = datetime(2026, 1, 20, tzinfo=SHANGHAI)
PLACES = ["牡丹区", "定陶区", "曹县", "单县", "成武县", "巨野县", "郓城县", "鄄城县", "东明县", "何楼街道", "南城街道"]
INCIDENTS = 300
ONE_POST_SHARE = 0.2


def city_post(number: int, when: datetime, rng: random.Random) -> EnrichedPost:
    event = f"event-{number}" if rng.random() < ONE_POST_SHARE else f"incident-{rng.randrange(INCIDENTS)}"
    negative = rng.random() < 0.3
    return EnrichedPost(id=f"weibo:{number}", url=f"https://weibo.example.cn/{number}", platform="weibo",
                        source="weibo", text="某事", published_at=when, event_id=event, places=[rng.choice(PLACES)],
                        policies=[PolicyLink(id=f"policy-{rng.randrange(20)}", score=0.8)] if rng.random() < 0.3 else [],
                        sentiment=Sentiment(score=0.1 if negative else 0.8,
                                            label=SentimentLabel.NEGATIVE if negative else SentimentLabel.POSITIVE))


def cpu_ms_per_batch(per_day: int, batches: int, batch: int, afresh: bool) -> tuple[float, int]:
    """(ms of CPU per `signals` call, lively subjects at the end) over `batches` batches after a day of history."""
    rng = random.Random(1)
    tracker = BurstTracker([])
    gap = timedelta(days=1) / per_day
    when = START - timedelta(days=1)
    for number in range(per_day):
        tracker.add(city_post(number, when + gap * number, rng))
    tracker.signals(START)
    spent = 0.0
    for step in range(batches):
        first = per_day + step * batch
        now = START + gap * batch * (step + 1)
        for number in range(first, first + batch):
            tracker.add(city_post(number, START + gap * (number - per_day), rng))
        if afresh:
            for subject in tracker._subjects.values():
                subject.evaluated = None
        began = time.process_time()
        tracker.signals(now)
        spent += time.process_time() - began
    return spent * 1000 / batches, len(tracker._lively)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=500, help="posts per batch")
    args = parser.parse_args()
    baseline, _ = cpu_ms_per_batch(args.per_day, args.batches, args.batch, afresh=True)
    measured, lively = cpu_ms_per_batch(args.per_day, args.batches, args.batch, afresh=False)
    print(f"burst-reuse: {measured:.1f} ms/batch with {lively} lively subjects "
          f"(afresh {baseline:.1f} ms/batch, x{measured / baseline:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
