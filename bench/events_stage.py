"""CPU per post of the events stage alone (`EventsStage.process` on batches of BATCH annotated messages, with its
analysis state store on disk), on the throughput benchmark's stream: the figure `bench.throughput --per-stage`
prints for the events stage, without the log and the other stages around it.

    python -m bench.events_stage [--posts 6000] [--warmup 2000] [--days 2] [--seed 1] [--annotated FILE] [--profile]

The stream is `bench.soak.Stream`'s from a fixed first day, so every run gives the stage the same messages. The
enrich stage annotates them first, untimed; with `--annotated FILE` its messages are kept in FILE (one JSON a line)
and read from there by later runs: the runs to compare then feed the stage the same bytes, and a run under
`valgrind --tool=callgrind` (about fifty times slower) spends nothing on the enrich stage. The first `--warmup`
posts go through the events stage untimed (a worker that has run a while has its event window filled); the next
`--posts` are timed in CPU seconds. What the stage publishes is encoded, as a transport would, then dropped.

For instruction counts, run it twice under callgrind, once with `--posts 0`: the difference is the timed posts'.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from bench.soak import Stream, add_stream_options
from transport.base import ANNOTATED_POSTS, EVENTS, Message, Value, encode
from workers.runner import Stage, steady_heap
from yuqing.schema import SHANGHAI

BATCH = 500  # messages a batch, as the worker reads them
FIRST_DAY = datetime(2026, 3, 1, tzinfo=SHANGHAI)


class Dropped:
    """A transport that encodes what is published, as one would, counts it by topic and keeps nothing."""

    def __init__(self) -> None:
        self.published: dict[str, int] = {}
        self.taken: list[bytes] = []  # what the enrich stage published, while it is kept

    def publish_many(self, topic: str, values: Iterable[tuple[str | None, Value]]) -> int:
        encoded = [encode(value) for _, value in values]
        self.published[topic] = self.published.get(topic, 0) + len(encoded)
        if topic == ANNOTATED_POSTS:
            self.taken += encoded
        return len(encoded)


def annotated_stream(posts: int, days: int, seed: int, workdir: Path) -> list[bytes]:
    """The enrich stage's messages for the stream's first `posts` posts."""
    from workers.stages import build_stage
    from yuqing.config import Settings

    stream = Stream(max(1, posts // days), random.Random(seed))
    raw = [post for number in range(days) for post in stream.day(number, FIRST_DAY + timedelta(days=number))][:posts]
    transport = Dropped()
    enrich = build_stage("enrich", Settings(data_dir=workdir), transport)  # type: ignore[arg-type]
    for first in range(0, len(raw), BATCH):
        enrich.process([Message("raw", 0, n, post.to_json()) for n, post in enumerate(raw[first:first + BATCH])])
    enrich.close()
    return transport.taken


def feed(stage: Stage, values: list[bytes], offset: int) -> None:
    for first in range(0, len(values), BATCH):
        stage.process([Message(ANNOTATED_POSTS, 0, offset + first + n, value)
                       for n, value in enumerate(values[first:first + BATCH])])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stream_options(parser, posts=6_000, warmup_help="posts through the stage before the timing")
    parser.add_argument("--annotated", type=Path, help="file of the enrich stage's messages: read, else written")
    parser.add_argument("--profile", action="store_true", help="print the timed part's top functions (cProfile)")
    args = parser.parse_args()

    from workers.stages import build_stage
    from yuqing.config import Settings

    wanted = args.warmup + args.posts
    with tempfile.TemporaryDirectory(prefix="yuqing-events-stage-") as directory:
        workdir = Path(directory)
        if args.annotated and args.annotated.exists():
            values = [line.encode() for line in args.annotated.read_text(encoding="utf-8").splitlines()]
        else:
            values = annotated_stream(wanted, args.days, args.seed, workdir / "enrich")
            if args.annotated:
                args.annotated.write_text("".join(value.decode() + "\n" for value in values), encoding="utf-8")
        if len(values) < wanted:
            parser.error(f"{args.annotated} holds {len(values)} posts, fewer than the {wanted} asked for")
        warmup, timed = values[:args.warmup], values[args.warmup:wanted]
        transport = Dropped()
        stage = build_stage("events", Settings(data_dir=workdir / "events"), transport)  # type: ignore[arg-type]
        profiler = cProfile.Profile() if args.profile else None
        with steady_heap():  # as `yuqing worker` runs its stage
            feed(stage, warmup, 0)
            published_before = dict(transport.published)
            began = time.process_time()
            if profiler:
                profiler.enable()
            feed(stage, timed, len(warmup))
            if profiler:
                profiler.disable()
            spent = time.process_time() - began
        stage.close()
    events = transport.published.get(EVENTS, 0) - published_before.get(EVENTS, 0)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
        print(out.getvalue())
    per_post = spent / len(timed) * 1e3 if timed else 0.0
    print(f"events stage: {per_post:.3f} ms CPU per post over {len(timed)} posts after {len(warmup)} untimed "
          f"({spent:.2f} s); {events / max(1, len(timed)):.3f} event messages per post")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
