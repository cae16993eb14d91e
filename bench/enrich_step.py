"""CPU per post of the enrich step alone (`Enricher.start` and `finish`, as the enrich stage runs them on batches
of BATCH posts: masking, segmentation, sentiment, keywords, places, departments, policy links and the clues for
events), on the throughput benchmark's stream.

    python -m bench.enrich_step [--posts 6000] [--warmup 2000] [--seed 1]

The stream is `bench.soak.Stream`'s, as `bench.throughput` builds it. The first `--warmup` posts are annotated
untimed (a worker that has run a while has its caches filled); the next `--posts` are timed in CPU seconds. The
baseline, timed in the same run on the same posts, is what the enrich stage does around the step: validating each
raw post and making the enriched post of it (`EnrichedPost.from_post`) with nothing found. The enrich stage's budget
(issue 15: 3,000 posts/s through analyze+index on two cores) is about 0.25 ms per post, reading and publishing the
messages included: `bench.throughput` measures the stages whole.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.soak import Stream, add_stream_options
from yuqing.schema import SHANGHAI, EnrichedPost, Post

if TYPE_CHECKING:
    from analysis.enrich import Enricher


BATCH = 500  # posts a batch, as the enrich stage reads them


def annotate(enricher: Enricher, posts: list[Post]) -> None:
    for first in range(0, len(posts), BATCH):
        enricher.finish([enricher.start(post) for post in posts[first : first + BATCH]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stream_options(parser, posts=6_000, warmup_help="posts annotated before the timing")
    args = parser.parse_args()

    from workers.build import enricher_from_settings
    from yuqing.config import Settings

    stream = Stream(max(1, (args.warmup + args.posts) // args.days), random.Random(args.seed))
    first_day = datetime.now(SHANGHAI).date() - timedelta(days=args.days)
    raw = [post.model_dump(mode="json") for number in range(args.days) for post in stream.day(
        number, datetime.combine(first_day + timedelta(days=number), datetime.min.time(), SHANGHAI))]
    warmup, timed = raw[:args.warmup], raw[args.warmup:]
    with tempfile.TemporaryDirectory(prefix="yuqing-enrich-step-") as workdir:
        enricher = enricher_from_settings(Settings(data_dir=Path(workdir)))
        annotate(enricher, [Post.model_validate(value) for value in warmup])
        posts = [Post.model_validate(value) for value in timed]
        began = time.process_time()
        annotate(enricher, posts)
        step = time.process_time() - began
    began = time.process_time()
    for value in timed:
        EnrichedPost.from_post(Post.model_validate(value))
    baseline = time.process_time() - began
    n = len(timed)
    print(f"enrich step: {step / n * 1e3:.3f} ms CPU per post ({n / step:.0f} posts/CPU s) over {n} posts after "
          f"{len(warmup)} untimed; baseline (validate + enriched post, nothing found): {baseline / n * 1e3:.3f} ms "
          f"per post; ratio {step / baseline:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
