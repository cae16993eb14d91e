"""`yuqing worker enrich|events|index|alert`: run one pipeline stage as its own process."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import TYPE_CHECKING

from transport import ENRICHED_POSTS, RAW_POSTS, open_transport
from workers.runner import (
    BATCH_SIZE,
    FIRST_BATCH,
    FOLLOWER_BATCH_SIZE,
    FOLLOWER_LINGER,
    Worker,
    map_large_blocks_apart,
    steady_heap,
)
from workers.stages import STAGE_NAMES, build_stage
from yuqing.cli.common import settings_from

if TYPE_CHECKING:
    from transport import Transport
    from workers.runner import Stage

# Seconds between a standby alert worker's tries to take over the rules' memory (a writer killed on this host
# is known dead at once; one on another host when its lease runs out).
STANDBY_POLL = 1.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "worker", help="run one stage (enrich, events, index, alert) between transport topics",
        description="Run one pipeline stage. Start several of the same stage to share the work: they form one "
                    "consumer group. enrich and index scale with the topics' partitions; events and alert keep "
                    "state, so one of them is active and the others stand by to take over.",
    )
    parser.add_argument("stage", choices=STAGE_NAMES)
    parser.add_argument("--until-idle", action="store_true",
                        help="stop when there is nothing left to do (batch mode) instead of running forever")
    parser.add_argument("--batch-size", type=int,
                        help=f"messages a batch takes at most (default {BATCH_SIZE}; {FOLLOWER_BATCH_SIZE} for the "
                             "stages that read the events stage's output: index, alert)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alerts.store import MemoryTaken

    settings = settings_from(args)
    with open_transport(settings) as transport:
        standing_by = False
        while True:
            try:
                stage = build_stage(args.stage, settings, transport)
                break
            except MemoryTaken as exc:  # another alert worker is active: stand by until it is gone
                if args.until_idle:
                    print(f"[{args.stage}] {exc}", file=sys.stderr)
                    return 3
                if not standing_by:
                    print(f"[{args.stage}] 待命 standing by: {exc}", file=sys.stderr, flush=True)
                    standing_by = True
                time.sleep(STANDBY_POLL)
        map_large_blocks_apart()
        with steady_heap():
            outcomes = worker(transport, stage, args.batch_size).run(until_idle=args.until_idle)
    # The stage's state is saved and its messages committed: what it built dies with the process. Left in the
    # collector's sight, the interpreter's exit would walk it all for cycles (0.5 s of a stop at load 8 for the
    # alert worker, more for a bigger heap), delaying the stop a supervisor waits for.
    gc.freeze()
    summary = ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())) or "nothing to do"
    print(f"[{args.stage}] {summary}")
    return 0


def worker(transport: Transport, stage: Stage, batch_size: int | None) -> Worker:
    """The stage's worker as `yuqing run` wants it: the stage the crawls feed starts a backlog with a small batch
    (FIRST_BATCH); those that read the events stage's output take one of its batches whole (FOLLOWER_BATCH_SIZE),
    lingering for its pieces where the transport publishes them apart (FOLLOWER_LINGER)."""
    if ENRICHED_POSTS in stage.topics:
        linger = 0.0 if transport.publishes_together else FOLLOWER_LINGER
        return Worker(transport, stage, batch_size=batch_size or FOLLOWER_BATCH_SIZE, linger=linger)
    return Worker(transport, stage, batch_size=batch_size or BATCH_SIZE,
                  first_batch=FIRST_BATCH if RAW_POSTS in stage.topics else None)
