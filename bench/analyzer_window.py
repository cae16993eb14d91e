"""The analyze stage's memory and start with its windows full: N simulated days of M posts through one analyzer.

    python -m bench.analyzer_window [--days 8] [--per-day 30000] [--seed 1] [--without-baseline] [--replicate K]
                                    [--keep DIR]

The posts are bench.soak's (a city's incidents, reprints of the day's news, board messages, chatter), in
batches of 500 analysed as the analyze stage does (oldest first, then the batch's changed events). Each
analyzer runs in a fresh process of its own, so its peak resident memory is its own:

- the baseline holds everything its windows need in memory (no store), as the analyzer did before it let
  its store answer for what was saved;
- the measured one keeps its state in the store, as `yuqing run` does, and holds the fingerprints and threads
  not yet saved, the events joined last (analysis.events.EVENTS_HELD) and the keys of the window's fingerprints
  (stores.fingerprint_map: 8 bytes each, ten a fingerprint).

Per day it prints each one's resident memory now and at its peak and its CPU milliseconds per post; after the
run, the time a new analyzer takes to start on the state left (with the events it holds), against the time it
takes only to read back and decode every post and event of the window (what a start used to do, before building
anything from them). `--replicate K` first copies the window's posts and events K times more under new ids, same
times (a full week at K+1 times the volume, without analysing it) to time both on it. The last line reads

    analyzer-window: peak <MB> MB (baseline <MB> MB, x<ratio>), CPU <ms> ms/post (baseline <ms>, x<ratio>),
    start <s> s (window read <s> s) on <N> posts
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from bench.soak import Stream, memory_mb
from yuqing.schema import SHANGHAI, Post

BATCH = 500


def feed(days: int, per_day: int, seed: int, workdir: Path, with_store: bool, conn: Connection) -> None:
    """Child process: one analyzer takes the whole stream; sends (day, posts, RSS, peak RSS, CPU s, held) per day."""
    from workers.build import ANALYSIS_STATE_FILE, analyzer_from_settings
    from yuqing.config import Settings

    settings = Settings(data_dir=workdir)
    analyzer = analyzer_from_settings(settings, settings.path(ANALYSIS_STATE_FILE) if with_store else None)
    stream = Stream(per_day, random.Random(seed))
    first_day = datetime.now(SHANGHAI).date() - timedelta(days=days)
    total = 0

    def analyse(batch: list[Post]) -> float:
        began = time.process_time()
        for post in sorted(batch, key=lambda p: (p.when, p.id)):
            analyzer.enrich(post)
        analyzer.take_relinked()
        analyzer.changed_events()
        return time.process_time() - began

    for number in range(days):
        start = datetime.combine(first_day + timedelta(days=number), datetime.min.time(), SHANGHAI)
        cpu, batch = 0.0, []
        for post in stream.day(number, start):
            batch.append(post)
            if len(batch) == BATCH:
                cpu, batch = cpu + analyse(batch), []
        cpu += analyse(batch) if batch else 0.0
        total += per_day
        conn.send((number + 1, total, *memory_mb(), cpu, analyzer.held()))
    analyzer.close()
    conn.send(None)


def run(days: int, per_day: int, seed: int, workdir: Path, with_store: bool) -> list[tuple]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=feed, args=(days, per_day, seed, workdir, with_store, child))
    process.start()
    name = "store" if with_store else "baseline (all held)"
    rows = []
    while (row := parent.recv()) is not None:
        rows.append(row)
        number, total, rss, peak, cpu, held = row
        print(f"{name:20s} day {number:2d}  {total:8d} posts  {rss:6.0f} MB (peak {peak:6.0f})"
              f"  {1000 * cpu / per_day:6.2f} ms/post  holds {held}", flush=True)
    process.join()
    return rows


def replicate(state: Path, copies: int) -> None:
    """Copy every post and event `copies` times under new ids (same times, same states otherwise)."""
    import sqlite3

    db = sqlite3.connect(state)
    with db:
        for copy in range(1, copies + 1):
            db.execute("INSERT INTO posts SELECT id || ':' || ?, at, event_id || ':' || ?, reprint_of, fingerprint,"
                       " original, lead, thread FROM posts WHERE id NOT LIKE '%:%:%'", (copy, copy))
            db.execute("INSERT INTO events SELECT id || ':' || ?1, last_seen, json_set(state, '$.id', id || ':' || ?1)"
                       " FROM events WHERE id NOT LIKE '%:%'", (copy,))
    db.close()


def window_read(state: Path) -> tuple[float, int]:
    """(seconds, posts) to read back and decode every post and event of the window."""
    import json
    import sqlite3

    from analysis.events import EventState

    began = time.perf_counter()
    db = sqlite3.connect(state)
    posts = [(pid, datetime.fromisoformat(at), *rest) for pid, at, *rest in db.execute("SELECT * FROM posts")]
    events = [EventState.from_json(json.loads(text)) for text, in db.execute("SELECT state FROM events")]
    db.close()
    del events
    return time.perf_counter() - began, len(posts)


def timed_start(workdir: Path) -> tuple[float, float, dict[str, int]]:
    """(seconds, CPU seconds, what it holds) of a new analyzer starting on the state in `workdir`. The language
    models (the same whatever the history) are loaded first, and timed apart."""
    from workers.build import ANALYSIS_STATE_FILE, analyzer_from_settings, shipped_language
    from yuqing.config import Settings

    settings = Settings(data_dir=workdir)
    began, began_cpu = time.perf_counter(), time.process_time()
    shipped_language()
    print(f"language models loaded in {time.perf_counter() - began:.2f} s ({time.process_time() - began_cpu:.2f} s CPU)")
    began, began_cpu = time.perf_counter(), time.process_time()
    analyzer = analyzer_from_settings(settings, settings.path(ANALYSIS_STATE_FILE))
    seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    held = analyzer.held()
    analyzer.close()
    return seconds, cpu, held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--per-day", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--without-baseline", action="store_true",
                        help="skip the analyzer holding everything (it needs about 3 KB a post of the window)")
    parser.add_argument("--replicate", type=int, default=0, metavar="K",
                        help="copy the window's posts and events K times more before timing the start")
    parser.add_argument("--keep", type=Path, help="keep the store in this directory (default: a temporary one)")
    args = parser.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="yuqing-analyzer-window-"))
    print(f"analyzer-window: {args.days} days x {args.per_day} posts; state in {workdir}")
    baseline = [] if args.without_baseline else run(args.days, args.per_day, args.seed, workdir, with_store=False)
    measured = run(args.days, args.per_day, args.seed, workdir, with_store=True)
    from workers.build import ANALYSIS_STATE_FILE
    from yuqing.config import Settings

    state = Settings(data_dir=workdir).path(ANALYSIS_STATE_FILE)
    if args.replicate:
        replicate(state, args.replicate)
    read_seconds, window_posts = window_read(state)
    start_seconds, start_cpu, held = timed_start(workdir)
    store_mb = state.stat().st_size / 1e6
    print(f"start on the state left ({window_posts} posts, {store_mb:.0f} MB): {start_seconds:.2f} s"
          f" ({start_cpu:.2f} s CPU), holds {held}; reading the window back: {read_seconds:.2f} s")
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    peak = max(row[3] for row in measured)
    cpu = 1000 * sum(row[4] for row in measured) / measured[-1][1]
    line = f"analyzer-window: peak {peak:.0f} MB"
    if baseline:
        base_peak = max(row[3] for row in baseline)
        base_cpu = 1000 * sum(row[4] for row in baseline) / baseline[-1][1]
        line += f" (baseline {base_peak:.0f} MB, x{peak / base_peak:.2f}), CPU {cpu:.2f} ms/post"
        line += f" (baseline {base_cpu:.2f}, x{cpu / base_cpu:.2f})"
    else:
        line += f", CPU {cpu:.2f} ms/post"
    print(f"{line}, start {start_seconds:.2f} s (window read {read_seconds:.2f} s) on {window_posts} posts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
