"""The embedded index: idempotent upsert, Chinese full-text search, every filter, trends."""

from datetime import datetime, timedelta

import pytest

from search.base import SearchQuery
from search.sqlite_fts import SqliteIndex
from yuqing.schema import SHANGHAI, EnrichedPost, Event, PolicyLink, Sentiment

T0 = datetime(2022, 6, 2, 9, 0, tzinfo=SHANGHAI)


def post(n, text, *, platform="weibo", source="weibo-search", label="neutral", hours=0, places=(),
         policies=(), event=None, title=None):
    return EnrichedPost(
        url=f"https://m.weibo.cn/status/{n}", platform=platform, source=source, text=text, masked_text=text,
        title=title, published_at=T0 + timedelta(hours=hours),
        sentiment=Sentiment(score={"negative": 0.1, "neutral": 0.5, "positive": 0.9}[label], label=label),
        places=list(places), policies=[PolicyLink(id=p, score=0.8) for p in policies], event_id=event,
    )


# The seed posts every check below expects (tests/test_live_elastic.py loads them into Elasticsearch).
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


@pytest.fixture
def index(tmp_path):
    ix = SqliteIndex(tmp_path / "index.sqlite3")
    ix.upsert(SEED)
    yield ix
    ix.close()


def test_upsert_is_idempotent(index):
    again = post(1, "牡丹区老旧小区改造停工三个月，路面挖开没人管（更新）", label="negative")
    assert index.upsert([again, again]) == 2
    assert index.search(SearchQuery()).total == 5
    assert "更新" in index.get(again.id).text
    assert index.search(SearchQuery(text="更新")).total == 1


# Queries and the seed posts they find; tests/test_index_elastic.py checks Elasticsearch's query finds the same.
FULL_TEXT_CASES = [
    ("老旧小区改造", {1, 4}),
    ("小区", {1, 4}),
    ("停工", {1}),
    ("租赁住房", {2}),
    ("开放月", {5}),  # title is searchable
    ("高铁", set()),
    ('停工"(*', {1}),  # user input is never FTS syntax
]


@pytest.mark.parametrize("text,expected", FULL_TEXT_CASES)
def test_chinese_full_text(index, text, expected):
    hits = index.search(SearchQuery(text=text, limit=50)).hits
    assert {int(h.url.rsplit("/", 1)[1]) for h in hits} == expected


@pytest.mark.parametrize("query,expected", [
    (SearchQuery(platforms=["news"]), {2}),
    (SearchQuery(sources=["heze-gov"]), {5}),
    (SearchQuery(sentiments=["negative"]), {1}),
    (SearchQuery(places=["曹县", "定陶区"]), {3, 4}),
    (SearchQuery(policies=["hz-lxxq"]), {1, 4}),
    (SearchQuery(events=["ev-2"]), {4}),
    (SearchQuery(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=27)), {2, 3}),
    (SearchQuery(text="老旧小区", sentiments=["positive"]), {4}),
])
def test_every_filter(index, query, expected):
    hits = index.search(query.model_copy(update={"limit": 50})).hits
    assert {int(h.url.rsplit("/", 1)[1]) for h in hits} == expected


def test_newest_first_with_paging(index):
    page = index.search(SearchQuery(limit=2, offset=1))
    assert page.total == 5
    assert [int(h.url.rsplit("/", 1)[1]) for h in page.hits] == [4, 3]


def test_histogram_and_counts(index):
    days = index.histogram(SearchQuery(), "day")
    assert [count for _, count in days] == [2, 2, 1]
    assert days[0][0] == datetime(2022, 6, 2, tzinfo=SHANGHAI)
    hours = index.histogram(SearchQuery(text="老旧小区"), "hour")
    assert sum(c for _, c in hours) == 2
    assert index.counts_by("platform") == {"weibo": 3, "news": 1, "gov": 1}
    assert index.counts_by("sentiment", SearchQuery(places=["牡丹区"])) == {"negative": 1}


def test_events_upsert_and_merged_are_hidden(index):
    e1 = Event(id="ev-1", label="老旧小区 停工", first_seen=T0, last_seen=T0 + timedelta(hours=3), size=9)
    e2 = Event(id="ev-2", label="楼道", first_seen=T0, last_seen=T0 + timedelta(hours=1), size=2)
    index.upsert_events([e1, e2])
    index.upsert_events([e2.model_copy(update={"merged_into": "ev-1"})])
    assert [e.id for e in index.events()] == ["ev-1"]


def test_posts_of_a_merged_event_follow_it_along_a_chain_of_merges(index):
    def event(event_id, merged_into=None):
        return Event(id=event_id, label="停工", first_seen=T0, last_seen=T0, size=1, merged_into=merged_into)

    index.upsert_events([event("ev-1"), event("ev-2")])
    index.upsert_events([event("ev-9", merged_into="ev-2")])
    index.upsert_events([event("ev-1", merged_into="ev-9")])  # ev-9 has itself merged into ev-2 meanwhile
    found = index.search(SearchQuery(events=["ev-2"])).hits
    assert sorted(p.text[:4] for p in found) == ["牡丹区老", "老旧小区"]
    assert index.search(SearchQuery(events=["ev-1"])).total == 0
    assert {index.get(p.id).event_id for p in found} == {"ev-2"}  # the stored post says so too


def test_a_copy_found_after_it_was_indexed_is_relinked_to_its_original(index):
    from yuqing.schema import REPRINT_OF, ReprintLink

    copy, original = SEED[2], SEED[0]
    assert index.relink([ReprintLink(post_id=copy.id, reprint_of=original.id),
                         ReprintLink(post_id="weibo:not-indexed", reprint_of=original.id)]) == 1
    stored = index.get(copy.id)
    assert stored.reprint_of == original.id and stored.extra[REPRINT_OF] == original.id
    assert index.get(original.id).reprint_of is None
    assert index.search(SearchQuery(text="消费季")).hits[0].reprint_of == original.id
