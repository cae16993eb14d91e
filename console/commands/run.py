"""`yuqing run`: continuous monitoring — the workers stay up and the sources are crawled on a schedule."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from console.common import settings_from
from workers.stages import STAGE_NAMES


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run", help="monitor continuously: workers up, crawl every N minutes",
        description="Start one process per stage (analyze, index, alert) and crawl the sources file every "
                    "--interval minutes, each crawl in its own process. Ctrl-C stops everything cleanly.",
    )
    parser.add_argument("--interval", type=float, default=20.0, help="minutes between crawls (default 20)")
    parser.add_argument("--workers", type=int, default=1, help="processes per stage (default 1)")
    parser.set_defaults(func=run)


def _yuqing(args: argparse.Namespace, *command: str) -> list[str]:
    config = ["--config", args.config] if args.config else []
    return [sys.executable, "-m", "console.cli", *config, *command]


def run(args: argparse.Namespace) -> int:
    settings_from(args)  # fail fast, with a clear message, on a bad configuration
    workers = [subprocess.Popen(_yuqing(args, "worker", stage))
               for stage in STAGE_NAMES for _ in range(args.workers)]
    print(f"监测中 monitoring: {len(workers)} worker(s); crawling every {args.interval:g} min. Ctrl-C to stop.")
    try:
        while True:
            started = time.monotonic()
            subprocess.run(_yuqing(args, "crawl"), check=False)
            for proc in workers:
                if proc.poll() is not None:
                    print(f"worker {proc.args[-1]} exited with {proc.returncode}; restarting", file=sys.stderr)
                    workers[workers.index(proc)] = subprocess.Popen(proc.args)
            time.sleep(max(0.0, args.interval * 60 - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(timeout=30)
    return 0
