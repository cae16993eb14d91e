"""The embedded index (SQLite FTS5): the shared behaviour suite, plus what only SQLite has."""

import itertools
import json
import random
import re
import sqlite3
import zlib
from collections import Counter
from datetime import timedelta

import pytest

from search import sqlite_fts
from search.base import SearchBackendError, SearchQuery, reach
from search.sqlite_fts import SqliteIndex
from tests.index_suite import CORPUS, END, FACET_QUERIES, QUERIES, SEED, T0, IndexSuite, expected
from tests.sqlite_plans import full_scans, plans_of, steps_of
from yuqing.schema import Author, EnrichedPost, Event, Metrics, PolicyLink, ReprintLink, Sentiment


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
    stored = {json.loads(doc)["id"]: json.loads(doc) for doc in empty_index.stored_documents()}
    assert "reply_to" not in stored[SEED[0].id] and "metrics" not in stored[SEED[0].id]
    assert "masked_text" not in stored[SEED[0].id] and stored[unmasked.id]["masked_text"] == ""
    assert empty_index.get(SEED[0].id) == SEED[0] and empty_index.get(unmasked.id) == unmasked
    every_field = SEED[0].model_dump_json(exclude=SEED[0].text_copy()).encode()
    empty_index._conn.execute("UPDATE docs SET doc = ? WHERE rid = (SELECT rid FROM posts WHERE id = ?)",
                              (_deflated(empty_index, every_field), SEED[0].id))
    empty_index.relink([ReprintLink(post_id=SEED[0].id, reprint_of=unmasked.id),
                        ReprintLink(post_id=unmasked.id, reprint_of=SEED[0].id)])
    assert empty_index.get(SEED[0].id).reprint_of == unmasked.id
    assert empty_index.get(unmasked.id).extra == {"转载自": SEED[0].id}
    assert empty_index.get(unmasked.id).model_copy(update={"reprint_of": None, "extra": {}}) == unmasked


def test_documents_leave_out_what_excluding_defaults_would(empty_index):
    """The fields a document leaves out are found without making each default anew (pydantic's `exclude_defaults`
    makes an author, metrics and the time now for each post): on posts whose author, metrics, sentiment, policies,
    lists, flags and text copy are at their defaults or not, the same JSON as `exclude_defaults`."""
    variants = itertools.product(
        [Author(), Author(name="x"), Author(name="x", followers=0, verified=True), Author(id="7", verified_reason="")],
        [Metrics(), Metrics(likes=3), Metrics(reposts=0, views=9)],
        [None, Sentiment(score=0.5, label="neutral"), Sentiment(score=0.0, label="negative", probability=0.0)],
        [[], [PolicyLink(id="hz-1", score=0.0)]],
        [{}, {"k": None}],
        [(None, False, []), ("", True, ["老旧小区"])])
    for number, (author, metrics, sentiment, policies, extra, (title, inferred, keywords)) in enumerate(variants):
        post = SEED[number % len(SEED)].model_copy(update={
            "author": author, "metrics": metrics, "sentiment": sentiment, "policies": policies, "extra": extra,
            "title": title, "published_year_inferred": inferred, "keywords": keywords,
            "masked_text": SEED[number % len(SEED)].text if number % 3 else "另一个"})
        assert sqlite_fts._document(post) == post.__pydantic_serializer__.to_json(
            post, exclude=post.text_copy(), exclude_defaults=True), post


def test_documents_written_by_orjson_are_the_bytes_pydantic_writes(empty_index):
    """Documents are written by orjson where it writes what pydantic's serializer does, by pydantic's elsewhere: a
    time whose offset has seconds (Shanghai's local mean time), an int beyond 64 bits in `extra`, nested values."""
    from datetime import datetime, timezone

    local_mean_time = timezone(timedelta(hours=8, minutes=5, seconds=43))
    posts = [SEED[0].model_copy(update={"published_at": datetime(1900, 6, 1, 12, tzinfo=local_mean_time)}),
             SEED[1].model_copy(update={"extra": {"big": 1 << 70, "files": [{"title": "附件", "url": None}]}}),
             SEED[2].model_copy(update={"policies": [PolicyLink(id="hz-1", score=0.25)], "metrics": Metrics(likes=2)}),
             SEED[3].model_copy(update={"masked_text": "", "text": "", "title": "标题"})]
    for post in posts:
        assert sqlite_fts._document(post) == post.__pydantic_serializer__.to_json(
            post, exclude=post.text_copy(), exclude_defaults=True), post


def _deflated(index, document):
    """A document's JSON as the index wrote it before Zstandard (layout 3 at first): deflated at level 6 with the
    index's dictionary."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, index._documents.dictionary)
    return packer.compress(document) + packer.flush()


def test_documents_deflated_before_zstandard_still_read_search_relink_and_prune(tmp_path):
    """New documents are Zstandard frames; an index whose documents were deflated by the earlier code reads them
    back as the posts they stand for, finds them, re-links them (written again as frames), indexes them again
    (the full-text row is deleted with the tokens read from the old document) and prunes them."""
    path = tmp_path / "index.sqlite3"
    with SqliteIndex(path) as index:
        index.upsert(CORPUS)
        blobs = [blob for (blob,) in index._conn.execute("SELECT doc FROM docs")]
        assert blobs and all(blob.startswith(sqlite_fts.ZSTD_MAGIC) for blob in blobs)
        index._conn.executemany("UPDATE docs SET doc = ? WHERE rid = (SELECT rid FROM posts WHERE id = ?)",
                                [(_deflated(index, sqlite_fts._document(post)), post.id) for post in CORPUS])
    with SqliteIndex(path) as index:
        assert not any(blob.startswith(sqlite_fts.ZSTD_MAGIC) for (blob,) in index._conn.execute("SELECT doc FROM docs"))
        assert [index.get(post.id) for post in CORPUS] == CORPUS
        query = SearchQuery(text="老旧小区", limit=500)
        assert sorted(p.id for p in index.search(query).hits) == sorted(p.id for p in expected(query))
        first, second = CORPUS[0], CORPUS[1]
        index.relink([ReprintLink(post_id=first.id, reprint_of=second.id)])
        assert index.get(first.id).reprint_of == second.id
        changed = second.model_copy(update={"text": "全新的正文", "masked_text": "全新的正文"})
        index.upsert([changed])
        assert index.get(changed.id) == changed
        assert index.count(SearchQuery(text="全新")) == 1
        rewritten = dict(index._conn.execute(
            "SELECT id, doc FROM docs JOIN posts USING (rid) WHERE id IN (?, ?)", (first.id, second.id)))
        assert all(blob.startswith(sqlite_fts.ZSTD_MAGIC) for blob in rewritten.values())
        assert index.prune(END + timedelta(days=1)) == len(CORPUS)
        assert index.count(SearchQuery()) == 0
        # Each full-text row was deleted with the tokens it was written with: none is left behind.
        index._conn.execute("CREATE VIRTUAL TABLE temp.tokens USING fts5vocab(main, fts, row)")
        assert index._conn.execute("SELECT count(*) FROM temp.tokens").fetchone()[0] == 0


def test_documents_packed_at_the_earlier_zstandard_level_still_read(tmp_path, monkeypatch):
    """Documents are packed at PACK_LEVEL now (no Huffman coding of the text); those packed at level 1 before read
    back as the posts they stand for, and are found, beside new ones."""
    path = tmp_path / "index.sqlite3"
    # The levels pack short or repetitive documents alike: a long text of the corpus's characters in random order.
    characters = sorted({char for post in CORPUS for char in post.text})
    long_text = "".join(random.Random(1).choices(characters, k=600))
    long_post = CORPUS[0].model_copy(update={"id": "weibo:long", "text": long_text, "masked_text": long_text})
    old, new = [long_post, *CORPUS[: len(CORPUS) // 2]], CORPUS[len(CORPUS) // 2:]
    monkeypatch.setattr("search.sqlite_fts.PACK_LEVEL", 1)
    with SqliteIndex(path) as index:
        index.upsert(old)
        packed_at_1 = dict(index._conn.execute("SELECT id, doc FROM docs JOIN posts USING (rid)"))
    monkeypatch.undo()
    with SqliteIndex(path) as index:
        index.upsert(new)
        stored = dict(index._conn.execute("SELECT id, doc FROM docs JOIN posts USING (rid)"))
        assert all(stored[post.id] == packed_at_1[post.id] for post in old)
        assert index._documents.pack(long_post) != packed_at_1[long_post.id]  # the levels differ
        assert [index.get(post.id) for post in [*old, *new]] == [*old, *new]
        query = SearchQuery(text="老旧小区", limit=500)
        assert sorted(p.id for p in index.search(query).hits) == sorted(p.id for p in expected(query))


def test_documents_are_compressed_with_the_dictionary_their_index_was_created_with(tmp_path, monkeypatch):
    """Documents are kept compressed with a preset dictionary of what documents have in common, under half their
    JSON's size for these posts; the dictionary is kept in the index, so an index stays readable by a version of
    Yuqing whose dictionary for new indexes is another."""
    path = tmp_path / "index.sqlite3"
    with SqliteIndex(path) as index:
        index.upsert(CORPUS)
        stored = index._conn.execute("SELECT sum(length(doc)), count(*) FROM docs").fetchone()
        assert index._conn.execute("SELECT DISTINCT typeof(doc) FROM docs").fetchall() == [("blob",)]
        documents = list(index.stored_documents())
    as_json = sum(len(doc) for doc in documents)
    assert stored[1] == len(documents) == len(CORPUS) and stored[0] < as_json / 2
    assert sorted(json.loads(doc)["id"] for doc in documents) == sorted(p.id for p in CORPUS)
    monkeypatch.setattr("search.sqlite_fts._dictionary", lambda: b'{"id":"another dictionary"}')
    with SqliteIndex(path) as index:
        assert [index.get(p.id) for p in CORPUS] == CORPUS
        assert index.count(SearchQuery(text="老旧小区")) == len(expected(SearchQuery(text="老旧小区")))


# The layout of 115f6da and before (user_version 2): row ids made of times, JSON documents.
LAYOUT_2 = """
CREATE TABLE posts (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, reach INTEGER NOT NULL);
CREATE TABLE docs (rid INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE tags (tid INTEGER PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, UNIQUE (kind, value));
CREATE TABLE post_tags (rid INTEGER NOT NULL, tid INTEGER NOT NULL, PRIMARY KEY (rid, tid)) WITHOUT ROWID;
CREATE TABLE agg (kind TEXT NOT NULL, level INTEGER NOT NULL, bucket INTEGER NOT NULL, tid INTEGER NOT NULL,
                  n INTEGER NOT NULL, PRIMARY KEY (kind, level, bucket, tid)) WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5 (body, tags, content = '', tokenize = 'ascii');
CREATE TABLE events (id TEXT PRIMARY KEY, last_seen REAL NOT NULL, merged INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE crawl_health (source TEXT PRIMARY KEY, finished REAL NOT NULL, doc TEXT NOT NULL);
PRAGMA user_version = 2;
"""


def _write_layout_2(path, posts, events):
    """An index as 115f6da wrote it: each post under a row id made of its time, sentiment, platform and a sequence
    number, its JSON document, full-text row, tags and counts; and the events."""
    conn = sqlite3.connect(path)
    conn.executescript(LAYOUT_2)
    tids, counts = {}, Counter()
    for seq, post in enumerate(sorted(posts, key=lambda p: p.when)):
        label = post.sentiment.label.value if post.sentiment else "unknown"
        rid = (int(post.when.timestamp()) << 30 | sqlite_fts.SENTIMENT_CODES[label] << 28
               | sqlite_fts.PLATFORM_CODES[post.platform.value] << 25 | seq)
        tags = sqlite_fts.post_tags(post)
        conn.execute("INSERT INTO posts VALUES (?, ?, ?)", (rid, post.id, reach(post)))
        conn.execute("INSERT INTO docs VALUES (?, ?)", (rid, sqlite_fts._document(post).decode()))
        conn.execute("INSERT INTO fts (rowid, body, tags) VALUES (?, ?, ?)",
                     (rid, sqlite_fts._body_tokens([post])[0], sqlite_fts._fts_tags(tags)))
        for tag in tags:
            tids.setdefault(tag, len(tids) + 1)
            if tag[0] not in ("platform", "sentiment"):
                conn.execute("INSERT INTO post_tags VALUES (?, ?)", (rid, tids[tag]))
            hour = (int(post.when.timestamp()) + 8 * 3600) // 3600
            counts[(tag[0], 0, hour, tids[tag])] += 1
            counts[(tag[0], 1, hour // 24, tids[tag])] += 1
    conn.executemany("INSERT INTO tags VALUES (?, ?, ?)", [(tid, kind, value) for (kind, value), tid in tids.items()])
    conn.executemany("INSERT INTO agg VALUES (?, ?, ?, ?, ?)", [(*key, n) for key, n in counts.items()])
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [
        (e.id, e.last_seen.timestamp(), int(e.merged_into is not None), e.to_json()) for e in events])
    conn.commit()
    conn.close()


def _answers(index):
    """What analysts and reports read: pages of every sort with their cursors, counts, facets, events."""
    found = []
    for query in QUERIES:
        for sort in ("newest", "relevance", "reach"):
            result = index.search(query.model_copy(update={"sort": sort, "limit": 15}))
            found.append((result.total, [(h.post, h.cursor) for h in result.results]))
    for query in FACET_QUERIES:
        found.append(index.facets(query.model_copy(update={"now": END}), by="hour"))
    return found, list(index.scan(SearchQuery())), index.events(limit=1000)


def test_an_index_of_layout_2_is_migrated_and_answers_as_a_new_one_would(tmp_path):
    """An index written before row ids were dense (and documents compressed) is rebuilt from its documents when
    first opened: the same posts, pages, cursors, counts, facets and events as an index written anew, and
    nothing of the earlier tables left, not even their space."""
    events = [Event(id="ev-a", label="停水", first_seen=T0, last_seen=T0, size=3),
              Event(id="ev-b", label="改造", first_seen=T0, last_seen=T0, merged_into="ev-a")]
    _write_layout_2(tmp_path / "old.sqlite3", CORPUS, events)
    with SqliteIndex(tmp_path / "old.sqlite3") as migrated, SqliteIndex(tmp_path / "new.sqlite3") as fresh:
        fresh.upsert(sorted(CORPUS, key=lambda p: p.when))
        fresh.upsert_events(events)
        assert _answers(migrated) == _answers(fresh)
        assert migrated.count(SearchQuery()) == len(CORPUS) and migrated.event_count() == 1
    conn = sqlite3.connect(tmp_path / "old.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_fts.SCHEMA_VERSION
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'earlier%'")} == set()
    assert conn.execute("SELECT count(*) FROM agg WHERE n <= 0").fetchone()[0] == 0
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0  # the earlier tables' pages given back


def test_an_index_of_a_newer_layout_is_refused_not_rewritten(tmp_path):
    path = tmp_path / "index.sqlite3"
    with SqliteIndex(path) as index:
        index.upsert(SEED)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={sqlite_fts.SCHEMA_VERSION + 1}")
    with pytest.raises(SearchBackendError, match="newer Yuqing"):
        SqliteIndex(path)


def test_newest_first_is_exact_whatever_order_posts_arrive_in(tmp_path, monkeypatch):
    """Row ids follow the order posts are written in, times do not: a live stream, then a backlog of older posts,
    then posts dated ahead. Pages, cursors and scans (read a window of time at a time) still list every match
    newest first, within time ranges too."""
    monkeypatch.setattr(SqliteIndex, "scan_page", 7)
    ordered = sorted(CORPUS, key=lambda p: p.when)
    arrivals = ordered[120:200] + ordered[:120] + ordered[200:]
    random.Random(4).shuffle(arrivals[200:])
    with SqliteIndex(tmp_path / "index.sqlite3") as index:
        for start in range(0, len(arrivals), 30):
            index.upsert(arrivals[start:start + 30])
        for query in QUERIES + FACET_QUERIES[1:]:
            want = [p.when for p in expected(query)]
            assert [p.when for p in index.scan(query)] == want, query
            paged, after = [], None
            while page := index.search(query.model_copy(update={"limit": 9, "after": after})).results:
                paged += [hit.post.when for hit in page]
                after = page[-1].cursor
            assert paged == want, query
            offset = index.search(query.model_copy(update={"limit": 5, "offset": 6}))
            assert [p.when for p in offset.hits] == want[6:11] and offset.total == len(want)


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
    assert json.loads(next(empty_index.stored_documents()))["id"]
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


def _event(event_id, merged_into=None):
    return Event(id=event_id, label="停工", first_seen=SEED[0].when, last_seen=SEED[0].when, size=1,
                 merged_into=merged_into)


def _events_of(index, query=None):
    """What the index answers about events: each post's, and the events facet."""
    query = query or SearchQuery()
    return ({p.id: p.event_id for p in index.scan(query)},
            {v.value: v.count for v in index.facets(query, ["events"]).values["events"]})


def test_merging_events_rewrites_no_full_text_row_or_document(empty_index):
    """A merge moves its posts' tags and counts; their full-text rows and documents keep the event they were written
    under (a contentless row is rewritten only by tokenising its text again: most of the index stage's cost as
    history grew), and search, facets and reading posts follow the merges: ev-a into ev-b, then ev-b into ev-c."""
    events = ["ev-a", "ev-a", "ev-b", "ev-c", None]
    posts = [p.model_copy(update={"event_id": event}) for p, event in zip(SEED, events, strict=False)]
    empty_index.upsert(posts)
    statements: list[str] = []
    empty_index._conn.set_trace_callback(statements.append)
    empty_index.upsert_events([_event("ev-a", merged_into="ev-b")])
    empty_index.upsert_events([_event("ev-b", merged_into="ev-c")])
    empty_index._conn.set_trace_callback(None)
    assert [s for s in statements if re.search(r"INSERT INTO fts|UPDATE docs", s)] == []
    assert _events_of(empty_index) == ({p.id: p.event_id and "ev-c" for p in posts}, {"ev-c": 4})
    assert _events_of(empty_index, SearchQuery(text="老旧小区")) == (
        {p.id: "ev-c" for p in posts[:4] if "老旧小区" in p.text}, {"ev-c": sum("老旧小区" in p.text for p in posts[:4])})
    assert [empty_index.count(SearchQuery(events=[e])) for e in ("ev-a", "ev-b", "ev-c")] == [0, 0, 4]
    assert empty_index.count(SearchQuery(text="-event:ev-c")) == 1
    assert empty_index.count(SearchQuery(text="event:ev-a OR event:ev-c")) == 4


def test_an_event_upserted_again_without_its_merge_keeps_its_earlier_posts_where_they_went(empty_index):
    """ev-a is merged into ev-b, then upserted again as if it had not been (out of order): its earlier post stays
    with ev-b, a post written under it afterwards is its own, and a later merge into ev-c moves that one alone.
    Each event's own token then names only posts counted under it, however the merges went."""
    first, second, third = (p.model_copy(update={"event_id": "ev-a"}) for p in SEED[:3])
    empty_index.upsert([first])
    empty_index.upsert_events([_event("ev-a", merged_into="ev-b")])
    empty_index.upsert_events([_event("ev-a")])
    empty_index.upsert([second])
    assert _events_of(empty_index) == ({first.id: "ev-b", second.id: "ev-a"}, {"ev-a": 1, "ev-b": 1})
    assert [p.id for p in empty_index.search(SearchQuery(events=["ev-a"])).hits] == [second.id]
    empty_index.upsert_events([_event("ev-a", merged_into="ev-c")])
    empty_index.upsert([third])  # under ev-c, where ev-a's posts go now
    empty_index.upsert([first.model_copy(update={"event_id": "ev-b"})])  # re-crawled: written again
    assert _events_of(empty_index) == ({first.id: "ev-b", second.id: "ev-c", third.id: "ev-c"}, {"ev-b": 1, "ev-c": 2})
    assert [empty_index.count(SearchQuery(events=[e])) for e in ("ev-a", "ev-b", "ev-c")] == [0, 1, 2]


def _without_event_column(path, version):
    """The index at `path` as layouts before 5 left it: no `posts.event` (nor its index)."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX posts_by_event")
        conn.execute("ALTER TABLE posts DROP COLUMN event")
        conn.execute(f"PRAGMA user_version={version}")


def test_an_index_of_layout_3_is_opened_as_it_is(tmp_path):
    """Layout 3 rewrote merged events' posts under their survivors, so its rows need nothing but each post's event
    (from its tags): the merges table is added, and merges from then on go through it."""
    path = tmp_path / "index.sqlite3"
    posts = [p.model_copy(update={"event_id": "ev-a"}) for p in SEED[:2]]
    with SqliteIndex(path) as index:
        index.upsert(posts)
    _without_event_column(path, 3)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE event_merges")
    with SqliteIndex(path) as index:
        index.upsert_events([_event("ev-a", merged_into="ev-b")])
        assert _events_of(index) == ({p.id: "ev-b" for p in posts}, {"ev-b": 2})
        assert index.count(SearchQuery(events=["ev-b"])) == 2 and index.count(SearchQuery(events=["ev-a"])) == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_fts.SCHEMA_VERSION == 5


def _event_answers(index, events):
    """What the index answers about each of `events`: its posts, newest first, and their facets."""
    return {event: ([p.id for p in index.scan(SearchQuery(events=[event]))],
                    index.facets(SearchQuery(events=[event]), ["platforms", "sentiments", "places"], by="day"))
            for event in events}


def test_an_index_of_layout_4_learns_the_event_each_post_counts_under(tmp_path):
    """Layout 4 kept where merged events' posts count in their tags only: opening it fills `posts.event` from them,
    and `event:` filters answer as before, along chains of merges and past an event upserted again without its
    merge."""
    path = tmp_path / "index.sqlite3"
    events = ["ev-a", "ev-b", "ev-c", "ev-d", None]
    posts = [p.model_copy(update={"event_id": events[n % len(events)]}) for n, p in enumerate(CORPUS)]
    with SqliteIndex(path) as index:
        index.upsert(posts[:120])
        index.upsert_events([_event("ev-a", merged_into="ev-b"), _event("ev-d", merged_into="ev-c")])
        index.upsert_events([_event("ev-b", merged_into="ev-c"), _event("ev-d")])
        index.upsert(posts[120:])
        before = _event_answers(index, ["ev-a", "ev-b", "ev-c", "ev-d"])
        tagged = index._conn.execute("SELECT rid, event FROM posts ORDER BY rid").fetchall()
    assert [len(ids) for ids, _ in before.values()] == [0, 0, 120 + 2 * 24, 24]
    _without_event_column(path, 4)
    with SqliteIndex(path) as index:
        assert _event_answers(index, ["ev-a", "ev-b", "ev-c", "ev-d"]) == before
        assert index._conn.execute("SELECT rid, event FROM posts ORDER BY rid").fetchall() == tagged
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_fts.SCHEMA_VERSION


def test_an_event_many_were_merged_into_is_counted_for_the_work_of_its_posts(tmp_path):
    """A soak's event had 66,484 others merged into it, and its `event:` filter read the full-text tokens of them
    all (10.8 s of CPU to count one day's 12,018 posts). Its counts and facets equal those of an index where its
    posts were written under it, and take about the SQLite steps of an event with as many posts and no merges."""
    posts = [p.model_copy(update={"event_id": f"small{n}" if n % 2 else "plain"}) for n, p in enumerate(CORPUS)]
    since = sorted(p.when for p in CORPUS)[len(CORPUS) // 2]
    with SqliteIndex(tmp_path / "merged.sqlite3") as index, SqliteIndex(tmp_path / "direct.sqlite3") as direct:
        index.upsert(posts)
        index.upsert_events([_event(f"small{n}", merged_into="merged") for n in range(1, len(CORPUS), 2)])
        direct.upsert(p.model_copy(update={"event_id": "merged" if n % 2 else "plain"}) for n, p in enumerate(CORPUS))

        def figures(on, event):
            return (on.count(SearchQuery(events=[event])), on.count(SearchQuery(events=[event], since=since)),
                    on.count(SearchQuery(events=[event], sentiments=["negative"])),
                    on.facets(SearchQuery(events=[event], since=since), ["platforms", "sentiments", "places"]))

        work = {}
        for event in ("plain", "merged"):
            work[event], found = steps_of(index._conn, lambda event=event: figures(index, event))
            assert found == figures(direct, event)
        assert found[0] == len(CORPUS) // 2
    assert work["merged"] < 1.1 * work["plain"], work


def test_a_page_of_an_events_newest_posts_is_read_in_time_order_from_its_index(empty_index):
    """An event's newest posts are read from `posts_by_event` in time order, a page of them, not all of them sorted:
    the events a city follows have tens of thousands of posts."""
    posts = [p.model_copy(update={"event_id": "ev-a" if n % 2 else None}) for n, p in enumerate(CORPUS)]
    empty_index.upsert(posts)
    query = SearchQuery(events=["ev-a"], limit=5)
    plans = plans_of(empty_index._conn, lambda: empty_index.search(query))
    steps = [step for found in plans.values() for step in found]
    assert any("posts_by_event" in step for step in steps) and not any("TEMP B-TREE" in step for step in steps), plans
    newest = sorted((p.when for p in posts if p.event_id), reverse=True)[:5]
    assert [p.when for p in empty_index.search(query).hits] == newest


def test_a_post_indexed_again_keeps_its_row_id_and_its_hour_its_span(empty_index):
    """Re-crawled posts (new counts, another sentiment) are written again under the row id they had: the row ids of
    their hour stay together, so a time range's full-text matches are still looked for among few rows."""
    ordered = sorted(CORPUS, key=lambda p: p.when)
    empty_index.upsert(ordered[:200])
    empty_index.upsert(ordered[200:])
    rid_of = dict(empty_index._conn.execute("SELECT id, rid FROM posts"))
    spans = empty_index._conn.execute("SELECT * FROM spans").fetchall()
    again = [p.model_copy(update={"sentiment": None, "metrics": p.metrics.model_copy(update={"likes": 999})})
             for p in ordered[:30]]
    empty_index.upsert(again)
    assert dict(empty_index._conn.execute("SELECT id, rid FROM posts")) == rid_of
    assert empty_index._conn.execute("SELECT * FROM spans").fetchall() == spans
    assert [empty_index.get(p.id) for p in again] == again
    assert empty_index.count(SearchQuery(sentiments=["positive"])) == sum(
        p.sentiment is not None and p.sentiment.label == "positive" for p in ordered[30:])


def test_the_live_events_and_their_count_are_read_without_a_look_at_every_event_ever_indexed(empty_index):
    """A month of a city's events is hundreds of thousands, most merged away or long quiet: `yuqing status` counts
    the live ones and the console lists those seen last through an index, not by reading every event's row."""
    empty_index.upsert_events([Event(id=f"ev-{n}", label="停工", first_seen=T0, last_seen=T0 + timedelta(minutes=n),
                                     size=1, merged_into="ev-0" if n % 3 else None) for n in range(30)])
    plans = plans_of(empty_index._conn, lambda: (empty_index.event_count(), empty_index.events(since=T0, limit=5)))
    assert len(plans) == 2 and not full_scans(plans, "events"), plans
    assert all(any("live_events" in step for step in steps) for steps in plans.values()), plans


def test_a_batch_asks_for_its_rows_in_statements_of_one_text_whatever_its_size(tmp_path):
    """Posts indexed again, their stored documents and re-links look their rows up by one JSON list parameter: a
    text with one mark per id (one length per batch size, up to 500 marks) filled SQLite's cache of prepared
    statements with texts seldom used again."""
    def texts_of(size):
        posts = [EnrichedPost(url=f"https://news.example.cn/{size}-{n}.html", platform="news", source="s",
                              text=f"第{n}条 停水通知") for n in range(size)]
        with SqliteIndex(tmp_path / f"index-{size}.sqlite3") as index:
            index.upsert(posts)
            statements = []
            index._conn.set_trace_callback(statements.append)
            index.upsert(posts)  # indexed again: the rows they had are read and replaced
            index.relink([ReprintLink(post_id=p.id, reprint_of=posts[0].id) for p in posts])
            index._conn.set_trace_callback(None)
        # As prepared: the values the trace shows bound put back as marks.
        return {re.sub(r"-?\b\d+\b", "?", re.sub(r"'(?:[^']|'')*'", "?", sql)) for sql in statements}

    assert texts_of(1) == texts_of(7) == texts_of(600)


def test_full_text_segments_are_merged_eight_at_a_time_in_new_and_earlier_indexes(tmp_path):
    """Each level of FTS5 segments a posting climbs costs writing it again: merged 8 at a time rather than FTS5's 4,
    the levels are a third fewer. Indexes made before the setting (none in `fts_config`) take it when opened."""
    path = tmp_path / "index.sqlite3"

    def automerge() -> int | None:
        with sqlite3.connect(path) as conn:
            row = conn.execute("SELECT v FROM fts_config WHERE k = 'automerge'").fetchone()
        return None if row is None else row[0]

    with SqliteIndex(path) as index:
        index.upsert(SEED)
    assert automerge() == sqlite_fts.FTS_AUTOMERGE == 8
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM fts_config WHERE k = 'automerge'")  # as an index made before
    with SqliteIndex(path) as index:
        assert index.count(SearchQuery(text="老旧小区")) == 2
    assert automerge() == 8


def test_a_batch_of_full_text_rows_is_written_as_one_segment_in_new_and_earlier_indexes(tmp_path):
    """FTS5 writes its pending postings out as a segment whenever they pass its `hashsize` (1 MiB by default): a
    batch past that was sorted and written in several segments, to be merged later. A batch of posts whose postings
    take several MiB is one segment at its commit, also in an index made before the setting."""
    path = tmp_path / "index.sqlite3"
    chinese = [chr(code) for code in range(0x4E00, 0x4E00 + 200)]
    draw = random.Random(15)

    def batch(first: int) -> list[EnrichedPost]:
        return [EnrichedPost(url=f"https://news.example.cn/{i}", platform="news", source="s", published_at=T0,
                             text="".join(draw.choices(chinese, k=100))) for i in range(first, first + 2000)]

    def segments_written(posts: list[EnrichedPost]) -> int:
        with SqliteIndex(path) as index:
            before = index._conn.execute("SELECT count(DISTINCT segid) FROM fts_idx").fetchone()[0]
            index.upsert(posts)
            return index._conn.execute("SELECT count(DISTINCT segid) FROM fts_idx").fetchone()[0] - before

    assert segments_written(batch(0)) == 1
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM fts_config WHERE k = 'hashsize'")  # as an index made before
    assert segments_written(batch(2000)) == 1


def test_a_batchs_tag_rows_and_count_changes_take_as_many_statements_for_ten_posts_as_for_a_thousand(tmp_path):
    """A batch's `post_tags` rows and `agg` changes are written from JSON (one run of a statement for the tags, one per
    kind, hour or day and bucket for the counts), not bound row by row: the driver's and SQLite's work per run cost
    more than the row's own. The rows are those written one by one before."""
    def runs_and_rows(size: int) -> tuple[int, list[tuple], list[tuple]]:
        posts = [EnrichedPost(url=f"https://news.example.cn/{n}.html", platform="news", source="s", published_at=T0,
                              text=f"第{n}条 停水通知", keywords=[f"词{n}", "停水"], places=["郓城县"]) for n in range(size)]
        with SqliteIndex(tmp_path / f"index-{size}.sqlite3") as index:
            statements: list[str] = []
            index._conn.set_trace_callback(statements.append)
            index.upsert(posts)
            index._conn.set_trace_callback(None)
            rows = index._conn.execute("SELECT t.kind, t.value, count(*) FROM post_tags JOIN tags t USING (tid) "
                                       "GROUP BY t.kind, t.value ORDER BY 1, 2").fetchall()
            counts = index._conn.execute("SELECT a.kind, level, bucket, t.value, n FROM agg a JOIN tags t USING (tid) "
                                         "ORDER BY 1, 2, 3, 4").fetchall()
        return sum(re.match(r"INSERT INTO (post_tags|agg)\b", sql) is not None for sql in statements), rows, counts

    runs, rows, counts = runs_and_rows(1000)
    assert runs == runs_and_rows(10)[0]
    assert ("keyword", "停水", 1000) in rows and ("keyword", "词999", 1) in rows and ("place", "郓城县", 1000) in rows
    hour = (int(T0.timestamp()) + 8 * 3600) // 3600
    assert ("keyword", 0, hour, "停水", 1000) in counts and ("keyword", 1, hour // 24, "词7", 1) in counts
