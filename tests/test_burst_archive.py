"""The alert worker's quiet burst subjects wait in its store, not in its memory (`analysis.bursts.BurstArchive`):
the worker holds the subjects with a post in a recent window, and its signals are those of a tracker that holds
every subject of the 15-day horizon, through checkpoints, restarts, renames and a clock that goes back."""

from __future__ import annotations

import json
import random
import sqlite3
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.store import AlertStore, SqliteAlertStore, WorkerMemory
from analysis.bursts import DAY_BUCKETS, FOLDED, BurstTracker, _bucket, _Subject
from yuqing.schema import EnrichedPost, PolicyLink, Sentiment

START = datetime(2026, 6, 1, tzinfo=UTC)
LOG = "log-1"


def post(n: int, when: datetime, event: str, negative: bool = False, **fields) -> EnrichedPost:
    label = "negative" if negative else "positive"
    return EnrichedPost(id=f"weibo:{n}", url=f"https://weibo.com/{n}", platform="weibo", source="weibo", text="某事",
                        published_at=when, sentiment=Sentiment(score=0.1 if negative else 0.9, label=label),
                        event_id=event, keywords=["老旧小区", "漏水"], **fields)


def checkpoint(tracker: BurstTracker, store: AlertStore) -> None:
    """What `workers.stages.AlertStage.checkpoint` saves of the burst counts."""
    changed, forgotten = tracker.changes()
    store.save_memory(WorkerMemory({}, changed, {}, LOG, forgotten, tracker.forgotten_before()))
    tracker.changes_saved()


def restarted(store: AlertStore) -> BurstTracker:
    """A new worker's tracker, as `AlertStage` builds it from the store."""
    tracker = BurstTracker([], min_count=3)
    memory = store.load_memory(LOG, quiet_subjects=False)
    if memory.bursts:
        tracker.restore(memory.bursts)
    tracker.keep_quiet_in(store)
    return tracker


def saved(store: AlertStore) -> dict[tuple[str, str], dict]:
    """Every burst subject in the store."""
    return {(kind, sid): data for kind, sid, data in store.load_memory(LOG).bursts}


def test_quiet_subjects_wait_in_the_store_and_the_signals_stay_the_same(open_alert_store: Callable[[], AlertStore]):
    """20 days of events (most met once, some posted again days later, one past the horizon, some renamed while
    quiet, posts delivered twice), a restart on day 9 and the clock going back two days for a batch: the same
    signals, batch after batch, as a tracker that keeps every subject in memory, in the order the subjects came in;
    after each checkpoint (every other batch) the worker's tracker holds only the subjects with a post in a recent
    window, and the store holds what the other holds."""
    rng = random.Random(5)
    store = open_alert_store()
    held = BurstTracker([], min_count=3)  # every subject in memory, as before
    archived = restarted(store)
    came_in: dict[tuple[str, str], int] = {}  # the order subjects were first counted in
    n = 0
    for day in range(20):
        for batch in range(4):
            now = START + timedelta(days=day, hours=6 * batch + 5)
            if (day, batch) == (12, 2):
                now -= timedelta(days=2)  # the machine's clock set back for a while
            posts = []
            for _ in range(rng.randrange(10, 30)):  # the batch's new events, most met once
                n += 1
                posts.append(post(n, now - timedelta(minutes=rng.randrange(0, 300)), f"evt-{n}",
                                  negative=rng.random() < 0.3, places=rng.sample(["牡丹区", "曹县", "单县"], 1)))
            for _ in range(rng.randrange(0, 8)):  # earlier events posted again, some of them quiet for days
                n += 1
                posts.append(post(n, now - timedelta(minutes=rng.randrange(0, 120)), f"evt-{rng.randrange(1, n)}",
                                  negative=rng.random() < 0.5, policies=[PolicyLink(id="p-1", score=0.7)]))
            if (day, batch) == (5, 0):
                revived = posts[0].event_id
            if (day, batch) in ((1, 0), (16, 1)):  # an event met again just past the horizon starts afresh
                came_in.pop(("event", "evt-returning"), None)
                for _ in range(4):
                    n += 1
                    posts.append(post(n, now - timedelta(minutes=30), "evt-returning", negative=True))
            if (day, batch) == (17, 1):  # an event quiet for 12 days, posted again after a new loud one
                for event_id in ("evt-loud", revived):
                    for _ in range(4):
                        n += 1
                        posts.append(post(n, now - timedelta(minutes=30), event_id, negative=True))
            posts.append(posts[rng.randrange(len(posts))])  # delivered twice
            renamed = [f"evt-{rng.randrange(1, n)}" for _ in range(3)] + [f"evt-unseen-{day}-{batch}"]
            if day % 2:  # as the alert stage does; on even days `name_event` and `add` read the store themselves
                archived.take_back(posts, renamed, now)
            for tracker in (held, archived):
                for event_id in renamed:
                    tracker.name_event(event_id, f"{event_id} 的标题")
                for item in posts:
                    tracker.add(item)
            for item in posts:
                for kind, sid, _ in held.subjects_of(item):
                    came_in.setdefault((kind, sid), len(came_in))
            signals = held.signals(now)
            assert archived.signals(now) == signals
            order = [came_in[(s.subject_kind, s.subject_id)] for s in signals]
            assert order == sorted(order)
            if (day, batch) == (17, 1):
                assert [s.subject_id for s in signals if s.subject_kind == "event"][:4] == [revived] * 2 + ["evt-loud"] * 2
            if batch % 2:
                checkpoint(archived, store)
                held.changes_saved()
                assert set(archived._subjects) == set(held._lively)
        if day == 8:  # both restart: the one from its records, the other from the store
            records = held.records()
            held = BurstTracker([], min_count=3)
            held.restore(records)
            archived = restarted(open_alert_store())
    assert len(held.records()) > 10 * len(archived._subjects)
    assert saved(store) == {(kind, sid): data for kind, sid, data in held.records()}


def checkpoint_bytes(tracker: BurstTracker, store: AlertStore) -> int:
    """`checkpoint`, and the bytes of the burst records it wrote."""
    changed, forgotten = tracker.changes()
    records = list(changed)
    store.save_memory(WorkerMemory({}, records, {}, LOG, forgotten, tracker.forgotten_before()))
    tracker.changes_saved()
    return sum(len(json.dumps(data)) for _, _, data in records)


def test_a_busy_place_is_saved_and_held_by_the_days_that_change(open_alert_store: Callable[[], AlertStore]):
    """A place posted about every 10 minutes for 20 days (and now and then a post a week late), a checkpoint every 4
    hours: each writes the day or two of its counts that changed (the day posted in, the day the horizon leaves), not
    its 15 days (the records written grew with the days held until the horizon was full); the worker holds the
    buckets of the days near an edge of a window, the middle of the 14-day baseline as a sum per day; its signals are
    those of a tracker holding every bucket, through a restart and the clock set back for a while, and the store holds
    what that one holds, so a restarted worker finds the same signals."""
    store = open_alert_store()
    tracker = restarted(store)
    held = BurstTracker([], min_count=3)  # every bucket in memory
    written: dict[int, list[int]] = {}  # per day, the bytes each checkpoint wrote
    n = 0
    for day in range(20):
        for hours in range(4, 25, 4):
            now = START + timedelta(days=day, hours=hours)
            if (day, hours) == (16, 8):
                now -= timedelta(days=3)  # the machine's clock set back for a while
            batch = [post(n + minutes, now - timedelta(minutes=minutes), None, negative=(n + minutes) % 3 == 0,
                          places=["曹县"]) for minutes in range(0, 240, 10)]
            if hours == 12 and day >= 8:
                batch.append(post(n + 1000, now - timedelta(days=7, minutes=day), None, places=["曹县"]))
            n += 2000
            tracker.take_back(batch, [], now)
            for item in batch:
                tracker.add(item)
                held.add(item)
            assert tracker.signals(now) == held.signals(now)
            written.setdefault(day, []).append(checkpoint_bytes(tracker, store))
            held.changes_saved()
            if (day, hours) == (10, 12):  # killed, and started again from the store
                tracker = restarted(open_alert_store())
    assert max(written[19]) < 3 * max(written[1])
    assert len(tracker._subjects[("place", "曹县")].counts) < len(held._subjects[("place", "曹县")].counts) / 2
    signals = held.signals(now)
    assert restarted(open_alert_store()).signals(now) == signals
    assert saved(store) == {(kind, sid): data for kind, sid, data in held.records()}


def test_a_store_saved_before_the_subjects_had_their_columns_gets_them(tmp_path: Path):
    """An alert store written by an earlier version: its burst subjects get their position (the order they were
    saved in), last bucket and quietness; the lively ones are loaded, the quiet ones wait."""
    path = tmp_path / "alerts.sqlite3"
    bucket = _bucket(START)
    old = [("place", "曹县", {"label": "曹县", "counts": [bucket - 2, 1, 0, bucket, 2, 1], "recent": [[bucket, "w:1"]]}),
           ("event", "evt-1", {"label": "某事", "counts": [bucket - 900, 1, 0], "recent": []}),
           ("event", "evt-2", {"label": "旧事", "buckets": {str(bucket - 5): [1, 0]}, "recent": []})]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE burst_state (kind TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, "
                   "PRIMARY KEY (kind, id))")
        db.executemany("INSERT INTO burst_state VALUES (?, ?, ?)", [(k, i, json.dumps(d)) for k, i, d in old])
    store = SqliteAlertStore(path)
    assert store.load_memory(LOG, quiet_subjects=False).bursts == [("place", "曹县", {**old[0][2], "position": 1})]
    assert store.quiet_subjects_after(bucket - 10) == [("event", "evt-2", {**old[2][2], "position": 3})]
    assert [data["position"] for _, _, data in store.saved_subjects([("event", "evt-1"), ("event", "nope")])] == [2]
    assert store.next_position() == 4
    store.close()


def test_a_store_saved_before_the_counts_were_kept_by_day_keeps_them_all(tmp_path: Path):
    """An alert store whose burst subjects hold their counts in their JSON, as an earlier version saved them: opened,
    their counts move to their days, and a checkpoint that writes the day a post came in leaves the others as they
    were."""
    path = tmp_path / "alerts.sqlite3"
    bucket = _bucket(START)
    old = {"label": "曹县", "counts": [bucket - 600, 1, 0, bucket - 300, 2, 1, bucket - 2, 1, 0],
           "recent": [[bucket - 2, "w:1"]], "position": 0}
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE burst_state (kind TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, "
                   "position INTEGER, last_bucket INTEGER, quiet INTEGER, PRIMARY KEY (kind, id))")
        db.execute("INSERT INTO burst_state VALUES ('place', '曹县', ?, 0, ?, 0)", (json.dumps(old), bucket - 2))
    store = SqliteAlertStore(path)
    tracker = restarted(store)
    assert saved(store) == {("place", "曹县"): old}
    tracker.add(post(2, START, "evt-2", places=["曹县"]))
    checkpoint(tracker, store)
    assert saved(store)[("place", "曹县")]["counts"] == [*old["counts"], bucket, 1, 0]
    store.close()


def checkpoint_peak(places: int, path: Path) -> int:
    """The peak memory (bytes Python allocated) of a checkpoint after this many places with a post in every 5 minutes
    of the 15-day horizon were all counted again."""
    bucket = _bucket(START)
    counts = [number for at in range(bucket - 4320, bucket) for number in (at, 3, 1)]
    names = [f"第{n}街道" for n in range(places)]
    tracker = BurstTracker([], min_count=3)
    tracker.restore([("place", name, {"label": name, "counts": counts, "recent": [], "position": n})
                     for n, name in enumerate(names)])
    tracker.add(post(1, START, "evt-1", places=names))  # every place changed
    store = SqliteAlertStore(path)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        checkpoint(tracker, store)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert saved(store)[("place", names[-1])]["counts"][-3:] == [bucket, 1, 0]
    store.close()
    return peak


def test_a_checkpoint_holds_the_record_of_one_changed_subject_at_a_time(tmp_path: Path):
    """A checkpoint makes and writes the changed subjects' records one after the other: its peak memory is the same
    for 40 busy places as for 5 (it held every record at once, and a city's busy places hold 15 days of counts each:
    the worker's peak grew with the horizon)."""
    assert checkpoint_peak(40, tmp_path / "forty.sqlite3") < 1.5 * checkpoint_peak(5, tmp_path / "five.sqlite3")


def test_the_next_position_is_read_from_an_index_not_from_every_subject(tmp_path: Path):
    """Every checkpoint asks for the next position: the store finds it in an index (searching it), not by reading
    every subject saved (a scan, which also read every overflow page of the 15-day places' JSON before it)."""
    SqliteAlertStore(tmp_path / "alerts.sqlite3").close()
    with sqlite3.connect(tmp_path / "alerts.sqlite3") as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT COALESCE(MAX(position) + 1, 0) FROM burst_state").fetchall()
    assert [detail for *_, detail in plan] == ["SEARCH burst_state USING COVERING INDEX burst_state_by_position"]

@contextmanager
def database_before(postgres_settings, migration) -> Iterator[Any]:
    """A connection to the state database as the version before `migration` left it (the migrations before it
    applied)."""
    import psycopg

    from stores import postgres

    password = postgres_settings.password.get_secret_value()
    with psycopg.connect(postgres_settings.url, password=password, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        for earlier in postgres.migrations():
            if earlier.version < migration.version:
                conn.execute(earlier.path.read_text(encoding="utf-8").encode())
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                             (earlier.version, earlier.name))
        yield conn


def test_the_migration_gives_the_subjects_saved_before_their_columns(postgres_settings):
    """A PostgreSQL state database with burst subjects saved by an earlier version: the migration that adds their
    columns fills their last bucket and quietness from their JSON, and they keep their positions."""
    from psycopg.types.json import Json

    from alerts.postgres_store import PostgresAlertStore
    from stores import postgres

    [columns] = [m for m in postgres.migrations() if m.name == "alert_burst_archive"]
    bucket = _bucket(START)
    old = [("place", "曹县", {"label": "曹县", "counts": [bucket - 2, 1, 0, bucket, 2, 1], "recent": [[bucket, "w:1"]]}),
           ("event", "evt-1", {"label": "某事", "counts": [bucket - 900, 1, 0], "recent": []}),
           ("event", "evt-2", {"label": "旧事", "buckets": {str(bucket - 5): [1, 0]}, "recent": []})]
    with database_before(postgres_settings, columns) as conn, conn.cursor() as cursor:
        cursor.executemany("INSERT INTO alert_burst_memory (kind, id, position, state) VALUES (%s, %s, %s, %s)",
                           [(kind, sid, position, Json(data)) for position, (kind, sid, data) in enumerate(old)])
    assert postgres.setup(postgres_settings)[0] == columns
    store = PostgresAlertStore(postgres_settings)
    try:
        assert store.load_memory(LOG, quiet_subjects=False).bursts == [("place", "曹县", {**old[0][2], "position": 0})]
        assert store.quiet_subjects_after(bucket - 10) == [("event", "evt-2", {**old[2][2], "position": 2})]
        assert store.quiet_subjects_after(bucket - 1000) == [("event", "evt-1", {**old[1][2], "position": 1}),
                                                             ("event", "evt-2", {**old[2][2], "position": 2})]
        assert store.next_position() == 3
    finally:
        store.close()


def test_the_migration_moves_the_counts_saved_in_the_subjects_to_their_days(postgres_settings):
    """A PostgreSQL state database whose burst subjects hold their counts in their JSON: the migration moves them to
    their days, and a checkpoint that writes the day a post came in leaves the others as they were."""
    from psycopg.types.json import Json

    from alerts.postgres_store import PostgresAlertStore
    from stores import postgres

    [by_day] = [m for m in postgres.migrations() if m.name == "alert_burst_days"]
    bucket = _bucket(START)
    old = {"label": "曹县", "counts": [bucket - 600, 1, 0, bucket - 300, 2, 1, bucket - 2, 1, 0],
           "recent": [[bucket - 2, "w:1"]], "position": 0}
    with database_before(postgres_settings, by_day) as conn:
        conn.execute("INSERT INTO alert_burst_memory (kind, id, position, state, last_bucket, quiet) "
                     "VALUES ('place', '曹县', 0, %s, %s, false)", (Json(old), bucket - 2))
    assert postgres.setup(postgres_settings)[0] == by_day  # then those after it
    store = PostgresAlertStore(postgres_settings)
    try:
        tracker = restarted(store)
        assert saved(store) == {("place", "曹县"): old}
        tracker.add(post(2, START, "evt-2", places=["曹县"]))
        checkpoint(tracker, store)
        assert saved(store)[("place", "曹县")]["counts"] == [*old["counts"], bucket, 1, 0]
    finally:
        store.close()


def test_a_day_unfolded_in_the_middle_of_the_folded_days_is_folded_back_in_its_place():
    """A late post unfolds its day wherever it lies (`BurstTracker._unfold_day`); folding that day again puts it
    back between its neighbours, so the folded days stay in order for the look-ups that bisect them."""
    subject = _Subject("老旧小区")
    for day in range(3, 11):
        for bucket in (day * DAY_BUCKETS + 1, day * DAY_BUCKETS + 100):
            subject.count(bucket, negative=day % 2)
    held = subject.counts.tolist()

    def saved(day: int) -> list[int]:  # a day's two buckets, as the archive gives them back
        at = held.index(day * DAY_BUCKETS + 1)
        return held[at:at + 6]

    subject.fold(4, 9)
    assert subject.folded is not None and subject.folded[::FOLDED].tolist() == [4, 5, 6, 7, 8, 9]
    assert [subject.holds_folded(day) for day in (3, 4, 6, 9, 10)] == [False, True, True, True, False]
    assert subject.folded_between(-1, 11 * DAY_BUCKETS) == (12, 6)

    subject.unfold({6: saved(6)})
    assert subject.folded[::FOLDED].tolist() == [4, 5, 7, 8, 9] and not subject.holds_folded(6)
    late = [6 * DAY_BUCKETS + 200, 1, 1]
    subject.count(late[0], negative=1)
    subject.fold(6, 6)
    assert subject.folded[::FOLDED].tolist() == [4, 5, 6, 7, 8, 9]
    assert subject.holds_folded(6) and subject.folded_between(-1, 11 * DAY_BUCKETS) == (13, 7)

    subject.unfold({day: saved(day) for day in (4, 5, 7, 8, 9)} | {6: saved(6) + late})
    assert subject.folded is None and subject.counts.tolist() == held[:24] + late + held[24:]


def fed_alike(tracker: BurstTracker, held: BurstTracker, batch: list[EnrichedPost], now: datetime) -> None:
    """The batch counted by the worker's tracker (what it touches taken back from the store first) and by `held`."""
    tracker.take_back(batch, [], now)
    for item in batch:
        tracker.add(item)
        held.add(item)


def test_the_folded_subjects_are_gone_through_when_the_clock_moves_their_days_not_at_every_batch(
        open_alert_store: Callable[[], AlertStore], monkeypatch):
    """20 busy places, a batch an hour for 10 days and a checkpoint every 4 hours: whether a folded day has left the
    stretch between two edges is looked at once the clock moves the stretch's days (daily), not at every batch's
    take-back and signals (each went through every folded subject: a city's day has thousands of them); the signals
    are those of a tracker holding every bucket."""
    store = open_alert_store()
    tracker = restarted(store)
    held = BurstTracker([], min_count=3)
    looked: dict[int, int] = {}
    folded_days_outside = _Subject.folded_days_outside

    def counted(subject: _Subject, first_day: int, last_day: int) -> list[int]:
        looked[day] = looked.get(day, 0) + 1
        return folded_days_outside(subject, first_day, last_day)

    monkeypatch.setattr(_Subject, "folded_days_outside", counted)
    places = [f"第{n}街道" for n in range(20)]
    n = 0
    for day in range(10):
        for hour in range(1, 25):
            now = START + timedelta(days=day, hours=hour)
            batch = [post(n + k, now - timedelta(minutes=3 * k), None, places=[places[k % 20]]) for k in range(20)]
            n += 20
            fed_alike(tracker, held, batch, now)
            assert tracker.signals(now) == held.signals(now)
            if hour % 4 == 0:
                checkpoint(tracker, store)
                held.changes_saved()
    assert len(tracker._folded) == 20  # every place holds folded days
    assert max(looked[day] for day in (7, 8, 9)) <= 3 * 20  # a look or so a day at each, not 2 x 24
