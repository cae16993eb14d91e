"""The spiders end to end against loopback servers of the fixtures: items, problems, incremental
re-crawls, blindness, robots.txt, and spooling when the transport is down.

Each crawl runs in a child process (`crawl_in_subprocess`): Scrapy's reactor starts once per process.
"""

import shutil
from pathlib import Path

import pytest

from transport import CRAWL_HEALTH, RAW_POSTS
from transport.sqlite_log import SqliteTransport
from workers.crawl import crawl_in_subprocess
from yuqing.config import load_settings
from yuqing.config.datafiles import Source

FIXTURES = Path(__file__).resolve().parent / "fixtures"

pytestmark = pytest.mark.slow


def settings_for(data_dir, **crawl):
    settings = load_settings(None, data_dir=data_dir)
    settings.crawl.download_delay = 0.0
    settings.crawl.autothrottle = False
    for key, value in crawl.items():
        setattr(settings.crawl, key, value)
    return settings


def posts(data_dir, topic=RAW_POSTS):
    transport = SqliteTransport(Path(data_dir) / "transport.sqlite3")
    with transport.consumer("test-reader", [topic]) as consumer:
        values = [m.value for m in consumer.poll(1000, timeout=0.2)]
    transport.close()
    return values


@pytest.fixture
def sites(fixture_server):
    gov, gov_hits = fixture_server(FIXTURES / "gov_policy")
    news, news_hits = fixture_server(FIXTURES / "news")
    rss, rss_hits = fixture_server(FIXTURES / "rss")
    sources = [
        Source(name="heze-gov", kind="gov_policy", title="菏泽市人民政府",
               params={"start_urls": [f"{gov}/col/col35425/index.html"], "item_allow": ["/art/", "/status/"]}),
        Source(name="heze-news", kind="news", params={"start_urls": [f"{news}/news/index.html"]}),
        Source(name="heze-feed", kind="rss", params={"feed_urls": [f"{rss}/feed.xml", f"{rss}/notafeed.xml"]}),
    ]
    return sources, {"gov": gov_hits, "news": news_hits, "rss": rss_hits}


def by_source(runs):
    return {run.source: run for run in runs}


def test_crawl_then_recrawl(sites, tmp_path):
    sources, hits = sites
    settings = settings_for(tmp_path)
    first = by_source(crawl_in_subprocess(settings, sources, extract_workers=1))

    gov, news, feed = first["heze-gov"], first["heze-news"], first["heze-feed"]
    assert (gov.items, gov.new_items) == (4, 4)
    assert gov.problems == {"http_5xx": 1}
    assert hits["gov"].count("/status/503") == 3  # retried twice, with backoff
    assert news.items == 5 and news.new_items == 4  # the mobile copy is an exact duplicate
    assert news.problems == {"login_wall": 1, "captcha": 1, "empty_page": 1, "no_text": 1}
    assert "/news/index_1.html" in hits["news"]  # pagination followed
    assert feed.items == 2
    assert feed.problems == {"robots_disallowed": 1, "bad_feed": 1}
    assert not any(h.startswith("/private/") for h in hits["rss"])

    published = {p["title"]: p for p in posts(tmp_path)}
    assert len(published) == 10
    document = published["菏泽市人民政府办公室关于进一步加强城镇老旧小区改造工作的实施意见"]
    assert document["platform"] == "gov"
    assert document["extra"]["发文字号"] == "菏政办发〔2022〕12号"
    assert document["extra"]["有效性"] == "现行有效"
    assert document["extra"]["政策解读"].endswith("/art/2022/6/3/art_35426_10299002.html")
    assert len(document["extra"]["附件"]) == 2
    assert document["published_at"].startswith("2022-06-02")
    assert "监督电话0530-5310000" in document["text"]  # an office's published number is public
    repealed = published["菏泽市人民政府关于印发菏泽市城区集中供热管理办法的通知"]
    assert repealed["extra"]["有效性"] == "已废止"
    gbk = published["菏泽市人民政府办公室关于做好2023年春节期间农民工工资支付工作的通知"]
    assert "拉网式排查" in gbk["text"] and gbk["extra"]["有效性"] == "现行有效"
    assert published["《关于进一步加强城镇老旧小区改造工作的实施意见》政策解读"]["extra"]["是解读"] is True
    article = published["牡丹区今年将改造老旧小区46个 惠及居民1.2万户"]
    assert "13812345678" not in article["text"] and "138****5678" in article["text"]
    assert "中华路***号" in article["text"]
    assert article["published_at"].startswith("2022-06-02T10:31:00")
    assert article["extra"]["来源"] == "菏泽日报"
    assert "拉网式" not in published["郓城县开展夏季安全生产大检查"]["text"]
    assert published["郓城县开展夏季安全生产大检查"]["published_at"].startswith("2022-05-30T16:45:12")
    assert published["我市启动2022年“放心消费”创建活动"]["platform"] == "news"
    assert len(posts(tmp_path, CRAWL_HEALTH)) == 3

    # Second run: list pages and feeds only; nothing seen is fetched or published again.
    for site_hits in hits.values():
        site_hits.clear()
    second = by_source(crawl_in_subprocess(settings, sources, extract_workers=0))
    assert all(run.new_items == 0 for run in second.values())
    assert all(run.silent_runs == 0 and not run.blind for run in second.values())
    assert "/art/2022/6/2/art_35425_10299001.html" not in hits["gov"]
    assert "/news/202206/t20220602_1001.html" not in hits["news"]
    assert "/a/20220602_0001.html" not in hits["rss"]
    assert "/news/202206/t20220603_1004.html" in hits["news"]  # the wall is tried again: nothing was read
    assert len(posts(tmp_path)) == 10


def test_a_source_that_shows_nothing_goes_blind(fixture_server, tmp_path):
    base, _ = fixture_server(FIXTURES / "news")
    gone = Source(name="moved-site", kind="news", params={"start_urls": [f"{base}/moved/index.html"]})
    settings = settings_for(tmp_path, silent_runs_before_blind=2)
    first = crawl_in_subprocess(settings, [gone], extract_workers=0)[0]
    assert (first.items, first.silent_runs, first.blind) == (0, 1, False)
    assert first.problems == {"http_404": 1}
    second = crawl_in_subprocess(settings, [gone], extract_workers=0)[0]
    assert (second.silent_runs, second.blind) == (2, True)
    health = posts(tmp_path, CRAWL_HEALTH)
    assert [h["blind"] for h in health] == [False, True]


def test_robots_can_be_switched_off_per_source(fixture_server, tmp_path):
    base, hits = fixture_server(FIXTURES / "rss")
    feed = Source(name="feed", kind="rss", obey_robots=False, params={"feed_urls": [f"{base}/feed.xml"]})
    run = crawl_in_subprocess(settings_for(tmp_path), [feed], extract_workers=0)[0]
    assert "/private/20220601_0003.html" in hits
    assert "/robots.txt" not in hits
    assert run.problems.get("robots_disallowed") is None


def test_transport_down_keeps_items_for_the_next_run(fixture_server, tmp_path):
    base, _ = fixture_server(FIXTURES / "rss")
    feed = Source(name="feed", kind="rss", params={"feed_urls": [f"{base}/feed.xml"]})
    settings = settings_for(tmp_path)
    blocker = tmp_path / "transport.sqlite3"
    blocker.mkdir()  # the embedded log cannot be opened: the transport is down
    down = crawl_in_subprocess(settings, [feed], extract_workers=0)[0]
    assert down.items == 2
    spool = (tmp_path / "crawl-spool.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(spool) == 3  # two posts and the crawl-health record
    shutil.rmtree(blocker)
    crawl_in_subprocess(settings, [feed], extract_workers=0)
    assert len(posts(tmp_path)) == 2
    assert not (tmp_path / "crawl-spool.jsonl").exists()


def test_a_parser_exception_is_counted_not_fatal(tmp_path):
    from types import SimpleNamespace

    from scrapy.http import HtmlResponse

    from pipelines import Publisher
    from spiders.base import CrawlContext
    from spiders.middleware import CountSpiderErrors
    from spiders.news import ListingParams, NewsSpider
    from stores.seen import SqliteSeenStore

    context = CrawlContext(settings=settings_for(tmp_path), seen=SqliteSeenStore(tmp_path / "seen.sqlite3"),
                           publisher=Publisher(None, tmp_path / "spool.jsonl"))
    spider = NewsSpider(source=Source(name="s", kind="news", params={"start_urls": ["http://x.cn/"]}),
                        params=ListingParams(start_urls=["http://x.cn/"]), context=context)
    middleware = CountSpiderErrors.from_crawler(SimpleNamespace(spider=spider))
    response = HtmlResponse("http://x.cn/a.html", body=b"<html></html>")
    assert middleware.process_spider_exception(response, ValueError("unexpected layout")) == []
    assert spider.stats_row.problems == {"parse_error": 1}


def test_feed_without_following_uses_the_summaries(fixture_server, tmp_path):
    base, hits = fixture_server(FIXTURES / "rss")
    feed = Source(name="atom", kind="rss",
                  params={"feed_urls": [f"{base}/atom.xml"], "follow": False, "platform": "gov"})
    run = crawl_in_subprocess(settings_for(tmp_path), [feed], extract_workers=0)[0]
    assert (run.items, run.new_items) == (1, 1)
    assert not any(h.startswith("/a/") for h in hits)  # no article page fetched
    post = posts(tmp_path)[0]
    assert post["platform"] == "gov"  # the feed's entries count as the government site's
    assert post["text"] == "6月2日，全市城镇老旧小区改造工作推进会召开。"
    assert post["published_at"].startswith("2022-06-02T10:31:00")
    assert post["author"]["name"] == "菏泽发布"


def test_crawlers_on_two_machines_share_the_postgres_seen_store(fixture_server, tmp_path, postgres_settings):
    from stores import postgres

    postgres.setup(postgres_settings)
    base, hits = fixture_server(FIXTURES / "rss")
    feed = Source(name="heze-feed", kind="rss", params={"feed_urls": [f"{base}/feed.xml"]})
    first_machine, second_machine = (settings_for(tmp_path / name) for name in ("a", "b"))
    for settings in (first_machine, second_machine):
        settings.state, settings.postgres = "postgres", postgres_settings
    first = crawl_in_subprocess(first_machine, [feed], extract_workers=0)[0]
    assert first.new_items > 0
    assert not (tmp_path / "a" / "crawl-seen.sqlite3").exists()  # the state is in PostgreSQL, not a file
    article = next(path for path in hits if path.startswith("/a/"))
    hits.clear()
    second = crawl_in_subprocess(second_machine, [feed], extract_workers=0)[0]
    assert second.new_items == 0 and second.silent_runs == 0
    assert article not in hits  # the other machine fetched it: not fetched again
    assert len(posts(tmp_path / "a")) == first.new_items and posts(tmp_path / "b") == []
