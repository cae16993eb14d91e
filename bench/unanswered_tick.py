"""The unanswered-complaints rule's cost per batch with a month of a city's boards waiting.

    python -m bench.unanswered_tick [--waiting 120000] [--batches 200] [--seed 1] [--store]

The alert stage feeds the rules a batch of posts and then ticks them. After 30 days at 100,000 posts a day the
rule holds about 120,000 unanswered messages; each batch brings a few more and its tick finds what became
overdue or forgotten. The baseline is the same rule holding 1,000 messages, in the same run: a tick that costs
what is due, not what waits, costs about the same on both (ratio near 1); one that goes through every waiting
message costs about `waiting / 1,000` times more. With `--store` the rule keeps its messages in an embedded alert
store, as the alert worker's does (`keep_waiting_in`), reads what each batch needs from it and saves its changes
every CHECKPOINT_BATCHES batches (the worker's checkpoints), in the timed part. As in the alert engine, the rule is
told its policy links know the last two days' posts only (`forget_unknown`). The last line reads

    unanswered-tick: <ms> ms/batch with <N> waiting (baseline <ms> ms/batch with 1000, x<ratio>)
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from alerts.rules.unanswered_complaints import UnansweredComplaintsOptions, UnansweredComplaintsRule
from alerts.store import RuleWaiting, SqliteAlertStore, WaitingChanges
from alerts.testing import make_post
from yuqing.schema import BOARD_ANSWERED, BOARD_PLACE, SHANGHAI, EnrichedPost

PLACES = [f"第{n}街道" for n in range(60)]
DAYS = 30
BATCH_BOARD_MESSAGES = 12  # a 500-post batch at the soak's platform shares holds about this many board messages
BASELINE_WAITING = 1_000
CHECKPOINT_BATCHES = 5  # the alert worker saves every 2 s: a few batches
RULE_KEY = "rule:留言未回复:bench"


def message(rng: random.Random, number: int, when: datetime) -> EnrichedPost:
    return make_post("留言", platform="board", at=when, post_id=f"board:{number}",
                     extra={BOARD_ANSWERED: False, BOARD_PLACE: rng.choice(PLACES)})


def save(store: SqliteAlertStore, rule: UnansweredComplaintsRule) -> None:
    store.save_state({RULE_KEY: orjson.dumps(rule.memory()).decode()},
                     [WaitingChanges(RULE_KEY, *rule.waiting_changes())])
    rule.waiting_saved()


def cpu_ms_per_batch(waiting: int, batches: int, seed: int, store: SqliteAlertStore | None = None) -> float:
    """Fill a rule with `waiting` messages spread over the last DAYS days, then time `batches` batches."""
    rng = random.Random(seed)
    rule = UnansweredComplaintsRule(UnansweredComplaintsOptions(group_by="place", pile_up=10**9, forget_after_days=31))
    if store is not None:
        rule.keep_waiting_in(RuleWaiting(store, RULE_KEY))
    start = datetime(2026, 1, 1, tzinfo=SHANGHAI)
    step = timedelta(days=DAYS) / waiting
    for number in range(waiting):
        rule.on_post(message(rng, number, start + number * step))
    now = start + timedelta(days=DAYS)
    rule.on_tick(now)
    # As in the alert engine, whose policy links know the posts of the last two days (`stale_after`), not a month.
    rule.forget_unknown({f"board:{number}" for number in range(waiting)
                         if start + number * step >= now - timedelta(days=2)}.intersection)
    if store is not None:
        save(store, rule)
    prepared = [[message(rng, waiting + b * BATCH_BOARD_MESSAGES + i, now + timedelta(minutes=b)) for i in
                 range(BATCH_BOARD_MESSAGES)] for b in range(batches)]
    began = time.process_time()
    for number, batch in enumerate(prepared):
        if store is not None:
            rule.take_back(batch, now + timedelta(minutes=number))
        for post in batch:
            rule.on_post(post)
        rule.on_tick(now + timedelta(minutes=number))
        if store is not None and number % CHECKPOINT_BATCHES == CHECKPOINT_BATCHES - 1:
            save(store, rule)
    return (time.process_time() - began) * 1000 / batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=120_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", action="store_true", help="keep the messages in an embedded alert store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        stores = [SqliteAlertStore(Path(directory) / f"{name}.sqlite3") if args.store else None
                  for name in ("baseline", "measured")]
        baseline = cpu_ms_per_batch(BASELINE_WAITING, args.batches, args.seed, stores[0])
        measured = cpu_ms_per_batch(args.waiting, args.batches, args.seed, stores[1])
        for store in stores:
            if store is not None:
                store.close()
    kept = " in the store" if args.store else ""
    print(f"unanswered-tick: {measured:.3f} ms/batch with {args.waiting} waiting{kept} "
          f"(baseline {baseline:.3f} ms/batch with {BASELINE_WAITING}, x{measured / baseline:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
