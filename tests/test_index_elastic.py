"""The Elasticsearch index against recorded ES 8 responses on a loopback server.

Each test asserts the exact requests sent (bulk lines, query DSL, aggregations, templates) and
that the recorded answers are read correctly, including rejections, partial failures and outages.
"""

import argparse
import base64
import json
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from search import open_index
from search.base import SearchBackendError, SearchQuery
from search.elastic import BulkWriteError, ElasticIndex, post_documents, post_from_document
from tests.recorded_http import RecordingServer, Reply, unused_loopback_url
from yuqing.cli.commands import index_setup
from yuqing.config import load_settings
from yuqing.config.settings import ElasticsearchSettings
from yuqing.schema import (
    GOV_ATTACHMENTS,
    GOV_DOC_NUMBER,
    GOV_INDEX_NO,
    SHANGHAI,
    CrawlHealth,
    EnrichedPost,
    Event,
    PolicyLink,
    Sentiment,
)

INDEX = "yuqing-posts"
ES_HEADERS = {"X-elastic-product": "Elasticsearch",
              "Content-Type": "application/vnd.elasticsearch+json;compatible-with=8"}
T0 = datetime(2022, 6, 2, 9, 0, tzinfo=SHANGHAI)


def recorded(name: str) -> Reply:
    return Reply.load(f"elastic/{name}.json", index=INDEX)


POSTS = [
    EnrichedPost(id="weibo:4801", url="https://m.weibo.cn/status/4801", platform="weibo", source="weibo-search",
                 text="牡丹区老旧小区改造停工三个月，路面挖开没人管，电话138****5678",
                 masked_text="牡丹区老旧小区改造停工三个月，路面挖开没人管，电话138****5678",
                 published_at=T0, sentiment=Sentiment(score=0.08, label="negative"), places=["牡丹区"],
                 policies=[PolicyLink(id="hz-lxxq", score=0.82)], event_id="ev-1"),
    EnrichedPost(id="news:hzrb-0602", url="https://www.hzrb.cn/2022-06/02/c_0602.html", platform="news",
                 source="hzrb", title="保障性租赁住房申请指南", text="保障性租赁住房申请流程很清楚",
                 published_at=T0 + timedelta(hours=2), sentiment=Sentiment(score=0.91, label="positive")),
    EnrichedPost(id="gov:heze-0607", url="https://www.heze.gov.cn/art/2022/6/7/art_0607.html", platform="gov",
                 source="heze-gov", title="市政府开放月", text="政府开放月活动报名",
                 fetched_at=T0 + timedelta(hours=50)),
]


@pytest.fixture
def es():
    with RecordingServer(default_headers=ES_HEADERS) as server:
        yield server
    assert not server.unmatched, f"unexpected requests: {[(r.method, r.path) for r in server.unmatched]}"


@pytest.fixture
def index(es):
    settings = ElasticsearchSettings(url=es.url, index=INDEX, api_key=SecretStr("VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="))
    ix = ElasticIndex(settings, initial_backoff=0.01, max_backoff=0.05)
    # Posts are written under the events their events were merged into: none of them was, unless a test says so.
    es.route("POST", f"/{INDEX}-events/_mget", Reply(200, {"docs": []}))
    yield ix
    ix.close()


def bulk_pairs(request):
    lines = request.ndjson()
    return list(zip(lines[0::2], lines[1::2], strict=True))


# -- writes ------------------------------------------------------------------------------------------


def test_upsert_sends_one_bulk_with_post_ids_and_bigram_text(es, index):
    es.route("HEAD", f"/{INDEX}", Reply(200))
    es.route("PUT", f"/{INDEX}/_bulk", recorded("bulk_all_created"), recorded("bulk_all_updated"))
    assert index.upsert(POSTS) == 3
    assert index.upsert(POSTS) == 3  # the same ids again: Elasticsearch answers "updated", one copy each

    first, second = es.sent("PUT", f"/{INDEX}/_bulk")
    assert first.body == second.body
    assert first.headers["content-type"] == "application/vnd.elasticsearch+x-ndjson; compatible-with=8"
    assert first.headers["authorization"].startswith("ApiKey VnVhQ2ZH")
    assert first.query == {"refresh": ["false"]}
    pairs = bulk_pairs(first)
    assert [action for action, _ in pairs] == [{"index": {"_id": p.id}} for p in POSTS]
    doc = pairs[0][1]
    assert doc["id"] == "weibo:4801" and doc["places"] == ["牡丹区"] and doc["policies"][0]["id"] == "hz-lxxq"
    assert doc["search_text"].startswith("牡丹 丹区 区老 老旧 旧小 小区 区改 改造 造停 停工")
    assert doc["reach"] == 0
    assert "13812345678" not in json.dumps(doc, ensure_ascii=False)
    assert doc["when"] == "2022-06-02T09:00:00+08:00"
    # A post without a publication time counts at its fetch time.
    assert pairs[2][1]["when"] == (T0 + timedelta(hours=50)).isoformat()
    assert pairs[2][1]["search_text"].startswith("市政 政府 府开 开放 放月 月 ")  # the title is searchable
    # The index is checked once per process, not before every write.
    assert len(es.sent("HEAD", f"/{INDEX}")) == 1


def test_a_post_whose_event_was_merged_away_is_written_under_the_event_it_ended_up_in(es, index):
    es.route("HEAD", f"/{INDEX}", Reply(200))
    es.route("PUT", f"/{INDEX}/_bulk", recorded("bulk_all_created"))

    def merged(event_id: str, into: str | None) -> Reply:
        return Reply(200, {"docs": [{"_index": f"{INDEX}-events", "_id": event_id, "found": True,
                                     "_source": {"merged_into": into} if into else {}}]})

    es.route("POST", f"/{INDEX}-events/_mget", merged("ev-1", "ev-9"), merged("ev-9", "ev-2"), merged("ev-2", None))
    index.upsert(POSTS)
    asked = es.sent("POST", f"/{INDEX}-events/_mget")
    assert [request.json()["ids"] for request in asked] == [["ev-1"], ["ev-9"], ["ev-2"]]
    assert asked[0].query["_source_includes"] == ["merged_into"]
    docs = [doc for _, doc in bulk_pairs(es.sent("PUT", f"/{INDEX}/_bulk")[0])]
    assert [doc.get("event_id") for doc in docs] == ["ev-2", None, None]


def test_partial_bulk_failure_names_the_failed_document(es, index):
    es.route("HEAD", f"/{INDEX}", Reply(200))
    es.route("PUT", f"/{INDEX}/_bulk", recorded("bulk_partial_failure"))
    with pytest.raises(BulkWriteError) as caught:
        index.upsert(POSTS)
    error = caught.value
    assert isinstance(error, SearchBackendError)
    assert error.written == 2
    assert error.failed_ids == ["news:hzrb-0602"]
    assert error.failures[0].status == 400 and not error.retryable
    assert "document_parsing_exception" in str(error) and "failed to parse field [when]" in str(error)
    assert len(es.sent("PUT", f"/{INDEX}/_bulk")) == 1  # a 400 is not resent


def test_rejected_document_is_resent_alone_after_429(es, index):
    es.route("HEAD", f"/{INDEX}", Reply(200))
    es.route("PUT", f"/{INDEX}/_bulk", recorded("bulk_item_rejected_429"), recorded("bulk_retried_one_created"))
    assert index.upsert(POSTS) == 3
    first, retry = es.sent("PUT", f"/{INDEX}/_bulk")
    assert len(bulk_pairs(first)) == 3
    assert [action for action, _ in bulk_pairs(retry)] == [{"index": {"_id": "gov:heze-0607"}}]


def test_whole_bulk_rejected_with_429_is_retried(es, index):
    es.route("HEAD", f"/{INDEX}", Reply(200))
    es.route("PUT", f"/{INDEX}/_bulk", recorded("bulk_request_rejected_429"), recorded("bulk_all_created"))
    assert index.upsert(POSTS) == 3
    first, retry = es.sent("PUT", f"/{INDEX}/_bulk")
    assert first.body == retry.body


def test_429_until_retries_run_out_is_reported_as_retryable(es, index):
    only_rejection = recorded("bulk_item_rejected_429")
    only_rejection.body["items"] = only_rejection.body["items"][2:]
    es.route("HEAD", f"/{INDEX}", Reply(200))
    es.route("PUT", f"/{INDEX}/_bulk", only_rejection)
    index.bulk_retries = 2
    with pytest.raises(BulkWriteError) as caught:
        index.upsert(POSTS[2:])
    assert caught.value.failed_ids == ["gov:heze-0607"] and caught.value.retryable
    assert "es_rejected_execution_exception" in str(caught.value)
    assert len(es.sent("PUT", f"/{INDEX}/_bulk")) == 3  # first try + 2 retries


def test_writing_before_setup_is_refused_and_nothing_is_sent(es, index):
    es.route("HEAD", f"/{INDEX}", Reply(404))
    with pytest.raises(SearchBackendError, match="run `yuqing index setup`"):
        index.upsert(POSTS)
    assert es.sent("PUT", f"/{INDEX}/_bulk") == []
    assert index.upsert([]) == 0  # nothing to write needs no index
    assert len(es.requests) == 1


def test_server_errors_and_refused_credentials_are_clear(es, index):
    es.route("POST", f"/{INDEX}/_search", recorded("all_shards_failed_503"))
    with pytest.raises(SearchBackendError, match="answered 503 search_phase_execution_exception: all shards failed"):
        index.search(SearchQuery())
    assert len(es.sent("POST", f"/{INDEX}/_search")) == 3  # the client retried 503 twice
    es.route("POST", f"/{INDEX}/_search", recorded("unauthorized"))
    with pytest.raises(SearchBackendError, match="401 security_exception.*YUQING_ELASTICSEARCH__API_KEY"):
        index.search(SearchQuery())


def test_down_server_is_a_backend_error():
    ix = ElasticIndex(ElasticsearchSettings(url=unused_loopback_url()), max_retries=0)
    with pytest.raises(SearchBackendError, match="is unreachable"):
        ix.search(SearchQuery(text="停工"))
    with pytest.raises(SearchBackendError, match="is unreachable"):
        ix.upsert(POSTS)


def test_crawl_health_keeps_the_latest_run_by_external_version(es, index):
    health = f"/{INDEX}-crawl-health"
    es.route("HEAD", health, Reply(200))
    es.route("PUT", f"{health}/_bulk", recorded("bulk_health_conflict"))
    runs = [CrawlHealth(source="heze-gov", kind="gov_policy", started_at=T0 + timedelta(hours=4),
                        finished_at=T0 + timedelta(hours=4), items=12, new_items=3),
            CrawlHealth(source="hzrb", kind="news", started_at=T0 + timedelta(hours=4),
                        finished_at=T0 + timedelta(hours=4), items=5)]
    assert index.record_health(runs) == 2  # the 409 for the older hzrb run is not a failure
    actions = [action for action, _ in bulk_pairs(es.sent("PUT", f"{health}/_bulk")[0])]
    millis = int((T0 + timedelta(hours=4)).timestamp() * 1000)
    assert actions == [{"index": {"_id": "heze-gov", "version": millis, "version_type": "external_gte"}},
                       {"index": {"_id": "hzrb", "version": millis, "version_type": "external_gte"}}]


def test_events_are_indexed_by_id(es, index):
    events = f"/{INDEX}-events"
    es.route("HEAD", events, Reply(200))
    es.route("PUT", f"{events}/_bulk", Reply(200, {"errors": False, "took": 3, "items": [
        {"index": {"_index": f"{INDEX}-events", "_id": "ev-1", "_version": 4, "result": "updated", "status": 200,
                   "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 9, "_primary_term": 1}}]}))
    event = Event(id="ev-1", label="老旧小区 停工", first_seen=T0, last_seen=T0 + timedelta(hours=3), size=9)
    assert index.upsert_events([event]) == 1
    ((action, doc),) = bulk_pairs(es.sent("PUT", f"{events}/_bulk")[0])
    assert action == {"index": {"_id": "ev-1"}} and Event.model_validate(doc) == event


def test_a_merged_event_moves_its_posts_to_the_event_it_joined(es, index):
    events = f"/{INDEX}-events"
    es.route("HEAD", events, Reply(200))
    es.route("PUT", f"{events}/_bulk", recorded("bulk_all_updated"))
    es.route("POST", f"/{INDEX}/_update_by_query", recorded("update_by_query"))
    es.route("POST", f"/{INDEX}/_refresh", Reply(200, {"_shards": {"total": 2, "successful": 1, "failed": 0}}))
    merged = [Event(id=f"ev-{n}", label="停工", first_seen=T0, last_seen=T0, size=1, merged_into="ev-1")
              for n in (2, 3)]
    index.upsert_events([*merged, Event(id="ev-1", label="停工", first_seen=T0, last_seen=T0, size=9)])
    # The move searches the posts: those written since the last refresh (this batch's) must be visible to it.
    paths = [r.path for r in es.requests if r.method == "POST"]
    assert paths.index(f"/{INDEX}/_refresh") < paths.index(f"/{INDEX}/_update_by_query")
    [request] = es.sent("POST", f"/{INDEX}/_update_by_query")
    assert request.json() == {"conflicts": "proceed", "query": {"terms": {"event_id": ["ev-2", "ev-3"]}},
                              "script": {"lang": "painless", "source": "ctx._source.event_id = params.into",
                                         "params": {"into": "ev-1"}}}


def test_a_copy_found_late_is_relinked_by_a_partial_update_and_a_missing_one_is_skipped(es, index):
    from yuqing.schema import ReprintLink

    es.route("HEAD", f"/{INDEX}", Reply(200))
    es.route("PUT", f"/{INDEX}/_bulk", Reply(200, {"errors": True, "took": 2, "items": [
        {"update": {"_index": INDEX, "_id": "weibo:4801", "_version": 2, "result": "updated", "status": 200}},
        {"update": {"_index": INDEX, "_id": "weibo:gone", "status": 404,
                    "error": {"type": "document_missing_exception", "reason": "[weibo:gone]: document missing"}}},
    ]}))
    links = [ReprintLink(post_id="weibo:4801", reprint_of="news:hzrb-0602"),
             ReprintLink(post_id="weibo:gone", reprint_of="news:hzrb-0602")]
    assert index.relink(links) == 1
    pairs = bulk_pairs(es.sent("PUT", f"/{INDEX}/_bulk")[0])
    assert pairs[0] == ({"update": {"_id": "weibo:4801"}},
                        {"doc": {"reprint_of": "news:hzrb-0602", "extra": {"转载自": "news:hzrb-0602"}}})


# -- reads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query,expected", [
    (SearchQuery(platforms=["news"]), {"term": {"platform": "news"}}),
    (SearchQuery(sources=["heze-gov"]), {"term": {"source": "heze-gov"}}),
    (SearchQuery(authors=["民生 热线"]), {"term": {"author.name": "民生 热线"}}),
    (SearchQuery(sentiments=["negative"]), {"term": {"sentiment.label": "negative"}}),
    (SearchQuery(places=["曹县", "定陶区"]), {"bool": {"should": [{"term": {"places": "曹县"}},
                                                                 {"term": {"places": "定陶区"}}],
                                                      "minimum_should_match": 1}}),
    (SearchQuery(policies=["hz-lxxq"]), {"term": {"policies.id": "hz-lxxq"}}),
    (SearchQuery(departments=["住建局"]), {"term": {"departments": "住建局"}}),
    (SearchQuery(events=["ev-2"]), {"term": {"event_id": "ev-2"}}),
    (SearchQuery(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=27)),
     {"range": {"when": {"gte": "2022-06-02T10:00:00+08:00", "lt": "2022-06-03T12:00:00+08:00"}}}),
])
def test_each_filter_becomes_a_term_query(es, index, query, expected):
    es.route("POST", f"/{INDEX}/_search", recorded("search_two_hits"))
    index.search(query)
    sent = es.sent("POST", f"/{INDEX}/_search")[0].json()
    assert sent["query"] == expected


@pytest.mark.parametrize("text,expected", [
    ("老旧小区改造", {"match_phrase": {"search_text": {"query": "老旧 旧小 小区 区改 改造"}}}),
    ("水", {"prefix": {"search_text": "水"}}),  # one character: any pair starting with it
    ("停工*^:", {"match_phrase": {"search_text": {"query": "停工"}}}),  # punctuation is never syntax
    ('"供水 公司"', {"match_phrase": {"search_text": {"query": "供水 水公 公司"}}}),
])
def test_words_are_phrases_of_their_bigrams(es, index, text, expected):
    es.route("POST", f"/{INDEX}/_search", recorded("search_two_hits"))
    index.search(SearchQuery(text=text))
    assert es.sent("POST", f"/{INDEX}/_search")[0].json()["query"] == expected


def test_the_query_language_becomes_one_bool_query(es, index):
    es.route("POST", f"/{INDEX}/_search", recorded("search_two_hits"))
    index.search(SearchQuery(text="老旧小区 -表扬 (停水 OR place:牡丹区) platform:weibo", sort="reach"))
    sent = es.sent("POST", f"/{INDEX}/_search")[0].json()
    assert sent["query"] == {"bool": {
        "must": [{"match_phrase": {"search_text": {"query": "老旧 旧小 小区"}}},
                 {"bool": {"should": [{"match_phrase": {"search_text": {"query": "停水"}}},
                                      {"term": {"places": "牡丹区"}}], "minimum_should_match": 1}}],
        "filter": [{"term": {"platform": "weibo"}}],
        "must_not": [{"match_phrase": {"search_text": {"query": "表扬"}}}]}}
    assert sent["sort"] == [{"reach": "desc"}, {"when": "desc"}, {"id": "asc"}]


def test_cursor_continues_with_search_after(es, index):
    es.route("POST", f"/{INDEX}/_search", recorded("search_two_hits"))
    first = index.search(SearchQuery(text="小区", sort="relevance", limit=2))
    index.search(SearchQuery(text="小区", sort="relevance", limit=2, after=first.next_after))
    one, two = (r.json() for r in es.sent("POST", f"/{INDEX}/_search"))
    assert one["sort"] == ["_score", {"when": "desc"}, {"id": "asc"}] and one["track_scores"] is True
    assert "search_after" not in one and two["search_after"] == [1654131600000, "weibo:4801"]


def test_count_is_one_count_request(es, index):
    es.route("POST", f"/{INDEX}/_count", Reply(200, {"count": 41, "_shards": {"total": 1, "successful": 1,
                                                                                "skipped": 0, "failed": 0}}))
    assert index.count(SearchQuery(text="platform:weibo")) == 41
    assert es.sent("POST", f"/{INDEX}/_count")[0].json() == {"query": {"term": {"platform": "weibo"}}}


def test_prune_deletes_by_query_the_posts_before_the_moment(es, index):
    es.route("POST", f"/{INDEX}/_delete_by_query", recorded("delete_by_query"))
    assert index.prune(datetime(2022, 6, 1, tzinfo=SHANGHAI)) == 1120
    sent = es.sent("POST", f"/{INDEX}/_delete_by_query")[0]
    assert sent.json() == {"query": {"range": {"when": {"lt": "2022-06-01T00:00:00+08:00"}}}}
    assert sent.query == {"conflicts": ["proceed"], "refresh": ["true"]}


def test_event_count_is_one_count_request_without_merged_events(es, index):
    es.route("POST", f"/{INDEX}-events/_count", Reply(200, {"count": 17, "_shards": {
        "total": 1, "successful": 1, "skipped": 0, "failed": 0}}))
    assert index.event_count() == 17
    assert es.sent("POST", f"/{INDEX}-events/_count")[0].json() == {
        "query": {"bool": {"must_not": [{"exists": {"field": "merged_into"}}]}}}


def test_scan_reads_every_match_through_a_point_in_time(es, index):
    page = recorded("search_two_hits")
    es.route("POST", f"/{INDEX}/_pit", Reply(200, {"id": "pit-1"}))
    es.route("POST", "/_search", Reply(200, {**page.body, "pit_id": "pit-2"}),
             Reply(200, {**page.body, "pit_id": "pit-2", "hits": {**page.body["hits"], "hits": []}}))
    es.route("DELETE", "/_pit", Reply(200, {"succeeded": True, "num_freed": 1}))
    index.scan_page = 2
    assert [p.id for p in index.scan(SearchQuery(text="小区"))] == ["news:hzrb-0602", "weibo:4801"]
    assert es.sent("POST", f"/{INDEX}/_pit")[0].query == {"keep_alive": ["2m"]}
    one, two = (r.json() for r in es.sent("POST", "/_search"))
    assert one["pit"] == {"id": "pit-1", "keep_alive": "2m"} and "search_after" not in one
    assert two["pit"] == {"id": "pit-2", "keep_alive": "2m"} and two["search_after"] == [1654131600000, "weibo:4801"]
    assert one["sort"] == [{"when": "desc"}, {"id": "asc"}] and one["size"] == 2
    assert es.sent("DELETE", "/_pit")[0].json() == {"id": "pit-2"}


def test_search_is_newest_first_with_paging_and_exact_total(es, index):
    es.route("POST", f"/{INDEX}/_search", recorded("search_two_hits"))
    result = index.search(SearchQuery(limit=2, offset=1))
    sent = es.sent("POST", f"/{INDEX}/_search")[0].json()
    assert sent == {"query": {"match_all": {}}, "sort": [{"when": "desc"}, {"id": "asc"}], "from": 1, "size": 2,
                    "track_total_hits": True}
    assert result.total == 5
    assert [h.id for h in result.hits] == ["news:hzrb-0602", "weibo:4801"]
    assert result.hits[1].sentiment.label == "negative" and result.hits[1].policies[0].id == "hz-lxxq"


def test_get_found_missing_and_missing_index(es, index):
    es.route("GET", f"/{INDEX}/_doc/weibo:4801", recorded("get_found"))
    es.route("GET", f"/{INDEX}/_doc/weibo:0000", recorded("get_not_found"))
    post = index.get("weibo:4801")
    assert post is not None and post.places == ["牡丹区"] and post.event_id == "ev-1"
    assert index.get("weibo:0000") is None
    es.route("GET", f"/{INDEX}/_doc/weibo:4801", recorded("index_not_found"))
    with pytest.raises(SearchBackendError, match=f"index {INDEX} does not exist.*yuqing index setup"):
        index.get("weibo:4801")


def test_round_trip_of_the_indexed_form():
    gov = POSTS[2].model_copy(update={"extra": {
        GOV_INDEX_NO: "11371700MB2854952A/2022-00123", GOV_DOC_NUMBER: "菏政办发〔2022〕7号",
        GOV_ATTACHMENTS: [{"title": "附件1.pdf", "url": "https://www.heze.gov.cn/fj/1.pdf"}]}})
    for post, doc in zip((POSTS[0], gov), post_documents([POSTS[0], gov]), strict=True):
        assert post_from_document(json.loads(json.dumps(doc, ensure_ascii=False))) == post


def test_histogram_uses_shanghai_calendar_buckets(es, index):
    es.route("POST", f"/{INDEX}/_search", recorded("facets_day"))
    days = index.histogram(SearchQuery(text="老旧小区"), "day")
    sent = es.sent("POST", f"/{INDEX}/_search")[0].json()
    assert sent["size"] == 0
    assert sent["aggs"] == {"buckets": {
        "date_histogram": {"field": "when", "calendar_interval": "1d", "time_zone": "Asia/Shanghai",
                           "min_doc_count": 1},
        "aggs": {"sentiment": {"terms": {"field": "sentiment.label", "missing": "unknown", "size": 4}}}}}
    assert days == [(datetime(2022, 6, 2, tzinfo=SHANGHAI), 2), (datetime(2022, 6, 4, tzinfo=SHANGHAI), 1)]
    index.histogram(SearchQuery(), "hour")
    hourly = es.sent("POST", f"/{INDEX}/_search")[1].json()
    assert hourly["aggs"]["buckets"]["date_histogram"]["calendar_interval"] == "1h"


def test_facets_read_buckets_sentiment_and_terms(es, index):
    es.route("POST", f"/{INDEX}/_search", recorded("facets_day"))
    found = index.facets(SearchQuery(text="老旧小区"), ["places", "sentiments"], size=5)
    sent = es.sent("POST", f"/{INDEX}/_search")[0].json()
    assert sent["aggs"]["places"] == {"terms": {"field": "places", "size": 5, "shard_size": 1000,
                                                "order": [{"_count": "desc"}, {"_key": "asc"}]}}
    assert sent["aggs"]["sentiments"]["terms"]["missing"] == "unknown"
    assert found.total == 5
    assert [(b.start, b.count, b.sentiment) for b in found.buckets] == [
        (datetime(2022, 6, 2, tzinfo=SHANGHAI), 2, {"negative": 1, "positive": 1}),
        (datetime(2022, 6, 3, tzinfo=SHANGHAI), 0, {}),
        (datetime(2022, 6, 4, tzinfo=SHANGHAI), 1, {"unknown": 1})]
    assert [(v.value, v.count) for v in found.values["places"]] == [("牡丹区", 2), ("曹县", 1)]


@pytest.mark.parametrize("field,es_field", [("platform", "platform"), ("sentiment", "sentiment.label")])
def test_counts_by_is_a_terms_aggregation(es, index, field, es_field):
    es.route("POST", f"/{INDEX}/_search", recorded("facets_counts"))
    name = {"platform": "platforms", "sentiment": "sentiments"}[field]
    counts = index.counts_by(field, SearchQuery(places=["牡丹区"]))
    sent = es.sent("POST", f"/{INDEX}/_search")[0].json()
    assert sent["aggs"][name]["terms"]["field"] == es_field
    assert sent["query"] == {"term": {"places": "牡丹区"}}
    assert list(counts.items()) == [("weibo", 3), ("news", 1), ("gov", 1)] if field == "platform" else \
        list(counts.items()) == [("negative", 4), ("unknown", 1)]


def test_events_leave_out_merged_and_read_newest_first(es, index):
    es.route("POST", f"/{INDEX}-events/_search", recorded("events_search"))
    events = index.events(since=T0, limit=5)
    sent = es.sent("POST", f"/{INDEX}-events/_search")[0].json()
    assert sent == {"query": {"bool": {"must_not": [{"exists": {"field": "merged_into"}}],
                                       "filter": [{"range": {"last_seen": {"gte": "2022-06-02T09:00:00+08:00"}}}]}},
                    "sort": [{"last_seen": "desc"}, {"id": "asc"}], "size": 5}
    assert [e.id for e in events] == ["ev-1"] and events[0].platforms == {"weibo": 7, "news": 2}


def test_events_by_id_are_one_mget_leaving_out_missing_and_merged_events(es, index):
    def found(event_id: str, **extra: str) -> dict:
        event = Event(id=event_id, label="停工", first_seen=T0, last_seen=T0, size=2, **extra)
        return {"_index": f"{INDEX}-events", "_id": event_id, "found": True, "_source": event.model_dump(mode="json")}

    es.route("POST", f"/{INDEX}-events/_mget", Reply(200, {"docs": [
        found("ev-2"), {"_index": f"{INDEX}-events", "_id": "ev-gone", "found": False},
        found("ev-3", merged_into="ev-2"), found("ev-1")]}))
    events = index.events_by_id(["ev-2", "ev-gone", "ev-3", "ev-1", "ev-2"])
    assert [request.json()["ids"] for request in es.sent("POST", f"/{INDEX}-events/_mget")] == [
        ["ev-2", "ev-gone", "ev-3", "ev-1"]]
    assert [e.id for e in events] == ["ev-2", "ev-1"]
    assert index.events_by_id([]) == [] and len(es.sent("POST", f"/{INDEX}-events/_mget")) == 1


def test_large_limits_page_with_search_after(es, index):
    page = recorded("events_search")
    hit = page.body["hits"]["hits"][0]
    two = Reply(200, {**page.body, "hits": {**page.body["hits"], "hits": [hit, {**hit, "sort": [1654142000000, "ev-9"]}]}})
    es.route("POST", f"/{INDEX}-events/_search", two, page)
    index.page_size = 2
    assert len(index.events(limit=1_000_000)) == 3
    first, second = (r.json() for r in es.sent("POST", f"/{INDEX}-events/_search"))
    assert first["size"] == 2 and "search_after" not in first
    assert second["search_after"] == [1654142000000, "ev-9"]


def test_crawl_health_reads_every_source(es, index):
    es.route("POST", f"/{INDEX}-crawl-health/_search", recorded("crawl_health_search"))
    health = index.crawl_health()
    sent = es.sent("POST", f"/{INDEX}-crawl-health/_search")[0].json()
    assert sent["sort"] == [{"source": "asc"}]
    assert [(h.source, h.blind) for h in health] == [("heze-gov", False), ("hzrb", True)]


# -- setup and wiring --------------------------------------------------------------------------------


def route_setup(es, existing):
    for suffix in ("", "-events", "-crawl-health"):
        name = INDEX + suffix
        es.route("PUT", f"/_index_template/{name}", recorded("acknowledged"))
        es.route("HEAD", f"/{name}", Reply(200 if name in existing else 404))
        es.route("PUT", f"/{name}", Reply.load("elastic/index_created.json", index=name))


def test_setup_installs_templates_and_creates_only_missing_indices(es, index):
    route_setup(es, existing={INDEX})
    steps = index.setup()
    assert [(s.index, s.created) for s in steps] == [
        (INDEX, False), (f"{INDEX}-events", True), (f"{INDEX}-crawl-health", True)]
    assert es.sent("PUT", f"/{INDEX}") == []
    template = es.sent("PUT", f"/_index_template/{INDEX}")[0].json()
    assert template["index_patterns"] == [INDEX] and template["priority"] == 200
    assert template["template"]["settings"]["analysis"]["analyzer"]["yuqing_segmented"] == {
        "type": "custom", "tokenizer": "whitespace", "filter": ["lowercase"]}
    mappings = template["template"]["mappings"]
    assert mappings["properties"]["search_text"]["analyzer"] == "yuqing_segmented"
    assert mappings["properties"]["when"] == {"type": "date"}
    assert mappings["properties"]["extra"] == {"type": "object", "enabled": False}
    assert es.sent("PUT", f"/_index_template/{INDEX}-events")[0].json()["index_patterns"] == [f"{INDEX}-events"]


def test_setup_tolerates_an_index_created_meanwhile(es, index):
    route_setup(es, existing={INDEX, f"{INDEX}-events"})
    es.route("PUT", f"/{INDEX}-crawl-health",
             Reply.load("elastic/resource_already_exists.json", index=f"{INDEX}-crawl-health"))
    assert [s.created for s in index.setup()] == [False, False, False]


def run_index_setup(capsys):
    parser = argparse.ArgumentParser()
    index_setup.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["index", "setup"])
    args.config = None
    code = args.func(args)
    return code, capsys.readouterr().out


def test_index_setup_command_is_idempotent(es, monkeypatch, capsys):
    monkeypatch.setenv("YUQING_INDEX", "elasticsearch")
    monkeypatch.setenv("YUQING_ELASTICSEARCH__URL", es.url)
    route_setup(es, existing=set())
    code, out = run_index_setup(capsys)
    assert code == 0 and out.count(": created") == 3
    route_setup(es, existing={INDEX, f"{INDEX}-events", f"{INDEX}-crawl-health"})
    code, out = run_index_setup(capsys)
    assert code == 0 and out.count("index exists, skipping") == 3 and "created" not in out


def test_open_index_takes_credentials_from_the_environment(es, monkeypatch):
    monkeypatch.setenv("YUQING_INDEX", "elasticsearch")
    monkeypatch.setenv("YUQING_ELASTICSEARCH__URL", es.url)
    monkeypatch.setenv("YUQING_ELASTICSEARCH__USERNAME", "yuqing_writer")
    monkeypatch.setenv("YUQING_ELASTICSEARCH__PASSWORD", "s3cret-from-env")
    settings = load_settings()
    assert "s3cret-from-env" not in json.dumps(settings.masked())
    es.route("POST", f"/{INDEX}/_search", recorded("facets_counts"))
    with open_index(settings) as ix:
        assert isinstance(ix, ElasticIndex)
        assert ix.counts_by("platform") == {"weibo": 3, "news": 1, "gov": 1}
    assert es.requests[0].headers["authorization"] == "Basic " + base64.b64encode(
        b"yuqing_writer:s3cret-from-env").decode()


def test_a_refusal_that_will_never_pass_sends_its_items_to_the_dead_letter_topic(es, index, tmp_path):
    """A 400 to the event merge (a server that cannot run the script) is not an outage: the merged event goes
    to the dead-letter topic with the server's reason, everything else is written, and the stage moves on."""
    from transport import EVENTS, dead_letter
    from transport.sqlite_log import SqliteTransport
    from workers.runner import ERROR_HEADER, Worker
    from workers.stages import IndexStage

    events = f"/{INDEX}-events"
    es.route("HEAD", events, Reply(200))
    es.route("PUT", f"{events}/_bulk", recorded("bulk_all_updated"))
    es.route("POST", f"/{INDEX}/_update_by_query", recorded("update_by_query_script_refused_400"))
    es.route("POST", f"/{INDEX}/_refresh", Reply(200, {"_shards": {"total": 2, "successful": 1, "failed": 0}}))
    transport = SqliteTransport(tmp_path / "transport.sqlite3")
    merged = Event(id="ev-2", label="停工", first_seen=T0, last_seen=T0, size=1, merged_into="ev-1")
    kept = Event(id="ev-1", label="停工", first_seen=T0, last_seen=T0, size=9)
    for event in (merged, kept):
        transport.publish(EVENTS, event.model_dump(mode="json"), key=event.id)
    outcomes = Worker(transport, IndexStage(index), poll_timeout=0.05, backoff_max=1.0).run(until_idle=True)
    assert outcomes["quarantined"] == 1 and outcomes["processed"] == 1 and not outcomes["backend_down"]
    with transport.consumer("check", [dead_letter(EVENTS)]) as consumer:
        [dead] = consumer.poll(10, timeout=0.2)
    assert dead.value["id"] == "ev-2"
    assert "answered 400 illegal_argument_exception: script_lang not supported [painless]" in dead.headers[ERROR_HEADER]
    *_, alone = es.sent("PUT", f"{events}/_bulk")  # then one by one: only the refused one is held back
    assert [action["index"]["_id"] for action, _ in bulk_pairs(alone)] == ["ev-1"]
    transport.close()
