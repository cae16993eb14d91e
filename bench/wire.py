"""CPU per message of passing posts between the stages: each kind of message decoded (validated by the schema, as
the stage that reads it does) and encoded (as the stage that sends it does), on the throughput benchmark's stream.

    python -m bench.wire [--posts 4000] [--warmup 2000] [--days 2] [--seed 1] [--rounds 5]

The posts of `bench.soak.Stream` are analysed in this process as the stages analyse them (read back from JSON,
`Enricher.annotate`, then `Analyzer.assign` of the annotated posts read back and the events of each batch), which
gives every kind of message the stages send: the raw post (decoded by the enrich stage),
the annotated post (encoded by the enrich stage, decoded by the events stage), the enriched post (encoded by the
events stage, decoded by the index and alert stages) and the event (likewise). Each is timed in CPU microseconds
per message, the best of `--rounds` passes over all of them (the passes alternate between the kinds, so that other
work on the machine falls on all alike), beside its baseline measured alike: orjson alone reading the same JSON, or
writing it from the values it reads as. The last line reads `wire: <us> us/post decode+encode, baseline <us> us/post
orjson alone, ratio <r>`: a post's share of it all (one message of each kind a post, and the events per post).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson

from bench.soak import Stream, add_stream_options
from yuqing.schema import SHANGHAI, EnrichedPost, Event, Post

BATCH = 500  # posts a batch, as the stages read them


def cpu_per_call(work: Callable[[Any], object], items: list[Any]) -> float:
    """CPU microseconds per item of one pass of `work` over `items`."""
    began = time.process_time()
    for item in items:
        work(item)
    return (time.process_time() - began) / len(items) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stream_options(parser, posts=4_000, warmup_help="posts analysed before those whose messages are timed")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the messages; the best is printed")
    args = parser.parse_args()

    from analysis.enrich import Analyzer, Annotated
    from workers.build import load_gazetteer, shipped_language, shipped_segmenter
    from yuqing.config.settings import DEFAULT_DATA

    stream = Stream(max(1, (args.warmup + args.posts) // args.days), random.Random(args.seed))
    first_day = datetime.now(SHANGHAI).date() - timedelta(days=args.days)
    # Read back from their JSON, as the enrich stage reads them: what is analysed, and later sent, holds the times
    # the stages hold (pydantic's TzInfo, not the stream's named zone).
    posts = [Post.model_validate_json(post.to_json()) for number in range(args.days) for post in stream.day(
        number, datetime.combine(first_day + timedelta(days=number), datetime.min.time(), SHANGHAI))]
    analyzer = Analyzer(shipped_language(), [], [],
                        load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), None)
    for post in posts[:args.warmup]:
        analyzer.enrich(post)
    analyzer.changed_events()
    posts = posts[args.warmup:]
    annotated = [analyzer.enricher.annotate(post) for post in posts]
    annotated_sent = [item.to_json() for item in annotated]
    # Assigned as read back, as the events stage assigns them; the events a batch made or changed, as it sends them.
    received, enriched, events = [Annotated.from_json(sent) for sent in annotated_sent], [], []
    for first in range(0, len(received), BATCH):
        enriched += [analyzer.assign(item) for item in received[first:first + BATCH]]
        events += analyzer.changed_events()
    raw_sent = [post.to_json() for post in posts]
    enriched_sent = [post.to_json() for post in enriched]
    events_sent = [event.to_json() for event in events]

    # Each kind: what the stage does, and its baseline: orjson alone on the same JSON (no schema), read or written.
    kinds: dict[str, tuple[Callable[[Any], object], list[Any], Callable[[Any], object], list[Any]]] = {
        "raw post decode": (Post.model_validate_json, raw_sent, orjson.loads, raw_sent),
        "annotated post encode": (Annotated.to_json, annotated, orjson.dumps, list(map(orjson.loads, annotated_sent))),
        "annotated post decode": (Annotated.from_json, annotated_sent, orjson.loads, annotated_sent),
        "enriched post encode": (EnrichedPost.to_json, enriched, orjson.dumps, list(map(orjson.loads, enriched_sent))),
        "enriched post decode": (EnrichedPost.from_json, enriched_sent, orjson.loads, enriched_sent),
        "event encode": (Event.to_json, events, orjson.dumps, list(map(orjson.loads, events_sent))),
        "event decode": (Event.model_validate_json, events_sent, orjson.loads, events_sent),
    }
    best = {kind: [float("inf"), float("inf")] for kind in kinds}
    for _ in range(args.rounds):
        for kind, (work, items, baseline, values) in kinds.items():
            best[kind][0] = min(best[kind][0], cpu_per_call(work, items))
            best[kind][1] = min(best[kind][1], cpu_per_call(baseline, values))
    events_per_post = len(events) / len(posts)
    print(f"wire: {len(posts)} posts, {len(events)} events ({events_per_post:.3f} a post); CPU us per message, "
          f"best of {args.rounds}, beside orjson alone on the same JSON")
    for kind, (figure, floor) in best.items():
        print(f"   {kind:<24} {figure:7.2f} us   (orjson {floor:5.2f} us)")
    per_post, floor = (sum(figures[column] * (events_per_post if kind.startswith("event") else 1)
                           for kind, figures in best.items()) for column in (0, 1))
    print(f"wire: {per_post:.1f} us/post decode+encode, baseline {floor:.1f} us/post orjson alone, "
          f"ratio {per_post / floor:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
