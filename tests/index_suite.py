"""The behaviour every index backend must show, written once.

The checks are the methods of `IndexSuite`, a class pytest does not collect itself: each backend
module (`test_index_embedded.py` for SQLite, `test_index_osmem.py` for a real OpenSearch-compatible
server, `test_live_elastic.py` for a real Elasticsearch 8) subclasses it and defines one fixture,
`empty_index`: a fresh, empty index of its backend. pytest then runs every check against that backend,
and no test module imports another's tests.

Two data sets: SEED, five hand-written posts with hand-written expectations; and CORPUS, 240
generated posts over ten days, whose expected answers come from `reference_match`, a direct
evaluation of the query on each post (substring search on the text, field comparison), not from
any index.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from search.base import COUNT_ALL, FACET_NAMES, SearchQuery, body_text, reach
from search.ngrams import needle, normalize
from search.query import And, Filter, Node, Not, Or, QueryError, Text, TimeRange
from yuqing.schema import (
    REPRINT_OF,
    SHANGHAI,
    Author,
    EnrichedPost,
    Event,
    Metrics,
    PolicyLink,
    ReprintLink,
    Sentiment,
)

T0 = datetime(2022, 6, 2, 9, 0, tzinfo=SHANGHAI)


def post(n, text, *, platform="weibo", source="weibo-search", label="neutral", hours=0, places=(),
         policies=(), event=None, title=None):
    return EnrichedPost(
        url=f"https://m.weibo.cn/status/{n}", platform=platform, source=source, text=text, masked_text=text,
        title=title, published_at=T0 + timedelta(hours=hours),
        sentiment=Sentiment(score={"negative": 0.1, "neutral": 0.5, "positive": 0.9}[label], label=label),
        places=list(places), policies=[PolicyLink(id=p, score=0.8) for p in policies], event_id=event,
    )


SEED = [
    post(1, "牡丹区老旧小区改造停工三个月，路面挖开没人管", label="negative", places=["牡丹区"],
         policies=["hz-lxxq"], event="ev-1"),
    post(2, "保障性租赁住房申请流程很清楚，点赞", label="positive", platform="news", source="hzrb",
         hours=2, policies=["hz-bzf"]),
    post(3, "曹县消费季活动开始了，优惠力度不错", label="positive", places=["曹县"], hours=26),
    post(4, "老旧小区改造后楼道亮了，感谢社区", label="positive", places=["定陶区"], policies=["hz-lxxq"],
         hours=30, event="ev-2"),
    post(5, "政府开放月活动报名", platform="gov", source="heze-gov", hours=50, title="市政府开放月"),
]


def numbers(posts):
    return {int(p.url.rsplit("/", 1)[1]) for p in posts}


# -- CORPUS: generated posts ------------------------------------------------------------------

END = datetime(2022, 6, 12, tzinfo=SHANGHAI)
PHRASES = ["#牡丹区老旧小区改造#进展缓慢", "老旧小区加装电梯", "小区停水三天了", "表扬社区干部", "停电通知",
           "供水公司回应", "保障性租赁住房", "消费季活动", "道路施工扰民", "5G基站建设", "停车难"]
SOURCES = {"weibo": ["weibo-search", "weibo-user"], "news": ["hzrb"], "gov": ["heze-gov"], "board": ["liuyan"]}
AUTHORS = ["菏泽小王", "牡丹观察", "民生 热线", None]
PLACES = ["牡丹区", "曹县", "定陶区", "单县"]
POLICIES = ["hz-lxxq", "hz-bzf", "hz-xfq"]
DEPARTMENTS = ["住建局", "水务局", "市场监管局"]
KEYWORDS = ["改造", "停水", "电梯", "施工", "物业"]


def generate(count: int = 240) -> list[EnrichedPost]:
    rng = random.Random(11)
    seconds = rng.sample(range(10 * 86400), count)  # distinct times: one newest-first order
    posts = []
    for n, second in enumerate(seconds):
        platform = rng.choice(list(SOURCES))
        when = END - timedelta(seconds=second + 1)
        keywords = rng.sample(KEYWORDS, rng.randint(0, 2))
        if when >= END - timedelta(days=1) and n % 3 == 0:
            keywords.append("突发")  # only on the last day: an emerging keyword
        label = rng.choice(["positive", "neutral", "negative", None])
        posts.append(EnrichedPost(
            url=f"https://example.cn/p/{n}", platform=platform, source=rng.choice(SOURCES[platform]),
            author=Author(name=rng.choice(AUTHORS)),
            title=rng.choice(PHRASES) if platform in ("news", "gov") else None,
            text="，".join(rng.sample(PHRASES, 2)), published_at=when,
            metrics=Metrics(reposts=rng.randint(0, 50), comments=rng.randint(0, 50), likes=rng.randint(0, 50)),
            sentiment=Sentiment(score=0.5, label=label) if label else None,
            keywords=keywords, places=rng.sample(PLACES, rng.randint(0, 2)),
            policies=[PolicyLink(id=p, score=0.5) for p in rng.sample(POLICIES, rng.randint(0, 1))],
            departments=rng.sample(DEPARTMENTS, rng.randint(0, 1)),
            event_id=rng.choice([None, "ev-a", "ev-b"]),
        ))
    return posts


CORPUS = generate()

FIELD_VALUES = {
    "platform": lambda p: {p.platform.value}, "source": lambda p: {p.source},
    "author": lambda p: {p.author.name} - {None},
    "sentiment": lambda p: {p.sentiment.label.value if p.sentiment else "unknown"},
    "place": lambda p: set(p.places), "policy": lambda p: {x.id for x in p.policies},
    "department": lambda p: set(p.departments), "event": lambda p: {p.event_id} - {None},
}


def reference_match(node: Node | None, p: EnrichedPost) -> bool:
    """What a query means, evaluated directly on one post."""
    if node is None:
        return True
    if isinstance(node, Text):
        return needle(node.value) in normalize(body_text(p))
    if isinstance(node, Filter):
        return node.value in FIELD_VALUES[node.name](p)
    if isinstance(node, TimeRange):
        return (node.since is None or p.when >= node.since) and (node.until is None or p.when < node.until)
    if isinstance(node, Not):
        return not reference_match(node.child, p)
    if isinstance(node, And):
        return all(reference_match(c, p) for c in node.children)
    assert isinstance(node, Or)
    return any(reference_match(c, p) for c in node.children)


def expected(query: SearchQuery) -> list[EnrichedPost]:
    root = query.parsed().root
    return sorted((p for p in CORPUS if reference_match(root, p)), key=lambda p: p.when, reverse=True)


QUERIES = [
    SearchQuery(),
    SearchQuery(text="老旧小区"),
    SearchQuery(text="老旧小区 -表扬 platform:weibo"),
    SearchQuery(text="(停水 OR 停电) place:牡丹区"),
    SearchQuery(text='"供水 公司" -sentiment:negative'),
    SearchQuery(text="5g基站 OR author:\"民生 热线\""),
    SearchQuery(text="department:水务局 since:2022-06-05 until:2022-06-08"),
    SearchQuery(text="since:3d -event:ev-a", now=END - timedelta(hours=5)),
    SearchQuery(text="停", policies=["hz-lxxq", "hz-bzf"]),  # one character: a prefix
    SearchQuery(text="小区 (since:2022-06-10 OR sentiment:positive)"),
]


def _reference_facets(posts, by):
    unit = timedelta(hours=1) if by == "hour" else timedelta(days=1)
    buckets: Counter = Counter()
    for p in posts:
        local = p.when.astimezone(SHANGHAI)
        start = local.replace(minute=0, second=0, microsecond=0)
        if by == "day":
            start = start.replace(hour=0)
        buckets[(start, p.sentiment.label.value if p.sentiment else "unknown")] += 1
    starts = sorted({s for s, _ in buckets})
    filled = []
    moment = starts[0] if starts else None
    while moment is not None and moment <= starts[-1]:
        mix = {label: buckets[(moment, label)] for label in ("positive", "neutral", "negative", "unknown")
               if buckets[(moment, label)]}
        filled.append((moment.astimezone(UTC), sum(mix.values()), mix))
        moment += unit
    values = {}
    for name, kind in (("places", "place"), ("policies", "policy"), ("departments", "department"),
                       ("sources", "source"), ("authors", "author"), ("platforms", "platform"),
                       ("sentiments", "sentiment"), ("events", "event")):
        counts = Counter(v for p in posts for v in FIELD_VALUES[kind](p))
        values[name] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    counts = Counter(k for p in posts for k in set(p.keywords))
    values["keywords"] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return filled, values


FACET_QUERIES = [
    SearchQuery(),  # everything: from the aggregates
    SearchQuery(since=datetime(2022, 6, 4, 7, 25, 13, tzinfo=SHANGHAI),
                until=datetime(2022, 6, 9, 18, 3, 2, tzinfo=SHANGHAI)),  # partial hours and days at both ends
    SearchQuery(since=datetime(2022, 6, 5, tzinfo=SHANGHAI), until=datetime(2022, 6, 7, tzinfo=SHANGHAI)),
    SearchQuery(text="老旧小区 -表扬"),
    SearchQuery(text="policy:hz-lxxq", since=datetime(2022, 6, 6, 12, tzinfo=SHANGHAI)),
]

# Not aligned to any hour: the hours and the day it cuts are partly kept.
PRUNE_AT = datetime(2022, 6, 6, 13, 27, 41, tzinfo=SHANGHAI)


class IndexSuite:
    """The checks. A backend's module subclasses this (`class TestSqliteIndex(IndexSuite)`) and provides
    the fixture `empty_index`: a fresh, empty index of its backend. A backend without a feature
    overrides that check with a skip saying why."""

    @pytest.fixture
    def index(self, empty_index):
        assert empty_index.upsert(SEED) == len(SEED)
        return empty_index

    # -- SEED: hand-written expectations ---------------------------------------------------------

    def test_upsert_is_idempotent(self, index):
        again = post(1, "牡丹区老旧小区改造停工三个月，路面挖开没人管（更新）", label="negative")
        assert index.upsert([again, again]) == 2
        assert index.search(SearchQuery()).total == 5
        assert "更新" in index.get(again.id).text
        assert index.search(SearchQuery(text="更新")).total == 1
        assert index.count(SearchQuery(places=["牡丹区"])) == 0  # the new version has no place

    @pytest.mark.parametrize("text,expected", [
        ("老旧小区改造", {1, 4}),
        ("小区", {1, 4}),
        ("停工", {1}),
        ("租赁住房", {2}),
        ("开放月", {5}),  # title is searchable
        ("高铁", set()),
        ("停工*^:", {1}),  # FTS5 syntax characters in a word are never FTS syntax
        ("改造停工", {1}),  # inside a longer run of characters
        ("区", {1, 4}),  # one character: 牡丹区, 定陶区 (a place tag is not text), 小区
    ])
    def test_chinese_full_text(self, index, text, expected):
        hits = index.search(SearchQuery(text=text, limit=50)).hits
        assert numbers(hits) == expected

    @pytest.mark.parametrize("query,expected", [
        (SearchQuery(platforms=["news"]), {2}),
        (SearchQuery(sources=["heze-gov"]), {5}),
        (SearchQuery(sentiments=["negative"]), {1}),
        (SearchQuery(places=["曹县", "定陶区"]), {3, 4}),
        (SearchQuery(policies=["hz-lxxq"]), {1, 4}),
        (SearchQuery(events=["ev-2"]), {4}),
        (SearchQuery(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=27)), {2, 3}),
        (SearchQuery(text="老旧小区", sentiments=["positive"]), {4}),
        (SearchQuery(text="老旧小区", platforms=["weibo", "news"], sentiments=["negative", "neutral"]), {1}),
        (SearchQuery(text="老旧小区", platforms=["twitter"]), set()),  # a platform no post has
        (SearchQuery(text="老旧小区 -楼道"), {1}),
        (SearchQuery(text="(消费季 OR 租赁) -点赞"), {3}),
        (SearchQuery(text='"老旧 小区" platform:微博 sentiment:正面'), {4}),
        (SearchQuery(text="policy:hz-lxxq OR place:曹县"), {1, 3, 4}),
        (SearchQuery(text="-platform:weibo"), {2, 5}),
        (SearchQuery(text="since:2022-06-03 until:2022-06-03"), {3, 4}),
        (SearchQuery(text="since:30h", now=T0 + timedelta(hours=52)), {3, 4, 5}),
        (SearchQuery(text="活动 (since:2022-06-04 OR place:曹县)"), {3, 5}),  # a time bound inside OR
    ])
    def test_every_filter(self, index, query, expected):
        hits = index.search(query.model_copy(update={"limit": 50})).hits
        assert numbers(hits) == expected
        assert index.count(query) == len(expected)

    def test_newest_first_with_paging(self, index):
        page = index.search(SearchQuery(limit=2, offset=1))
        assert page.total == 5
        assert [int(h.url.rsplit("/", 1)[1]) for h in page.hits] == [4, 3]

    def test_histogram_and_counts(self, index):
        days = index.histogram(SearchQuery(), "day")
        assert [count for _, count in days] == [2, 2, 1]
        assert days[0][0] == datetime(2022, 6, 2, tzinfo=SHANGHAI)
        hours = index.histogram(SearchQuery(text="老旧小区"), "hour")
        assert sum(c for _, c in hours) == 2
        assert index.counts_by("platform") == {"weibo": 3, "news": 1, "gov": 1}
        assert index.counts_by("sentiment", SearchQuery(places=["牡丹区"])) == {"negative": 1}

    def test_snippets_mark_what_was_asked_for(self, index):
        [hit] = index.search(SearchQuery(text="停工 -楼道 路面")).results
        assert hit.marked() == "牡丹区老旧小区改造【停工】三个月，【路面】挖开没人管"
        [title_only] = index.search(SearchQuery(text="市政府")).results
        assert title_only.marked() == "【市政府】开放月"

    def test_malformed_query_is_refused_with_its_position(self, index):
        with pytest.raises(QueryError) as caught:
            index.search(SearchQuery(text="老旧小区 (停水 OR"))
        assert caught.value.position == 9 and "OR 后面缺少内容" in str(caught.value)

    @pytest.mark.parametrize("after", ["not-a-cursor", "1:2:3", "[]"])
    def test_a_cursor_it_did_not_hand_out_is_a_query_error(self, index, after):
        with pytest.raises(QueryError, match="翻页标记无效"):
            index.search(SearchQuery(after=after))

    def test_events_upsert_and_merged_are_hidden(self, index):
        e1 = Event(id="ev-1", label="老旧小区 停工", first_seen=T0, last_seen=T0 + timedelta(hours=3), size=9)
        e2 = Event(id="ev-2", label="楼道", first_seen=T0, last_seen=T0 + timedelta(hours=1), size=2)
        index.upsert_events([e1, e2])
        index.upsert_events([e2.model_copy(update={"merged_into": "ev-1"})])
        assert [e.id for e in index.events()] == ["ev-1"]
        assert index.event_count() == 1

    def test_events_are_read_by_id_in_the_order_asked(self, index):
        events = [Event(id=f"ev-{n}", label="停工", first_seen=T0, last_seen=T0 + timedelta(minutes=n), size=1)
                  for n in range(5)]
        index.upsert_events(events)
        found = index.events_by_id(["ev-4", "ev-0", "ev-unknown", "ev-0", "ev-3"])
        assert found == [events[4], events[0], events[3]]  # the unknown and the repeated id left out
        assert index.events_by_id([]) == []

    def test_a_merged_away_event_is_not_read_by_id(self, index):
        events = [Event(id=f"ev-{n}", label="停工", first_seen=T0, last_seen=T0, size=1) for n in range(2)]
        index.upsert_events(events)
        index.upsert_events([events[1].model_copy(update={"merged_into": "ev-0"})])
        assert index.events_by_id(["ev-1", "ev-0"]) == [events[0]]

    def test_event_count_counts_every_event_listed(self, index):
        events = [Event(id=f"ev-{n}", label="停工", first_seen=T0, last_seen=T0 + timedelta(minutes=n), size=1)
                  for n in range(150)]  # more than `events` lists by default
        assert index.event_count() == 0
        index.upsert_events(events)
        index.upsert_events(events[:10])  # an event upserted again is still one event
        assert index.event_count() == 150 == len(index.events(limit=1000))

    def test_a_post_reads_back_as_written_whether_or_not_its_masked_text_repeats_its_text(self, empty_index):
        same = post(7, "电话138****5678，小区停水三天了")
        apart = same.model_copy(update={"id": "weibo:apart", "url": "https://m.weibo.cn/status/8", "masked_text": ""})
        empty_index.upsert([same, apart])
        assert empty_index.get(same.id) == same
        assert empty_index.get(apart.id) == apart
        assert [p.masked_text for p in empty_index.search(SearchQuery(text="停水")).hits] == ["", same.text]

    def test_posts_of_a_merged_event_follow_it_along_a_chain_of_merges(self, index):
        def event(event_id, merged_into=None):
            return Event(id=event_id, label="停工", first_seen=T0, last_seen=T0, size=1, merged_into=merged_into)

        index.upsert_events([event("ev-1"), event("ev-2")])
        index.upsert_events([event("ev-9", merged_into="ev-2")])
        index.upsert_events([event("ev-1", merged_into="ev-9")])  # ev-9 has itself merged into ev-2 meanwhile
        found = index.search(SearchQuery(events=["ev-2"])).hits
        assert sorted(p.text[:4] for p in found) == ["牡丹区老", "老旧小区"]
        assert index.search(SearchQuery(events=["ev-1"])).total == 0
        assert {index.get(p.id).event_id for p in found} == {"ev-2"}  # the stored post says so too
        assert {v.value: v.count for v in index.facets(SearchQuery(), ["events"]).values["events"]} == {"ev-2": 2}
        worded = index.facets(SearchQuery(text="老旧小区"), ["events"]).values["events"]  # counted match by match
        assert {v.value: v.count for v in worded} == {"ev-2": 2}

    def test_a_post_arriving_after_its_event_was_merged_away_is_indexed_under_the_survivor(self, empty_index):
        # The index stage reads posts and events from two topics: after a backlog, an event's merge can be
        # written before a post the events stage had put in it.
        def event(event_id, merged_into=None):
            return Event(id=event_id, label="停工", first_seen=T0, last_seen=T0, size=1, merged_into=merged_into)

        empty_index.upsert_events([event("ev-2"), event("ev-9", merged_into="ev-2")])
        empty_index.upsert_events([event("ev-1", merged_into="ev-9")])
        late = post(21, "牡丹区老旧小区改造又停工了", event="ev-1")
        on_its_own = post(22, "曹县消费季开幕", event="ev-7")  # an event the index has not seen yet stays as it is
        empty_index.upsert([late, on_its_own])
        assert empty_index.get(late.id).event_id == "ev-2"
        assert empty_index.get(on_its_own.id).event_id == "ev-7"
        assert empty_index.search(SearchQuery(events=["ev-2"])).total == 1
        assert empty_index.search(SearchQuery(events=["ev-1"])).total == 0
        assert {v.value: v.count for v in empty_index.facets(SearchQuery(), ["events"]).values["events"]} == {
            "ev-2": 1, "ev-7": 1}

    def test_a_copy_found_after_it_was_indexed_is_relinked_to_its_original(self, index):
        copy, original = SEED[2], SEED[0]
        assert index.relink([ReprintLink(post_id=copy.id, reprint_of=original.id),
                             ReprintLink(post_id="weibo:not-indexed", reprint_of=original.id)]) == 1
        stored = index.get(copy.id)
        assert stored.reprint_of == original.id and stored.extra[REPRINT_OF] == original.id
        assert index.get(original.id).reprint_of is None
        assert index.search(SearchQuery(text="消费季")).hits[0].reprint_of == original.id
        assert index.count(SearchQuery(text="消费季")) == 1  # its place in searches and counts is unchanged

    # -- CORPUS: generated posts against a reference evaluation -----------------------------------

    @pytest.fixture
    def corpus(self, empty_index):
        empty_index.upsert(CORPUS)
        return empty_index

    @pytest.mark.parametrize("query", QUERIES, ids=[q.text or "all" for q in QUERIES])
    def test_corpus_matches_the_reference(self, corpus, query):
        want = expected(query)
        assert corpus.count(query) == len(want)
        assert [p.id for p in corpus.scan(query)] == [p.id for p in want]
        page = corpus.search(query.model_copy(update={"limit": 15}))
        assert page.total == len(want)
        assert [p.id for p in page.hits] == [p.id for p in want[:15]]

    def test_every_query_finds_something(self, corpus):
        """The reference answers are not trivially empty (a check that cannot fail is no check)."""
        assert all(expected(q) for q in QUERIES)
        assert len(expected(SearchQuery(text="老旧小区"))) > 20

    @pytest.mark.parametrize("sort", ["newest", "reach", "relevance"])
    def test_cursors_page_through_every_sort(self, corpus, sort):
        query = SearchQuery(text="小区 -停车", sort=sort, limit=7)
        full = corpus.search(query.model_copy(update={"limit": 500}))
        seen, after = [], None
        for _ in range(len(CORPUS)):  # bounded: a cursor that does not advance fails instead of hanging
            page = corpus.search(query.model_copy(update={"after": after}))
            seen += [p.id for p in page.hits]
            if len(page.hits) < 7:
                break
            after = page.next_after
        assert seen == [p.id for p in full.hits] and len(seen) == full.total == len(expected(query))
        if sort == "reach":
            want = sorted(expected(query), key=lambda p: (-reach(p), -p.when.timestamp()))
            assert seen == [p.id for p in want]

    def test_relevance_puts_the_post_that_says_it_most_first(self, corpus):
        loud = post(900, "停电停电停电，又停电", hours=-500)
        corpus.upsert([loud])
        assert corpus.search(SearchQuery(text="停电", sort="relevance", limit=1)).hits[0].id == loud.id
        assert corpus.search(SearchQuery(text="停电", sort="newest", limit=1)).hits[0].id != loud.id

    def test_scan_streams_past_its_page_size(self, corpus):
        corpus.scan_page = 25
        want = expected(SearchQuery(text="小区"))
        assert len(want) > 50
        assert [p.id for p in corpus.scan(SearchQuery(text="小区"))] == [p.id for p in want]
        rest = list(corpus.scan(SearchQuery(text="小区", after=corpus.search(SearchQuery(text="小区", limit=3)).next_after)))
        assert [p.id for p in rest] == [p.id for p in want[3:]]

    @pytest.mark.parametrize("by", ["day", "hour"])
    @pytest.mark.parametrize("query", FACET_QUERIES, ids=["all", "unaligned", "days", "text", "policy"])
    def test_facets_match_the_reference(self, corpus, query, by):
        posts = expected(query)
        buckets, values = _reference_facets(posts, by)
        found = corpus.facets(query, [n for n in FACET_NAMES if n != "emerging"], by=by, size=COUNT_ALL)
        assert found.total == len(posts)
        assert [(b.start, b.count, b.sentiment) for b in found.buckets] == buckets
        for name, want in values.items():
            assert [(v.value, v.count) for v in found.values[name]] == want, name

    def test_facets_keep_the_top_values(self, corpus):
        found = corpus.facets(SearchQuery(text="小区"), ["places", "keywords"], size=2)
        _, values = _reference_facets(expected(SearchQuery(text="小区")), "day")
        assert [(v.value, v.count) for v in found.values["places"]] == values["places"][:2]
        assert [(v.value, v.count) for v in found.values["keywords"]] == values["keywords"][:2]

    def test_emerging_keywords_compare_the_last_day_with_the_week_before(self, corpus):
        found = corpus.facets(SearchQuery(now=END), ["emerging"])
        assert found.day == datetime(2022, 6, 11, tzinfo=SHANGHAI)
        last_day = [p for p in CORPUS if p.when >= END - timedelta(days=1)]
        burst = sum("突发" in p.keywords for p in last_day)
        assert burst >= 3
        assert [(e.value, e.count, e.baseline) for e in found.emerging] == [("突发", burst, 0.0)]
        # The same day asked through until, with an unrelated since: emerging ignores since.
        again = corpus.facets(SearchQuery(text="since:2022-06-11", now=END + timedelta(days=3),
                                          until=END), ["emerging"])
        assert again.emerging == found.emerging

    def test_prune_deletes_the_posts_before_a_moment_and_every_count_stays_exact(self, corpus):
        gone = [p for p in CORPUS if p.when < PRUNE_AT]
        assert 0 < len(gone) < len(CORPUS)
        assert corpus.prune(PRUNE_AT) == len(gone)
        assert corpus.prune(PRUNE_AT) == 0  # nothing left to delete
        assert corpus.get(gone[0].id) is None
        for query in [*QUERIES, *FACET_QUERIES]:
            kept = [p for p in expected(query) if p.when >= PRUNE_AT]
            assert corpus.count(query) == len(kept), query
            assert [p.id for p in corpus.scan(query)] == [p.id for p in kept], query
        for query, by in itertools.product(FACET_QUERIES, ("hour", "day")):
            buckets, values = _reference_facets([p for p in expected(query) if p.when >= PRUNE_AT], by)
            found = corpus.facets(query, [n for n in FACET_NAMES if n != "emerging"], by=by, size=COUNT_ALL)
            assert [(b.start, b.count, b.sentiment) for b in found.buckets] == buckets
            for name, want in values.items():
                assert [(v.value, v.count) for v in found.values[name]] == want, name
        # A post indexed again after the cut is counted once more, as any new post.
        corpus.upsert([gone[0]])
        assert corpus.count(SearchQuery()) == len(CORPUS) - len(gone) + 1
