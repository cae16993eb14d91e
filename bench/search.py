"""Analysts' queries on a million posts: the embedded index against the naive way, in one run.

    python -m bench.search [--posts 1000000] [--runs 50] [--baseline-runs 5] [--dir DIR]

Posts are generated from real text (Weibo posts of SMP2020 and weibo_senti_100k, THUCNews
headlines as news titles, from ../shared/data; the test fixture without it), spread over 30 days
with a daily rhythm, on realistic platforms, sources and authors, with places from the gazetteer,
policies from the registry (their keywords written into the text, sometimes as a hashtag) and
events. Keywords are each text's own words (jieba, computed once per distinct text).

Printed: the indexing rate and size on disk of both stores, then p50/p95 of each query over
`--runs` runs (after one warm-up run) for the embedded index (`search.sqlite_fts.SqliteIndex`,
through its public API) and over `--baseline-runs` runs for the naive store: one table of posts
with each post's JSON document, a plain FTS5 table of the same bigram tokens (no tags, no
aggregates), filters on columns or on the JSON, counts and buckets computed from rows in Python.
The last line is `worst p95 <ms> ms over <N> posts` for the embedded index.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from search.base import SearchQuery, body_text
from search.ngrams import index_token_texts, query_tokens
from search.sqlite_fts import SqliteIndex
from stores.language import jieba_tokenizer
from yuqing.config.datafiles import load_policies
from yuqing.schema import (
    SHANGHAI,
    Author,
    EnrichedPost,
    Metrics,
    Platform,
    PolicyLink,
    Sentiment,
    SentimentLabel,
)

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO / ".." / "shared" / "data").resolve()
FIXTURE = REPO / "tests" / "fixtures" / "analysis" / "weibo_sample.jsonl"
CONFIG = REPO / "yuqing" / "config" / "data"
END = datetime(2026, 11, 30, tzinfo=SHANGHAI)
DAYS = 30
BATCH = 5000
PLATFORMS = {"weibo": 0.6, "news": 0.14, "gov": 0.05, "board": 0.11, "forum": 0.1}
SOURCES = {"weibo": 12, "news": 8, "gov": 4, "board": 3, "forum": 5}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍红鹏辉建国晓东海燕雪梅小龙飞宇浩然欣怡子轩"


# -- the generated posts ------------------------------------------------------------------------


def real_texts(shared: Path) -> tuple[list[str], list[str]]:
    """(post texts, headlines) from the shared data, or the test fixture when it is absent."""
    texts: list[str] = []
    titles: list[str] = []
    if shared.is_dir():
        with (shared / "sentiment" / "weibo_senti_100k_subset.csv").open(encoding="utf-8") as f:
            texts += [row["review"] for row in csv.DictReader(f)]
        for name in ("smp2020_usual_eval.json", "smp2020_virus_eval.json", "smp2020_virus_train.json"):
            path = shared / "sentiment" / name
            if path.exists():
                texts += [item["content"] for item in json.loads(path.read_text(encoding="utf-8"))]
        titles = [line.split("\t")[0] for line in
                  (shared / "topics" / "thucnews_titles_dev.txt").read_text(encoding="utf-8").splitlines()]
    else:
        print(f"note: {shared} is absent: generating from the small test fixture")
        for line in FIXTURE.read_text(encoding="utf-8").splitlines():
            texts.append(json.loads(line)["text"])
        titles = texts[:200]
    texts = [t.strip() for t in texts if len(t.strip()) >= 6]
    return texts, [t.strip() for t in titles if t.strip()]


def gazetteer_places() -> list[str]:
    def walk(node: dict[str, Any]) -> Iterator[str]:
        for place in node.get("places") or []:
            yield place["name"]
            yield from walk(place)

    return list(walk(yaml.safe_load((CONFIG / "gazetteer.yaml").read_text(encoding="utf-8"))["city"]))


@dataclass
class Pool:
    texts: list[str]
    keywords: list[list[str]]  # per text
    titles: list[str]
    places: list[str]
    policies: list[tuple[str, list[str]]]  # id, keywords
    authors: list[str]


@cache
def _tokenizer() -> Any:
    return jieba_tokenizer()


def words(text: str) -> list[str]:
    """jieba's HMM-off words of `text` with our user dictionary, without whitespace tokens."""
    return [w for w in _tokenizer().lcut(text, HMM=False) if w.strip()]


def make_pool(rng: random.Random, shared: Path) -> Pool:
    texts, titles = real_texts(shared)
    keywords = [[w for w in dict.fromkeys(words(t)) if len(w) >= 2 and w.isalnum()][:5] for t in texts]
    policies = [(p.id, p.keywords or [p.title[:8]]) for p in load_policies(CONFIG / "policies.yaml")]
    authors = list({rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))) + rng.choice(["", "", "说", "呀"])
                    for _ in range(30_000)})
    return Pool(texts, keywords, titles, gazetteer_places(), policies, sorted(authors))


def generate(pool: Pool, count: int, seed: int = 7) -> Iterator[EnrichedPost]:
    """`count` posts, oldest first, over the 30 days before END (busier by day than by night)."""
    rng = random.Random(seed)
    platforms = list(PLATFORMS)
    weights = list(PLATFORMS.values())
    start = END - timedelta(days=DAYS)
    span = DAYS * 86400
    events = [f"ev-{n:05d}" for n in range(3000)]
    for n in range(count):
        second = int(n * span / count) + rng.randint(0, max(1, span // count))
        hour = (second // 3600 + 8) % 24
        if hour < 7 and rng.random() < 0.6:  # fewer posts at night
            second = (second // 86400) * 86400 + rng.randint(8, 23) * 3600 - 8 * 3600 + rng.randint(0, 3599)
        platform = rng.choices(platforms, weights)[0]
        pick = rng.randrange(len(pool.texts))
        text = pool.texts[pick]
        keywords = list(pool.keywords[pick])
        places = rng.sample(pool.places, rng.choice([0, 0, 0, 1, 1, 2]))
        policies = []
        if rng.random() < 0.12:
            policy_id, policy_words = rng.choice(pool.policies)
            word = rng.choice(policy_words)
            text = (f"#{places[0] if places else ''}{word}# " if rng.random() < 0.4 else f"{word}：") + text
            policies.append(PolicyLink(id=policy_id, score=round(rng.uniform(0.3, 0.9), 2)))
            keywords.append(word)
        if places:
            text = f"{places[0]}{text}"
        label = rng.choices(["negative", "neutral", "positive", None], [0.35, 0.35, 0.25, 0.05])[0]
        yield EnrichedPost(
            id=f"{platform}:{n}", url=f"https://example.cn/{platform}/{n}", platform=Platform(platform),
            source=f"{platform}-{rng.randrange(SOURCES[platform])}",
            author=Author(name=rng.choice(pool.authors)) if platform in ("weibo", "forum", "board") else Author(),
            title=rng.choice(pool.titles) if platform in ("news", "gov") else None,
            text=text, masked_text=text, published_at=start + timedelta(seconds=min(second, span - 1)),
            metrics=Metrics(reposts=int(rng.paretovariate(1.5)) - 1, comments=int(rng.paretovariate(1.6)) - 1,
                            likes=int(rng.paretovariate(1.3)) - 1),
            sentiment=Sentiment(score=0.5, label=SentimentLabel(label)) if label else None,
            keywords=keywords, places=places, policies=policies,
            departments=["市住建局"] if policies and rng.random() < 0.5 else [],
            event_id=rng.choice(events) if rng.random() < 0.3 else None,
        )


# -- the naive store ----------------------------------------------------------------------------


class NaiveStore:
    """What one writes first: posts with their JSON, a plain FTS5 table, everything else from rows."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.executescript("""
            PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
            CREATE TABLE posts (rid INTEGER PRIMARY KEY, id TEXT UNIQUE, ts REAL, platform TEXT, source TEXT,
                                sentiment TEXT, doc TEXT);
            CREATE INDEX posts_ts ON posts (ts);
            CREATE VIRTUAL TABLE fts USING fts5 (body, content = '', tokenize = 'ascii');
        """)

    def add(self, posts: list[EnrichedPost]) -> None:
        self.conn.execute("BEGIN")
        for post, tokens in zip(posts, index_token_texts([body_text(post) for post in posts]), strict=True):
            rid = self.conn.execute(
                "INSERT INTO posts (id, ts, platform, source, sentiment, doc) VALUES (?, ?, ?, ?, ?, ?)",
                (post.id, post.when.timestamp(), post.platform.value, post.source,
                 post.sentiment.label.value if post.sentiment else None, post.model_dump_json())).lastrowid
            self.conn.execute("INSERT INTO fts (rowid, body) VALUES (?, ?)", (rid, tokens))
        self.conn.execute("COMMIT")

    @staticmethod
    def match(text: str) -> str:
        return " AND ".join('"' + " ".join(query_tokens(w).tokens) + '"' for w in text.split())

    def newest(self, text: str, where: str = "", args: tuple[Any, ...] = ()) -> tuple[int, list[EnrichedPost]]:
        cond = f"rid IN (SELECT rowid FROM fts WHERE fts MATCH ?){where}"
        total = self.conn.execute(f"SELECT count(*) FROM posts WHERE {cond}", (self.match(text), *args)).fetchone()[0]
        rows = self.conn.execute(f"SELECT doc FROM posts WHERE {cond} ORDER BY ts DESC LIMIT 20",
                                 (self.match(text), *args)).fetchall()
        return total, [EnrichedPost.model_validate_json(r[0]) for r in rows]

    def per_day(self, rows: Any) -> Counter[Any]:
        days: Counter[Any] = Counter()
        for ts, *rest in rows:
            day = datetime.fromtimestamp(ts, SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
            days[(day, *rest)] += 1
        return days

    def trend(self, since: float) -> Counter[Any]:
        return self.per_day(self.conn.execute("SELECT ts FROM posts WHERE ts >= ?", (since,)))

    def trend_policy(self, policy: str) -> Counter[Any]:
        return self.per_day(self.conn.execute(
            "SELECT ts FROM posts, json_each(posts.doc, '$.policies') p WHERE json_extract(p.value, '$.id') = ?",
            (policy,)))

    def sentiment_mix(self, since: float) -> Counter[Any]:
        return self.per_day(self.conn.execute("SELECT ts, sentiment FROM posts WHERE ts >= ?", (since,)))

    def platforms(self, since: float) -> dict[str, int]:
        return dict(self.conn.execute("SELECT platform, count(*) FROM posts WHERE ts >= ? GROUP BY 1", (since,)))

    def top_of_day(self, field: str, start: float) -> list[tuple[str, int]]:
        counts: Counter[str] = Counter()
        for (doc,) in self.conn.execute("SELECT doc FROM posts WHERE ts >= ? AND ts < ?", (start, start + 86400)):
            counts.update(set(json.loads(doc)[field]))
        return counts.most_common(10)


# -- timing -------------------------------------------------------------------------------------


def timings(run: Callable[[], Any], runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds over `runs` runs, after one warm-up."""
    run()
    taken = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        taken.append((time.perf_counter() - began) * 1000)
    taken.sort()
    return statistics.median(taken), taken[min(len(taken) - 1, int(round(0.95 * (len(taken) - 1))))]


def pick_words(pool: Pool, rng: random.Random) -> dict[str, str]:
    """Words of the generated text by how many texts use them: the commonest, a common one, a rare
    one, two that occur together, and a phrase of two adjacent words."""
    frequency: Counter[str] = Counter()
    for keywords in pool.keywords:
        frequency.update(w for w in keywords if len(w) == 2 and all("\u4e00" <= ch <= "\u9fff" for ch in w))
    ranked = [w for w, _ in frequency.most_common()]
    middling = frequency[ranked[len(ranked) // 20]]
    rare = next(w for w in reversed(ranked) if frequency[w] == 1)
    pair, phrase = "", ""
    for text in rng.sample(pool.texts, len(pool.texts)):
        cut = [w for w in words(text) if w.strip()]
        known = [w for w in cut if w in frequency and frequency[w] >= middling]
        if not pair and len(set(known)) >= 2:
            pair = " ".join(list(dict.fromkeys(known))[:2])
        if not phrase:
            phrase = next((a + b for a, b in zip(cut, cut[1:], strict=False) if a in frequency and b in frequency), "")
        if pair and phrase:
            break
    return {"commonest": ranked[0], "common": ranked[min(10, len(ranked) - 1)], "rare": rare, "pair": pair,
            "phrase": phrase}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query on the index (p50/p95)")
    parser.add_argument("--baseline-runs", type=int, default=5, help="timed runs per query on the naive store")
    parser.add_argument("--dir", type=Path, help="where to build both stores (default: a temporary directory)")
    parser.add_argument("--shared", type=Path, default=SHARED,
                        help=f"the shared real data (default: {SHARED}; the test fixture when absent)")
    args = parser.parse_args()
    rng = random.Random(3)
    pool = make_pool(rng, args.shared)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        run(Path(tmp), pool, args, rng)


def run(folder: Path, pool: Pool, args: argparse.Namespace, rng: random.Random) -> None:
    index = SqliteIndex(folder / "index.sqlite3")
    naive = NaiveStore(folder / "naive.sqlite3")
    spent = {"index": 0.0, "naive": 0.0}
    batch: list[EnrichedPost] = []
    done = 0

    def flush() -> None:
        nonlocal done
        began = time.perf_counter()
        index.upsert(batch)
        spent["index"] += time.perf_counter() - began
        began = time.perf_counter()
        naive.add(batch)
        spent["naive"] += time.perf_counter() - began
        done += len(batch)
        batch.clear()
        if done % 100_000 == 0:
            print(f"  indexed {done:,} posts", flush=True)

    for post in generate(pool, args.posts):
        batch.append(post)
        if len(batch) == BATCH:
            flush()
    if batch:
        flush()
    for conn in (index._conn, naive.conn):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = {name: sum(f.stat().st_size for f in folder.glob(f"{name}.sqlite3*")) for name in ("index", "naive")}
    n = args.posts
    print(f"posts: {n:,} over {DAYS} days from {len(pool.texts):,} real texts")
    print(f"indexing: embedded index {n / spent['index']:,.0f} posts/s ({spent['index']:.0f} s), "
          f"naive store {n / spent['naive']:,.0f} posts/s ({spent['naive']:.0f} s)")
    print(f"size on disk: embedded index {size['index'] / 2**20:,.0f} MiB, naive store {size['naive'] / 2**20:,.0f} MiB")

    picked = pick_words(pool, rng)
    policy = pool.policies[1][0]
    week = END - timedelta(days=7)
    month = END - timedelta(days=DAYS)
    day = END - timedelta(days=2)
    w1, w2 = picked["pair"].split()
    queries: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (f"commonest word {picked['commonest']}: newest 20 + total", lambda: index.search(SearchQuery(text=picked["commonest"])),
         lambda: naive.newest(picked["commonest"])),
        (f"common word {picked['common']}: newest 20 + total", lambda: index.search(SearchQuery(text=picked["common"])),
         lambda: naive.newest(picked["common"])),
        (f"rare word {picked['rare']}: newest 20 + total", lambda: index.search(SearchQuery(text=picked["rare"])),
         lambda: naive.newest(picked["rare"])),
        (f"two words {w1} {w2} + weibo + 7 days",
         lambda: index.search(SearchQuery(text=f"{w1} {w2} platform:weibo", since=week)),
         lambda: naive.newest(f"{w1} {w2}", " AND platform = ? AND ts >= ?", ("weibo", week.timestamp()))),
        (f"phrase \"{picked['phrase']}\"", lambda: index.search(SearchQuery(text=f'"{picked["phrase"]}"')),
         lambda: naive.newest(picked["phrase"])),
        ("trend per day, 30 days", lambda: index.facets(SearchQuery(since=month), (), by="day"),
         lambda: naive.trend(month.timestamp())),
        (f"trend per day, policy {policy}", lambda: index.facets(SearchQuery(policies=[policy]), (), by="day"),
         lambda: naive.trend_policy(policy)),
        ("sentiment mix per day, 30 days", lambda: index.facets(SearchQuery(since=month), ("sentiments",), by="day"),
         lambda: naive.sentiment_mix(month.timestamp())),
        ("counts per platform, 30 days", lambda: index.facets(SearchQuery(since=month), ("platforms",)),
         lambda: naive.platforms(month.timestamp())),
        ("top places of a day", lambda: index.facets(SearchQuery(since=day, until=day + timedelta(days=1)), ("places",)),
         lambda: naive.top_of_day("places", day.timestamp())),
        ("top keywords of a day",
         lambda: index.facets(SearchQuery(since=day, until=day + timedelta(days=1)), ("keywords",)),
         lambda: naive.top_of_day("keywords", day.timestamp())),
    ]
    print(f"\n{'query':<48} {'index p50':>10} {'p95':>9}   {'naive p50':>10} {'p95':>9}   {'p95 ratio':>9}")
    worst = 0.0
    for name, ours, theirs in queries:
        p50, p95 = timings(ours, args.runs)
        n50, n95 = timings(theirs, args.baseline_runs)
        worst = max(worst, p95)
        print(f"{name:<48} {p50:>8.1f}ms {p95:>7.1f}ms   {n50:>8.1f}ms {n95:>7.1f}ms   {n95 / p95:>8.1f}x", flush=True)
    index.close()
    naive.conn.close()
    print(f"\n(index: {args.runs} runs per query; naive store: {args.baseline_runs} runs per query)")
    print(f"worst p95 {worst:.1f} ms over {n} posts")


if __name__ == "__main__":
    main()
