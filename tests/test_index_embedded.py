"""The embedded index (SQLite FTS5): the shared behaviour suite, plus what only SQLite has."""

import json
import sqlite3
from datetime import timedelta

import pytest

from search.base import SearchQuery
from search.sqlite_fts import SqliteIndex
from tests.index_suite import CORPUS, SEED, T0, IndexSuite, expected
from tests.sqlite_plans import full_scans, plans_of
from yuqing.schema import Event, ReprintLink


@pytest.fixture
def empty_index(tmp_path):
    ix = SqliteIndex(tmp_path / "index.sqlite3")
    yield ix
    ix.close()


class TestSqliteIndex(IndexSuite):
    """The shared checks against SQLite (`empty_index` above)."""


def test_an_index_of_the_previous_layout_is_rebuilt_on_open(tmp_path):
    """Indexes written before the bigram layout kept each post's JSON in `posts.doc`; opening one
    indexes those posts again, so nothing is lost and the old words-only table is gone."""
    path = tmp_path / "index.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE posts (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, platform TEXT NOT NULL,
            source TEXT NOT NULL, sentiment TEXT, event_id TEXT, ts REAL NOT NULL, doc TEXT NOT NULL);
        CREATE VIRTUAL TABLE posts_fts USING fts5 (body, tokenize = 'unicode61');
        CREATE TABLE events (id TEXT PRIMARY KEY, last_seen REAL NOT NULL, merged INTEGER NOT NULL, doc TEXT NOT NULL);
    """)
    old.executemany("INSERT INTO posts (id, platform, source, ts, doc) VALUES (?, ?, ?, ?, ?)",
                    [(p.id, p.platform.value, p.source, p.when.timestamp(), p.model_dump_json()) for p in SEED])
    old.commit()
    old.close()
    with SqliteIndex(path) as ix:
        assert ix.count(SearchQuery(text="老旧小区")) == 2
        assert ix.get(SEED[2].id) == SEED[2]
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert "posts_fts" not in tables


def test_documents_leave_out_their_defaults_and_read_back_as_written(empty_index):
    """A document keeps the fields that differ from their defaults (nulls, zeros and empty lists are most of the
    rest); it reads back as the post written, a masked text left empty beside a text included (it is no copy of
    the text). Documents of the earlier form, with every field, read back alike, and a re-link edits both."""
    unmasked = SEED[1].model_copy(update={"masked_text": ""})
    empty_index.upsert([SEED[0], unmasked])
    stored = {json.loads(doc)["id"]: json.loads(doc) for (doc,) in empty_index._conn.execute("SELECT doc FROM docs")}
    assert "reply_to" not in stored[SEED[0].id] and "metrics" not in stored[SEED[0].id]
    assert "masked_text" not in stored[SEED[0].id] and stored[unmasked.id]["masked_text"] == ""
    assert empty_index.get(SEED[0].id) == SEED[0] and empty_index.get(unmasked.id) == unmasked
    assert empty_index._conn.execute("SELECT DISTINCT typeof(doc) FROM docs").fetchall() == [("text",)]
    empty_index._conn.execute("UPDATE docs SET doc = ? WHERE doc LIKE ?",
                              (SEED[0].model_dump_json(exclude=SEED[0].text_copy()), f'%"{SEED[0].id}"%'))
    empty_index.relink([ReprintLink(post_id=SEED[0].id, reprint_of=unmasked.id),
                        ReprintLink(post_id=unmasked.id, reprint_of=SEED[0].id)])
    assert empty_index.get(SEED[0].id).reprint_of == unmasked.id
    assert empty_index.get(unmasked.id).extra == {"转载自": SEED[0].id}
    assert empty_index.get(unmasked.id).model_copy(update={"reprint_of": None, "extra": {}}) == unmasked


def test_aggregates_stay_exact_when_posts_are_replaced(empty_index):
    """Re-indexing a post moves its counts (time, sentiment, tags) instead of adding them twice."""
    empty_index.upsert(CORPUS)
    moved = [p.model_copy(update={"published_at": CORPUS[0].when, "places": ["郓城县"], "sentiment": None})
             for p in CORPUS[:40]]
    empty_index.upsert(moved)
    everything = empty_index.facets(SearchQuery(), ["places", "sentiments"], size=100)
    assert everything.total == len(CORPUS)
    assert {v.value: v.count for v in everything.values["places"]}["郓城县"] == 40
    rows = empty_index._conn.execute("SELECT count(*) FROM agg WHERE n <= 0").fetchone()[0]
    assert rows == 0
    assert json.loads(empty_index._conn.execute("SELECT doc FROM docs LIMIT 1").fetchone()[0])["id"]
    assert empty_index.count(SearchQuery(places=["郓城县"])) == 40
    assert len(expected(SearchQuery())) == len(CORPUS)


def test_prune_works_in_chunks_and_reports_its_progress(empty_index, monkeypatch):
    monkeypatch.setattr("search.sqlite_fts.PRUNE_CHUNK", 50)
    empty_index.upsert(CORPUS)
    cut = max(p.when for p in CORPUS) + timedelta(seconds=1)
    heard = []
    assert empty_index.prune(cut, heard.append) == len(CORPUS)
    assert heard == [50, 100, 150, 200, 240]
    assert empty_index.count(SearchQuery()) == 0
    assert empty_index.facets(SearchQuery(), ["places", "keywords"]).values == {"places": [], "keywords": []}


def test_the_tag_cache_stays_bounded_while_new_events_and_keywords_keep_coming(empty_index, monkeypatch):
    """Every event and keyword is a tag; a process that indexes for months must not keep every tag id it
    ever wrote. Past the bound the cache starts afresh, and the facets read back from the tags table."""
    monkeypatch.setattr("search.sqlite_fts.TAG_CACHE", 50)
    for start in range(0, len(CORPUS), 20):  # a batch per "day", each with events and keywords of its own
        empty_index.upsert(p.model_copy(update={"event_id": f"e{p.id}", "keywords": [f"k{p.id}", "小区"]})
                           for p in CORPUS[start:start + 20])
        assert len(empty_index._tids) <= 50
        assert len(empty_index._tag_of) <= 50
    keywords = empty_index.facets(SearchQuery(), ["keywords"], size=3).values["keywords"]
    assert keywords[0].value == "小区" and keywords[0].count == len(CORPUS)
    assert empty_index.count(SearchQuery(events=[f"e{CORPUS[7].id}"])) == 1


def test_writes_inside_writing_are_committed_together_or_not_at_all(tmp_path):
    """The index stage writes a batch's posts, re-links and events inside `writing`: another connection sees
    none of them until the end, and a failure part-way leaves nothing of the batch behind."""
    path = tmp_path / "index.sqlite3"
    with SqliteIndex(path) as index, SqliteIndex(path) as reader:
        with index.writing():
            index.upsert(CORPUS[:10])
            index.upsert_events([Event(id="ev-a", label="改造", first_seen=CORPUS[0].when, last_seen=CORPUS[0].when)])
            assert reader.count(SearchQuery()) == 0 and reader.event_count() == 0
        assert reader.count(SearchQuery()) == 10 and reader.event_count() == 1
        with pytest.raises(RuntimeError), index.writing():
            index.upsert(CORPUS[10:20])
            raise RuntimeError("the events could not be written")
        assert reader.count(SearchQuery()) == index.count(SearchQuery()) == 10
        assert reader.get(CORPUS[15].id) is None
        index.upsert(CORPUS[10:20])  # the batch again, as the worker redelivers it
        assert reader.count(SearchQuery()) == 20


def test_merges_that_come_back_round_end_at_the_last_event_before_the_loop(empty_index):
    """Merges recorded out of order can form a loop (ev-a into ev-b, later ev-b into ev-a): following them stops
    where the next event was met already, so a post of ev-a goes to ev-b and one of ev-c (merged into ev-a) to ev-b."""
    def event(event_id, merged_into):
        return Event(id=event_id, label="停工", first_seen=SEED[0].when, last_seen=SEED[0].when, size=1,
                     merged_into=merged_into)

    empty_index.upsert_events([event("ev-a", "ev-b"), event("ev-b", "ev-a"), event("ev-c", "ev-a")])
    empty_index.upsert([SEED[0].model_copy(update={"event_id": "ev-a"}), SEED[1].model_copy(update={"event_id": "ev-c"})])
    assert {empty_index.get(SEED[0].id).event_id, empty_index.get(SEED[1].id).event_id} == {"ev-b"}


def test_the_live_events_and_their_count_are_read_without_a_look_at_every_event_ever_indexed(empty_index):
    """A month of a city's events is hundreds of thousands, most merged away or long quiet: `yuqing status` counts
    the live ones and the console lists those seen last through an index, not by reading every event's row."""
    empty_index.upsert_events([Event(id=f"ev-{n}", label="停工", first_seen=T0, last_seen=T0 + timedelta(minutes=n),
                                     size=1, merged_into="ev-0" if n % 3 else None) for n in range(30)])
    plans = plans_of(empty_index._conn, lambda: (empty_index.event_count(), empty_index.events(since=T0, limit=5)))
    assert len(plans) == 2 and not full_scans(plans, "events"), plans
    assert all(any("live_events" in step for step in steps) for steps in plans.values()), plans
