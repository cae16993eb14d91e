"""The bundled sample site: every kind of page is served well-formed, in the right encoding, with
relative times and stable ids, and the demo's sources and policy registry really fit it."""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import yaml
from parsel import Selector

from sample_site import WATCHLISTS_FILE, SampleSite, policies_for, sources_for, weibo
from sample_site.content import CONTENT_DIR, SiteContent, paragraphs, parse_ago
from sample_site.weibo import bid_for, followers_count, relative_time
from yuqing.config.datafiles import load_watchlists
from yuqing.config.errors import ConfigError
from yuqing.schema import SHANGHAI, Validity

WEIBO_TIME = re.compile(r"^(刚刚|\d{1,2}分钟前|\d{1,2}小时前|昨天 \d\d:\d\d|\d\d-\d\d|\d{4}-\d\d-\d\d)$")


@pytest.fixture(scope="module")
def site():
    with SampleSite() as running:
        running.start()
        yield running


@pytest.fixture(scope="module")
def base(site: SampleSite) -> str:
    return site.base_url


@pytest.fixture(scope="module")
def sources(base: str) -> dict:
    return {source.name: source for source in sources_for(base)}


def fetch(url: str) -> tuple[int, str, bytes]:
    url = urllib.parse.quote(url, safe=":/?&=%#")  # sources write 菏泽 as is; HTTP wants it escaped
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def page(url: str, encoding: str = "utf-8") -> Selector:
    status, content_type, body = fetch(url)
    assert status == 200, url
    assert f"charset={encoding}" in content_type.lower(), (url, content_type)
    return Selector(text=body.decode(encoding))


def weibo_api(base: str, containerid: str, page_number: int = 1) -> dict:
    query = urllib.parse.urlencode(
        {"containerid": containerid, "page_type": "searchall", "page": page_number}
    )
    status, content_type, body = fetch(f"{base}/api/container/getIndex?{query}")
    assert status == 200 and content_type.startswith("application/json")
    return json.loads(body)


def all_weibo(base: str, containerid: str) -> list[dict]:
    mblogs, number = [], 1
    while True:
        data = weibo_api(base, containerid, number)
        if data["ok"] != 1:
            assert data == {"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}}
            return mblogs
        mblogs += [card["mblog"] for card in data["data"]["cards"]]
        number += 1
        assert number < 50


# -- basics ------------------------------------------------------------------------------------


def test_start_returns_loopback_url_and_stop_frees_the_port() -> None:
    site = SampleSite()
    url = site.start(0)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert fetch(url + "/robots.txt")[0] == 200
    site.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/robots.txt", timeout=2)
    with pytest.raises(RuntimeError):
        _ = site.base_url


def test_robots_allows_crawling(base: str) -> None:
    status, content_type, body = fetch(base + "/robots.txt")
    text = body.decode()
    assert status == 200 and content_type.startswith("text/plain")
    assert "User-agent: *" in text and "Allow: /" in text
    assert "Disallow: /zwgk" not in text and "Disallow: /api" not in text and "Disallow: /lyb" not in text


def test_unknown_pages_are_404(base: str) -> None:
    assert fetch(base + "/no/such/page.html")[0] == 404
    assert fetch(base + "/zwgk/zcwj/index_9.html")[0] == 404
    assert fetch(base + "/lyb/detail.html?tid=1")[0] == 404
    assert fetch(base + "/xwzx/zwyw/content_9999.html")[0] == 404


def test_every_page_says_it_is_a_demo(base: str) -> None:
    for path, encoding in [
        ("/index.html", "utf-8"),
        ("/zwgk/zcwj/index.html", "gbk"),
        ("/hcrb/index.html", "utf-8"),
        ("/lyb/list.html", "utf-8"),
        ("/tieba/f?kw=菏泽", "utf-8"),
    ]:
        notice = " ".join(
            page(base + urllib.parse.quote(path, safe="/?=&"), encoding).css(".demo-notice ::text").getall()
        )
        assert "演示" in notice and "虚构" in notice, path


# -- government portal ---------------------------------------------------------------------------


def test_policy_list_paginates_over_all_documents_in_gbk(base: str, site: SampleSite) -> None:
    status, content_type, body = fetch(base + "/zwgk/zcwj/index.html")
    assert content_type == "text/html; charset=GBK"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "charset=gbk" in body.decode("gbk")
    seen, url = [], base + "/zwgk/zcwj/index.html"
    while url:
        sel = page(url, "gbk")
        seen += sel.css("table.doc-table td.c-title a::attr(href)").getall()
        following = sel.css("div.page-box a.next::attr(href)").get()
        url = urllib.parse.urljoin(url, following) if following else None
    assert len(seen) == len(set(seen)) == len(site.content.policies)
    assert 8 <= len(seen) <= 12


def test_policy_detail_shows_the_metadata_table(base: str, site: SampleSite) -> None:
    validities = set()
    for doc in site.content.policies:
        sel = page(base + doc.path, "gbk")
        labels = [t.strip().rstrip("：") for t in sel.css("table.xxgk-table td.t-label::text").getall()]
        assert labels == ["索引号", "主题分类", "发文机构", "发文字号", "成文日期", "发布日期", "有效性"]
        values = [t.strip() for t in sel.css("table.xxgk-table td.t-value::text").getall()]
        assert values[0] == doc.index_no and values[3] == doc.doc_number
        assert re.fullmatch(r"\d{4}年\d\d月\d\d日", values[4]) and re.fullmatch(
            r"\d{4}年\d\d月\d\d日", values[5]
        )
        assert values[6] in {v.value for v in Validity}
        validities.add(values[6])
        assert sel.css("h1.article-title::text").get() == doc.title
        assert len("".join(sel.css("div.article-content ::text").getall())) > 150
        for href in sel.css("div.attachments a::attr(href)").getall():
            status, content_type, body = fetch(urllib.parse.urljoin(base + doc.path, href))
            assert status == 200 and content_type == "application/pdf" and body.startswith(b"%PDF-")
    assert {"现行有效", "已废止", "已修改"} <= validities


def test_interpretations_link_both_ways_and_one_policy_has_none(base: str, site: SampleSite) -> None:
    without = []
    for doc in site.content.policies:
        sel = page(base + doc.path, "gbk")
        link = sel.css("div.related-jd a::attr(href)").get()
        if link is None:
            without.append(doc.policy)
            continue
        back = page(urllib.parse.urljoin(base + doc.path, link), "gbk")
        assert back.css("div.related-wj a::attr(href)").get() == doc.path
        assert "发布时间：" in back.css("div.article-info span::text").get()
    assert 2 <= len(site.content.interpretations) <= 4
    assert "hz-2022-lxxq-gz" in without
    listed = page(base + "/zwgk/zcjd/index.html", "gbk").css("ul.zcjd-list li a::attr(href)").getall()
    assert sorted(listed) == sorted(i.path for i in site.content.interpretations)


def test_news_articles_show_time_and_source_lines(base: str, site: SampleSite) -> None:
    sel = page(base + "/xwzx/zwyw/index.html")
    links = sel.css("ul.news-list li a::attr(href)").getall()
    following = sel.css("div.page-box a.next::attr(href)").get()
    links += (
        page(urllib.parse.urljoin(base + "/xwzx/zwyw/", following))
        .css("ul.news-list li a::attr(href)")
        .getall()
    )
    assert len(links) == len(site.content.news_of("portal"))
    article = page(urllib.parse.urljoin(base + "/xwzx/zwyw/", links[0]))
    assert re.fullmatch(r"发布时间：\d{4}-\d\d-\d\d \d\d:\d\d", article.css("span.pubtime::text").get())
    assert article.css("span.source::text").get().startswith("来源：")
    assert article.css("meta[name=PubDate]::attr(content)").get()


def test_news_times_are_relative_to_the_start(base: str, site: SampleSite) -> None:
    newest = site.content.news_of("paper")[0]
    info = page(base + newest.path).css("div.paper-article div.info::text").get()
    shown = datetime.strptime(info[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    expected = site.content.start - parse_ago(newest.ago or "")
    assert abs(shown - expected) < timedelta(seconds=1)
    assert "来源：" in info


def test_rss_feeds_are_valid_rss2_with_working_links(base: str, site: SampleSite) -> None:
    for path, count in (
        ("/rss/zwyw.xml", len(site.content.news_of("portal"))),
        ("/hcrb/rss.xml", len(site.content.news_of("paper"))),
    ):
        status, content_type, body = fetch(base + path)
        assert status == 200 and "xml" in content_type
        root = ET.fromstring(body)
        assert root.tag == "rss" and root.get("version") == "2.0"
        items = root.findall("channel/item")
        assert len(items) == min(count, 20)
        dates = [parsedate_to_datetime(item.findtext("pubDate")) for item in items]
        assert dates == sorted(dates, reverse=True) and all(d.tzinfo for d in dates)
        for item in items[:3]:
            assert fetch(item.findtext("link"))[0] == 200
            assert item.findtext("guid") == item.findtext("link")


def test_one_article_is_reprinted_verbatim_elsewhere(site: SampleSite) -> None:
    bodies: dict[str, list] = {}
    for article in site.content.news:
        bodies.setdefault(article.body.strip(), []).append(article)
    reprints = [group for group in bodies.values() if len(group) > 1]
    assert len(reprints) == 1 and {a.site for a in reprints[0]} == {"portal", "paper"}


# -- weibo -----------------------------------------------------------------------------------------


def test_weibo_search_pages_like_m_weibo_cn(base: str) -> None:
    data = weibo_api(base, "100103type=1&q=化肥厂家属院")
    assert data["ok"] == 1
    cards = data["data"]["cards"]
    assert len(cards) == 10 and all(card["card_type"] == 9 for card in cards)
    assert data["data"]["cardlistInfo"]["page"] == 2
    mblog = cards[0]["mblog"]
    for key in (
        "id",
        "mid",
        "bid",
        "text",
        "isLongText",
        "created_at",
        "reposts_count",
        "comments_count",
        "attitudes_count",
        "source",
        "user",
    ):
        assert key in mblog
    for key in ("id", "screen_name", "followers_count", "verified", "verified_type"):
        assert key in mblog["user"]
    assert weibo_api(base, "100103type=1&q=化肥厂家属院", 99) == {
        "ok": 0,
        "msg": "这里还没有内容",
        "data": {"cards": []},
    }


def test_weibo_created_at_uses_the_api_relative_forms(base: str) -> None:
    mblogs = all_weibo(base, "100103type=1&q=菏泽") + all_weibo(base, "100103type=1&q=化肥厂家属院")
    forms = {WEIBO_TIME.match(m["created_at"]) is not None for m in mblogs}
    assert forms == {True}
    assert any("分钟前" in m["created_at"] for m in mblogs)
    assert any("小时前" in m["created_at"] for m in mblogs)
    assert any(re.fullmatch(r"\d\d-\d\d|\d{4}-\d\d-\d\d|昨天 .*", m["created_at"]) for m in mblogs)


def test_relative_time_forms() -> None:
    now = datetime(2026, 11, 26, 15, 30, tzinfo=SHANGHAI)
    assert relative_time(now - timedelta(seconds=20), now) == "刚刚"
    assert relative_time(now - timedelta(minutes=7), now) == "7分钟前"
    assert relative_time(now - timedelta(hours=3, minutes=5), now) == "3小时前"
    assert relative_time(datetime(2026, 11, 25, 9, 5, tzinfo=SHANGHAI), now) == "昨天 09:05"
    assert relative_time(datetime(2026, 11, 12, 9, 5, tzinfo=SHANGHAI), now) == "11-12"
    assert relative_time(datetime(2025, 12, 30, 9, 5, tzinfo=SHANGHAI), now) == "2025-12-30"


def test_weibo_text_html_emoticons_reposts_and_followers(base: str) -> None:
    mblogs = all_weibo(base, "100103type=1&q=化肥厂家属院")
    texts = " ".join(m["text"] for m in mblogs)
    assert '<span class="url-icon"><img alt=[怒]' in texts
    assert "<a href='/n/" in texts and 'class="surl-text">#' in texts
    reposts = [m for m in mblogs if "retweeted_status" in m]
    assert reposts and any("//<a href='/n/" in m["text"] for m in reposts)  # //@name: chains
    assert all(m["retweeted_status"]["user"]["screen_name"] for m in reposts)
    media = [m["user"] for m in mblogs if m["user"]["verified"] and m["user"]["verified_type"] == 3]
    assert any(isinstance(u["followers_count"], str) and u["followers_count"].endswith("万") for u in media)
    assert any(isinstance(m["user"]["followers_count"], int) for m in mblogs)


def _visible(html: str) -> str:
    """What a reader sees of API text: emoticons as their [name], tags dropped."""
    return re.sub(r"<[^>]+>", "", re.sub(r"<img alt=(\[[^\]]+\])[^>]*>", r"\1", html))


def test_long_weibo_is_truncated_with_full_text_link(base: str) -> None:
    mblogs = all_weibo(base, "100103type=1&q=化肥厂家属院")
    long = [m for m in mblogs if m["isLongText"]]
    assert long
    for mblog in long:
        suffix = f'...<a href="/status/{mblog["id"]}">全文</a>'
        assert mblog["text"].endswith(suffix)
        status, _, body = fetch(f"{base}/statuses/extend?id={mblog['id']}")
        full = _visible(json.loads(body)["data"]["longTextContent"])
        shown = _visible(mblog["text"][: -len(suffix)])
        assert status == 200 and full.startswith(shown) and len(full) > len(shown)
        assert len(re.sub(r"\[[^\]]+\]", "x", shown)) <= 140 < len(re.sub(r"\[[^\]]+\]", "x", full))
        assert fetch(f"{base}/status/{mblog['id']}")[0] == 200
    assert json.loads(fetch(f"{base}/statuses/extend?id=1")[2])["ok"] == 0


def test_user_timeline_pages_by_since_id(
    base: str, site: SampleSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    official = site.content.users["菏泽发布"]
    expected = [p.id for p in site.content.posts if p.user == "菏泽发布"]
    assert len(expected) >= 5
    monkeypatch.setattr(weibo, "PAGE_SIZE", 2)  # several pages from one account's few posts
    seen, since_id = [], None
    while True:
        query = {"containerid": f"107603{official.uid}", **({"since_id": since_id} if since_id else {})}
        data = json.loads(fetch(f"{base}/api/container/getIndex?{urllib.parse.urlencode(query)}")[2])
        assert data["ok"] == 1
        seen += [card["mblog"]["id"] for card in data["data"]["cards"]]
        assert all(card["mblog"]["user"]["screen_name"] == "菏泽发布" for card in data["data"]["cards"])
        if "since_id" not in data["data"]["cardlistInfo"]:
            break
        since_id = str(data["data"]["cardlistInfo"]["since_id"])
    assert seen == expected
    assert [m["id"] for m in all_weibo(base, f"107603{official.uid}")] == expected  # page numbers work too
    assert weibo_api(base, "1076030000000001")["ok"] == 0


def test_weibo_helpers() -> None:
    assert followers_count(9999) == 9999
    assert followers_count(12_000) == "1.2万"
    assert followers_count(523_000) == "52.3万"
    assert followers_count(50_000) == "5万"
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def decode(bid: str) -> str:
        # Inverse of the base62 scheme: 4-character groups from the right, 7 digits each.
        groups = []
        while bid:
            bid, chunk = bid[:-4], bid[-4:]
            value = 0
            for char in chunk:
                value = value * 62 + alphabet.index(char)
            groups.append(str(value).rjust(7, "0") if bid else str(value))
        return "".join(reversed(groups))

    for mid in ("4850000000000001", "4949972943377795", "4882627898649803"):
        assert re.fullmatch(r"[0-9A-Za-z]{9}", bid_for(mid)) and decode(bid_for(mid)) == mid


# -- message board and forum -------------------------------------------------------------------


def element(selector: str) -> str:
    """The element part of a source's selector, without its ::text or ::attr() ending."""
    return re.sub(r"\s*::(text|attr\([^)]*\))$", "", selector)


def test_board_lists_every_message_with_detail_fields(base: str, site: SampleSite, sources: dict) -> None:
    params = {key: element(value) if key.endswith("_selector") else value
              for key, value in sources["hz-12345-board"].params.items()}
    url, links = params["start_urls"][0], []
    while url:
        sel = page(url)
        links += sel.css(params["link_selector"] + "::attr(href)").getall()
        following = sel.css(params["next_selector"] + "::attr(href)").get()
        url = urllib.parse.urljoin(url, following) if following else None
    assert len(links) == len(site.content.messages)
    states = set()
    for link in links:
        sel = page(urllib.parse.urljoin(base + "/lyb/", link))

        def text(key: str, sel: Selector = sel) -> str | None:
            return sel.css(params[f"{key}_selector"] + " ::text").get()

        for key in ("title", "author", "time", "category", "place", "status", "content", "id"):
            assert text(key), (link, key)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text("time"))
        assert text("id") in link
        assert "留言内容" not in text("content")  # the message's paragraphs, not the section heading
        states.add(text("status"))
        assert (
            (text("reply_unit") is not None)
            == (text("status") == "已回复")
            == (text("reply_time") is not None)
        )
    assert states == {"已回复", "未回复"}


# Tieba's own markup, which the forum kind reads by default.
TIEBA = {
    "thread": "li.j_thread_list",
    "link": "a.j_th_tit::attr(href)",
    "replies": ".threadlist_rep_num::text",
    "created": ".is_show_create_time::text",
    "last_reply": ".threadlist_reply_date::text",
    "next": "#frs_list_pager a.next::attr(href)",
    "post": "div.l_post",
    "content": ".d_post_content",
}


def test_forum_threads_and_posts(base: str, site: SampleSite, sources: dict) -> None:
    sel = page(sources["tieba-heze"].params["start_urls"][0])
    threads = sel.css(TIEBA["thread"])
    assert len(threads) == len(site.content.threads)
    for item in threads:
        field = json.loads(item.attrib["data-field"])
        assert field["id"] == int(item.attrib["data-tid"]) and field["author_name"]
        assert str(field["reply_num"]) == item.css(TIEBA["replies"]).get()
        for key in ("created", "last_reply"):
            assert re.fullmatch(r"\d\d:\d\d|\d{1,2}-\d{1,2}", item.css(TIEBA[key]).get())
        posts = page(urllib.parse.urljoin(base, item.css(TIEBA["link"]).get())).css(TIEBA["post"])
        assert len(posts) == field["reply_num"] + 1 and posts[0].css(TIEBA["content"] + "::text").get()
        floor = json.loads(posts[0].attrib["data-field"])
        assert floor["content"]["post_no"] == 1 and floor["author"]["user_name"] == field["author_name"]


# -- the demo's data files fit the site ----------------------------------------------------------


def test_sources_substitute_the_base_url_and_validate(base: str, sources: dict) -> None:
    kinds = {source.kind for source in sources.values()}
    assert {"rss", "news", "gov_policy", "weibo", "board", "forum"} <= kinds
    dumped = json.dumps([s.model_dump() for s in sources.values()], ensure_ascii=False)
    assert "{site}" not in dumped and base in dumped


def _crawl_list(params: dict, encoding: str = "utf-8") -> list[str]:
    """Article URLs a list crawl finds: the links in the list region, following 下一页 links."""
    url, found = params["start_urls"][0], []
    while url:
        sel = page(url, encoding)
        hrefs = [
            urllib.parse.urljoin(url, h) for h in sel.css(params["list_css"] + " a::attr(href)").getall()
        ]
        found += [h for h in hrefs if h not in found]
        following = sel.xpath("//a[normalize-space(text())='下一页']/@href").get()
        url = urllib.parse.urljoin(url, following) if following else None
    return found


def test_listing_sources_find_every_item(site: SampleSite, sources: dict) -> None:
    expected = {
        "hz-gov-policy": ("gbk", [d.path for d in site.content.policies]),
        "hz-gov-interpretation": ("gbk", [i.path for i in site.content.interpretations]),
        "hz-gov-news": ("utf-8", [a.path for a in site.content.news_of("portal")]),
        "hcxww-news": ("utf-8", [a.path for a in site.content.news_of("paper")]),
    }
    for name, (encoding, paths) in expected.items():
        urls = _crawl_list(sources[name].params, encoding)
        assert [urllib.parse.urlsplit(u).path for u in urls] == paths, name


def test_sources_validate_against_the_spider_kinds(base: str) -> None:
    from spiders import registry

    kinds = registry.load_kinds()
    for source in sources_for(base):
        assert source.kind in kinds, source.name
        registry.resolve(source)


def test_every_weibo_post_is_reachable_through_the_configured_searches(
    base: str, site: SampleSite, sources: dict
) -> None:
    params = sources["weibo-heze"].params
    found = set()
    for keyword in params["keywords"]:
        found |= {m["id"] for m in all_weibo(base, f"100103type=1&q={keyword}")}
    for uid in params["users"]:
        found |= {m["id"] for m in all_weibo(base, f"107603{uid}")}
    assert found == {post.id for post in site.content.posts if not post.deleted}


def test_a_deleted_original_shows_only_inside_its_repost(base: str, site: SampleSite) -> None:
    rumour = site.content.post("yq-rumor-1")
    assert rumour.deleted
    mblogs = all_weibo(base, "100103type=1&q=封控")
    assert rumour.id not in {m["id"] for m in mblogs}
    repost = next(m for m in mblogs if m.get("retweeted_status", {}).get("id") == rumour.id)
    original = repost["retweeted_status"]
    assert original["user"] is None and original["text"].startswith("抱歉，此微博已被作者删除")
    assert json.loads(fetch(f"{base}/statuses/extend?id={rumour.id}")[2])["ok"] == 0
    assert fetch(f"{base}/status/{rumour.id}")[0] == 404


def test_policy_registry_matches_the_portal(base: str, site: SampleSite) -> None:
    registry = policies_for(base)
    assert {p.id for p in registry} == {d.policy for d in site.content.policies}
    for policy in registry:
        doc = site.content.policy_doc(policy.id)
        assert (policy.title, policy.doc_number, policy.validity) == (doc.title, doc.doc_number, doc.validity)
        assert policy.url == base + doc.path
        assert policy.published_at == doc.at(site.content.start)
        interpretation = site.content.interpretation_for(policy.id)
        assert policy.interpretation_url == (base + interpretation.path if interpretation else None)
        assert policy.keywords and "hz-" in policy.id
    watchlists = load_watchlists(WATCHLISTS_FILE)
    assert {pid for w in watchlists for pid in w.policies} <= {p.id for p in registry}


# -- stability and content errors ----------------------------------------------------------------


def _identities(base: str, site: SampleSite) -> dict:
    return {
        "sitemap": sorted(
            urllib.parse.urlsplit(loc).path
            for loc in re.findall(r"<loc>([^<]*)</loc>", fetch(base + "/sitemap.xml")[2].decode())
        ),
        "weibo": sorted(m["id"] for m in all_weibo(base, "100103type=1&q=菏泽")),
        "board": sorted(m.tid for m in site.content.messages),
        "forum": sorted(t.tid for t in site.content.threads),
    }


def test_ids_and_urls_are_stable_across_two_starts(base: str, site: SampleSite) -> None:
    first = _identities(base, site)
    assert site.content is not None
    later = site.content.start + timedelta(hours=5)
    with SampleSite(clock=lambda: later) as again:
        second = _identities(again.start(), again)
        assert again.content.start > site.content.start
    assert first == second and all(first.values())


def test_bad_content_is_reported_clearly(tmp_path: Path) -> None:
    for name in ("portal.yaml", "news.yaml", "weibo.yaml", "board.yaml", "forum.yaml"):
        (tmp_path / name).write_text((CONTENT_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    forum = yaml.safe_load((tmp_path / "forum.yaml").read_text(encoding="utf-8"))
    forum["threads"][0]["ago"] = "three hours"
    (tmp_path / "forum.yaml").write_text(yaml.safe_dump(forum, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"forum\.yaml: threads\[0\]\.ago: Value error, bad 'ago' offset"):
        SiteContent(datetime.now(SHANGHAI), tmp_path)
    with pytest.raises(ValueError):
        parse_ago("")


def test_serve_command_runs_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    from yuqing.cli.commands.sample_site import serve_site

    stop = threading.Event()
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(serve_site(argparse.Namespace(port=0), stop)))
    worker.start()
    deadline = time.monotonic() + 10
    while "http://" not in capsys.readouterr().out and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=10)
    assert result == [0]


# -- the scenario (SCENARIO.md is the demo's test oracle; these recount it) ----------------------

INCIDENT = "化肥厂家属院"
RECENT = timedelta(hours=3)


@pytest.fixture(scope="module")
def content() -> SiteContent:
    return SiteContent(datetime.now(SHANGHAI))


def _age(content: SiteContent, item) -> timedelta:
    return content.start - item.at(content.start)


def _weibo_about(content: SiteContent, words: tuple[str, ...]) -> list:
    def text(post) -> str:
        return post.text + (content.post(post.retweet_of).text if post.retweet_of else "")

    return [p for p in content.posts if any(w in text(p) for w in words)]


def test_scenario_incident_bursts_in_the_last_three_hours(content: SiteContent) -> None:
    incident = _weibo_about(content, (INCIDENT,))
    recent = [p for p in incident if _age(content, p) <= RECENT]
    assert len(recent) == 39 and len(incident) - len(recent) == 2
    assert all(_age(content, p) <= RECENT or _age(content, p) >= timedelta(days=3) for p in incident)
    media = content.users["菏城民生"]
    assert media.verified_type == 3 and media.followers == 523_000
    assert any(p.user == "菏城民生" and _age(content, p) <= RECENT for p in incident)
    assert sum(1 for p in recent if "[怒]" in p.text or "[泪]" in p.text) >= 15
    assert sum(1 for p in recent if p.retweet_of) >= 12
    officials = {name for name, user in content.users.items() if user.verified_type == 1}
    assert not [p for p in incident if p.user in officials]  # unanswered: no official word yet
    articles = [a for a in content.news if INCIDENT in a.body and _age(content, a) <= RECENT]
    assert [a.id for a in articles] == [2109, 2108]
    # A local account reprints the report's first paragraph word for word.
    first = paragraphs(content.article("paper", 2108).body)[0]
    assert content.post("hf-shenbian-2").text.strip() == first + "（来源：菏城新闻网）"


def test_scenario_board_complaints_are_unanswered_and_hold_personal_data(content: SiteContent) -> None:
    incident = [m for m in content.messages if INCIDENT in m.place]
    assert all(m.reply is None for m in incident)
    assert sorted(m.tid for m in incident if _age(content, m) <= RECENT) == [
        230866,
        230871,
        230874,
        230880,
        230883,
    ]
    assert len([m for m in incident if _age(content, m) > RECENT]) == 3
    text = " ".join(m.text for m in incident)
    assert len(re.findall(r"(?<!\d)1[3-9]\d{9}(?!\d)", text)) == 4
    ids = re.findall(r"(?<!\d)\d{17}[\dX](?!\d)", text)
    weights, checks = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], "10X98765432"
    assert len(ids) == 2
    assert all(
        checks[sum(int(d) * w for d, w in zip(n[:17], weights, strict=True)) % 11] == n[17] for n in ids
    )
    assert 20 <= len(content.messages) <= 40


def test_scenario_other_policies_stay_quiet_and_mixed(content: SiteContent) -> None:
    for words in (("消费券", "消费季"), ("保障性租赁住房", "保租房"), ("开放月",), ("疫情", "流感")):
        posts = [p for p in _weibo_about(content, words) if INCIDENT not in p.text]
        recent = [p for p in posts if _age(content, p) <= RECENT]
        assert len(posts) >= 5 and len(recent) <= 2, words
        days = {(_age(content, p)).days for p in posts}
        assert len(days) >= 4, words  # spread over the fortnight, not bunched
    answered = [m for m in content.messages if INCIDENT not in m.place and m.reply]
    assert len(answered) >= 15
    assert 80 <= len(content.posts) <= 150 and 15 <= len(content.news) <= 25
    assert all(
        _age(content, item) < timedelta(days=14)
        for item in [*content.posts, *content.news, *content.messages]
    )


def test_weibo_texts_use_known_emoticons_and_survive_yaml(content: SiteContent) -> None:
    from sample_site.weibo import EMOTICONS

    for post in content.posts:
        assert set(re.findall(r"\[([^\[\]]{1,6})\]", post.text)) <= set(EMOTICONS), post.key
    # A plain YAML scalar drops everything after " #": topics must sit in block scalars.
    raw = (CONTENT_DIR / "weibo.yaml").read_text(encoding="utf-8")
    assert not re.findall(r"^\s+text: [^|\n]* #", raw, re.M)


def test_content_is_consistent_whatever_the_time_of_day() -> None:
    # Items of past days carry a clock time, recent ones an offset: replies must still follow
    # their messages, and the fortnight must stay a fortnight, whenever the server starts.
    day = datetime(2026, 3, 1, tzinfo=SHANGHAI)
    for minutes in range(0, 24 * 60, 97):
        content = SiteContent(day + timedelta(minutes=minutes))
        ages = [
            content.start - item.at(content.start)
            for item in [*content.posts, *content.news, *content.messages]
        ]
        assert all(timedelta(0) <= age < timedelta(days=14) for age in ages)
        # Keys of incident posts start with "hf-" (化肥厂); everything else recent is chatter.
        recent = [p for p in content.posts if p.at(content.start) > content.start - RECENT]
        assert len([p for p in recent if not p.key.startswith("hf-")]) <= 5
        assert len([p for p in recent if p.key.startswith("hf-")]) >= 40


def test_serve_command_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    from yuqing.cli.commands.sample_site import serve_site

    with SampleSite() as running:
        port = int(running.start().rsplit(":", 1)[1])
        assert serve_site(argparse.Namespace(port=port), threading.Event()) == 1
    assert "cannot start the sample site" in capsys.readouterr().err
