"""The weibo spider against a loopback imitation of m.weibo.cn serving the fixtures."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from spiders import weibo_parsing as wp
from tests.social_crawl import Answer, RouteServer, age_seen_pages, crawl, crawl_settings, published
from yuqing.config.datafiles import Source
from yuqing.schema import SHANGHAI, Post, now

FIXTURES = Path(__file__).parent / "fixtures" / "weibo"
KEYWORD = "菏泽 老旧小区改造"
UID = "7001000002"


def path_of(server: RouteServer, url: str) -> str:
    return url.removeprefix(server.base)


def search(server: RouteServer, keyword: str, page: int) -> str:
    return path_of(server, wp.search_url(server.base, keyword, page))


def extend(server: RouteServer, ident: str) -> str:
    return path_of(server, wp.long_text_url(server.base, ident))


def weibo_source(server: RouteServer, **params: object) -> Source:
    return Source(name="weibo-test", kind="weibo", params={"api_base": server.base, **params})


def serve_search(server: RouteServer, keyword: str = KEYWORD) -> None:
    server.routes[search(server, keyword, 1)] = Answer.file(FIXTURES / "search_page1.json")
    server.routes[search(server, keyword, 2)] = Answer.file(FIXTURES / "search_page2.json")
    server.routes[search(server, keyword, 3)] = Answer.file(FIXTURES / "search_page3_empty.json")
    server.routes[extend(server, "5001000000000002")] = Answer.file(FIXTURES / "extend_5001000000000002.json")


def by_id(values: list[dict]) -> dict[str, Post]:
    return {value["id"]: Post.model_validate(value) for value in values}


@pytest.mark.slow  # a crawl in a child process
def test_search_and_timeline_yield_complete_posts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YUQING_CRAWL__WEIBO_COOKIE", "SUB=test-cookie; SUBP=0033")
    with RouteServer().running() as server:
        serve_search(server)
        timeline = path_of(server, wp.timeline_url(server.base, UID))
        server.routes[timeline] = Answer.file(FIXTURES / "timeline_page1.json")
        server.routes[path_of(server, wp.timeline_url(server.base, UID, "4999000000000001"))] = Answer.file(
            FIXTURES / "timeline_page2.json"
        )
        settings = crawl_settings(tmp_path)
        started = now()
        health = crawl(settings, weibo_source(server, keywords=[KEYWORD], users=[UID], max_pages=5))["weibo-test"]
        api_cookies = {c for r, c in zip(server.requests, server.cookies, strict=True) if r.startswith("/api/")}

    posts = by_id(published(settings))
    assert sorted(posts) == sorted(
        f"weibo:{i}"
        for i in [
            "5001000000000001", "5001000000000002", "5001000000000003", "5001000000000004",
            "5001000000000005", "5001000000000006",
            "4999000000000000", "4999000000000001", "4999000000000002", "4999000000000003",
        ]
    )
    # Each post once, though 4999000000000002 is also the original of a repost in the same run.
    assert health.items == health.new_items == 10
    # The deleted original of a repost is counted, not silently skipped.
    assert health.problems == {"retweet_original_unavailable": 1}
    assert api_cookies == {"SUB=test-cookie; SUBP=0033"}  # from the environment, on every API request

    long_post = posts["weibo:5001000000000002"]
    assert long_post.text.endswith("市民如有问题可拨打12345热线反映。[赞]")
    assert wp.WEIBO_TRUNCATED not in long_post.extra
    assert long_post.author.followers == 1_234_000 and long_post.author.verified
    fresh = posts["weibo:5001000000000001"]
    assert abs(fresh.published_at - (started - timedelta(minutes=5))) < timedelta(minutes=2)
    assert "[怒][怒]" in fresh.text
    repost, original = posts["weibo:5001000000000003"], posts["weibo:5001000000000004"]
    assert repost.reply_to == original.id
    assert original.metrics.likes == 678
    assert posts["weibo:5001000000000006"].reply_to == "weibo:5001000000000007"
    assert "weibo:5001000000000007" not in posts
    # Two reposts saying only 转发微博 are two people's posts, not one duplicate text.
    assert posts["weibo:4999000000000000"].text == posts["weibo:5001000000000006"].text == "转发微博"
    assert all(post.platform == "weibo" and post.source == "weibo-test" for post in posts.values())


@pytest.mark.slow  # a crawl in a child process
def test_api_error_shapes_are_counted_and_lose_nothing(tmp_path: Path) -> None:
    with RouteServer().running() as server:
        server.routes[search(server, "登录跳转", 1)] = Answer(
            status=302, headers={"Location": "https://passport.weibo.cn/signin/login?entry=mweibo&r=x"}
        )
        server.routes[search(server, "登录页面", 1)] = Answer.file(FIXTURES / "login_wall.html")
        server.routes[search(server, "坏的JSON", 1)] = Answer.file(FIXTURES / "broken.json")
        server.routes[search(server, "频繁", 1)] = Answer.file(FIXTURES / "not_ok_rate_limited.json")
        server.routes[search(server, "服务器错误", 1)] = Answer(b"oops", status=503)
        odd = {"ok": 1, "data": {"cardlistInfo": {"page": None}, "cards": [
            {"card_type": 9, "mblog": {"id": "6001", "text": "字段类型不对", "user": {"screen_name": ["列表"]}}},
            {"card_type": 9, "mblog": {"id": "6002", "text": "这条正常", "user": {"id": 1, "screen_name": "正常"}}},
        ]}}
        server.routes[search(server, "怪字段", 1)] = Answer(json.dumps(odd).encode(), content_type="application/json")
        # A truncated post whose long text comes back as an HTML error page: kept, marked truncated.
        server.routes[search(server, KEYWORD, 1)] = Answer.file(FIXTURES / "search_page1.json")
        server.routes[extend(server, "5001000000000002")] = Answer.file(FIXTURES / "error_page.html")
        settings = crawl_settings(tmp_path)
        keywords = ["登录跳转", "登录页面", "坏的JSON", "频繁", "服务器错误", "怪字段", KEYWORD]
        health = crawl(settings, weibo_source(server, keywords=keywords))["weibo-test"]
        assert not any("passport" in request for request in server.requests)

    assert health.problems == {
        "login_wall": 2,
        "broken_json": 1,
        "api_not_ok": 1,
        "http_5xx": 1,
        "not_json": 1,  # the long text
        "http_404": 1,  # page 2 of the keyword is not served
        "unexpected_shape": 1,  # one post of 怪字段; the other one is kept
    }
    posts = by_id(published(settings))
    assert sorted(posts) == [f"weibo:500100000000000{i}" for i in range(1, 5)] + ["weibo:6002"]
    truncated = posts["weibo:5001000000000002"]
    assert truncated.extra[wp.WEIBO_TRUNCATED] is True
    assert truncated.text.endswith("目前已开工118个...")


@pytest.mark.slow  # a crawl in a child process
def test_a_time_first_seen_relative_keeps_its_year_when_shown_as_a_bare_date(tmp_path: Path) -> None:
    page1 = (FIXTURES / "search_page1.json").read_text(encoding="utf-8")
    with RouteServer().running() as server:
        server.routes[search(server, KEYWORD, 1)] = Answer(page1.encode(), content_type="application/json")
        server.routes[extend(server, "5001000000000002")] = Answer.file(FIXTURES / "extend_5001000000000002.json")
        source = weibo_source(server, keywords=[KEYWORD], max_pages=1)
        settings = crawl_settings(tmp_path, revisit_days=3)
        crawl(settings, source)
        # A day later the post shows 06-07-style and new counts: it is sent again, with the time first seen.
        later = (page1.replace('"reposts_count": "1.5万"', '"reposts_count": "1.6万"')
                 .replace('"昨天 10:31"', f'"{(now() - timedelta(days=1)).astimezone(SHANGHAI):%m-%d}"'))
        server.routes[search(server, KEYWORD, 1)].body = later.encode()
        crawl(settings, source)
        versions = [p for p in published(settings) if p["id"] == "weibo:5001000000000002"]
    assert len(versions) == 2
    assert versions[0]["published_at"] == versions[1]["published_at"]
    assert [v["published_year_inferred"] for v in versions] == [False, False]


def test_posts_are_revisited_within_the_window_only(tmp_path: Path) -> None:
    page1 = (FIXTURES / "search_page1.json").read_text(encoding="utf-8")
    with RouteServer().running() as server:
        server.routes[search(server, KEYWORD, 1)] = Answer(page1.encode(), content_type="application/json")
        server.routes[extend(server, "5001000000000002")] = Answer.file(FIXTURES / "extend_5001000000000002.json")
        source = weibo_source(server, keywords=[KEYWORD], max_pages=1)
        settings = crawl_settings(tmp_path, revisit_days=3)

        first = crawl(settings, source)["weibo-test"]
        assert first.new_items == 4

        # Within the window: the counts changed, the post is fetched and published again; its
        # time, now shown as 1小时前, stays the one first seen. Unchanged posts are not re-sent.
        later = (page1.replace('"reposts_count": 12', '"reposts_count": 99').replace('"5分钟前"', '"1小时前"')
                 .replace('"昨天 10:31"', f'"{(now() - timedelta(days=1)).astimezone(SHANGHAI):%m-%d}"'))
        server.routes[search(server, KEYWORD, 1)].body = later.encode()
        second = crawl(settings, source)["weibo-test"]
        assert second.new_items == 0
        assert server.fetched(extend(server, "5001000000000002")) == 2
        versions = published(settings)
        updates = [p for p in versions if p["id"] == "weibo:5001000000000001"]
        assert [p["metrics"]["reposts"] for p in updates] == [12, 99]
        assert updates[0]["published_at"] == updates[1]["published_at"]
        # 昨天 10:31 now shown as a bare date: the post keeps its 10:31 and is not re-sent.
        assert len(versions) == 5

        # Outside the window: the posts are left alone, even if their counts changed again.
        age_seen_pages(settings, days=4)
        server.routes[search(server, KEYWORD, 1)].body = page1.replace('"reposts_count": 12', '"reposts_count": 500').encode()
        third = crawl(settings, source)["weibo-test"]
        assert third.items == 0
        assert server.fetched(extend(server, "5001000000000002")) == 2
        assert len([p for p in published(settings) if p["id"] == "weibo:5001000000000001"]) == 2


def test_params_need_something_to_read() -> None:
    from spiders.registry import resolve
    from yuqing.config import ConfigError

    with pytest.raises(ConfigError, match="keywords"):
        resolve(Source(name="w", kind="weibo", params={}))
    with pytest.raises(ConfigError, match="uid"):
        resolve(Source(name="w", kind="weibo", params={"users": ["菏泽发布"]}))
