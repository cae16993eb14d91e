"""The embedded index's tables after a realistic stream, pinned: a cheaper write path must write the very same
rows, tokens and counts.

The stream is 3,000 posts over three days with real Weibo texts and news headlines from ../shared (the test
skips without them): every platform, sentiments, places, keywords new and old, policies, departments, authors,
events, posts in the same second on one platform, re-crawled posts whose analysis changed, events merged into
others (some along chains or loops, some upserted again later without their merge), copies re-linked to their originals, and a prune at the end.

`tests/data/index_pinned.json` holds each table's row count and a SHA-256 of its rows in a canonical form that
does not depend on how rows are numbered or documents stored: row ids are replaced by the ids of the posts they
hold, tag ids by their (kind, value), which is what they stand for, the documents by the posts the index reads
back, newest first (which pins the order of posts in the same second too), each written with every field (as the
index wrote documents until they left out their defaults), and the contentless full-text table is read through
`fts5vocab` (every token of every row with its column and position). It was written by the index of main at
168a710, written again when a post arriving after its event's merge came to be indexed under the surviving event
(the stream has such posts), and written again in this canonical form by the index of main at 115f6da, whose row
ids were times; the index with dense row ids and compressed documents writes the same. Its full-text table was
written again when merging an event stopped rewriting its posts' full-text rows (they keep the event they were
written under; `event_merges` says where they count): `tests/data/index_answers.json`, written by main at a4f60d0
before that change, pins that search and facets answer the same about every event. Regenerate them
(`python -m tests.test_index_pinned`) only when what the index holds changes on purpose, and say so in the commit.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from search.base import SearchQuery
from search.sqlite_fts import SqliteIndex
from yuqing.schema import (
    SHANGHAI,
    Author,
    EnrichedPost,
    Event,
    Metrics,
    Platform,
    PolicyLink,
    ReprintLink,
    Sentiment,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
GOLDEN = Path(__file__).resolve().parent / "data" / "index_pinned.json"
# What the index answers about events over the same stream (see `answers`).
ANSWERS = Path(__file__).resolve().parent / "data" / "index_answers.json"
START = datetime(2026, 3, 1, tzinfo=SHANGHAI)
POSTS, BATCH, DAYS = 3000, 250, 3

PLACES = ["牡丹区", "曹县", "定陶区", "单县", "成武县", "巨野县", "郓城县", "鄄城县", "东明县", "开发区"]
DEPARTMENTS = ["住建局", "水务局", "市场监管局", "交通运输局", "生态环境局"]
POLICIES = ["hz-lxxq", "hz-bzf", "hz-xfq", "hz-jy", "hz-yl"]
AUTHORS = ["菏泽小王", "牡丹观察", "民生 热线", "Heze_Daily", "曹县汉服小姐姐"]


def _texts() -> tuple[list[str], list[str]]:
    posts_file = SHARED / "sentiment" / "weibo_senti_100k_subset.csv"
    titles_file = SHARED / "topics" / "thucnews_titles_dev.txt"
    if not posts_file.exists() or not titles_file.exists():
        pytest.skip(f"the real texts are not at {SHARED}")
    with posts_file.open(encoding="utf-8-sig") as handle:
        posts = [row["review"].strip() for row in csv.DictReader(handle) if row.get("review")][:4000]
    titles = [line.split("\t")[0].strip() for line in titles_file.read_text(encoding="utf-8").splitlines()][:2000]
    return posts, [t for t in titles if t]


def _post(rng: random.Random, n: int, texts: list[str], titles: list[str], events: list[str]) -> EnrichedPost:
    platform = rng.choice(list(Platform))
    day = n * DAYS // POSTS
    # A tenth of the posts share a few busy seconds: their row ids differ by the sequence number alone.
    second = rng.choice([3600, 3601, 7200]) if rng.random() < 0.1 else rng.randrange(86_400)
    text = rng.choice(texts)
    masked = text.replace("1", "*") if rng.random() < 0.2 else text
    label = rng.choice(["positive", "neutral", "negative", None])
    keywords = rng.sample(["停水", "改造", "物业", "电梯", "施工", "噪音", "堵车", "学校", "医院", "补贴"], rng.randint(0, 3))
    keywords += [f"词{rng.randrange(400)}"] * (rng.random() < 0.5)  # many values, most seen once or twice
    return EnrichedPost(
        id=f"{platform.value}:p{n}", url=f"https://{platform.value}.example.cn/{n}", platform=platform,
        source=f"{platform.value}_{rng.choice(['heze', 'shandong'])}", author=Author(name=rng.choice([*AUTHORS, None])),
        title=rng.choice(titles) if platform in (Platform.NEWS, Platform.GOV) else None, text=text,
        masked_text=masked, published_at=START + timedelta(days=day, seconds=second), fetched_at=START + timedelta(days=DAYS),
        metrics=Metrics(reposts=rng.randint(0, 90), comments=rng.randint(0, 90), likes=rng.randint(0, 900)),
        sentiment=Sentiment(score=0.5, label=label) if label else None, keywords=keywords,
        places=rng.sample(PLACES, rng.randint(0, 3)),
        policies=[PolicyLink(id=p, score=0.6) for p in rng.sample(POLICIES, rng.randint(0, 2))],
        departments=rng.sample(DEPARTMENTS, rng.randint(0, 2)),
        event_id=rng.choice(events) if rng.random() < 0.6 else None,
    )


def _event(event_id: str, moment: datetime, merged_into: str | None = None) -> Event:
    return Event(id=event_id, label=f"标签{event_id}", first_seen=moment, last_seen=moment, size=3,
                 merged_into=merged_into)


def build(index: SqliteIndex) -> None:
    """Write the stream to the index, batch by batch, as the index stage does."""
    rng = random.Random(15)
    texts, titles = _texts()
    events = [f"ev{n}" for n in range(120)]
    written: list[EnrichedPost] = []
    for start in range(0, POSTS, BATCH):
        batch = [_post(rng, n, texts, titles, events) for n in range(start, start + BATCH)]
        # Re-crawled posts: their analysis changed (sentiment, places, event), or nothing did; one twice in a batch.
        again = [p.model_copy(update={"sentiment": Sentiment(score=0.1, label="negative"),
                                      "places": ["曹县"], "event_id": rng.choice(events)})
                 for p in rng.sample(written, min(len(written), 20))]
        batch += again + rng.sample(written, min(len(written), 5)) + again[:1]
        index.upsert(batch)
        written += batch[:BATCH]
        moment = batch[0].when
        merging = rng.sample(events, 4)
        index.upsert_events([_event(e, moment) for e in rng.sample(events, 10)]
                            + [_event(a, moment, merged_into=b) for a, b in zip(merging, merging[1:], strict=False)])
        index.relink(ReprintLink(post_id=p.id, reprint_of=rng.choice(written).id) for p in rng.sample(written, 5))
    index.prune(START + timedelta(hours=30))


def dump(index: SqliteIndex) -> dict[str, list[Any]]:
    """Every table's rows in a canonical form (see the module docstring)."""
    conn = index._conn
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_tokens USING fts5vocab(main, fts, instance)")
    queries = {
        "posts": "SELECT id, reach FROM posts",
        "tags": "SELECT kind, value FROM tags",
        "post_tags": "SELECT p.id, kind, value FROM post_tags JOIN posts p USING (rid) JOIN tags USING (tid)",
        "agg": "SELECT agg.kind, level, bucket, tags.kind, value, n FROM agg JOIN tags USING (tid)",
        "fts": "SELECT term, p.id, col, offset FROM temp.fts_tokens JOIN posts p ON p.rid = doc",
        "events": "SELECT id, last_seen, merged, doc FROM events",
    }
    tables = {table: sorted(conn.execute(sql).fetchall()) for table, sql in queries.items()}
    tables["docs"] = [(post.id, post.model_dump_json(exclude=post.text_copy())) for post in index.scan(SearchQuery())]
    return tables


def digest(tables: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {table: [len(rows), hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()]
            for table, rows in tables.items()}


def answers(index: SqliteIndex) -> dict[str, list[Any]]:
    """What search and facets answer about each event of the stream, merged away or not (merges along chains,
    after the posts were indexed, before posts of the merged-away event arrived): the posts each `event:` filter
    finds, alone, beside words, excluded and within part of a day, and the events facet of everything, of words
    (counted match by match) and of part of a day. Pinned apart from the tables: how the index keeps merges may
    change, what it answers may not."""
    events = [f"ev{n}" for n in range(120)]
    worded = "小区 OR 今天"
    part = f"since:{START + timedelta(hours=30):%Y-%m-%dT%H:%M} until:{START + timedelta(hours=40):%Y-%m-%dT%H:%M}"

    def found(query: SearchQuery) -> list[Any]:
        return [query.text, query.events, sorted(p.id for p in index.scan(query)), index.count(query)]

    def facet(query: SearchQuery) -> list[Any]:
        return [query.text, [(v.value, v.count) for v in index.facets(query, ["events"], size=200).values["events"]]]

    return {
        "searches": [found(SearchQuery(events=[event])) for event in events]
        + [found(SearchQuery(text=worded, events=[event])) for event in events]
        + [found(SearchQuery(text=f"-event:{event}", events=events[:3])) for event in events[3:]]
        + [found(SearchQuery(text=part, events=[event])) for event in events]
        + [found(SearchQuery(text=f"(event:{event} {part}) OR 物业")) for event in events],
        "facets": [facet(SearchQuery()), facet(SearchQuery(text=worded)), facet(SearchQuery(text=part))],
    }


def test_the_index_writes_the_rows_it_wrote_before(tmp_path):
    with SqliteIndex(tmp_path / "index.sqlite3") as index:
        build(index)
        found = digest(dump(index))
    pinned = json.loads(GOLDEN.read_text())
    assert found["posts"][0] > 1000 and found["fts"][0] > 50_000  # the stream is the one pinned, not a stub
    assert {t: f for t, f in found.items() if pinned.get(t) != f} == {}, "tables that differ from the golden file"


def test_the_index_answers_about_merged_events_as_it_did(tmp_path):
    with SqliteIndex(tmp_path / "index.sqlite3") as index:
        build(index)
        found = digest(answers(index))
    assert found["searches"][0] == 597 and found["facets"][0] == 3
    assert found == json.loads(ANSWERS.read_text())


if __name__ == "__main__":  # regenerate the golden file
    import tempfile

    with tempfile.TemporaryDirectory() as folder, SqliteIndex(Path(folder) / "index.sqlite3") as built:
        build(built)
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(digest(dump(built)), indent=1) + "\n")
        ANSWERS.write_text(json.dumps(digest(answers(built)), indent=1) + "\n")
    sys.stdout.write(f"wrote {GOLDEN} and {ANSWERS}\n")
