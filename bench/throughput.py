"""Posts per second through the analysis (enrich and events stages) and the index stage on the embedded path
(SQLite log, SQLite index).

    python -m bench.throughput [--posts 20000] [--warmup 2000] [--days 2] [--seed 1] [--profile]

A realistic stream (`bench.soak.Stream`: platforms, places, incidents drawing many posts over a few
days, reprints of the day's news, board messages) is published to a fresh embedded log. Then the two
stages run one after the other in this process, as `yuqing run`'s workers run them (`Worker`, batches of
500, commits, the analyzer's state store, the index's transactions), and each drains the log. The first
`--warmup` posts of the stream go through both stages untimed: a worker that has run for a while has its
models and tables loaded and its event window filled, and it is that worker's pace that must keep up. The
figure is posts per CPU second of the two stages together over the `--posts` that follow: CPU time, so
other work on the shared machine does not count; wall time is printed beside it.

The baseline, measured in the same run on the same posts, is a read-parse-write pass with no analysis:
a stage that validates each raw post and publishes it unchanged as an enriched post, then a stage that
reads and validates the enriched posts without writing an index. It is the floor the two stages stand
on (the log, JSON and the schema), so the ratio says what the analysis and the index cost on top of it,
whatever the machine. `--profile` prints each stage's top functions (cProfile, cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.soak import KeptOpen, Stream, publish
from transport.base import ENRICHED_POSTS, EVENTS, RAW_POSTS, Message, Transport
from workers.runner import BatchResult, Stage, Worker, run_per_message
from yuqing.schema import SHANGHAI, EnrichedPost, Post

TARGET = 3_000  # posts per CPU second the two stages must sustain (issue 15)
BATCH = 500


class PassThrough(Stage):
    """Baseline analyze: validate the raw post, publish it as an enriched post with nothing found."""

    name = "baseline-analyze"
    topics = (RAW_POSTS,)

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def process(self, messages: list[Message]) -> BatchResult:
        posts, result = run_per_message(messages, lambda m: EnrichedPost.from_post(Post.model_validate_json(m.data)))
        self.transport.publish_many(ENRICHED_POSTS, [(p.id, p.to_json()) for p in posts])
        return result


class ReadOnly(Stage):
    """Baseline index: validate each enriched post, write nothing."""

    name = "baseline-index"
    topics = (ENRICHED_POSTS, EVENTS)

    def process(self, messages: list[Message]) -> BatchResult:
        return run_per_message(messages, lambda m: EnrichedPost.from_json(m.data))[1]


def drain(transport: Transport, stage: Stage, profile: bool) -> tuple[float, float, str]:
    """(CPU seconds, wall seconds, profile text) for the stage to empty its topics."""
    profiler = cProfile.Profile() if profile else None
    began, began_wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    Worker(transport, KeptOpen(stage), batch_size=BATCH, poll_timeout=0.05).run(until_idle=True, idle_polls=1)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - began, time.perf_counter() - began_wall
    text = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        text = out.getvalue()
    return cpu, wall, text


def run(workdir: Path, warmup: list[Post], posts: list[Post], baseline: bool, profile: bool) -> dict[str, Any]:
    """Publish the posts to a fresh log in `workdir` and drain them through the two stages (the warm-up
    posts first, untimed)."""
    from transport import open_transport
    from workers.stages import build_stage
    from yuqing.config import Settings

    settings = Settings(data_dir=workdir)
    with open_transport(settings) as transport:
        # The analysis: enrich, then events (what one analyze stage did before they were split).
        analysis = [PassThrough(transport)] if baseline else [build_stage(name, settings, transport)
                                                              for name in ("enrich", "events")]
        index = ReadOnly() if baseline else build_stage("index", settings, transport)
        publish(transport, iter(warmup))
        for stage in (*analysis, index):
            drain(transport, stage, profile=False)
        publish(transport, iter(posts))
        events_before = sum(t.messages for t in transport.stats() if t.topic == EVENTS)
        drained = [drain(transport, stage, profile) for stage in analysis]
        analyze_cpu, analyze_wall = sum(cpu for cpu, _, _ in drained), sum(wall for _, wall, _ in drained)
        analyze_profile = "\n".join(text for _, _, text in drained)
        events = sum(t.messages for t in transport.stats() if t.topic == EVENTS) - events_before
        index_cpu, index_wall, index_profile = drain(transport, index, profile)
        for stage in (*analysis, index):
            stage.close()
    index_file = workdir / "index.sqlite3"
    return {"analyze": analyze_cpu, "index": index_cpu, "wall": analyze_wall + index_wall, "events": events,
            "index_bytes": index_file.stat().st_size if index_file.exists() else 0,
            "profiles": {"analyze": analyze_profile, "index": index_profile}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000, help="posts timed")
    parser.add_argument("--warmup", type=int, default=2_000, help="posts through both stages before the timing")
    parser.add_argument("--days", type=int, default=2, help="simulated days the posts are spread over")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print each stage's top functions (cProfile)")
    args = parser.parse_args()

    stream = Stream(max(1, (args.warmup + args.posts) // args.days), random.Random(args.seed))
    first_day = datetime.now(SHANGHAI).date() - timedelta(days=args.days)
    stream_posts = [post for number in range(args.days) for post in stream.day(
        number, datetime.combine(first_day + timedelta(days=number), datetime.min.time(), SHANGHAI))]
    warmup, posts = stream_posts[:args.warmup], stream_posts[args.warmup:]
    print(f"throughput: {len(posts)} posts timed after {len(warmup)} untimed, over {args.days} simulated days, "
          f"batches of {BATCH}")
    figures = {}
    for name, baseline in (("baseline", True), ("stages", False)):
        workdir = Path(tempfile.mkdtemp(prefix=f"yuqing-throughput-{name}-"))
        try:
            figures[name] = run(workdir, warmup, posts, baseline, args.profile and not baseline)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    n = len(posts)
    for name, label in (("baseline", "read-parse-write baseline (no analysis, no index)"),
                        ("stages", "enrich + events + index stages")):
        found = figures[name]
        cpu = found["analyze"] + found["index"]
        print(f"{label}: {n / cpu:8.0f} posts/CPU s (analyze {found['analyze']:.2f} s, index {found['index']:.2f} s "
              f"CPU; {found['wall']:.2f} s wall)")
    stages = figures["stages"]
    print(f"event messages per post: {stages['events'] / n:.3f}; "
          f"index {stages['index_bytes'] / (n + len(warmup)):.0f} bytes/post")
    if args.profile:
        for stage in ("analyze", "index"):
            print(f"\n--- profile of the {stage} stage ---\n{stages['profiles'][stage]}")
    rate = n / (stages["analyze"] + stages["index"])
    base = n / (figures["baseline"]["analyze"] + figures["baseline"]["index"])
    verdict = "meets" if rate >= TARGET else "below"
    print(f"throughput: {rate:.0f} posts/s analyze+index, baseline {base:.0f} posts/s, ratio {rate / base:.2f} "
          f"({verdict} the {TARGET} posts/s target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
