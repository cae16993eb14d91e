"""The forum spider against a loopback tieba imitation serving the fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from spiders import forum_parsing as fp
from tests.social_crawl import Answer, RouteServer, crawl, crawl_settings, published
from yuqing.config.datafiles import Source
from yuqing.schema import Post

FIXTURES = Path(__file__).parent / "fixtures" / "forum"
THREAD_IDS = ["6401593389", "6855574054", "6855874703", "6855459062", "6435718768", "6854203678", "6853755427"]


def forum_source(server: RouteServer, **params: object) -> Source:
    return Source(name="tieba-test", kind="forum", params={"start_urls": [server.url("/f?kw=test")], **params})


@pytest.mark.slow  # a crawl in a child process
def test_thread_list_and_first_posts(tmp_path: Path) -> None:
    with RouteServer().running() as server:
        server.routes["/f?kw=test"] = Answer.file(FIXTURES / "tieba_list_served.html")
        server.routes["/p/6855874703"] = Answer.file(FIXTURES / "thread_6855874703.html")
        server.routes["/p/6401593389"] = Answer.file(FIXTURES / "captcha.html")
        settings = crawl_settings(tmp_path)
        health = crawl(settings, forum_source(server, max_pages=1))["tieba-test"]

        # A second run finds only known threads: nothing is fetched or published again.
        second = crawl(settings, forum_source(server, max_pages=1))["tieba-test"]
        assert server.fetched("/p/6855874703") == 1

    posts = {value["id"]: Post.model_validate(value) for value in published(settings)}
    assert len(posts) == 7
    assert health.items == health.new_items == 7
    # 5 thread pages are not served (404) and one is a captcha: each counted, each thread kept.
    assert health.problems == {"http_404": 5, "captcha": 1}
    full = posts["forum:6855874703"]
    assert full.text == "近日，一名女大学生乘坐网约车时找不到上车点，\n被司机一通数落。[汗] 大家怎么看？"
    assert full.metrics.comments == 73
    assert full.extra[fp.FORUM_FIRST_POST] == "full"
    assert full.extra[fp.FORUM_NAME] == "贴吧热议吧"
    pinned = posts["forum:6401593389"]
    assert pinned.extra[fp.FORUM_PINNED] is True
    assert pinned.extra[fp.FORUM_FIRST_POST] == "abstract"
    assert all(post.platform == "forum" for post in posts.values())
    assert second.items == 0 and second.problems == {}


@pytest.mark.slow  # a crawl in a child process
def test_list_only_mode_and_pagination(tmp_path: Path) -> None:
    with RouteServer().running() as server:
        server.routes["/f?kw=test"] = Answer.file(FIXTURES / "tieba_list.html")
        # The pager's next link (pn=50) is absolute on tieba.baidu.com; serve a local copy of page 2.
        page = (FIXTURES / "tieba_list.html").read_text(encoding="utf-8")
        local = page.replace("//tieba.baidu.com/f?kw=%E8%B4%B4%E5%90%A7%E7%83%AD%E8%AE%AE&amp;ie=utf-8&amp;pn=50",
                             "/f?kw=test&amp;pn=50")
        server.routes["/f?kw=test"] = Answer(local.encode())
        server.routes["/f?kw=test&pn=50"] = Answer(b"<html><body>" + "贴吧没有更多帖子了，去首页看看吧。".encode() * 3
                                                   + b"</body></html>")
        settings = crawl_settings(tmp_path)
        health = crawl(settings, forum_source(server, first_posts=False, max_pages=2))["tieba-test"]
        assert server.fetched("/f?kw=test&pn=50") == 1
        assert not any(request.startswith("/p/") for request in server.requests)

    assert health.items == 7
    assert health.problems == {"no_items_on_list": 1}
    texts = {value["id"]: value["text"] for value in published(settings)}
    assert texts["forum:6855574054"].startswith("8月1日，青海省格尔木公安局通报称")
    assert sorted(texts) == sorted(f"forum:{tid}" for tid in THREAD_IDS)
