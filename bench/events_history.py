"""The events stage's CPU per post on a grown state against a one-day state: does it grow with the stored window?

    python -m bench.events_history [--days 7] [--per-day 20000] [--day1 DIR] [--grown DIR] [--posts 4000]
                                   [--warmup 1000] [--rounds 3] [--profile]

Two data directories as `bench.soak --keep` leaves them (run today: a soak's days end yesterday): one after
1 day (`--day1`, the baseline) and one after `--days` days (`--grown`), both of `--per-day` posts a day; either
not given is made first by running bench.soak (a few minutes each at 20,000 posts a day). For each, the first
`--warmup + --posts` posts of the day after its last (the same stream, same seed) are annotated once; then,
each round, the events stage drains them (batches of 500, as a worker does) on a fresh copy of the directory's
analysis state: the first `--warmup` untimed (a long-running worker has its events held and its caches warm),
the rest timed in CPU seconds. The two states are measured alternately, round by round (the machine's speed
drifts). What the stage publishes is encoded and dropped: its own cost, not the log's. `--profile` prints the
functions that take the stage's time on each state (cProfile, CPU time, cumulative).

The last line reads `events_history: <us> us CPU/post after <days> days, <us> after 1 day, ratio <r>`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from bench.soak import Stream
from transport.base import ANNOTATED_POSTS, Message, Transport, Value
from yuqing.schema import SHANGHAI

BATCH = 500


class DroppingTransport:
    """Takes what the stage publishes and drops it (its values are already encoded)."""

    def publish_many(self, topic: str, values: Iterable[tuple[str | None, Value]]) -> int:
        return sum(1 for _ in values)


def next_day_posts(days: int, per_day: int, seed: int, count: int) -> list[Any]:
    """The first `count` posts of day `days` of the soak's stream (the day after a `--days days` soak's last)."""
    stream = Stream(per_day, random.Random(seed))
    first_day = datetime.now(SHANGHAI).date() - timedelta(days=days)
    for number in range(days):  # the stream's random state moves day by day
        start = datetime.combine(first_day + timedelta(days=number), datetime.min.time(), SHANGHAI)
        for _ in stream.day(number, start):
            pass
    start = datetime.combine(first_day + timedelta(days=days), datetime.min.time(), SHANGHAI)
    posts = []
    for post in stream.day(days, start):
        posts.append(post)
        if len(posts) >= count:
            break
    return posts


def annotated_messages(settings: Any, posts: list[Any]) -> list[Message]:
    from workers.build import enricher_from_settings

    enricher = enricher_from_settings(settings)
    return [Message(ANNOTATED_POSTS, 0, offset, enricher.annotate(post).to_json(), key=post.id)
            for offset, post in enumerate(posts)]


def drain(state: Path, messages: list[Message], warmup: int, profile: bool) -> tuple[float, str]:
    """CPU seconds the events stage takes over the messages after the first `warmup`, on a copy of `state`."""
    from workers.build import ANALYSIS_STATE_FILE, analyzer_from_settings
    from workers.runner import steady_heap
    from workers.stages import EventsStage
    from yuqing.config import Settings

    with tempfile.TemporaryDirectory(prefix="events-history-") as workdir:
        for path in state.glob(ANALYSIS_STATE_FILE + "*"):
            shutil.copy(path, workdir)
        settings = Settings(data_dir=Path(workdir))
        stage = EventsStage(cast(Transport, DroppingTransport()),
                            analyzer_from_settings(settings, settings.path(ANALYSIS_STATE_FILE)))
        with steady_heap():  # as `yuqing worker` runs its stage
            for at in range(0, warmup, BATCH):
                stage.process(messages[at:min(at + BATCH, warmup)])
            profiler = cProfile.Profile(time.process_time) if profile else None  # CPU: the machine is shared
            began = time.process_time()
            if profiler:
                profiler.enable()
            for at in range(warmup, len(messages), BATCH):
                stage.process(messages[at:at + BATCH])
            if profiler:
                profiler.disable()
            seconds = time.process_time() - began
        stage.close()
    report = ""
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(25)
        report = out.getvalue()
    return seconds, report


def soaked(days: int, per_day: int, seed: int, workdir: Path) -> Path:
    """A data directory after `days` days of the soak."""
    state = workdir / f"day{days}"
    command = [sys.executable, "-m", "bench.soak", "--days", str(days), "--per-day", str(per_day), "--seed", str(seed),
               "--keep", str(state)]
    print(f"making the state of {days} days: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="days of history of the grown state")
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--day1", type=Path, help="a data directory bench.soak --days 1 --keep left")
    parser.add_argument("--grown", type=Path, help="a data directory bench.soak --days DAYS --keep left")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--posts", type=int, default=4_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    from yuqing.config import Settings

    with tempfile.TemporaryDirectory(prefix="events-history-states-") as made:
        states = {1: args.day1 or soaked(1, args.per_day, args.seed, Path(made)),
                  args.days: args.grown or soaked(args.days, args.per_day, args.seed, Path(made))}
        batches = {days: annotated_messages(Settings(data_dir=state),
                                            next_day_posts(days, args.per_day, args.seed, args.warmup + args.posts))
                   for days, state in states.items()}
        timings: dict[int, list[float]] = {days: [] for days in states}
        for round_number in range(args.rounds):
            for days, state in states.items():
                seconds, report = drain(state, batches[days], args.warmup, args.profile and round_number == 0)
                timings[days].append(seconds)
                print(f"round {round_number + 1}, state after {days} days: {seconds:.2f} s CPU, "
                      f"{seconds / args.posts * 1e6:.0f} us/post ({time.strftime('%H:%M:%S')})", flush=True)
                if report:
                    print(report)
    grown, day1 = (min(timings[days]) / args.posts * 1e6 for days in (args.days, 1))
    print(f"events_history: {grown:.0f} us CPU/post after {args.days} days, {day1:.0f} after 1 day, "
          f"ratio {grown / day1:.2f} (best of {args.rounds} rounds each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
