"""`yuqing worker analyze|index|alert`: run one pipeline stage as its own process."""

from __future__ import annotations

import argparse
import sys

from transport import open_transport
from workers.runner import Worker
from workers.stages import STAGE_NAMES, build_stage
from yuqing.cli.common import settings_from


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "worker", help="run one stage (analyze, index, alert) between transport topics",
        description="Run one pipeline stage. Start several of the same stage to share the work: "
                    "they form one consumer group.",
    )
    parser.add_argument("stage", choices=STAGE_NAMES)
    parser.add_argument("--until-idle", action="store_true",
                        help="stop when there is nothing left to do (batch mode) instead of running forever")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alerts.store import MemoryTaken

    settings = settings_from(args)
    try:
        with open_transport(settings) as transport:
            worker = Worker(transport, build_stage(args.stage, settings, transport), batch_size=args.batch_size)
            outcomes = worker.run(until_idle=args.until_idle)
    except MemoryTaken as exc:  # a second alert worker: it stands by (`yuqing run` starts it again later)
        print(f"[{args.stage}] {exc}", file=sys.stderr)
        return 3
    summary = ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())) or "nothing to do"
    print(f"[{args.stage}] {summary}")
    return 0
