"""What the alert stage holds, and saves at a checkpoint, day after day: does it grow with its windows' days?

    python -m bench.alert_window [--days 20] [--per-day 10000] [--checkpoint-every 5] [--profile DIR --profile-days 7,25]
                                 [--dump FILE] [--kill-on-day N]

The soak's stream (`bench.soak.Stream`): a day of it enriched and put into events by the real analyzer (as
`bench.startup` makes its templates), then repeated day after day with its own ids, events and times, through an alert
stage built as the worker builds it (`workers.stages.AlertStage`, the shipped rules, watchlists and policies, an
embedded alert store), on the simulated clock: each day in 4 parts, each drained in batches of 500 at its end, as
`bench.soak` drains them, with a checkpoint every `--checkpoint-every` batches. At the end of each day it prints
what the stage's long windows hold (the burst subjects held in memory and the bytes of their bucket arrays, the
unanswered-board rule's subjects' newest messages it holds read from the store, and the messages it has seen
that the policy links may know) and what the day's
checkpoints wrote (the bytes of the rules' JSON, of the burst subjects' JSON and its rows, the waiting messages'
rows), with the stage's CPU per post and the process's anonymous memory. Compare a day after the first week with a
later one: what grows with the windows' days grows between them. With `--profile DIR`, the stage's work on each day of
`--profile-days` is profiled into DIR/day-N.prof (`python -m pstats`), to compare where a later day's CPU goes.
`--dump FILE` writes at the end every alert with its audit and its outbox (JSON, a line per alert), to compare two
trees' alerts over the same stream; `--kill-on-day N` drops the worker on day N after a batch whose findings were
stored and before its checkpoint, and starts another from the store, which takes again the batches since that
checkpoint (as a worker killed then, and its successor, do).
"""

from __future__ import annotations

import argparse
import cProfile
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.rules.unanswered_complaints import UnansweredComplaintsRule
from alerts.store import AlertStore, MemoryWriter, WorkerMemory
from transport import ENRICHED_POSTS
from transport.base import Message

BATCH = 500
SLICES = 4


@dataclass
class Written:
    """What the checkpoints wrote since it was last read."""

    checkpoints: int = 0
    rules_bytes: int = 0
    burst_rows: int = 0
    burst_bytes: int = 0
    waiting_rows: int = 0

    def take(self) -> Written:
        taken = Written(self.checkpoints, self.rules_bytes, self.burst_rows, self.burst_bytes, self.waiting_rows)
        self.checkpoints = self.rules_bytes = self.burst_rows = self.burst_bytes = self.waiting_rows = 0
        return taken


def counting_saves(store: AlertStore, written: Written) -> None:
    """Count what each `save_memory` of `store` writes, then let it write it."""
    save = store.save_memory

    def counted(memory: WorkerMemory, writer: MemoryWriter | None = None, until: datetime | None = None) -> None:
        import orjson

        bursts = list(memory.bursts)  # made as they are read: read once, counted, handed on
        written.checkpoints += 1
        written.rules_bytes += sum(len(text.encode()) for text in memory.rules.values() if text is not None)
        written.burst_rows += len(bursts)
        written.burst_bytes += sum(len(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)) for _, _, data in bursts)
        written.waiting_rows += sum(len(rule.changes) for rule in memory.waiting)
        save(WorkerMemory(memory.rules, bursts, memory.offsets, memory.log, memory.forgotten,
                          memory.forgotten_before, memory.waiting), writer, until)

    store.save_memory = counted  # type: ignore[method-assign]


def held(stage: Any) -> dict[str, int]:
    """Sizes of what the stage's long windows hold in memory."""
    tracker = stage.bursts
    counts_bytes = sum(subject.counts.buffer_info()[1] * subject.counts.itemsize for subject in tracker._subjects.values())
    figures = {"subjects": len(tracker._subjects), "lively": len(tracker._lively), "counts_kb": counts_bytes // 1024}
    for _, rule in stage.service.engine.rules:
        if isinstance(rule, UnansweredComplaintsRule):
            newest = rule._waiting._newest
            figures["archived_subjects"] = len(newest)
            figures["archived_entries"] = sum(len(held.entries) for held in newest.values())
            figures["seen"] = sum(map(len, (rule._seen or {}).values()))
            figures["figures"] = len(rule._figures)
    return figures


def anonymous_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def messages(posts: list[Any], first_offset: int) -> Iterator[Message]:
    for n, post in enumerate(posts):
        yield Message(ENRICHED_POSTS, 0, first_offset + n, post.model_dump_json().encode())


def dump_alerts(store: AlertStore, path: Path) -> None:
    """Every alert as stored (its JSON and version), its audit entries and its outbox rows, a line per alert."""
    import orjson

    with path.open("wb") as out:
        for alert in sorted(store.alerts(limit=None), key=lambda alert: alert.id):
            stored = store.get(alert.id)
            assert stored is not None
            out.write(orjson.dumps({"alert": alert.model_dump(mode="json"), "version": stored.version,
                                    "audit": [vars(entry) for entry in store.history(alert.id)],
                                    "outbox": [vars(item) for item in store.outbox(alert.id)]}) + b"\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--per-day", type=int, default=10_000)
    parser.add_argument("--checkpoint-every", type=int, default=5, help="batches between checkpoints")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="a directory for the profiles of --profile-days")
    parser.add_argument("--profile-days", default="7,25", help="days to profile (1 is the first), by commas")
    parser.add_argument("--dump", type=Path, help="write the alerts, their audit and outbox here at the end")
    parser.add_argument("--kill-on-day", type=int, help="drop the worker between a stored batch and its checkpoint")
    args = parser.parse_args()
    profiled_days = {int(day) for day in args.profile_days.split(",")} if args.profile else set()

    import workers.stages
    from alerts.service import AlertService
    from bench.startup import copies, make_templates
    from workers.build import burst_tracker_from_settings
    from yuqing.config import Settings

    print(f"enriching a day of {args.per_day} posts ...", flush=True)
    templates = make_templates(args.per_day, args.seed)
    simulated = [templates.day_start]
    workers.stages.now = lambda: simulated[0]  # the stage lives on the simulated days, as in bench.soak
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        written = Written()

        def start_worker() -> workers.stages.AlertStage:
            service = AlertService.from_settings(settings, rules_writer=True)
            counting_saves(service.store, written)
            return workers.stages.AlertStage(service, burst_tracker_from_settings(settings, own_memory=False),
                                             deliver=False, log="bench", checkpoint_every=0)

        stage = start_worker()
        since_checkpoint: list[list[Message]] = []  # the batches a worker killed now would take again
        offset = 0
        print("day  posts  ms-cpu/post  subjects lively counts-KB  archived-subjects/entries  seen  "
              "checkpoints rules-KB/cp burst-rows/cp burst-KB/cp waiting-rows/cp  anon-MB")
        for day in range(args.days):
            began = time.process_time()
            posts = [post for _, chunk in copies(templates, day, args.per_day, templates.day_start) for post in chunk]
            slice_length = timedelta(days=1) / SLICES
            day_start = templates.day_start + timedelta(days=day)
            batches = 0
            # Timed by the process's CPU, not the clock: on a loaded machine a profile by the clock counts the waits.
            profile = cProfile.Profile(time.process_time) if day + 1 in profiled_days else None
            if profile is not None:
                profile.enable()
            for part in range(SLICES):
                end = day_start + slice_length * (part + 1)
                part_posts = [post for post in posts if end - slice_length <= post.when < end]
                simulated[0] = end
                for start in range(0, len(part_posts), BATCH):
                    batch = list(messages(part_posts[start:start + BATCH], offset))
                    offset += len(batch)
                    stage.process(batch)
                    since_checkpoint.append(batch)
                    batches += 1
                    if day + 1 == args.kill_on_day and part == 1 and batches % args.checkpoint_every == 2:
                        args.kill_on_day = None  # once: killed, and started again from the last checkpoint
                        stage.service.store.close()
                        stage = start_worker()
                        for again in since_checkpoint:
                            stage.process(again)
                    if batches % args.checkpoint_every == 0:
                        stage.checkpoint()
                        since_checkpoint = []
                stage.checkpoint()  # the part is drained: the worker goes idle and saves
                since_checkpoint = []
            cpu = time.process_time() - began
            if profile is not None:
                profile.disable()
                args.profile.mkdir(parents=True, exist_ok=True)
                profile.dump_stats(args.profile / f"day-{day + 1}.prof")
            sizes, saved = held(stage), written.take()
            per_cp = max(1, saved.checkpoints)
            print(f"{day + 1:>3} {len(posts):>6} {cpu * 1000 / len(posts):>12.3f}  {sizes['subjects']:>8} "
                  f"{sizes['lively']:>6} {sizes['counts_kb']:>9}  {sizes.get('archived_subjects', 0):>17}/"
                  f"{sizes.get('archived_entries', 0):<7} {sizes.get('seen', 0):>5}  {saved.checkpoints:>11} "
                  f"{saved.rules_bytes / 1024 / per_cp:>11.1f} {saved.burst_rows / per_cp:>13.1f} "
                  f"{saved.burst_bytes / 1024 / per_cp:>11.1f} {saved.waiting_rows / per_cp:>15.1f}  "
                  f"{anonymous_mb():>7.1f}", flush=True)
        if args.dump:
            dump_alerts(stage.service.store, args.dump)
        stage.close()
    print(f"alert-window: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB resident")
    return 0


if __name__ == "__main__":
    sys.exit(main())
