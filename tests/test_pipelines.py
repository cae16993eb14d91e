"""Item pipelines: validate, normalise, mask, de-duplicate, publish, and spooling when the transport is down."""

from types import SimpleNamespace

import pytest
from scrapy.exceptions import DropItem

from pipelines import (
    DedupePipeline,
    MaskPipeline,
    NormalisePipeline,
    Publisher,
    PublishPipeline,
    ValidatePipeline,
    mask_post,
    normalise_post,
)
from spiders.base import CrawlContext
from spiders.news import ListingParams, NewsSpider
from stores.seen import SqliteSeenStore
from transport import RAW_POSTS, TransportError, dead_letter
from transport.sqlite_log import SqliteTransport
from yuqing.config import load_settings
from yuqing.config.datafiles import Source
from yuqing.schema import Post


class DownTransport:
    """A transport whose backend is unreachable."""

    def publish(self, topic, value, key=None, headers=None):
        raise TransportError("broker down")

    def flush(self):
        raise TransportError("broker down")


def read_topic(path, topic):
    transport = SqliteTransport(path)
    with transport.consumer("test", [topic]) as consumer:
        messages = consumer.poll(1000, timeout=0.2)
    transport.close()
    return messages


@pytest.fixture
def make_spider(tmp_path):
    def make(transport=None):
        settings = load_settings(None, data_dir=tmp_path)
        if transport is None:
            transport = SqliteTransport(tmp_path / "transport.sqlite3")
        context = CrawlContext(settings=settings, seen=SqliteSeenStore(tmp_path / "seen.sqlite3"),
                               publisher=Publisher(transport, tmp_path / "spool.jsonl"))
        source = Source(name="heze-news", kind="news", params={"start_urls": ["http://x.cn/"]})
        return NewsSpider(source=source, params=ListingParams(start_urls=["http://x.cn/"]), context=context)
    return make


def run_pipelines(spider, item):
    """The five stages in order; one set of stage objects per spider, as in a Scrapy crawl."""
    if not hasattr(spider, "test_stages"):
        crawler = SimpleNamespace(spider=spider)
        spider.test_stages = [ValidatePipeline(crawler), NormalisePipeline(crawler), MaskPipeline(crawler),
                              DedupePipeline(crawler), PublishPipeline(crawler)]
    for stage in spider.test_stages:
        item = stage.process_item(item)
    return item


def raw_item(spider, url="http://x.cn/news/t20220602_1.html", **fields):
    base = {"title": "牡丹区改造老旧小区", "text": "居民王女士电话13812345678。", "published_at": "2022-06-02T10:31:00"}
    return spider.post_item(url, **{**base, **fields})


def test_a_good_item_is_published_masked_with_its_id_as_key(make_spider, tmp_path):
    spider = make_spider()
    post = run_pipelines(spider, raw_item(spider))
    messages = read_topic(tmp_path / "transport.sqlite3", RAW_POSTS)
    assert len(messages) == 1
    assert messages[0].key == post.id
    value = messages[0].value
    assert "13812345678" not in value["text"] and "138****5678" in value["text"]
    assert value["published_at"].startswith("2022-06-02T10:31:00+08:00")
    assert spider.stats_row.items == 1 and spider.stats_row.new_items == 1


def test_invalid_item_goes_to_dead_letter_and_is_counted(make_spider, tmp_path):
    spider = make_spider()
    with pytest.raises(DropItem):
        run_pipelines(spider, {"url": "http://x.cn/a", "platform": "news", "source": "heze-news",
                               "published_at": "not a date"})
    assert spider.stats_row.problems["invalid_item"] == 1
    dead = read_topic(tmp_path / "transport.sqlite3", dead_letter(RAW_POSTS))
    assert len(dead) == 1 and dead[0].value["item"]["url"] == "http://x.cn/a"


def test_exact_duplicates_are_dropped_within_and_across_runs(make_spider):
    spider = make_spider()
    run_pipelines(spider, raw_item(spider))
    with pytest.raises(DropItem):  # same page again in this run
        run_pipelines(spider, raw_item(spider))
    with pytest.raises(DropItem):  # same text under another URL (a mobile copy)
        run_pipelines(spider, {**raw_item(spider), "url": "http://x.cn/news/t20220602_1_m.html"})
    assert spider.stats_row.unchanged == 2
    spider.context.publisher.flush()  # the run ends with its posts confirmed
    # A later run: unchanged content is not published again, changed content is.
    later = make_spider()
    with pytest.raises(DropItem):
        run_pipelines(later, raw_item(later))
    run_pipelines(later, raw_item(later, text="更正：居民王女士反映的问题已解决。"))
    assert later.stats_row.updated == 1 and later.stats_row.new_items == 0


def test_normalise_whitespace_fullwidth_and_dates():
    post = Post(url="http://x.cn/a", platform="gov", source="s", title="  关于　２０２２年 工作的通知 ",
                text="第一段  \u3000 内容\n\n\n\n第二段", extra={"成文日期": "2022年05月27日", "发布日期": "2022-06-02 10:31"})
    normal = normalise_post(post)
    assert normal.title == "关于 2022年 工作的通知"
    assert normal.text == "第一段 内容\n\n第二段"
    assert normal.extra["成文日期"] == "2022-05-27"
    assert normal.extra["发布日期"].startswith("2022-06-02T10:31")


def test_normalise_drops_a_published_time_in_the_future():
    post = Post(url="http://x.cn/a", platform="news", source="s", published_at="2099-01-01T00:00:00")
    assert normalise_post(post).published_at is None


def test_mask_post_covers_free_text_extra_but_not_document_identifiers():
    post = Post(url="http://x.cn/a", platform="board", source="s", text="车牌鲁R12345",
                extra={"回复内容": "请拨打13912345678联系", "索引号": "11371700004345623G/2022-00118",
                       "附件": [{"title": "名单13812345678.pdf", "url": "http://x.cn/13812345678.pdf"}]})
    masked = mask_post(post)
    assert "12345" not in masked.text
    assert masked.extra["回复内容"] == "请拨打139****5678联系"
    assert masked.extra["索引号"] == "11371700004345623G/2022-00118"
    assert masked.extra["附件"][0]["url"] == "http://x.cn/13812345678.pdf"  # a link must still work
    assert "13812345678" not in masked.extra["附件"][0]["title"]
    assert mask_post(masked) == masked


def test_transport_down_spools_and_the_next_run_replays(make_spider, tmp_path):
    down = make_spider(transport=DownTransport())
    run_pipelines(down, raw_item(down))
    run_pipelines(down, raw_item(down, url="http://x.cn/2", title="另一篇", text="另一篇的正文内容。"))
    assert down.stats_row.spooled == 2
    assert down.context.publisher.pending() == 2
    # Next run: the transport is back; the spool is sent first, in order, then the new item.
    up = make_spider()
    run_pipelines(up, raw_item(up, url="http://x.cn/3", title="第三篇", text="第三篇的正文内容。"))
    titles = [m.value["title"] for m in read_topic(tmp_path / "transport.sqlite3", RAW_POSTS)]
    assert sorted(titles) == sorted(["牡丹区改造老旧小区", "另一篇", "第三篇"])  # order is per key (partition)
    assert up.context.publisher.pending() == 0


def test_a_corrupt_spool_line_is_kept_aside_not_lost(tmp_path):
    spool = tmp_path / "spool.jsonl"
    spool.write_text('{"topic": "posts.raw", "key": "a", "value": {"n": 1}}\n{"topic": "posts.raw", "ke\n',
                     encoding="utf-8")
    transport = SqliteTransport(tmp_path / "t.sqlite3")
    assert Publisher(transport, spool).replay()
    assert not spool.exists()
    assert spool.with_suffix(".bad").read_text(encoding="utf-8").startswith('{"topic": "posts.raw", "ke')
    transport.close()


def test_mask_post_masks_personal_data_in_the_author_field():
    board = Post(url="http://x.cn/b", platform="board", source="s", text="路灯坏了", author={"name": "李建国"})
    assert mask_post(board).author.name == "李**"
    weibo = Post(url="http://x.cn/w", platform="weibo", source="s", text="路灯坏了", author={"name": "13812345678"})
    assert mask_post(weibo).author.name == "138****5678"
    outlet = Post(url="http://x.cn/n", platform="news", source="s", text="路灯坏了", author={"name": "菏泽日报"})
    assert mask_post(outlet).author.name == "菏泽日报"


@pytest.mark.parametrize("misread", ["0001-01-01T00:00:00", "1899-12-31T00:00:00", "9999-12-31T23:59:59"])
def test_normalise_drops_a_published_time_outside_the_sane_window(misread):
    post = Post(url="http://x.cn/a", platform="news", source="s", published_at=misread)
    assert normalise_post(post).published_at is None


class BufferingTransport:
    """Takes messages into a client buffer, like Kafka's producer; `flush` confirms or, when `down`, loses them."""

    def __init__(self, path):
        self.log = SqliteTransport(path)
        self.buffer = []
        self.down = False

    def publish(self, topic, value, key=None, headers=None):
        self.buffer.append((topic, value, key))

    def flush(self):
        buffered, self.buffer = self.buffer, []
        if self.down:
            raise TransportError("3 message(s) were not delivered; first error: KafkaTimeoutError")
        for topic, value, key in buffered:
            self.log.publish(topic, value, key=key)


def test_a_post_is_marked_seen_only_once_the_transport_confirmed_it(make_spider, tmp_path):
    transport = BufferingTransport(tmp_path / "transport.sqlite3")
    spider = make_spider(transport=transport)
    post = run_pipelines(spider, raw_item(spider))
    seen = spider.context.seen
    assert seen.is_new_content("heze-news", post.id, "any") == (True, False)  # handed over, not confirmed
    assert spider.context.publisher.flush()
    assert seen.is_new_content("heze-news", post.id, "any") == (False, True)
    assert len(read_topic(tmp_path / "transport.sqlite3", RAW_POSTS)) == 1


def test_posts_the_broker_never_confirmed_are_spooled_and_replayed(make_spider, tmp_path):
    transport = BufferingTransport(tmp_path / "transport.sqlite3")
    spider = make_spider(transport=transport)
    run_pipelines(spider, raw_item(spider))
    run_pipelines(spider, raw_item(spider, url="http://x.cn/2", title="另一篇", text="另一篇的正文内容。"))
    transport.down = True  # the broker went away: the client's buffered messages expire
    assert not spider.context.publisher.flush()
    assert spider.context.publisher.pending() == 2
    assert spider.stats_row.spooled == 2
    # The next run replays them: nothing lost, although a later crawl would skip them as seen.
    up = make_spider()
    assert up.context.publisher.replay()
    titles = sorted(m.value["title"] for m in read_topic(tmp_path / "transport.sqlite3", RAW_POSTS))
    assert titles == sorted(["牡丹区改造老旧小区", "另一篇"])


def test_replay_keeps_the_spool_until_the_transport_confirmed_it(tmp_path):
    spool = tmp_path / "spool.jsonl"
    spool.write_text('{"topic": "posts.raw", "key": "a", "value": {"n": 1}}\n'
                     '{"topic": "posts.raw", "key": "b", "value": {"n": 2}}\n', encoding="utf-8")
    transport = BufferingTransport(tmp_path / "t.sqlite3")
    transport.down = True
    assert not Publisher(transport, spool).replay()
    assert Publisher(None, spool).pending() == 2
