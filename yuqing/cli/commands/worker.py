"""`yuqing worker enrich|events|index|alert`: run one pipeline stage as its own process."""

from __future__ import annotations

import argparse
import sys
import time

from transport import open_transport
from workers.runner import BATCH_SIZE, FIRST_BATCH, Worker, steady_heap
from workers.stages import STAGE_NAMES, build_stage
from yuqing.cli.common import settings_from

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
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
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
        with steady_heap():
            outcomes = Worker(transport, stage, batch_size=args.batch_size,
                              first_batch=FIRST_BATCH).run(until_idle=args.until_idle)
    summary = ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())) or "nothing to do"
    print(f"[{args.stage}] {summary}")
    return 0
