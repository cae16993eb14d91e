"""Article extraction: the fixtures' fields exactly, and the real saved pages of ../shared against
hand-checked truth (bench/data/extraction_truth.yaml). The real pages are GPL/MIT test material of
other projects: they are read in place, not copied; those tests skip when ../shared is absent."""

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from spiders.extract import Selectors, extract_article, strip_site_name
from spiders.parsing import decode_page
from yuqing.schema import SHANGHAI, Post

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
TRUTH = yaml.safe_load((ROOT / "bench" / "data" / "extraction_truth.yaml").read_text(encoding="utf-8"))["pages"]


def read(name: str) -> str:
    return decode_page((FIXTURES / name).read_bytes())[0]


def test_news_article_fields():
    article = extract_article(read("news/news/202206/t20220602_1001.html"))
    assert article.title == "牡丹区今年将改造老旧小区46个 惠及居民1.2万户"
    assert article.published_at.isoformat() == "2022-06-02T10:31:00+08:00"
    assert (article.source_name, article.author) == ("菏泽日报", "张明")
    assert article.text.startswith("本报讯（记者 张明 通讯员 王芳）")
    assert "相关新闻" not in article.text and "版权所有" not in article.text


def test_table_layout_page_without_charset():
    article = extract_article(read("news/news/202205/t20220530_1003.html"))
    assert article.title == "郓城县开展夏季安全生产大检查"
    assert article.published_at.isoformat() == "2022-05-30T16:45:12+08:00"
    assert article.source_name == "郓城县融媒体中心"
    assert article.text.startswith("为切实做好夏季安全生产工作") and "首页" not in article.text


def test_meta_published_time_and_og_title():
    article = extract_article(read("news/news/202205/t20220529_1008.html"))
    assert article.title == "单县羊肉汤节吸引游客五万人次"
    assert article.published_at.isoformat() == "2022-05-29T18:20:00+08:00"


def test_css_overrides_win():
    html = read("news/news/202206/t20220601_1002.html")
    article = extract_article(html, selectors=Selectors(title="p.source", text="div#content p:first-child"))
    assert article.title.startswith("2022年06月01日")
    assert article.text.startswith("为缓解老城区交通拥堵") and "交警部门" not in article.text


@pytest.mark.parametrize("html", ["", "   ", "<html", "\x00\x01garbage", "<html><body></body></html>"])
def test_broken_html_gives_empty_fields_not_an_exception(html):
    article = extract_article(html)
    assert article.text == ""


@pytest.mark.parametrize(("title", "expected"), [
    ("法国全国大罢工再次严重影响交通-新华网", "法国全国大罢工再次严重影响交通"),
    ("5月20日至31日，京沪高速无锡至江阴大桥至广陵枢纽段封闭！_网易订阅", "5月20日至31日，京沪高速无锡至江阴大桥至广陵枢纽段封闭！"),
    ("1-10月德清县固定资产投资结构趋稳趋优", "1-10月德清县固定资产投资结构趋稳趋优"),
    ("明日股市预测--最新出炉联合国贸发报告：2019年全球经济增长率降至2.3%", "最新出炉联合国贸发报告：2019年全球经济增长率降至2.3%"),
    ("菏泽市人民政府办公室关于做好农民工工资支付工作的通知_菏泽市人民政府", "菏泽市人民政府办公室关于做好农民工工资支付工作的通知"),
])
def test_strip_site_name(title, expected):
    assert strip_site_name(title) == expected


def test_real_pages_title_and_date(shared_data):
    html_dir = shared_data / "html"
    titles = dates = titles_ok = dates_ok = 0
    for name, truth in TRUTH.items():
        article = extract_article(decode_page((html_dir / name).read_bytes())[0])
        if truth["title"]:
            titles += 1
            titles_ok += "".join((article.title or "").split()) == "".join(truth["title"].split())
        if truth["date"]:
            dates += 1
            dates_ok += bool(article.published_at) and article.published_at.date().isoformat() == str(truth["date"])
    # Measured: 65/68 titles, 66/66 days, three of them shown without a year (plain trafilatura: 48/68, 64/66).
    assert titles_ok / titles >= 0.9
    assert dates_ok / dates >= 0.9


def test_real_page_body(shared_data):
    html_dir = shared_data / "html"
    expected = (html_dir / "newspaper_sohu" / "chinese.expected.txt").read_text(encoding="utf-8")
    article = extract_article(decode_page((html_dir / "newspaper_sohu" / "chinese_article.html").read_bytes())[0])
    first, last = expected.strip().splitlines()[0], expected.strip().splitlines()[-1]
    assert article.text.startswith(first) and article.text.rstrip().endswith(last)


@pytest.mark.parametrize(("head", "body", "expected"), [
    ('<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2022-06-02T10:31:00+08:00"}'
     "</script>", "", "2022-06-02T10:31:00+08:00"),
    ("", '<article><time datetime="2022-06-02T09:00:00+08:00">6月2日</time></article>', "2022-06-02T09:00:00+08:00"),
])
def test_structured_dates(head, body, expected):
    html = (f"<html><head><title>菏泽市召开老旧小区改造推进会</title>{head}</head><body><h1>菏泽市召开老旧小区改造推进会</h1>"
            f"{body}<p>会议通报了全市老旧小区改造工作进展情况，安排部署下一阶段重点工作。</p></body></html>")
    assert extract_article(html).published_at.isoformat() == expected


def test_the_pool_extracts_what_inline_extraction_does():
    import asyncio

    from spiders.extract import ExtractionPool

    html = read("news/news/202206/t20220602_1001.html")
    pool = ExtractionPool(workers=1)
    pool.start()  # the crawl starts its workers before the first page arrives
    try:
        pooled = asyncio.run(pool.extract(html, "http://x.cn/a.html"))
    finally:
        pool.close()
    assert pooled == extract_article(html, "http://x.cn/a.html")
    assert asyncio.run(ExtractionPool(workers=0).extract(html)) == extract_article(html)


ARTICLE_P = "<p>菏泽市牡丹区老旧小区改造工程今日全面开工，涉及居民楼32栋，改造将于年底前完成。</p>"


def test_a_tag_with_100k_attributes_is_parsed_in_bounded_time():
    # libxml2 checks every attribute against all before it: 100k of them took over ten minutes.
    attributes = " ".join(f"a{i}='{i}'" for i in range(100_000))
    html = f"<html><head><title>改造开工</title></head><body><div {attributes}>{ARTICLE_P * 5}</div></body></html>"
    started = time.monotonic()
    article = extract_article(html)
    assert time.monotonic() - started < 20
    assert "老旧小区改造" in article.text and article.problem is None


def test_a_20_mb_page_is_cut_to_the_page_limit():
    # The article, then 20 MB of padding: what is cut is never looked at.
    html = ("<html><head><title>改造开工</title></head><body>" + ARTICLE_P * 5 + "<script>"
            + "var padding = 1;\n" * 1_200_000 + "</script></body></html>")
    started = time.monotonic()
    article = extract_article(html)
    assert time.monotonic() - started < 20
    assert article.problem == "huge_page_truncated"
    assert "老旧小区改造" in article.text


def test_extraction_stops_at_its_time_limit(monkeypatch):
    monkeypatch.setattr("spiders.extract.EXTRACT_SECONDS", 0.05)
    html = "<html><body>" + "<span>字</span>" * 40_000 + ARTICLE_P + "</body></html>"
    started = time.monotonic()
    article = extract_article(html)
    assert time.monotonic() - started < 2
    assert article.problem == "extract_timeout" and article.text == ""


def test_the_time_limit_leaves_an_outer_alarm_armed():
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        extract_article(f"<html><body>{ARTICLE_P}</body></html>")
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < remaining <= 30
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired


# -- a day shown without its year ------------------------------------------------------------------

CRAWLED = datetime(2026, 12, 6, 9, 0, tzinfo=SHANGHAI)


def page(head: str, header: str) -> str:
    body = "<p>" + "居民反映小区路灯长期损坏，夜间出行很不方便，希望有关部门尽快维修。" * 4 + "</p>"
    return f"<html><head><title>路灯坏了</title>{head}</head><body><h1>路灯坏了</h1><div>{header}</div>{body}</body></html>"


@pytest.mark.parametrize(("head", "header", "url", "expected"), [
    # The page's metadata repeats the day with its year (baijiahao: 发布时间：10-08, dateUpdate 2019-10-08).
    ('<meta itemprop="dateUpdate" content="2019-10-08 12:00:57">', "发布时间：10-08", None, "2019-10-08"),
    ('<script>var page = {"time": "2019-10-09 22:31:02"};</script>', "发布时间：10-08 12:00", None, "2019-10-08"),
    # Older dates on the page (related articles) do not pull a new article back.
    ('<script>var related = [{"pubDate": "2018-03-01"}];</script>', "发布时间：12-05 08:00", None, "2026-12-05"),
    # Its URL names the year.
    ("", "发布时间：10-08 12:00", "https://news.example.cn/2019/1008/c1.html", "2019-10-08"),
    ('<link rel="canonical" href="https://news.example.cn/a/201910/t20191008_5.html">', "10-08 12:00", None,
     "2019-10-08"),
    # Nothing else: the latest such day not after the crawl, never in the future.
    ("", "发布时间：12-30 08:00", None, "2025-12-30"),
    ("", "发布时间：12-05 08:00", None, "2026-12-05"),
])
def test_a_day_without_a_year_takes_it_from_the_page_its_url_or_the_crawl(head, header, url, expected):
    article = extract_article(page(head, header), url, now=CRAWLED)
    assert article.published_at.date().isoformat() == expected
    assert article.published_year_inferred
    assert article.published_at <= CRAWLED + timedelta(days=1)


def test_a_full_date_is_not_inferred_and_a_licence_number_is_no_date():
    article = extract_article(page("", "发布时间：2019-10-08 12:00"), now=CRAWLED)
    assert article.published_at.date().isoformat() == "2019-10-08" and not article.published_year_inferred
    licence = extract_article(page("", "增值电信业务许可证 浙B2-20181004"), now=CRAWLED)
    assert licence.published_at is None


def test_a_relative_day_gives_way_to_the_publication_stamp_a_script_sets():
    # WeChat shows 昨天 relative to when the page was served; its script holds the exact time.
    html = page('<script>var ct = "1581517074";</script>', '<em id="publish_time">昨天</em>')
    article = extract_article(html, now=CRAWLED)
    assert article.published_at.isoformat() == "2020-02-12T22:17:54+08:00"
    assert not article.published_year_inferred


def test_news_items_say_when_the_year_was_inferred():
    from spiders.news import article_fields

    fields = article_fields(extract_article(page("", "发布时间：12-30 08:00"), now=CRAWLED))
    assert fields["published_year_inferred"] is True
    assert Post(url="https://news.example.cn/1.html", platform="news", source="s", **fields).published_year_inferred
