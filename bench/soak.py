"""Months of running, time compressed: N simulated days of M posts each through the embedded stages.

    python -m bench.soak [--days 30] [--per-day 100000] [--slices 4] [--partitions 4] [--seed 1] [--keep DIR]
                         [--profile DIR [--profile-stage STAGE]]

Each simulated day's posts (realistic platforms, places, incidents that draw many posts over a few days,
reprints of the day's news, board messages answered or not) are published to the embedded log in `--slices`
parts, and after each part the enrich, events, index and alert stages drain it, each in its own long-lived
process (as `yuqing run` starts them), at full speed and concurrently, as `yuqing run`'s workers run: each stage
works on what the one before has passed on so far, and is done with the part once the one before is done and
nothing is left (so a machine's cores share the work, and each part is drained whole before the next comes). The alert stage's clock is the end of the part (its
bursts' horizon, rules' ticks, stale findings and deadlines follow the simulated days). The log's retention
runs on simulated time: after each part, a message is freed once every group has committed it and its
retention (`embedded_log.retention_hours`) of simulated time has passed. The run checks first that the disk it
will need is free.

Per day it prints the data directory's size per post (all of it: log, index, analyzer state, alert
store), what it grew by that day per 100,000 posts (flat once the log's retention frees as much as comes in),
each stage's resident memory now and at its peak, and the peak of its anonymous memory (the resident memory less the
pages of files it maps, which the kernel can drop: shared libraries, the index's SQLite memory map), the enrich+events+index throughput (posts per CPU second
of the three stages; then each stage's CPU milliseconds per post, to tell which one grows with history), the
event messages the events stage sent per post and the messages the log holds. After the run: each stage's CPU
seconds (what the run's time goes to), the analyzer's start time (a new
analyzer on the state the run left, as a restarted `yuqing worker events` starts: its language tables read from the
user's cache, where the worker before it kept them), `yuqing status`'s time, and
the daily report's time on the last day, with an exactness check: the report's totals, sentiment,
platforms, places, unanswered board messages and top events (posts and negative posts of each) against counts
made by paging through every one of the day's posts in the index. Text comes from ../shared/data (Weibo posts and THUCNews headlines) when
present, else from the sample site's content. The last line reads

    soak: disk <KB> KB/post, peak <MB> MB, start <s> s, status <s> s, report exact <yes|no>

where <KB> is what the data directory grows by per post once retention holds the log steady: its growth from the
end of the first day on which the log freed messages to the end of the last day, over the posts of those days (the
whole directory per post at the end of the last day when the log never freed anything: it then holds every message).

With `--profile DIR`, one stage (`--profile-stage`, by default the alert stage) writes a cProfile of each simulated
day, in CPU time, to DIR/<stage>-<day>.prof (read with `python -m pstats`): its column then includes the
profiler's own cost.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import itertools
import multiprocessing
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from transport.base import EVENTS, RAW_POSTS, Message, Transport, Value
from workers.runner import BatchResult, Stage, Worker
from yuqing.schema import BOARD_ANSWERED, BOARD_PLACE, SHANGHAI, Platform, Post, SentimentLabel

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
STAGES = ("enrich", "events", "index", "alert")  # in pipeline order: each reads what the one before wrote
PLATFORM_SHARE = {Platform.WEIBO: 60, Platform.NEWS: 15, Platform.BOARD: 10, Platform.FORUM: 10, Platform.GOV: 5}
PLACES = ["牡丹区", "定陶区", "曹县", "单县", "成武县", "巨野县", "郓城县", "鄄城县", "东明县", "何楼街道", "南城街道"]
SUBJECTS = ["老旧小区改造", "楼顶漏水", "供暖不热", "物业乱收费", "学校招生", "医保报销", "道路施工扰民", "拆迁补偿",
            "公交线路调整", "停水", "垃圾清运", "噪音扰民", "农民工工资", "燃气涨价"]
ESTATES = ["幸福", "化肥厂", "锦绣", "阳光", "和平", "丹阳", "东方", "牡丹", "长安", "金色"]
INCIDENT_SHARE = 0.35
REPRINT_SHARE = 0.10
PUBLISH_CHUNK = 5_000
WEEK = 7  # memory may grow while the windows fill (a week); flat after
# Disk a post takes (measured on a 10-day run of 10,000 posts a day): in the log while retained (its raw 0.7 KB,
# annotated 1.5, enriched 1.0 and 0.44 event messages of 0.5 KB: 3.8 KB of pages) and in the index for good
# (2.7 KB). The run checks it fits before it starts.
LOG_KB_PER_POST = 4
INDEX_KB_PER_POST = 3


# -- text -------------------------------------------------------------------------------------

def load_texts() -> tuple[list[str], list[str]]:
    """(short posts, headlines): real ones from ../shared/data, else the sample site's pages."""
    posts_file = SHARED / "sentiment" / "weibo_senti_100k_subset.csv"
    titles_file = SHARED / "topics" / "thucnews_titles_dev.txt"
    if posts_file.exists() and titles_file.exists():
        with posts_file.open(encoding="utf-8-sig") as handle:
            posts = [row["review"].strip() for row in csv.DictReader(handle) if row.get("review")]
        titles = [line.split("\t")[0].strip() for line in titles_file.read_text(encoding="utf-8").splitlines()]
        print(f"text: {len(posts)} Weibo posts and {len(titles)} headlines from {SHARED}")
        return posts, [t for t in titles if t]
    from sample_site.content import SiteContent

    content = SiteContent(datetime.now(SHANGHAI))
    posts = [p.text for p in content.posts] + [m.text for m in content.messages]
    titles = [a.title for a in content.news] + [m.title for m in content.messages]
    print(f"text: {len(posts)} passages and {len(titles)} titles from the sample site ({SHARED} is absent)")
    return posts, titles


class Stream:
    """A city's posts, day by day: incidents that run a few days, reprints of the day's news, chatter."""

    def __init__(self, per_day: int, rng: random.Random) -> None:
        self.per_day = per_day
        self.rng = rng
        self.chatter, self.headlines = load_texts()
        self.platforms = list(PLATFORM_SHARE)
        self.weights = list(PLATFORM_SHARE.values())
        self.incidents: list[tuple[int, str, str, str]] = []  # (last day, place, estate, subject)

    def _incident(self, day: int) -> tuple[str, str, str]:
        rng = self.rng
        self.incidents = [i for i in self.incidents if i[0] >= day]
        wanted = max(3, self.per_day // 400)
        while len(self.incidents) < wanted:
            estate = f"{rng.choice(ESTATES)}{rng.choice(['小区', '家属院', '花园', '新村'])}"
            self.incidents.append((day + rng.randint(0, 4), rng.choice(PLACES), estate, rng.choice(SUBJECTS)))
        _, place, estate, subject = rng.choice(self.incidents)
        return place, estate, subject

    def day(self, number: int, start: datetime) -> Iterator[Post]:
        rng = self.rng
        news: list[tuple[str, str]] = []
        seconds = sorted(rng.randrange(86_400) for _ in range(self.per_day))
        for n, second in enumerate(seconds):
            platform = rng.choices(self.platforms, self.weights)[0]
            when = start + timedelta(seconds=second)
            title: str | None = None
            extra: dict[str, Any] = {}
            roll = rng.random()
            if roll < INCIDENT_SHARE:
                place, estate, subject = self._incident(number)
                text = f"{place}{estate}{subject}，{rng.choice(self.chatter)}"
            elif roll < INCIDENT_SHARE + REPRINT_SHARE and news:
                title, text = rng.choice(news)
                text = f"{text}（来源：{rng.choice(['菏泽日报', '牡丹晚报', '菏泽新闻网'])}）"
            else:
                text = f"{rng.choice(self.chatter)} {rng.choice(PLACES)}{rng.choice(SUBJECTS)}"
            if platform in (Platform.NEWS, Platform.GOV):
                title = title or rng.choice(self.headlines)
                text = f"{text}。{rng.choice(self.headlines)}，{rng.choice(self.chatter)}"
                news.append((title, text))
                del news[:-50]
            elif platform == Platform.BOARD:
                title = f"关于{rng.choice(SUBJECTS)}的问题"
                extra = {BOARD_PLACE: rng.choice(PLACES), BOARD_ANSWERED: rng.random() < 0.6}
            url = f"https://{platform.value}.example.cn/d{number}/{n}"
            yield Post(id=f"{platform.value}:d{number}n{n}", url=url, platform=platform, source=f"{platform.value}_heze",
                       title=title, text=text, published_at=when, extra=extra)


def add_stream_options(parser: argparse.ArgumentParser, *, posts: int, warmup_help: str) -> None:
    """The options of the benches that time a stage on a `Stream`: how many posts, after how many untimed, over
    how many days, from which seed."""
    parser.add_argument("--posts", type=int, default=posts, help="posts timed")
    parser.add_argument("--warmup", type=int, default=2_000, help=warmup_help)
    parser.add_argument("--days", type=int, default=2, help="simulated days the posts are spread over")
    parser.add_argument("--seed", type=int, default=1)


def keep_language_tables() -> None:
    """What a worker that ran before leaves in the user's cache: the language's derived tables (timing the start)."""
    from stores.tables import PrivateTableCache, use_keeper
    from workers.build import shipped_language

    use_keeper(PrivateTableCache())
    shipped_language()


# -- stages in their own processes -------------------------------------------------------------

class KeptOpen(Stage):
    """A stage that outlives each drain: the worker's closing at the end of a drain is deferred to the end."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.name = stage.name
        self.topics = stage.topics

    def process(self, messages: list[Message]) -> BatchResult:
        return self.stage.process(messages)

    def idle(self) -> None:
        self.stage.idle()

    def committable(self, processed: list[Message]) -> list[Message]:
        return self.stage.committable(processed)

    def checkpoint(self) -> list[Message]:
        return self.stage.checkpoint()


def memory_kib() -> dict[str, int]:
    """This process's memory figures from the kernel (VmRSS, VmHWM, RssAnon, RssFile, ...), in KiB."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return {name: int(value.split()[0]) for name, _, value in (line.partition(":") for line in lines)
            if value.endswith(" kB")}


def memory_mb() -> tuple[float, float]:
    """(resident now, peak resident) of this process in MB."""
    fields = memory_kib()
    return fields["VmRSS"] / 1024, fields["VmHWM"] / 1024


class MemoryWatch:
    """The peak of this process's anonymous memory (its heap: Python objects, SQLite's page caches, malloc's free
    lists), sampled every `every` seconds in a thread. The kernel keeps the peak of the resident memory (VmHWM)
    but not of its parts, and the resident memory also counts file pages the process maps (shared libraries, and
    the index's SQLite memory map: pages of the page cache the kernel can drop whenever it needs them), so the two
    tell apart memory a stage holds from file pages it reads."""

    def __init__(self, every: float = 0.05) -> None:
        self.peak_anonymous = memory_kib()["RssAnon"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(every,), name="memory-watch", daemon=True)
        self._thread.start()

    def _sample(self, every: float) -> None:
        while not self._stop.wait(every):
            self.peak_anonymous = max(self.peak_anonymous, memory_kib()["RssAnon"])

    def figures_mb(self) -> tuple[float, float, float, float]:
        """(resident now, peak resident, anonymous now, peak anonymous) in MB."""
        now = memory_kib()
        self.peak_anonymous = max(self.peak_anonymous, now["RssAnon"])
        return now["VmRSS"] / 1024, now["VmHWM"] / 1024, now["RssAnon"] / 1024, self.peak_anonymous / 1024

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def day_of(slice_end: datetime) -> date:
    """The simulated day a part belongs to: the last part ends at the next midnight."""
    return (slice_end - timedelta(microseconds=1)).date()


def drain_after(worker: Worker, upstream: EventType | None) -> Counter[str]:
    """Drain the log until the stage before (whose `upstream` is set when it is done) is done and nothing is left:
    a drain that ran out of messages while the stage before was still at work goes on."""
    outcomes: Counter[str] = Counter()
    while True:
        upstream_done = upstream is None or upstream.is_set()  # before the drain: what it passed on is then all there
        outcomes.update(worker.run(until_idle=True, idle_polls=1))
        if upstream_done:
            return outcomes


def serve_stage(name: str, overrides: dict[str, Any], conn: Connection, upstream: EventType | None,
                done: EventType, profile_dir: Path | None = None) -> None:
    """Child process: build the stage once; whenever sent the simulated time, drain the log (`drain_after`), set
    `done` and answer (CPU seconds, messages, memory: `MemoryWatch.figures_mb`). CPU time, not wall time: other work
    on a shared machine does not count. With `profile_dir`, each simulated day's drains are profiled (in CPU time)
    into one file there."""
    import workers.stages
    from transport import open_transport
    from workers.runner import map_large_blocks_apart, steady_heap
    from workers.stages import build_stage
    from yuqing.config import Settings

    settings = Settings(**overrides)
    transport = open_transport(settings)
    simulated = [datetime.now(SHANGHAI)]
    if name == "alert":
        # The alert stage lives on the simulated days: its bursts' 15-day horizon, its rules' ticks and its
        # deadlines advance with them, as they would with the clock over 30 real days.
        workers.stages.now = lambda: simulated[0]
    stage = build_stage(name, settings, transport)
    map_large_blocks_apart()  # as `yuqing worker` does
    kept = KeptOpen(stage)
    watch = MemoryWatch()
    profiler: cProfile.Profile | None = None
    with steady_heap():  # as `yuqing worker` runs its stage
        while (order := conn.recv()) != "stop":
            if profile_dir is not None and (profiler is None or day_of(order) != day_of(simulated[0])):
                profiler = cProfile.Profile(time.process_time)
            simulated[0] = order
            began = time.process_time()
            worker = Worker(transport, kept, batch_size=500, poll_timeout=0.2)
            if profiler is None or profile_dir is None:
                outcomes = drain_after(worker, upstream)
            else:
                outcomes = profiler.runcall(drain_after, worker, upstream)
                profiler.dump_stats(profile_dir / f"{name}-{day_of(order)}.prof")  # the day so far
            done.set()
            conn.send((time.process_time() - began, sum(outcomes.values()), *watch.figures_mb()))
    watch.stop()
    stage.close()
    transport.close()
    conn.send("closed")


# -- the report and its exactness ----------------------------------------------------------------

def direct_counts(index: Any, since: datetime, until: datetime) -> dict[str, Any]:
    """Counts made by paging through every post of [since, until) in the index."""
    from reports.briefing import MIN_EVENT_POSTS, TOP_EVENTS
    from search.base import SearchQuery

    total = 0
    sentiment: Counter[str] = Counter()
    platforms: Counter[str] = Counter()
    places: Counter[str] = Counter()
    negative_places: Counter[str] = Counter()
    unanswered = 0
    events: Counter[str] = Counter()
    negative_events: Counter[str] = Counter()
    seen: set[str] = set()
    page = 5_000
    offset = 0
    while True:
        hits = index.search(SearchQuery(since=since, until=until, limit=page, offset=offset)).hits
        for post in hits:
            if post.id in seen:
                continue
            seen.add(post.id)
            total += 1
            label = post.sentiment.label.value if post.sentiment else None
            if label:
                sentiment[label] += 1
            platforms[post.platform.value] += 1
            places.update(set(post.places))
            if label == SentimentLabel.NEGATIVE.value:
                negative_places.update(set(post.places))
            if post.platform == Platform.BOARD and post.extra.get(BOARD_ANSWERED) is False:
                unanswered += 1
            if post.event_id:
                events[post.event_id] += 1
                negative_events[post.event_id] += label == SentimentLabel.NEGATIVE.value
        if len(hits) < page:
            break
        offset += page
    # Ranked as the report ranks them; an event with enough posts on the day needs no look at the days before.
    busy = sorted((e for e, n in events.items() if n >= MIN_EVENT_POSTS), key=lambda e: (-events[e], -negative_events[e], e))
    return {"total": total, "sentiment": dict(sentiment), "platforms": dict(platforms),
            "places": {p: (n, negative_places[p]) for p, n in places.items()}, "unanswered": unanswered,
            "events": [(e, events[e], negative_events[e]) for e in busy[:TOP_EVENTS]]}


def report_figures(briefing: Any) -> dict[str, Any]:
    from reports.briefing import MIN_EVENT_POSTS
    overview = briefing.overview
    return {"total": overview.total, "sentiment": dict(overview.sentiment), "platforms": dict(overview.platforms),
            "places": {p.place: (p.count, p.negative) for p in briefing.places},
            "unanswered": briefing.unanswered_board,
            "events": [(e.event.id, e.today, e.negative_today) for e in briefing.events if e.today >= MIN_EVENT_POSTS]}


def time_report(settings: Any, day: date) -> tuple[float, bool, list[str]]:
    """Seconds to write the day's report; whether its figures equal the direct counts; which differ."""
    from reports.briefing import ReportWindow, gather_briefing
    from reports.daily import write_daily_report
    from search import open_index
    from workers.build import configured_policies

    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI) - timedelta(seconds=1)
    began = time.perf_counter()
    write_daily_report(settings, day=day, notice=lambda _: None)
    seconds = time.perf_counter() - began
    window = ReportWindow.for_day(day, end)
    with open_index(settings) as index:
        briefing = gather_briefing(index, alerts=[], policies=configured_policies(settings), health=[], window=window)
        direct = direct_counts(index, window.start, window.cutoff)
    figures = report_figures(briefing)
    differ = [name for name in figures if figures[name] != direct[name]]
    return seconds, not differ, differ


# -- the run ----------------------------------------------------------------------------------------

def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@dataclass
class Child:
    """A stage's process, the parent's end of its pipe, and the flag it sets when done with a part."""
    process: Any
    conn: Connection
    done: EventType


def start_stages(overrides: dict[str, Any], profile_dir: Path | None, profiled_stage: str) -> dict[str, Child]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each, like `yuqing run`'s workers
    children: dict[str, Child] = {}
    upstream: EventType | None = None
    for name in STAGES:
        parent, child = context.Pipe()
        done = context.Event()
        profiled = profile_dir if name == profiled_stage else None
        process = context.Process(target=serve_stage, args=(name, overrides, child, upstream, done, profiled),
                                  name=f"soak-{name}")
        process.start()
        children[name] = Child(process, parent, done)
        upstream = done
    return children


def slice_end_of(day_start: datetime, when: datetime, slices: int) -> datetime:
    """The end of the part of the day (of `slices` equal parts) that `when` falls in."""
    length = timedelta(days=1) / slices
    return day_start + length * ((when - day_start) // length + 1)


def held_messages(transport: Transport, topic: str | None = None) -> int:
    """Messages the log holds (on one topic, or on all)."""
    return sum(t.messages for t in transport.stats() if topic in (None, t.topic))


def publish(transport: Transport, posts: Iterator[Post]) -> int:
    count = 0
    chunk: list[tuple[str | None, Value]] = []
    for post in posts:
        chunk.append((post.id, post.to_json()))
        if len(chunk) >= PUBLISH_CHUNK:
            count += transport.publish_many(RAW_POSTS, chunk) or len(chunk)
            chunk = []
    if chunk:
        count += transport.publish_many(RAW_POSTS, chunk) or len(chunk)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slices", type=int, default=4, help="drains a day (the stages see the day come in parts)")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it (default: a temporary one)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="write a CPU profile of one stage per simulated day here")
    parser.add_argument("--profile-stage", choices=STAGES, default="alert", help="the stage --profile profiles")
    args = parser.parse_args()

    from transport import open_transport
    from transport.sqlite_log import SqliteTransport
    from yuqing.config import Settings

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="yuqing-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {"data_dir": workdir}
    settings = Settings(**overrides)
    retention = timedelta(hours=settings.embedded_log.retention_hours)
    retained_days = min(args.days, retention / timedelta(days=1) + 1)
    needed = args.per_day * (retained_days * LOG_KB_PER_POST + args.days * INDEX_KB_PER_POST) * 1024 * 1.25
    free = shutil.disk_usage(workdir).free
    if free < needed:
        print(f"soak: needs about {needed / 1e9:.0f} GB in {workdir}, {free / 1e9:.0f} GB free "
              "(use --keep DIR elsewhere, or fewer --days or --per-day)", file=sys.stderr)
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
        return 2
    stream = Stream(args.per_day, random.Random(args.seed))
    # The last simulated day is yesterday (Beijing time): every post is in the past when the report is cut.
    first_day = datetime.now(SHANGHAI).date() - timedelta(days=args.days)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    children = start_stages(overrides, args.profile, args.profile_stage)
    peaks = dict.fromkeys(STAGES, 0.0)  # resident
    anonymous_peaks = dict.fromkeys(STAGES, 0.0)  # anonymous: what the resident peaks hold beyond mapped file pages
    cpu = dict.fromkeys(STAGES, 0.0)  # each stage's CPU seconds over the run: where the run's time goes
    week_peaks: dict[str, tuple[float, float]] = {}  # each stage's peaks (resident, anonymous) at the end of day WEEK
    drained: list[tuple[datetime, float]] = []  # each part's simulated end and the wall-clock time it was drained
    steady: tuple[int, int] | None = None  # (posts, disk bytes) at the end of the first day the log freed messages
    total = disk = 0
    print(f"soak: {args.days} days x {args.per_day} posts in {workdir}")
    print("day  posts      disk KB/post  day's MB/100k posts  " + "  ".join(f"{s} MB (peak; anon peak)" for s in STAGES)
          + "  enrich+events+index posts/CPU s (ms CPU/post: enrich events index alert)  event messages/post  log holds")
    try:
        with open_transport(settings) as transport:
            if not isinstance(transport, SqliteTransport):
                raise SystemExit("soak: runs on the embedded log only (transport: embedded)")
            for number in range(args.days):
                day = first_day + timedelta(days=number)
                start = datetime.combine(day, datetime.min.time(), SHANGHAI)
                busy = dict.fromkeys(STAGES, 0.0)  # CPU seconds
                memory: dict[str, tuple[float, float, float, float]] = {}  # MemoryWatch.figures_mb at the day's end
                events_sent = freed = 0
                disk_before = disk_bytes(workdir)
                # The day in slices, each drained at its end (the clock of the alert stage): posts come all day.
                for slice_end, posts in itertools.groupby(stream.day(number, start),
                                                          key=lambda post: slice_end_of(start, post.when, args.slices)):
                    total += publish(transport, posts)
                    events_before = held_messages(transport, EVENTS)
                    for child in children.values():
                        child.done.clear()
                    for child in children.values():
                        child.conn.send(slice_end)
                    for name, child in children.items():
                        seconds, _messages, rss, peak, anonymous, anonymous_peak = child.conn.recv()
                        busy[name] += seconds
                        memory[name] = (rss, peak, anonymous, anonymous_peak)
                        cpu[name] += seconds
                        peaks[name] = max(peaks[name], peak)
                        anonymous_peaks[name] = max(anonymous_peaks[name], anonymous_peak)
                        if name == "events":
                            events_sent += held_messages(transport, EVENTS) - events_before
                    drained.append((slice_end, time.time()))
                    # Retention on simulated time: what the parts drained `retention` of simulated time ago brought.
                    expired = [wall for end, wall in drained if end <= slice_end - retention]
                    if expired:
                        freed += transport.prune(now=expired[-1] + retention.total_seconds() + 1)
                disk = disk_bytes(workdir)
                if freed and steady is None:
                    steady = (total, disk)
                rate = args.per_day / max(busy["enrich"] + busy["events"] + busy["index"], 1e-9)
                memory_columns = "  ".join(f"{memory[s][0]:8.0f} ({memory[s][1]:5.0f}; {memory[s][3]:5.0f})"
                                           for s in STAGES)
                # Each stage's own cost, so that a rate falling with history points at the stage that grows.
                stage_ms = " ".join(f"{busy[s] / args.per_day * 1000:.3f}" for s in STAGES)
                if number + 1 == WEEK:
                    week_peaks = {s: (peaks[s], anonymous_peaks[s]) for s in STAGES}
                print(f"{number + 1:3d}  {total:9d}  {disk / total / 1024:12.2f}  "
                      f"{(disk - disk_before) / args.per_day * 100_000 / 1e6:19.1f}  {memory_columns}  {rate:8.0f} ({stage_ms})"
                      f"  {events_sent / args.per_day:19.2f}  {held_messages(transport):9d}", flush=True)
    finally:
        for child in children.values():
            child.conn.send("stop")
        for child in children.values():
            child.conn.recv()
            child.process.join()

    from stores.tables import PrivateTableCache, use_keeper
    from workers.build import ANALYSIS_STATE_FILE, analyzer_from_settings
    from yuqing.cli.commands.status import collect

    # Timed as `yuqing worker events` restarts: the language's derived tables (jieba's prefix dictionary, the
    # sentiment model's ratios: about 1.8 s to build) read from the user's private cache, where `yuqing` keeps them
    # for every command and a worker that ran before left them. Kept first, in a process of its own, as that worker.
    use_keeper(PrivateTableCache())
    keeper = multiprocessing.get_context("spawn").Process(target=keep_language_tables)
    keeper.start()
    keeper.join()
    if keeper.exitcode != 0:
        raise SystemExit(f"keeping the language tables failed (exit code {keeper.exitcode})")
    began, began_cpu = time.perf_counter(), time.process_time()
    analyzer = analyzer_from_settings(settings, settings.path(ANALYSIS_STATE_FILE))
    start_seconds, start_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    held = analyzer.held()
    analyzer.close()
    began, began_cpu = time.perf_counter(), time.process_time()
    collect(settings)
    status_seconds, status_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    report_seconds, exact, differ = time_report(settings, first_day + timedelta(days=args.days - 1))
    # Both ends measured alike: at the end of a day, the stages running (their write-ahead logs as they are then).
    if steady is not None and total > steady[0]:
        disk_per_post = (disk - steady[1]) / (total - steady[0]) / 1024
        print(f"disk grew {disk_per_post:.2f} KB/post after day {round(steady[0] / args.per_day)}, when the log's "
              f"retention first freed messages ({disk / total / 1024:.2f} KB/post over the whole run)")
    else:
        disk_per_post = disk / total / 1024
    print(f"analyzer start {start_seconds:.2f} s ({start_cpu:.2f} s CPU; holds {held}); "
          f"status {status_seconds:.2f} s ({status_cpu:.2f} s CPU); "
          f"last day's report {report_seconds:.2f} s" + (f"; figures that differ: {', '.join(differ)}" if differ else ""))
    print(f"CPU over the run ({total} posts): " + ", ".join(
        f"{name} {cpu[name]:.0f} s ({cpu[name] * 1000 / max(total, 1):.2f} ms/post)" for name in STAGES))
    if week_peaks:
        print(f"peak memory after day {WEEK} and after day {args.days}: "
              + ", ".join(f"{name} {week_peaks[name][0]:.0f} -> {peaks[name]:.0f} MB" for name in STAGES))
        print(f"peak anonymous memory (resident without mapped files: the memory a stage holds) after day {WEEK} "
              f"and after day {args.days}: "
              + ", ".join(f"{name} {week_peaks[name][1]:.0f} -> {anonymous_peaks[name]:.0f} MB" for name in STAGES))
    files = sorted(((f.stat().st_size, f.relative_to(workdir)) for f in workdir.rglob("*") if f.is_file()), reverse=True)
    print("largest files: " + ", ".join(f"{path} {size / 1e6:.1f} MB" for size, path in files[:5]))
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"soak: disk {disk_per_post:.2f} KB/post, peak {max(peaks.values()):.0f} MB, start {start_seconds:.2f} s, "
          f"status {status_seconds:.2f} s, report exact {'yes' if exact else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
