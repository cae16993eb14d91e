"""The state store's contract, on SQLite (embedded) and on a real PostgreSQL (scale-out) alike: the
crawler's seen-store and the burst counts, opened through the settings as the stages open them.
Then what only the PostgreSQL side has: `yuqing state setup`, the schema check, the password's path."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr

from analysis.bursts import BurstTracker
from stores import postgres
from stores.seen import PostgresSeenStore
from stores.state import open_burst_memory, open_seen_store
from tests.test_analysis_bursts import NOW, WAGES, by_subject, quiet_then_burst
from yuqing.cli.main import main
from yuqing.config import ConfigError, Settings, load_settings
from yuqing.config.settings import PostgresSettings
from yuqing.errors import BackendUnavailable

DAY = 86400.0


@pytest.fixture(params=["embedded", "postgres"])
def settings(request, tmp_path) -> Settings:
    """Settings of an empty state store of each kind (PostgreSQL: migrated, as after `yuqing state setup`)."""
    if request.param == "embedded":
        return load_settings(None, data_dir=tmp_path)
    database = request.getfixturevalue("postgres_settings")
    postgres.setup(database)
    return load_settings(None, data_dir=tmp_path, state="postgres", postgres=database)


def test_pages_are_not_fetched_again_unless_within_the_revisit_window(settings):
    seen = open_seen_store(settings)
    url = "http://x.cn/news/t1.html"
    assert seen.should_fetch("s", url)
    seen.mark_fetched("s", url, now=1000.0)
    assert not seen.should_fetch("s", url, now=1000.0 + 60)
    assert not seen.should_fetch("s", "HTTP://X.CN/news/t1.html#top", now=1060.0)  # canonical URL
    assert seen.should_fetch("other-source", url)
    # weibo/board kinds revisit: within the window yes, after it no; a refetch keeps the first sighting
    assert seen.should_fetch("s", url, revisit_days=3, now=1000.0 + 2 * DAY)
    seen.mark_fetched("s", url, now=1000.0 + 2 * DAY)
    assert not seen.should_fetch("s", url, revisit_days=3, now=1000.0 + 4 * DAY)
    seen.close()


def test_content_changes_are_told_apart(settings):
    seen = open_seen_store(settings)
    assert seen.is_new_content("s", "news:1", "a") == (True, False)
    seen.mark_published("s", "news:1", "a", "text-a")
    assert seen.is_new_content("s", "news:1", "a") == (False, False)
    assert seen.is_new_content("s", "news:1", "b") == (False, True)
    assert seen.same_text_elsewhere("s", "news:2", "text-a")
    assert not seen.same_text_elsewhere("s", "news:1", "text-a")
    assert not seen.same_text_elsewhere("other-source", "news:2", "text-a")
    seen.mark_published("s", "news:1", "b", "text-b")  # republished with new content: replaced
    assert seen.is_new_content("s", "news:1", "b") == (False, False)
    assert not seen.same_text_elsewhere("s", "news:2", "text-a")
    seen.close()


def test_silent_runs_count_up_and_reset(settings):
    seen = open_seen_store(settings)
    assert [seen.record_run("s", n) for n in (0, 0, 3, 0)] == [1, 2, 0, 1]
    assert seen.record_run("other-source", 0) == 1
    seen.close()


def test_runs_recorded_by_two_crawlers_at_once_all_count(settings):
    """Two crawl processes (here: two stores in two threads, switching often) recording silent runs of one source."""
    runs = 1000

    def crawler(_: int) -> list[int]:
        seen = open_seen_store(settings)  # its own connection, in its own thread
        try:
            return [seen.record_run("s", 0) for _ in range(runs)]
        finally:
            seen.close()

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads interleave between any two statements
    try:
        with ThreadPoolExecutor(2) as pool:
            counts = [count for result in pool.map(crawler, range(2)) for count in result]
    finally:
        sys.setswitchinterval(previous)
    assert sorted(counts) == list(range(1, 2 * runs + 1))  # each run counted once, none lost


def test_the_first_note_is_kept(settings):
    seen = open_seen_store(settings)
    assert seen.note("s", "time:1") is None
    assert seen.first_note("s", "time:1", "2026-12-01T08:00") == "2026-12-01T08:00"
    assert seen.first_note("s", "time:1", "2026-12-01") == "2026-12-01T08:00"
    assert seen.note("s", "time:1") == "2026-12-01T08:00"
    assert seen.note("other-source", "time:1") is None
    seen.close()


def test_two_crawlers_share_what_they_have_seen(settings):
    first, second = open_seen_store(settings), open_seen_store(settings)
    first.mark_fetched("s", "http://x.cn/a.html", now=1000.0)
    first.mark_published("s", "news:1", "a", "text-a", now=1000.0)
    assert not second.should_fetch("s", "http://x.cn/a.html")
    assert second.is_new_content("s", "news:1", "a") == (False, False)
    first.close()
    second.close()
    assert not open_seen_store(settings).should_fetch("s", "http://x.cn/a.html")  # and after a restart


def test_burst_memory_keeps_what_was_saved_and_replaces_it_whole(settings):
    memory = open_burst_memory(settings)
    assert list(memory.load()) == []
    records = [("place", "牡丹区", {"label": "牡丹区", "buckets": {}, "recent": []}),
               ("keyword", "拖欠工资", {"label": "拖欠工资", "buckets": {"100": [3, 1], "99": [1, 0]},
                                        "recent": [[100, "weibo:1"]]})]
    memory.save(records)
    assert list(open_burst_memory(settings).load()) == records  # in the order saved
    memory.save(records[1:])
    assert list(open_burst_memory(settings).load()) == records[1:]


def test_burst_counts_survive_a_restart(settings):
    tracker = BurstTracker([WAGES], memory=open_burst_memory(settings))
    quiet_then_burst(tracker, burst=10)
    before = tracker.signals(NOW)
    tracker.close()
    restored = BurstTracker([WAGES], memory=open_burst_memory(settings))
    assert [s.model_dump(exclude={"computed_at"}) for s in restored.signals(NOW)] == [
        s.model_dump(exclude={"computed_at"}) for s in before
    ]
    quiet_then_burst(restored, burst=10)  # the same posts again after the restart: not counted twice
    assert by_subject(restored.signals(NOW))[("keyword", "拖欠工资")].count == 10


# -- PostgreSQL only -----------------------------------------------------------------------------


def _state_environment(monkeypatch, database: PostgresSettings, tmp_path) -> None:
    assert database.password is not None
    monkeypatch.setenv("YUQING_STATE", "postgres")
    monkeypatch.setenv("YUQING_POSTGRES__URL", database.url)
    monkeypatch.setenv("YUQING_POSTGRES__PASSWORD", database.password.get_secret_value())
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("YUQING_CONFIG", raising=False)


def test_state_setup_applies_each_migration_once(postgres_settings, monkeypatch, tmp_path, capsys):
    _state_environment(monkeypatch, postgres_settings, tmp_path)
    assert main(["state", "setup"]) == 0
    first = capsys.readouterr().out
    assert all(f"{m.version:04d} {m.name}: applied" in first for m in postgres.migrations())
    assert main(["state", "setup"]) == 0  # idempotent: nothing applied the second time
    second = capsys.readouterr().out
    assert "applied" not in second and "up to date" in second
    assert postgres_settings.password.get_secret_value() not in first + second
    # what the settings chose is what the stages open
    settings = load_settings(None)
    assert isinstance(open_seen_store(settings), PostgresSeenStore)


def test_a_store_on_a_database_never_set_up_says_to_run_state_setup(postgres_settings, monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="yuqing state setup"):
        PostgresSeenStore(postgres_settings)
    _state_environment(monkeypatch, postgres_settings, tmp_path)
    # as the crawl opens it, through the settings
    with pytest.raises(ConfigError, match="migration 0001 is missing"):
        open_seen_store(load_settings(None))


def test_a_wrong_password_is_reported_without_the_password(postgres_settings):
    wrong = postgres_settings.model_copy(update={"password": SecretStr("not-the-password-42")})
    with pytest.raises(BackendUnavailable) as error:
        postgres.setup(wrong)
    assert "not-the-password-42" not in str(error.value)
    assert "password authentication failed" in str(error.value)


def test_the_password_comes_from_the_environment_only_and_is_never_shown(monkeypatch):
    for url in ("postgresql://yuqing:pw-in-url-42@db:5432/yuqing", "host=db dbname=yuqing password=pw-in-url-42"):
        with pytest.raises(ConfigError, match="YUQING_POSTGRES__PASSWORD") as error:
            load_settings(None, postgres={"url": url})
        assert "pw-in-url-42" not in error.value.message  # the refused URL is shown with its password masked
        assert "db" in error.value.message
    with pytest.raises(ConfigError) as error:
        load_settings(None, postgres={"password": ["pw-in-a-list-42"]})  # not a string: refused, not echoed
    assert "postgres.password" in error.value.message and "pw-in-a-list-42" not in error.value.message
    monkeypatch.setenv("YUQING_STATE", "postgres")
    monkeypatch.setenv("YUQING_POSTGRES__PASSWORD", "s3cret-from-env")
    settings = load_settings(None)
    assert settings.state == "postgres"
    assert settings.postgres.password is not None
    assert settings.postgres.password.get_secret_value() == "s3cret-from-env"
    assert "s3cret-from-env" not in repr(settings) + str(settings.masked())


# -- the alert worker's memory: the embedded alert store and the PostgreSQL state alike -----------------


@pytest.fixture(params=["embedded", "postgres"])
def worker_memory(request, tmp_path):
    if request.param == "embedded":
        from alerts.store import SqliteAlertStore

        store = SqliteAlertStore(tmp_path / "alerts.sqlite3")
        yield store
        store.close()
        return
    from alerts.postgres_store import PostgresAlertStore

    database = request.getfixturevalue("postgres_settings")
    postgres.setup(database)
    store = PostgresAlertStore(database)
    yield store
    store.close()


def test_worker_memory_is_replaced_whole_with_its_offsets(worker_memory):
    from alerts.store import WorkerMemory

    assert worker_memory.load_memory("log-a") == WorkerMemory(log="log-a", bursts=[])
    bursts = [("place", "牡丹区", {"label": "牡丹区", "buckets": {"7": [1, 0]}, "recent": []}),
              ("keyword", "拖欠工资", {"label": "拖欠工资", "buckets": {}, "recent": [[7, "weibo:1"]]})]
    worker_memory.save_memory(WorkerMemory({"rule-a": '{"window": [1, 2]}', "rule-b": "{}"}, bursts,
                                           {("posts", 0): 10, ("posts", 1): 4}, "log-a"))
    saved = worker_memory.load_memory("log-a")
    assert saved.rules == {"rule-a": '{"window": [1, 2]}', "rule-b": "{}"}
    assert list(saved.bursts) == bursts  # in the order saved: the tracker reports signals in it
    assert saved.offsets == {("posts", 0): 10, ("posts", 1): 4}
    # the next checkpoint: rules and bursts replaced whole, offsets advanced and never moved back
    worker_memory.save_memory(WorkerMemory({"rule-b": '{"n": 1}'}, bursts[1:], {("posts", 0): 12, ("posts", 1): 3},
                                           "log-a"))
    saved = worker_memory.load_memory("log-a")
    assert saved.rules == {"rule-b": '{"n": 1}'}
    assert list(saved.bursts) == bursts[1:]
    assert saved.offsets == {("posts", 0): 12, ("posts", 1): 4}
    assert worker_memory.load_memory("another-log").offsets == {}  # offsets are of one log
    worker_memory.save_memory(WorkerMemory({}, [], {("posts", 0): 1}, "another-log"))  # a new log starts again
    assert worker_memory.load_memory("another-log").offsets == {("posts", 0): 1}
    assert worker_memory.load_memory("log-a").offsets == {} and worker_memory.load_memory("log-a").rules == {}



def test_worker_memory_saves_only_the_burst_subjects_that_changed(worker_memory):
    """A checkpoint with `forgotten` updates the subjects it names in place, adds new ones after the others and
    deletes the forgotten: the saved order (the order signals are reported in) stays that of the tracker."""
    from alerts.store import WorkerMemory

    def subject(sid: str, posts: int) -> tuple[str, str, dict]:
        return ("event", sid, {"label": sid, "buckets": {"7": [posts, 0]}, "recent": []})

    worker_memory.save_memory(WorkerMemory({}, [subject("a", 1), subject("b", 1), subject("c", 1)], {}, "log-a"))
    worker_memory.save_memory(WorkerMemory({}, [subject("b", 2), subject("d", 1), subject("a", 5)], {}, "log-a",
                                           forgotten=[("event", "c")]))
    assert list(worker_memory.load_memory("log-a").bursts) == [subject("a", 5), subject("b", 2), subject("d", 1)]
    worker_memory.save_memory(WorkerMemory({}, [subject("c", 1)], {}, "log-a", forgotten=[("event", "a")]))
    assert list(worker_memory.load_memory("log-a").bursts) == [subject("b", 2), subject("d", 1), subject("c", 1)]
    worker_memory.save_memory(WorkerMemory({}, [subject("e", 1)], {}, "log-a"))  # no `forgotten`: replaced whole
    assert list(worker_memory.load_memory("log-a").bursts) == [subject("e", 1)]

def test_an_unreachable_database_is_one_line_and_exit_code_1(monkeypatch, tmp_path, capsys):
    from tests.kafka_broker import free_port

    closed = PostgresSettings(url=f"postgresql://yuqing@127.0.0.1:{free_port()}/yuqing",
                              password=SecretStr("s3cret-unreachable"), connect_timeout=2)
    _state_environment(monkeypatch, closed, tmp_path)
    assert main(["state", "setup"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("服务不可用 (backend unavailable): PostgreSQL 127.0.0.1:")
    assert "\n" not in error and "Traceback" not in error and "s3cret-unreachable" not in error


def test_the_settings_choose_the_alert_store_and_a_read_only_view_cannot_write(settings):
    from alerts.service import open_alert_store
    from alerts.store import Change, StoreError
    from alerts.testing import T0
    from yuqing.schema import Alert, AlertLevel, AlertStatus

    alert = Alert(id="A-1", group_key="policy:P-heat", rule="负面上升", rule_type="negative_surge", level=AlertLevel.LARGE,
                  status=AlertStatus.FIRED, title="供暖", fired_at=T0, updated_at=T0)
    store = open_alert_store(settings)
    store.insert(alert, Change("yuqing", "fired"), T0)
    view = open_alert_store(settings, read_only=True)
    assert type(view) is type(store) and [a.id for a in view.alerts()] == ["A-1"]  # the same store
    with pytest.raises(StoreError):
        view.update(alert.model_copy(update={"status": AlertStatus.CLOSED}), 1, Change("王科长", "close"), T0)
    assert store.get("A-1").version == 1
    view.close()
    store.close()


def test_the_analyzers_memory_keeps_events_fingerprints_and_policies(settings, tmp_path):
    from collections import Counter
    from datetime import datetime, timedelta

    from analysis.events import EventState, Fingerprint, fingerprint_keys
    from stores.state import open_analysis_state
    from yuqing.schema import SHANGHAI, Policy

    at = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)
    event = EventState("evt-1", at, at + timedelta(hours=2), Counter({"漏水": 2.0}), size=2, reprints=1,
                       platforms=Counter({"news": 1, "weibo": 1}), first_post="news:1")
    high = (1 << 64) - 5  # a fingerprint above the signed 64-bit range
    stored = Fingerprint("news:1", high, at, "news:1", "evt-1", lead=1 << 63)
    copy = Fingerprint("weibo:2", high ^ 1, at + timedelta(hours=2), "news:1", "evt-1")
    posts = [("news:1", at, "evt-1", None, stored, "https://news.example.cn/1"),
             ("weibo:2", at + timedelta(hours=2), "evt-1", "news:1", copy, "https://weibo.example.cn/2")]
    memory = open_analysis_state(settings, tmp_path / "analysis.sqlite3")
    memory.save([event], posts, [Policy(id="P-heat", title="城区供暖管理办法")])
    memory.close()

    standby = open_analysis_state(settings, tmp_path / "analysis.sqlite3")  # a restart, or a standby taking over
    assert standby.newest() == event.last_seen
    [restored] = standby.latest_events(10)
    assert restored.to_json() == event.to_json() == standby.event("evt-1").to_json()
    # Read back by id, by a shared key (the value's or the first paragraph's), as an original's copies.
    assert standby.fingerprint("news:1") == stored and standby.fingerprint("weibo:9") is None
    top_blocks = fingerprint_keys(high)[-1]  # the copy differs in bit 0 only
    by_id = sorted(standby.fingerprints_keyed([top_blocks], []), key=lambda fp: fp.post_id)
    assert by_id == [stored, copy]
    assert standby.fingerprints_keyed([], [fingerprint_keys(1 << 63)[-1]]) == [stored]
    assert standby.fingerprints_keyed([fingerprint_keys(high ^ 1)[0]], [fingerprint_keys(0)[-1]]) == [copy]
    assert standby.copies_of("news:1") == [copy]
    # A thread's event: by the post's id, or the first post saved on its page, while in the window.
    assert standby.thread("news:1", at) == ("evt-1", at)
    assert standby.thread("https://weibo.example.cn/2", at) == ("evt-1", at + timedelta(hours=2))
    assert standby.thread("https://weibo.example.cn/2", at + timedelta(hours=3)) is None
    # The same of a batch's posts and threads, a few reads for all: a post's own row decides alone.
    keys = ["news:1", "https://weibo.example.cn/2", "https://weibo.example.cn/9", "weibo:9"]
    assert standby.threads(keys, at) == {"news:1": ("evt-1", at), keys[1]: ("evt-1", at + timedelta(hours=2))}
    assert standby.threads(keys, at + timedelta(hours=1)) == {keys[1]: ("evt-1", at + timedelta(hours=2))}
    assert standby.threads(keys, at + timedelta(hours=3)) == {} and standby.threads([], None) == {}
    assert standby.fingerprints_of(["news:1", "weibo:2", "weibo:9"]) == {"news:1": stored, "weibo:2": copy}
    assert standby.fingerprints_of([]) == {}
    assert standby.assigned("weibo:2") == ("evt-1", "news:1", at + timedelta(hours=2))
    assert standby.assigned("weibo:3") is None
    # A batch's posts in one read: those analysed before, none for a post never seen.
    assert standby.assigned_many(["weibo:2", "weibo:3", "news:1"]) == {
        "weibo:2": ("evt-1", "news:1", at + timedelta(hours=2)), "news:1": ("evt-1", None, at)}
    assert standby.assigned_many([]) == {}
    assert [p.id for p in standby.policies()] == ["P-heat"]
    moved = event.to_json() | {"size": 3}
    standby.save([EventState.from_json(moved)], [], [])  # a changed event replaces the one stored
    assert standby.event("evt-1").size == 3
    standby.forget_before(at + timedelta(days=5))
    assert standby.assigned("news:1") is None and standby.fingerprint("news:1") is None
    assert standby.latest_events(10) == [] and standby.event("evt-1") is None
    standby.close()


def _within_3_bits(value: int, rng) -> int:
    """`value` with 0 to 3 of its 64 bits flipped."""
    for bit in rng.sample(range(64), rng.randint(0, 3)):
        value ^= 1 << bit
    return value


def test_every_fingerprint_within_3_bits_of_a_post_is_found_by_its_keys(settings, tmp_path):
    import random
    from datetime import datetime

    from analysis.events import Fingerprint, fingerprint_keys
    from stores.state import open_analysis_state
    from yuqing.schema import SHANGHAI

    rng = random.Random(3)
    at = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)
    stored = [Fingerprint(f"news:{n}", rng.getrandbits(64), at, f"news:{n}", "evt-1",
                          lead=rng.getrandbits(64) if n % 2 else None) for n in range(150)]
    memory = open_analysis_state(settings, tmp_path / "analysis.sqlite3")
    memory.save([], [(fp.post_id, at, "evt-1", None, fp, None) for fp in stored], [])
    for fp in stored:  # half the values at or above 2**63: stored as negative numbers, keyed as the analyzer keys them
        near = fingerprint_keys(_within_3_bits(fp.value, rng))
        assert fp in memory.fingerprints_keyed(near, [])
        if fp.lead is not None:
            assert fp in memory.fingerprints_keyed([], fingerprint_keys(_within_3_bits(fp.lead, rng)))
    assert memory.fingerprints_keyed([], []) == []
    memory.close()


def test_key_lookups_read_indexes_not_the_whole_table(postgres_settings, tmp_path):
    """The keys' SQL (stores.analysis_state.key_of) is what migration 0009's indexes were made of: a week's lookups
    must not scan every stored post."""
    import psycopg

    from analysis.events import fingerprint_keys
    from stores.analysis_state import PostgresAnalysisState, _by_pair, _keyed
    from stores.state import open_analysis_state

    postgres.setup(postgres_settings)
    settings = load_settings(None, data_dir=tmp_path, state="postgres", postgres=postgres_settings)
    open_analysis_state(settings, tmp_path / "analysis.sqlite3").close()
    asked = _by_pair(fingerprint_keys(0xDEAD_BEEF_0123_4567)) * 2  # of the values and of the first paragraphs
    where = _keyed(PostgresAnalysisState.ANY_OF)
    password = settings.postgres.password.get_secret_value() if settings.postgres.password else None
    with psycopg.connect(settings.postgres.url, password=password) as conn:
        conn.execute("SET enable_seqscan = off")  # on an empty table the planner would rather scan it
        plan = [line for line, in conn.execute(f"EXPLAIN SELECT id FROM analysis_posts WHERE {where}".encode(), asked)]
    used = {index for index in (line.split(" on ")[-1].split()[0] for line in plan if "Index Scan on" in line)}
    assert not any("Seq Scan" in line for line in plan), plan
    assert used == {f"analysis_posts_{column}_key{pair}" for column in ("fingerprint", "lead") for pair in range(10)}


def test_embedded_key_lookups_read_the_rows_found_not_the_whole_table(tmp_path):
    """The SQLite file's keys are held in memory (stores.fingerprint_map), read from the table once: the lookups
    after it read the rows they find by row id."""
    from datetime import datetime

    from analysis.events import Fingerprint, fingerprint_keys
    from stores.analysis_state import AnalysisStateStore
    from tests.sqlite_plans import full_scans, plans_of
    from yuqing.schema import SHANGHAI

    at = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)
    stored = Fingerprint("news:1", 0xDEAD_BEEF_0123_4567, at, "news:1", "evt-1", lead=5)
    memory = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    memory.save([], [(stored.post_id, at, "evt-1", None, stored, None)], [])
    assert memory.fingerprints_keyed(fingerprint_keys(stored.value), []) == [stored]  # the map is read here
    plans = plans_of(memory.db, lambda: memory.fingerprints_keyed(fingerprint_keys(stored.value ^ 1),
                                                                   fingerprint_keys(4)))
    assert not full_scans(plans, "posts"), plans
    memory.close()


def test_embedded_copies_are_read_through_an_index_of_copies_only(tmp_path):
    """An original's `original` is itself: the index `copies_of` reads through holds the copies alone, and state
    written with the index of every post's original opens without it."""
    import sqlite3
    from datetime import datetime, timedelta

    from analysis.events import Fingerprint
    from stores.analysis_state import SCHEMA, AnalysisStateStore
    from tests.sqlite_plans import full_scans, plans_of
    from yuqing.schema import SHANGHAI

    old = sqlite3.connect(tmp_path / "analysis.sqlite3")
    old.executescript(SCHEMA + "CREATE INDEX posts_original ON posts (original) WHERE original IS NOT NULL;")
    old.close()
    at = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)
    original = Fingerprint("news:1", 5, at, "news:1", "evt-1")
    copies = [Fingerprint(f"weibo:{n}", 5 ^ n, at + timedelta(hours=n), "news:1", "evt-1") for n in (2, 3)]
    memory = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    memory.save([], [(fp.post_id, fp.when, "evt-1", None, fp, None) for fp in (original, *copies)], [])
    plans = plans_of(memory.db, lambda: memory.copies_of("news:1"))
    assert not full_scans(plans, "posts"), plans
    assert sorted(memory.copies_of("news:1"), key=lambda fp: fp.post_id) == copies
    assert memory.copies_of("weibo:2") == []
    indexed = dict(memory.db.execute("SELECT name, (SELECT count(*) FROM posts INDEXED BY posts_copies"
                                     " WHERE original != id) FROM sqlite_master WHERE type = 'index'"))
    assert "posts_original" not in indexed and indexed["posts_copies"] == 2
    memory.close()


def test_the_analysis_state_counts_its_saves_and_names_the_last_writer(settings, tmp_path):
    import os
    import socket

    from stores.state import open_analysis_state

    active = open_analysis_state(settings, tmp_path / "analysis.sqlite3")
    standby = open_analysis_state(settings, tmp_path / "analysis.sqlite3")
    assert standby.saves() == 0
    assert active.save([], [], []) == 1 and active.save([], [], []) == 2
    assert standby.saves() == 2  # another count than the standby last saw: it reads the state again
    assert standby.last_writer() == (socket.gethostname(), os.getpid())
    active.close()
    standby.close()


def test_a_standby_events_worker_takes_over_from_the_shared_state(settings, tmp_path):
    from tests.test_analysis_events import post
    from workers.build import analyzer_from_settings

    incident = "牡丹区何楼街道幸福小区拆迁户第{}次集体上访维权，补偿款至今未到位"
    standby = analyzer_from_settings(settings, tmp_path / "analysis.sqlite3")
    active = analyzer_from_settings(settings, tmp_path / "analysis.sqlite3")
    first = [active.enrich(post(n, n, incident.format(n))) for n in range(3)]
    active.changed_events()  # saved as after each batch; then killed
    standby.catch_up()
    later = standby.enrich(post(7, 7, incident.format(7)))
    assert later.event_id == first[0].event_id is not None
    standby.close()


# -- the console's accounts ----------------------------------------------------------------------------


@pytest.fixture
def accounts(settings):
    from console.accounts import open_accounts
    from tests.console_data import cheap_hashing

    with cheap_hashing():
        store = open_accounts(settings)
        yield store
        store.close()


def test_accounts_log_in_lock_out_and_keep_an_account_log(accounts):
    from datetime import UTC, datetime, timedelta

    from console.accounts import LOCK_WINDOW, MAX_FAILURES_PER_ACCOUNT, AccountError, LoginRefused, Role

    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    accounts.add("王科长", Role.OFFICER, "口令足够长的密码abc", actor="admin", now=now)
    with pytest.raises(AccountError, match="已存在"):
        accounts.add("王科长", Role.LEADER, "另一个足够长的密码0123", actor="admin", now=now)
    assert [(u.name, u.role, u.disabled) for u in accounts.users()] == [("王科长", Role.OFFICER, False)]
    assert accounts.authenticate("王科长", "口令足够长的密码abc", "10.0.0.1", now=now).role == Role.OFFICER
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(LoginRefused, match="用户名或密码错误"):
            accounts.authenticate("王科长", "wrong-password", "10.0.0.2", now=now)
    with pytest.raises(LoginRefused, match="次数过多"):  # locked: even the right password is refused
        accounts.authenticate("王科长", "口令足够长的密码abc", "10.0.0.1", now=now)
    later = now + LOCK_WINDOW + timedelta(seconds=1)
    assert accounts.authenticate("王科长", "口令足够长的密码abc", "10.0.0.1", now=later).name == "王科长"
    accounts.set_disabled("王科长", True, actor="admin", now=later)
    with pytest.raises(LoginRefused, match="停用"):
        accounts.authenticate("王科长", "口令足够长的密码abc", "10.0.0.1", now=later)
    assert accounts.get("王科长").disabled
    assert [entry["action"] for entry in accounts.history()] == ["disable", "add"]


def test_sessions_are_shared_by_every_console_and_end_with_a_new_password(accounts, settings):
    from datetime import UTC, datetime, timedelta

    from console.accounts import SESSION_LIFETIME, Role, open_accounts

    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    user = accounts.add("李强", Role.ANALYST, "口令足够长的密码abc", actor="admin", now=now)
    token, session = accounts.start_session(user, now=now)
    other_console = open_accounts(settings)  # another replica behind the same address
    try:
        seen = other_console.session(token, now=now + timedelta(hours=1))
        assert seen is not None and seen.user.name == "李强" and seen.csrf_token == session.csrf_token
        assert other_console.session("forged-token", now=now) is None
        assert other_console.session(token, now=now + SESSION_LIFETIME + timedelta(seconds=1)) is None  # expired
        second, _ = other_console.start_session(user, now=now)
        other_console.end_session(second)  # logged out on one console: out on all
        assert accounts.session(second, now=now) is None
        accounts.set_password("李强", "新的足够长的密码xyz", actor="admin", now=now)
        assert other_console.session(token, now=now) is None  # whoever knew the old password is logged out
    finally:
        other_console.close()


def test_with_state_postgres_no_store_keeps_a_file_on_this_machine(settings, tmp_path):
    """What a standby on another machine could not see: with `state: postgres` every store is in the database."""
    from alerts.service import open_alert_store
    from console.accounts import open_accounts
    from stores.state import open_analysis_state
    from tests.console_data import cheap_hashing

    with cheap_hashing():
        stores = [open_seen_store(settings), open_alert_store(settings), open_accounts(settings),
                  open_analysis_state(settings, settings.path("analysis.sqlite3"))]
    open_burst_memory(settings).save([("keyword", "拖欠工资", {"label": "拖欠工资", "buckets": {}, "recent": []})])
    for store in stores:
        store.close()
    files = sorted(path.name for path in settings.data_dir.rglob("*") if path.is_file())
    if settings.state == "postgres":
        assert files == []
    else:
        assert {"crawl-seen.sqlite3", "alerts.sqlite3", "console.sqlite3", "analysis.sqlite3",
                "bursts.sqlite3"} <= set(files)
