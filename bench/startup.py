"""The analyzer's start and `yuqing status` after months of history, without months of running.

    python -m bench.startup [--posts 3000000] [--baseline 100000] [--per-day 100000] [--repeat 3] [--keep DIR]

A data directory is filled as `--posts / --per-day` days of a city's volume would leave it, at a small baseline size
(`--baseline`) and at `--posts`; then the analyzer's start (a new analyzer on that state, as a restarted worker
makes it: `workers.build.analyzer_from_settings`, the shipped language models loaded with it, their derived tables
from the user's cache as every `yuqing` process keeps them; and, on a second line, with those tables built, as the
first start on a machine builds them) and `yuqing status` (its
`collect`, and the whole command as a new process) are timed in fresh processes on each, alternately, in wall and
CPU seconds, and the ratio of the large to the baseline is printed. A cost that does not grow with history has a
ratio near 1.

The directories are NOT filled by the analysis stages (bench.soak does that, at hours per 3,000,000 posts): the
soak's own generator (`bench.soak.Stream`) makes a sample of posts, the real analyzer (`Analyzer.enrich`) enriches
them and puts them into events, and those posts, events and event states are repeated, with their own ids and
times, through each store's own bulk interface:
- the index (`Index.upsert`, `upsert_events`, `record_health`): every post of every day, and the day's events;
- the analyzer's state (`AnalysisStateStore.save`): the posts and event states of the last 7 days (its window);
- the alert store (`insert`, `update`): ALERTS_PER_DAY alerts a day, each fired, notified and updated, with their
  audit rows and notifications; those older than `--open-days` closed by the office (by default none: nobody
  closes an alert in bench.soak, so its open alerts pile up);
- the embedded log: the last RETAINED_POSTS posts on each topic (retention holds no more), every group's
  offsets committed to the end but LAG messages of the raw topic.

`--keep DIR` fills DIR/posts-<N> once and reuses it afterwards (a run that only times takes minutes; filling
1,000,000 posts took 479 s of CPU, each day of 100,000 a little more than the one before: 3,000,000 need about
half an hour of CPU, well over an hour on a loaded machine). The fill is made with this tree's stores; to time
another tree's code on the same data (`--code DIR`: e.g. an export of main), fill with the older tree, copy the
directory, and time each tree on its own copy: before the rounds the timed tree opens the stores as its workers
would (adding what indexes its schema adds), and the older tree must not meet those indexes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_POSTS = 10_000  # posts the analyzer enriches for the fill; the rest repeat them
BATCH = 5_000  # posts per write
WINDOW_DAYS = 7  # the analyzer's state keeps this many days (analysis.events.ACTIVE_FOR)
# Alerts raised a day: a bench.soak run raised 1,205 in its first 18 simulated hours of 100,000 posts a day (about
# 1,600 a day; 2,000 here), most of them updated again and again (70 audit rows each); the status reads no audit
# row, so each alert here has a few.
ALERTS_PER_DAY = 2_000
AUDITED = ("notified", "updated", "updated", "level_raised")
RETAINED_POSTS = 25_000  # a quarter of a day: what bench.soak's log holds between two drains
LAG = 500
SOURCES = 24  # crawl-health rows: one per configured source
FILLED = "filled.json"


# -- templates: real analysis of the soak's posts --------------------------------------------------

@dataclass
class Templates:
    posts: list[Any]  # EnrichedPost, in time order
    events: dict[str, Any]  # event id -> EventState, as the analyzer left them
    fingerprints: dict[str, Any]  # post id -> Fingerprint
    policies: list[Any]
    day_start: datetime


def make_templates(per_day: int, seed: int) -> Templates:
    """TEMPLATE_POSTS posts of the soak's stream, spread over a day, enriched and put into events by the analyzer."""
    from analysis.enrich import Analyzer
    from bench.soak import Stream
    from workers.build import configured_policies, configured_watchlists, load_gazetteer, shipped_language
    from yuqing.config import Settings
    from yuqing.schema import SHANGHAI

    settings = Settings()
    language = shipped_language()
    analyzer = Analyzer(language, configured_policies(settings), configured_watchlists(settings),
                        load_gazetteer(settings.gazetteer_file, language.segmenter))
    day_start = datetime.combine(date(2026, 1, 1), datetime.min.time(), SHANGHAI)
    stream = Stream(per_day, random.Random(seed))
    posts, policies = [], []
    # Consecutive posts, as the analyzer meets them: an incident's posts find each other as they would in a day.
    for post in itertools.islice(stream.day(0, day_start), TEMPLATE_POSTS):
        annotated = analyzer.enricher.annotate(post)
        if annotated.policy is not None:
            policies.append(annotated.policy)
        posts.append(analyzer.assign(annotated))
    analyzer.changed_events()  # chooses the events' titles
    clusterer = analyzer.clusterer
    return Templates(posts, dict(clusterer.events), dict(clusterer.reprints.by_id), policies, day_start)


# -- the fill ---------------------------------------------------------------------------------------

def renamed(event_id: str | None, copy: str) -> str | None:
    return None if event_id is None else f"{event_id}~{copy}"


def days_of(posts: int, per_day: int) -> list[int]:
    """Posts per day: whole days of `per_day`, the last one what is left."""
    whole, rest = divmod(posts, per_day)
    return [per_day] * whole + ([rest] if rest else [])


def copies(templates: Templates, day: int, count: int, first_day: datetime) -> Iterator[tuple[str, list[Any]]]:
    """The day's `count` posts as (copy name, posts): the templates again and again, each copy its own ids, events
    and times (spread evenly over its slot of the day, in the templates' order)."""
    n = len(templates.posts)
    slot = timedelta(days=1) / max(1, -(-count // n))
    for number, start in enumerate(range(0, count, n)):
        name = f"d{day}c{number}"
        slot_start = first_day + timedelta(days=day) + slot * number
        chunk = []
        for rank, post in enumerate(templates.posts[:count - start]):
            at = slot_start + slot * rank / n
            chunk.append(post.model_copy(update={
                "id": f"{post.id}~{name}", "url": f"{post.url}~{name}", "published_at": at, "fetched_at": at,
                "event_id": renamed(post.event_id, name),
                "reprint_of": renamed(post.reprint_of, name)}))
        yield name, chunk


def event_copies(templates: Templates, name: str, shift: timedelta) -> list[Any]:
    """The templates' event states as a copy's: own ids, merges and posts, shifted times."""
    from analysis.events import EventState

    states = []
    for state in templates.events.values():
        data = state.to_json()
        data.update(id=renamed(state.id, name), merged_into=renamed(state.merged_into, name),
                    first_post=f"{state.first_post}~{name}",
                    first_seen=(state.first_seen + shift).isoformat(), last_seen=(state.last_seen + shift).isoformat(),
                    engaged=[(e, f"{pid}~{name}") for e, pid in state.engaged])
        states.append(EventState.from_json(json.loads(json.dumps(data, default=list))))
    return states


def fill(workdir: Path, posts: int, per_day: int, templates: Templates, open_days: int) -> dict[str, Any]:
    """Fill `workdir` (see the module docstring); returns what it holds."""
    from alerts.store import Change, SqliteAlertStore
    from search import open_index
    from stores.analysis_state import AnalysisStateStore
    from transport import open_transport
    from transport.base import ANNOTATED_POSTS, ENRICHED_POSTS, EVENTS, RAW_POSTS
    from workers.build import ANALYSIS_STATE_FILE
    from workers.stages import stage_groups
    from yuqing.config import Settings
    from yuqing.schema import SHANGHAI, Alert, AlertLevel, AlertStatus, CrawlHealth, Deadline

    settings = Settings(data_dir=workdir)
    per_days = days_of(posts, per_day)
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=len(per_days))
    window_from = today - timedelta(days=WINDOW_DAYS)
    rng = random.Random(1)
    indexed = events = state_posts = state_events = 0
    tail: list[Any] = []  # the last posts: what the log still holds
    began = time.process_time()
    state = AnalysisStateStore(settings.path(ANALYSIS_STATE_FILE))
    state.save([], [], templates.policies)
    with open_index(settings) as index:
        for day, count in enumerate(per_days):
            for name, chunk in copies(templates, day, count, first_day):
                shift = chunk[0].published_at - templates.posts[0].published_at
                copied_events = event_copies(templates, name, shift)
                for start in range(0, len(chunk), BATCH):
                    indexed += index.upsert(chunk[start:start + BATCH])
                events += index.upsert_events(e.to_event() for e in copied_events)
                if chunk[-1].published_at >= window_from:
                    kept = [post for post in chunk if post.published_at >= window_from]
                    fingerprints = templates.fingerprints
                    assigned = []
                    for post in kept:
                        template_id = post.id.rsplit("~", 1)[0]
                        fp = fingerprints.get(template_id)
                        if fp is not None:
                            fp = type(fp)(post.id, fp.value, post.published_at, f"{fp.original}~{name}",
                                          post.event_id, fp.lead)
                        assigned.append((post.id, post.published_at, post.event_id, post.reprint_of, fp, post.url))
                    state.save(copied_events, assigned, [])
                    state_posts += len(assigned)
                    state_events += len(copied_events)
                tail = (tail + chunk)[-RETAINED_POSTS:]
            print(f"  day {day + 1}/{len(per_days)}: {indexed} posts, {events} events indexed "
                  f"({time.process_time() - began:.0f} s CPU)", flush=True)
        now = datetime.now(SHANGHAI)
        index.record_health([CrawlHealth(source=f"source{n}", kind="weibo", started_at=now - timedelta(minutes=3),
                                         finished_at=now, items=rng.randint(0, 200)) for n in range(SOURCES)])
    state.close()

    alerts = SqliteAlertStore(settings.data_dir / "alerts.sqlite3")
    opened = 0
    for day in range(len(per_days)):
        for n in range(ALERTS_PER_DAY):
            fired = first_day + timedelta(days=day, seconds=rng.randrange(86_400))
            post = templates.posts[rng.randrange(len(templates.posts))]
            place = post.places[0] if post.places else "城区"
            alert = Alert(id=f"a-d{day}-{n}", rule="突发事件舆情", rule_type="burst",
                          group_key=f"event:{post.event_id}~d{day}n{n}", title=f"{place}舆情升温：{post.text[:16]}",
                          summary=f"近1h共{rng.randint(20, 400)}条，其中负面{rng.randint(5, 200)}条。",
                          level=rng.choice(list(AlertLevel)), subject_kind="event", subject_id=f"{post.event_id}~d{day}",
                          fired_at=fired, updated_at=fired,
                          deadlines=[Deadline(name="发布权威信息", due_at=fired + timedelta(hours=5), started_at=fired),
                                     Deadline(name="新闻发布会", due_at=fired + timedelta(days=1), started_at=fired)],
                          post_ids=[f"{p.id}~d{day}c0" for p in rng.sample(templates.posts, 50)],
                          evidence={"rules": ["突发事件舆情"], "count": rng.randint(20, 400),
                                    "negative_share": round(rng.random(), 2), "window": "1h/24h"})
            stored = alerts.insert(alert, Change("system", "fired", notifications=[
                ("local_file", {"title": alert.title, "summary": alert.summary})]), fired)
            for action in AUDITED:
                later = fired + timedelta(hours=1)
                changed = stored.alert.model_copy(update={"status": AlertStatus.NOTIFIED, "updated_at": later,
                                                          "updates": stored.alert.updates + 1})
                stored = alerts.update(changed, stored.version, Change("system", action), later)
            if day >= len(per_days) - open_days:
                opened += 1
            else:
                closed = stored.alert.model_copy(update={"status": AlertStatus.CLOSED, "closed_by": "王科长"})
                alerts.update(closed, stored.version, Change("王科长", "closed"), fired + timedelta(hours=2))
    alerts.close()

    with open_transport(settings) as transport:
        values = [(post.id, post.to_json()) for post in tail]
        for topic in (RAW_POSTS, ANNOTATED_POSTS, ENRICHED_POSTS):
            transport.publish_many(topic, values)
        transport.publish_many(EVENTS, [(e.id, e.to_event().model_dump_json().encode()) for e in templates.events.values()])
        for group, topics in stage_groups().items():
            consumer = transport.consumer(group, topics)
            read = []
            while batch := consumer.poll(max_messages=BATCH, timeout=0):
                read += batch
            raw = [m for m in read if m.topic == RAW_POSTS]
            consumer.commit([m for m in read if m.topic != RAW_POSTS] + raw[:-LAG])  # the crawler ran last
            consumer.close()
    return {"posts": indexed, "days": len(per_days), "index_events": events, "state_posts": state_posts,
            "state_events": state_events, "alerts": len(per_days) * ALERTS_PER_DAY, "open_alerts": opened,
            "log_posts": len(tail), "fill_cpu_s": round(time.process_time() - began, 1)}


# -- timing -----------------------------------------------------------------------------------------

# Each run in a new interpreter (as a restarted worker or a typed command is), in the tree being timed; the
# imports are left out of the start and collect figures (as bench.soak leaves them out) but not of the command's.
# A worker is a `yuqing` process: its derived tables (jieba's prefix dictionary, the sentiment model's ratios) come
# from the user's private cache (`stores.tables`), built by the first process on the machine. With the argument
# "built" the child builds them itself, as that first process does.
START = """
import json, sys, time
from stores.tables import PrivateTableCache, use_keeper
from workers.build import ANALYSIS_STATE_FILE, analyzer_from_settings
from yuqing.config import Settings
settings = Settings(data_dir=sys.argv[1])
if sys.argv[2:] != ["built"]:
    use_keeper(PrivateTableCache())
began, began_cpu = time.perf_counter(), time.process_time()
analyzer = analyzer_from_settings(settings, settings.path(ANALYSIS_STATE_FILE))
wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
print(json.dumps({"wall": wall, "cpu": cpu, "held": analyzer.held()}))
"""
# Untimed, once per directory: the stores opened as the workers open them when they start (the alert worker its
# store, the index stage the index), so that what the timed tree's schema adds (an index) is there, as it would be
# once its workers ran; `yuqing status` itself opens the alert store read-only. And the derived tables kept, as
# the first `yuqing` process on a machine keeps them.
OPEN_AS_WORKERS = """
import sys
from pathlib import Path
from alerts.store import SqliteAlertStore
from search.sqlite_fts import SqliteIndex
from stores.tables import PrivateTableCache, use_keeper
from workers.build import shipped_language
SqliteAlertStore(Path(sys.argv[1]) / "alerts.sqlite3").close()
SqliteIndex(Path(sys.argv[1]) / "index.sqlite3").close()
use_keeper(PrivateTableCache())
shipped_language()
"""
COLLECT = """
import json, sys, time
from yuqing.cli.commands.status import collect
from yuqing.config import Settings
settings = Settings(data_dir=sys.argv[1])
began, began_cpu = time.perf_counter(), time.process_time()
status = collect(settings)
wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
print(json.dumps({"wall": wall, "cpu": cpu, "posts": status["counts"]["posts_indexed"],
                  "events": status["counts"]["events"], "open_alerts": status["counts"]["open_alerts"]}))
"""


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(code: Path, args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall, CPU seconds, stdout) of `python args` in a new process, run in the tree `code`."""
    began, began_cpu = time.perf_counter(), child_cpu()
    done = subprocess.run([sys.executable, *args], cwd=code, capture_output=True, text=True,
                          env={**os.environ, **(env or {}), "PYTHONPATH": str(code)})
    if done.returncode != 0:
        raise SystemExit(f"startup: {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - began, child_cpu() - began_cpu, done.stdout


def measure(code: Path, workdir: Path) -> dict[str, Any]:
    """One round on one directory: start, collect, the command."""
    start = json.loads(run_child(code, ["-c", START, str(workdir)])[2])
    built = json.loads(run_child(code, ["-c", START, str(workdir), "built"])[2])
    collected = json.loads(run_child(code, ["-c", COLLECT, str(workdir)])[2])
    wall, cpu, _ = run_child(code, ["-m", "yuqing.cli.main", "status"], {"YUQING_DATA_DIR": str(workdir)})
    return {"start": (start["wall"], start["cpu"]), "built": (built["wall"], built["cpu"]), "collect": (collected["wall"], collected["cpu"]),
            "command": (wall, cpu), "held": start["held"], "counts": {k: collected[k] for k in
                                                                     ("posts", "events", "open_alerts")}}


# -- the run ----------------------------------------------------------------------------------------

def prepared(root: Path, posts: int, args: argparse.Namespace, templates: list[Templates]) -> Path:
    """The directory for `posts` under `root`, filled unless a run filled it before."""
    workdir = root / f"posts-{posts}"
    marker = workdir / FILLED
    if marker.exists():
        print(f"{workdir}: filled before ({marker.read_text().strip()})")
        return workdir
    shutil.rmtree(workdir, ignore_errors=True)
    if not templates:
        began = time.process_time()
        templates.append(make_templates(args.per_day, args.seed))
        t = templates[0]
        print(f"templates: {len(t.posts)} posts enriched, {len(t.events)} events, {len(t.fingerprints)} fingerprints "
              f"({time.process_time() - began:.1f} s CPU)")
    print(f"filling {workdir} with {posts} posts ...", flush=True)
    held = fill(workdir, posts, args.per_day, templates[0], args.open_days)
    marker.write_text(json.dumps(held))
    print(f"{workdir}: {json.dumps(held)}")
    return workdir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3_000_000)
    parser.add_argument("--baseline", type=int, default=100_000)
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of timing, each on both directories")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--open-days", type=int, default=365, help="alerts of the last N days are open, older closed")
    parser.add_argument("--keep", type=Path, help="fill in this directory (reused by later runs) and keep it")
    parser.add_argument("--code", type=Path, default=REPO, help="the tree whose start and status are timed")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="yuqing-startup-"))
    templates: list[Templates] = []
    try:
        dirs = {size: prepared(root, size, args, templates)
                for size in (args.baseline, args.posts)}
        for workdir in dirs.values():
            run_child(args.code.resolve(), ["-c", OPEN_AS_WORKERS, str(workdir)])
        rounds: dict[int, list[dict[str, Any]]] = {size: [] for size in dirs}
        for _ in range(args.repeat):
            for size, workdir in dirs.items():  # alternately: the machine's speed drifts
                rounds[size].append(measure(args.code.resolve(), workdir))
        for size, found in rounds.items():
            print(f"{size} posts: holds {found[0]['counts']} (analyzer holds {found[0]['held']})")
        print(f"{'':30s}" + "".join(f"{size:>28d}" for size in dirs) + "   ratio (CPU)")
        medians: dict[str, dict[int, tuple[float, float]]] = {}
        for what, label in (("start", "analyzer start"), ("built", "  (tables built: first start)"),
                            ("collect", "status (collect)"),
                            ("command", "`yuqing status` (process)")):
            medians[what] = {size: (statistics.median(r[what][0] for r in found),
                                    statistics.median(r[what][1] for r in found)) for size, found in rounds.items()}
            cells = "".join(f"{wall:10.2f} s ({cpu:5.2f} s CPU)" for wall, cpu in medians[what].values())
            base, large = (medians[what][size][1] for size in dirs)
            print(f"{label:30s}{cells}   {large / max(base, 1e-9):.2f}")
        start, collect = medians["start"][args.posts], medians["collect"][args.posts]
        print(f"startup: at {args.posts} posts start {start[0]:.2f} s ({start[1]:.2f} s CPU), status {collect[0]:.2f} s "
              f"({collect[1]:.2f} s CPU); against {args.baseline}: start x{start[1] / max(medians['start'][args.baseline][1], 1e-9):.2f}, "
              f"status x{collect[1] / max(medians['collect'][args.baseline][1], 1e-9):.2f} (CPU, medians of {args.repeat})")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
