"""Posts per second through the analysis (enrich and events stages) and the index stage on the embedded path
(SQLite log, SQLite index), on this machine.

    python -m bench.throughput [--posts 20000] [--warmup 2000] [--days 2] [--seed 1] [--workers N]
                               [--per-stage] [--profile]

A realistic stream (`bench.soak.Stream`: platforms, places, incidents drawing many posts over a few
days, reprints of the day's news, board messages) is published to a fresh embedded log, and measured
twice, each time beside a baseline measured in the same run on the same posts: a read-parse-write pass
with no analysis (a stage that validates each raw post and publishes it unchanged as an enriched post,
then a stage that reads and validates the enriched posts without writing an index). It is the floor
the stages stand on (the log, JSON and the schema), so the ratio says what the analysis and the index
cost on top of it, whatever the machine.

1. Per stage, in CPU: the stages run one after the other in this process, as `yuqing run`'s workers
   run them (`Worker`, batches of 500, commits, the analyzer's state store, the index's transactions),
   each draining the log. The first `--warmup` posts go through untimed: a worker that has run for a
   while has its models and tables loaded and its event window filled, and it is that worker's pace
   that must keep up. Printed: CPU ms per post of each stage, and posts per CPU second of them all, and
   the time each stage waited for the disk or a lock (its wall time less its time on a CPU and waiting
   for one, from the kernel's counts). CPU time, so other work on the shared machine hardly moves it. `--per-stage` stops here (quick: what
   a change to one stage moves); `--profile` adds each stage's top functions (cProfile).
2. On this machine (what issue 15 asks, and what TARGET applies to): the stages run concurrently as
   separate processes, exactly as `yuqing run --workers N` starts them (`yuqing worker enrich` x N,
   `events` x 1, `index` x N; the alert worker, which `yuqing run` also starts, is left out: it is not
   part of analyze+index). They first drain the warm-up posts; then the timed posts are published at
   once (one transaction), as a backlog, to the idle workers, and the clock runs from that publication to
   the moment every stage has committed its last message (the last post indexed: seen within WATCH_EVERY).
   Printed: posts/s wall, each stage's CPU ms per post in its own processes, the share of the wall time
   each stage was on a CPU and the share of the cores they used together; then, per stage, the share of
   the wall time it was on a CPU, ready to run but waiting for a CPU, and waiting for anything else
   (input, a lock, the disk), that last wait again counted only while the stage had work (from the first
   commit of the stage before it to its own last: the pipeline's fill and drain left out), and when it
   first committed; and the share of the cores' time when fewer stages were ready to run than there are
   cores (what the pipeline itself left idle). Then how long the pipeline took to fill (until the last stage
   first committed) and to drain (after the first stage's last commit: the stages after it finishing what it
   passed on), and the rate it sustained once full: the last stage's posts between its first and its last commit,
   over that span (`Figures.steady` says why the drain stays in). That is what the issue asks of a pipeline fed as a
   city's posts come, and what TARGET applies to; the overall rate also counts the fill of one backlog, which takes
   about as long whatever its size (compare --posts 6000 and 20000).
   The baseline's two stages run the same way.
   Wall time counts everything else the machine does: run it on an idle machine (the load average is
   printed beside the figure). On a busy one, the CPU per post and the waits are the figures to compare.

The last line reads `throughput: <rate> posts/s analyze+index, baseline <rate> posts/s, ratio <r>; sustained <rate>
posts/s, baseline <rate> posts/s, ratio <r> (<meets|below> the 3000 posts/s target); fill <s> s, drain <s> s`, the
first rates overall, the sustained after them, then the CPU figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from bench.soak import KeptOpen, Stream, add_stream_options, publish
from transport.base import ENRICHED_POSTS, EVENTS, RAW_POSTS, Message, Transport
from workers.runner import BatchResult, Stage, Worker, group_of, run_per_message, steady_heap
from yuqing.schema import SHANGHAI, EnrichedPost, Post

TARGET = 3_000  # posts per second (wall) the analyze and index stages must sustain on this machine (issue 15)
BATCH = 500  # the in-process drains' batches
ROOT = Path(__file__).resolve().parent.parent
STAGES = ("enrich", "events", "index")
BASELINE_STAGES = ("baseline-analyze", "baseline-index")
WATCH_EVERY = 0.002  # seconds between two looks at the log's change counter while the processes run


class PassThrough(Stage):
    """Baseline analyze: validate the raw post, publish it as an enriched post with nothing found."""

    name = "baseline-analyze"
    topics = (RAW_POSTS,)

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def process(self, messages: list[Message]) -> BatchResult:
        posts, result = run_per_message(messages, lambda m: EnrichedPost.from_post(Post.model_validate_json(m.data)))
        self.transport.publish_many(ENRICHED_POSTS, [(p.id, p.to_json()) for p in posts])
        return result


class ReadOnly(Stage):
    """Baseline index: validate each enriched post, write nothing."""

    name = "baseline-index"
    topics = (ENRICHED_POSTS, EVENTS)

    def process(self, messages: list[Message]) -> BatchResult:
        return run_per_message(messages, lambda m: EnrichedPost.from_json(m.data))[1]


def baseline_stage(name: str, transport: Transport) -> Stage:
    return PassThrough(transport) if name == "baseline-analyze" else ReadOnly()


@dataclass
class Figures:
    """One pipeline's run: CPU seconds per stage (all its processes) over the timed posts, and wall seconds."""

    posts: int
    cpu: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    events: int = 0
    index_bytes: int = 0
    load: str = ""
    profiles: dict[str, str] = field(default_factory=dict)
    # Concurrent runs only, per stage: seconds its processes were ready to run but waited for a CPU, how many
    # processes it had, and when (seconds from the start) it committed for the first and the last time.
    ready: dict[str, float] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)
    first_commit: dict[str, float] = field(default_factory=dict)
    last_commit: dict[str, float] = field(default_factory=dict)
    # Concurrent runs only, per stage: at each of its commits, (seconds from the start, messages of its posts topic
    # committed since the start).
    commits: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    # Serial runs only: seconds each stage waited for anything but a CPU (the disk, a lock) while it had work.
    waited: dict[str, float] = field(default_factory=dict)
    # At each moment the log changed (seconds from the start): each stage's seconds on a CPU and waiting for one.
    timeline: dict[float, dict[str, tuple[float, float]]] = field(default_factory=dict)

    @property
    def cpu_rate(self) -> float:
        return self.posts / sum(self.cpu.values())

    @property
    def wall_rate(self) -> float:
        return self.posts / self.wall

    def busy(self) -> str:
        """How the wall time went: the share of it each stage's processes were on a CPU, and the share of the
        machine's cores all of them used (what is missing is time a stage waited: for input, a lock, a CPU)."""
        shares = ", ".join(f"{stage} {seconds / self.wall:.0%}" for stage, seconds in self.cpu.items())
        return f"busy {shares}; {sum(self.cpu.values()) / (self.wall * (os.cpu_count() or 1)):.0%} of the cores"

    def waits(self) -> list[str]:
        """Where each stage's wall time went: on a CPU; ready to run but waiting for one (the cores were busy with
        its other stages or the machine's other work); waiting for anything else (input from the stage before,
        the log's write lock, the disk). Then the same wait while it had work: from the first commit of the stage
        before it (the start, for the first) to its own last commit, not counting the pipeline's fill and drain."""
        lines = []
        upstream_first = 0.0
        for stage, on_cpu in self.cpu.items():
            ready = self.ready[stage]
            other = self.processes[stage] * self.wall - on_cpu - ready
            start, end = upstream_first, self.last_commit.get(stage, self.wall)
            cpu_then, ready_then = self.timeline.get(start, {}).get(stage, (0.0, 0.0))
            cpu_end, ready_end = self.timeline.get(end, {}).get(stage, (on_cpu, ready))
            other_with_work = self.processes[stage] * (end - start) - (cpu_end - cpu_then) - (ready_end - ready_then)
            lines.append(f"{stage}: on a CPU {on_cpu / self.wall:.0%}, waiting for a CPU {ready / self.wall:.0%}, "
                         f"for input, locks or disk {other / self.wall:.0%}, of which {other_with_work:.3f} s "
                         f"({other_with_work * 1000 / self.posts:.3f} ms/post) while it had work "
                         f"({start:.2f}-{end:.2f} s); first commit at {self.first_commit.get(stage, 0.0):.2f} s")
            upstream_first = self.first_commit.get(stage, 0.0)
        return lines

    def idle_cores(self, since: float = 0.0, until: float | None = None) -> float:
        """The share of the cores' time from `since` to `until` (the whole run by default) when fewer of the stages'
        processes were ready to run (on a CPU or waiting for one) than there are cores: time a core would have stood
        idle on an otherwise idle machine, whatever the machine did meanwhile. From the timeline's intervals (both
        ends are moments of it), within which it is averaged: a floor."""
        until = self.wall if until is None else until
        cores = os.cpu_count() or 1
        idle = 0.0
        then, spent_then = 0.0, {stage: (0.0, 0.0) for stage in self.cpu}
        for moment in sorted(self.timeline):
            spent = self.timeline[moment]
            if since < moment <= until:
                ready = sum(cpu + wait - sum(spent_then[stage]) for stage, (cpu, wait) in spent.items())
                idle += max(0.0, cores * (moment - then) - ready)
            then, spent_then = moment, spent
        return idle / (cores * (until - since))

    def steady(self) -> tuple[float, float, float] | None:
        """(start, end, posts/s) once the pipeline was full: the last stage's posts between its first commit and its
        last, over that span. The fill, when a core stands idle while the first batches pass through the stages one
        after another, is left out. The drain stays in: the stages after the first still share the cores, and only
        the last batch goes through the last stage alone, where the last stage's rate while the first one still
        worked would count the first stage's running ahead of the others (on two cores it takes a core of its own
        while they share the other) against the pipeline. Its posts topic carries a few re-links besides the posts,
        so its messages count as posts in the run's proportion. None when the last stage committed once."""
        commits = self.commits.get(list(self.cpu)[-1], [])
        if len(commits) < 2:
            return None
        (start, committed_then), (end, committed_at_end) = commits[0], commits[-1]
        return start, end, (committed_at_end - committed_then) * self.posts / committed_at_end / (end - start)

    def fill_and_drain(self) -> tuple[float, float]:
        """Seconds from the start to the last stage's first commit (the pipeline filling), and from the first stage's
        last commit to the end (only the stages after it at work)."""
        first_stage, last_stage = next(iter(self.cpu)), list(self.cpu)[-1]
        return self.first_commit.get(last_stage, self.wall), self.wall - self.last_commit.get(first_stage, self.wall)

    def per_stage(self) -> str:
        return ", ".join(f"{stage} {seconds * 1000 / self.posts:.3f}" for stage, seconds in self.cpu.items())

    def per_stage_waits(self) -> str:
        return ", ".join(f"{stage} {seconds * 1000 / self.posts:.3f}" for stage, seconds in self.waited.items())


class Drained(KeptOpen):
    """A stage drained in this process: notes when its worker first found nothing left (polled in vain)."""

    def __init__(self, stage: Stage) -> None:
        super().__init__(stage)
        self.empty_since: float | None = None

    def idle(self) -> None:
        if self.empty_since is None:
            self.empty_since = time.perf_counter()
        super().idle()


def drain(transport: Transport, stage: Stage, profile: bool) -> tuple[float, float, str]:
    """(CPU seconds, seconds the stage waited for anything but a CPU (the disk, a lock), profile text) for the stage
    to empty its topics. From the kernel's counts for this process, up to the worker's first empty poll."""
    profiler = cProfile.Profile() if profile else None
    drained = Drained(stage)
    began = time.perf_counter()
    cpu_then, ready_then = scheduled(os.getpid())
    if profiler:
        profiler.enable()
    Worker(transport, drained, batch_size=BATCH, poll_timeout=0.05).run(until_idle=True, idle_polls=1)
    if profiler:
        profiler.disable()
    on_cpu, ready = scheduled(os.getpid())
    wall = (drained.empty_since or time.perf_counter()) - began
    text = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        text = out.getvalue()
    return on_cpu - cpu_then, max(0.0, wall - (on_cpu - cpu_then) - (ready - ready_then)), text


def events_published(transport: Transport) -> int:
    return sum(t.messages for t in transport.stats() if t.topic == EVENTS)


def one_after_another(workdir: Path, warmup: list[Post], posts: list[Post], baseline: bool,
                      profile: bool) -> Figures:
    """Publish the posts to a fresh log in `workdir` and drain them through the stages in this process, one after
    the other (the warm-up posts first, untimed)."""
    from transport import open_transport
    from workers.stages import build_stage
    from yuqing.config import Settings

    settings = Settings(data_dir=workdir)
    figures = Figures(len(posts))
    with open_transport(settings) as transport:
        stages = ([baseline_stage(name, transport) for name in BASELINE_STAGES] if baseline
                  else [build_stage(name, settings, transport) for name in STAGES])
        with steady_heap():  # as `yuqing worker` runs its stage
            publish(transport, iter(warmup))
            for stage in stages:
                drain(transport, stage, profile=False)
            publish(transport, iter(posts))
            events_before = events_published(transport)
            for stage in stages:
                cpu, waited, figures.profiles[stage.name] = drain(transport, stage, profile)
                figures.cpu[stage.name] = cpu
                figures.waited[stage.name] = waited
            figures.events = events_published(transport) - events_before
        for stage in stages:
            stage.close()
    index_file = workdir / "index.sqlite3"
    figures.index_bytes = index_file.stat().st_size if index_file.exists() else 0
    return figures


def stage_commands(workers: int, baseline: bool) -> dict[str, list[str]]:
    """Each process to start (named `stage-n`) and its command: `yuqing run`'s own for the stages."""
    if baseline:
        return {f"{name}-1": [sys.executable, "-m", "bench.throughput", "--serve", name] for name in BASELINE_STAGES}
    from yuqing.cli.commands.run import worker_commands

    return {name: argv for name, argv in worker_commands(argparse.Namespace(config=None, workers=workers)).items()
            if name.rsplit("-", 1)[0] in STAGES}


def scheduled(pid: int) -> tuple[float, float]:
    """What the kernel counted for a live process's threads (Linux /proc/PID/task/TID/schedstat), in seconds: time
    on a CPU, and time ready to run but waiting for a CPU (for the machine's other work, or the pipeline's other
    stages). In nanoseconds, not clock ticks: an interval between two commits is a few ticks long. Threads that
    ended are not counted; the stages' processes keep theirs."""
    on_cpu = ready = 0
    for thread in Path(f"/proc/{pid}/task").iterdir():
        with suppress(FileNotFoundError):  # a thread that ended meanwhile
            ran, waited, _slices = (thread / "schedstat").read_text().split()
            on_cpu, ready = on_cpu + int(ran), ready + int(waited)
    return on_cpu / 1e9, ready / 1e9


class Progress:
    """The groups' progress on the log, looked at whenever something was committed to it (SQLite's data_version,
    read every WATCH_EVERY seconds: the offsets are read only then, so that watching takes little of the CPU the
    stages share)."""

    def __init__(self, transport: Transport, log_file: Path, groups: dict[str, tuple[str, ...]]) -> None:
        from stores.sqlite import connect

        self.transport, self.groups = transport, groups
        self._log = connect(log_file, read_only=True)

    def close(self) -> None:
        self._log.close()

    def changes(self, processes: dict[str, subprocess.Popen[bytes]], timeout: float, workdir: Path) -> Iterator[float]:
        """The moment (perf_counter) of each change to the log, for as long as the caller asks, while the processes
        run and for at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        seen_version = -1
        while True:
            (version,) = self._log.execute("PRAGMA data_version").fetchone()
            if version != seen_version:
                seen_version = version
                yield time.perf_counter()
            for name, process in processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {workdir / name}.log")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the stages did not drain the log in {timeout:.0f} s; logs in {workdir}")
            time.sleep(WATCH_EVERY)

    def committed(self) -> tuple[dict[str, dict[str, int]], bool]:
        """Each group's committed messages per topic it reads (every message of the topic less its lag: nothing is
        pruned within a run), and whether every group has committed every message of the topics it reads."""
        stats = self.transport.stats(expected=self.groups)
        counts = {group: {s.topic: s.messages - s.lag.get(group, 0) for s in stats if s.topic in topics}
                  for group, topics in self.groups.items()}
        return counts, all(s.lag.get(group, 0) == 0 for s in stats for group, topics in self.groups.items()
                           if s.topic in topics)

    def until_caught_up(self, processes: dict[str, subprocess.Popen[bytes]], timeout: float,
                        workdir: Path) -> dict[str, dict[str, int]]:
        """Wait until every group has caught up; their committed messages then."""
        for _moment in self.changes(processes, timeout, workdir):
            counts, caught_up = self.committed()
            if caught_up:
                return counts
        raise AssertionError("changes() ends only by raising")


def concurrently(workdir: Path, warmup: list[Post], posts: list[Post], baseline: bool, workers: int,
                 timeout: float) -> Figures:
    """The stages as separate processes on a fresh log in `workdir`: warmed up on `warmup`, then timed from the
    publication of `posts` to the moment every stage has committed them."""
    from transport import open_transport
    from workers.stages import stage_groups
    from yuqing.config import Settings

    groups: dict[str, tuple[str, ...]] = (
        {group_of(stage.name): stage.topics for stage in (PassThrough, ReadOnly)} if baseline
              else {group: topics for group, topics in stage_groups().items() if group != group_of("alert")})
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("YUQING_")},
           "YUQING_DATA_DIR": str(workdir), "PYTHONUNBUFFERED": "1"}
    figures = Figures(len(posts))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    settings = Settings(data_dir=workdir)
    with open_transport(settings) as transport:
        publish(transport, iter(warmup))
        progress = Progress(transport, settings.path("transport.sqlite3"), groups)
        try:
            for name, argv in stage_commands(workers, baseline).items():
                with (workdir / f"{name}.log").open("ab") as log:
                    processes[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            latest = progress.until_caught_up(processes, timeout, workdir)  # the warm-up: models loaded, windows filled
            events_before = events_published(transport)
            before = {name: scheduled(process.pid) for name, process in processes.items()}

            def spent() -> dict[str, tuple[float, float]]:
                """Per stage, its processes' seconds on a CPU and waiting for one since `before`."""
                totals: dict[str, tuple[float, float]] = {}
                for name, process in processes.items():
                    stage = name.rsplit("-", 1)[0]
                    (on_cpu, ready), (cpu_then, ready_then) = scheduled(process.pid), before[name]
                    so_far = totals.get(stage, (0.0, 0.0))
                    totals[stage] = (so_far[0] + on_cpu - cpu_then, so_far[1] + ready - ready_then)
                return totals

            # One transaction, so the whole backlog appears at once, and the clock starts when it has.
            transport.publish_many(RAW_POSTS, [(post.id, post.to_json()) for post in posts])
            began = time.perf_counter()
            # What the stages did before the clock started (woken by the publication while this process had not yet
            # read the clock) counts in their CPU per post, not in their waits.
            figures.timeline[0.0] = spent()
            stage_of = {group_of(stage): stage for stage in (*BASELINE_STAGES, *STAGES)}
            # Each stage's first topic is the one that carries its posts (raw, annotated or enriched).
            posts_topic = {group: topics[0] for group, topics in groups.items()}
            at_start = latest
            for moment in progress.changes(processes, timeout, workdir):
                # The processes' times at the moment the change was seen, before the offsets are read.
                at, taken = moment - began, spent()
                figures.timeline[at] = taken
                counts, caught_up = progress.committed()
                for group, count in counts.items():
                    if sum(count.values()) > sum(latest[group].values()):
                        stage = stage_of[group]
                        figures.first_commit.setdefault(stage, at)
                        figures.last_commit[stage] = at
                        topic = posts_topic[group]
                        figures.commits.setdefault(stage, []).append((at, count[topic] - at_start[group][topic]))
                latest = counts
                if caught_up:
                    figures.wall = at
                    break
            figures.load = f"load average {os.getloadavg()[0]:.2f}"
            for stage, (on_cpu, ready) in taken.items():
                figures.cpu[stage], figures.ready[stage] = on_cpu, ready
                figures.processes[stage] = sum(1 for name in processes if name.rsplit("-", 1)[0] == stage)
            figures.events = events_published(transport) - events_before
        finally:
            progress.close()
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    figures.cpu = {stage: figures.cpu[stage] for stage in (*BASELINE_STAGES, *STAGES) if stage in figures.cpu}
    return figures


def serve(name: str) -> int:
    """Run one baseline stage as a worker process until SIGTERM, as `yuqing worker` runs a stage."""
    from transport import open_transport
    from yuqing.config import load_settings

    with open_transport(load_settings(None)) as transport, steady_heap():
        Worker(transport, baseline_stage(name, transport)).run()
    return 0


def stream_posts(total: int, days: int, seed: int) -> list[Post]:
    stream = Stream(max(1, total // days), random.Random(seed))
    first_day = datetime.now(SHANGHAI).date() - timedelta(days=days)
    return [post for number in range(days) for post in stream.day(
        number, datetime.combine(first_day + timedelta(days=number), datetime.min.time(), SHANGHAI))]


def in_temporary_folder(name: str, measure: Callable[[Path], Figures]) -> Figures:
    workdir = Path(tempfile.mkdtemp(prefix=f"yuqing-throughput-{name}-"))
    try:
        return measure(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stream_options(parser, posts=20_000, warmup_help="posts through the stages before the timing")
    parser.add_argument("--workers", type=int, default=1,
                        help="as `yuqing run --workers`: processes of the enrich and index stages (default 1)")
    parser.add_argument("--per-stage", action="store_true",
                        help="only the per-stage CPU figures (stages one after another), not the concurrent run")
    parser.add_argument("--profile", action="store_true", help="print each stage's top functions (cProfile)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds the concurrent stages may take")
    parser.add_argument("--serve", choices=BASELINE_STAGES, help=argparse.SUPPRESS)  # a baseline worker process
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)

    stream = stream_posts(args.warmup + args.posts, args.days, args.seed)
    warmup, posts = stream[:args.warmup], stream[args.warmup:]
    n = len(posts)
    print(f"throughput: {n} posts timed after {len(warmup)} untimed, over {args.days} simulated days; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start; "
          f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})", flush=True)

    print(f"\n1. one stage after another in this process (batches of {BATCH}): CPU ms per post")
    serial = {name: in_temporary_folder(name, partial(one_after_another, warmup=warmup, posts=posts, baseline=baseline,
                                                      profile=args.profile and not baseline))
              for name, baseline in (("baseline", True), ("stages", False))}
    for name, label in (("baseline", "read-parse-write baseline"), ("stages", "enrich + events + index")):
        found = serial[name]
        print(f"   {label:<26} {found.cpu_rate:7.0f} posts/CPU s   ({found.per_stage()} ms/post; waited for disk "
              f"or locks {found.per_stage_waits()} ms/post)", flush=True)
    stages = serial["stages"]
    print(f"   event messages per post: {stages.events / n:.3f}; "
          f"index {stages.index_bytes / (n + len(warmup)):.0f} bytes/post")
    if args.profile:
        for stage, text in stages.profiles.items():
            print(f"\n--- profile of the {stage} stage ---\n{text}")
    cpu_rate, cpu_base = stages.cpu_rate, serial["baseline"].cpu_rate
    if args.per_stage:
        print(f"throughput: {cpu_rate:.0f} posts/CPU s analyze+index, baseline {cpu_base:.0f} posts/CPU s, "
              f"ratio {cpu_rate / cpu_base:.2f} (per stage only: run without --per-stage for the figure on this "
              f"machine and its {TARGET} posts/s target)")
        return 0

    print(f"\n2. on this machine: the stages as concurrent processes, as `yuqing run --workers {args.workers}` "
          "starts them (alert left out); posts/s wall, CPU ms per post in each stage's processes", flush=True)
    machine = {name: in_temporary_folder(f"{name}-processes", partial(
        concurrently, warmup=warmup, posts=posts, baseline=baseline, workers=args.workers, timeout=args.timeout))
        for name, baseline in (("baseline", True), ("stages", False))}
    for name, label in (("baseline", "read-parse-write baseline"), ("stages", "enrich + events + index")):
        found = machine[name]
        print(f"   {label:<26} {found.wall_rate:7.0f} posts/s   ({found.wall:.2f} s wall; {found.per_stage()} "
              f"ms/post CPU; {found.busy()}; {found.load} at the end)", flush=True)
        for line in found.waits():
            print(f"      {line}")
        print(f"      fewer stages ready to run than cores: {found.idle_cores():.1%} of the cores' time")
        fill, drain = found.fill_and_drain()
        print(f"      filling {fill:.2f} s ({fill / found.wall:.0%} of the wall: until the last stage's first commit), "
              f"draining {drain:.2f} s ({drain / found.wall:.0%}: after the first stage's last)")
        if (steady := found.steady()) is not None:
            start, end, rate = steady
            print(f"      sustained {rate:.0f} posts/s once the pipeline was full ({start:.2f}-{end:.2f} s: the last "
                  f"stage's posts between its first and last commits); fewer stages ready to run than cores then: "
                  f"{found.idle_cores(start, end):.1%}")
    stages_run, baseline_run = machine["stages"], machine["baseline"]
    rate, base = stages_run.wall_rate, baseline_run.wall_rate
    # When the last stage committed once (a backlog too short), the sustained rate is the overall one.
    sustained, sustained_base = ((found.steady() or (0.0, 0.0, found.wall_rate))[2]
                                 for found in (stages_run, baseline_run))
    verdict = "meets" if sustained >= TARGET else "below"
    fill, drain = stages_run.fill_and_drain()
    print(f"throughput: {rate:.0f} posts/s analyze+index, baseline {base:.0f} posts/s, ratio {rate / base:.2f}; "
          f"sustained {sustained:.0f} posts/s, baseline {sustained_base:.0f} posts/s, ratio "
          f"{sustained / sustained_base:.2f} ({verdict} the {TARGET} posts/s target); fill {fill:.2f} s, drain "
          f"{drain:.2f} s; CPU {cpu_rate:.0f} posts/CPU s, baseline {cpu_base:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
