"""The board spider against a loopback message board serving the fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.social_crawl import Answer, RouteServer, age_seen_pages, crawl, crawl_settings, published
from yuqing.config.datafiles import Source
from yuqing.schema import BOARD_ANSWERED, BOARD_REPLY, BOARD_REPLY_UNIT, Post

FIXTURES = Path(__file__).parent / "fixtures" / "board"
SELECTORS = {"id_selector": ".message-no"}


def serve_board(server: RouteServer) -> None:
    for name in ("list_1", "list_2", "message_1001", "message_1003"):
        server.routes[f"/board/{name}.html"] = Answer.file(FIXTURES / f"{name}.html")
    server.routes["/board/message_1002.html"] = Answer.file(FIXTURES / "message_1002.html")


def board_source(server: RouteServer, **params: object) -> Source:
    return Source(name="board-test", kind="board",
                  params={"start_urls": [server.url("/board/list_1.html")], **SELECTORS, **params})


def latest(values: list[dict]) -> dict[str, Post]:
    """The last published version of each message."""
    return {value["id"]: Post.model_validate(value) for value in values}


@pytest.mark.slow  # a crawl in a child process
def test_message_answered_later_is_published_again_within_the_window(tmp_path: Path) -> None:
    with RouteServer().running() as server:
        serve_board(server)
        source = board_source(server)
        settings = crawl_settings(tmp_path, revisit_days=3)
        crawl(settings, source)

        # The office answers the complaint; the next crawl within the window re-reads the message.
        server.routes["/board/message_1001.html"] = Answer.file(FIXTURES / "message_1001_answered.html")
        second = crawl(settings, source)["board-test"]
        assert server.fetched("/board/message_1001.html") == 2
        assert second.new_items == 0
        versions = [v for v in published(settings) if v["id"] == "board:board-test:HZ20240520001"]
        assert [v["extra"][BOARD_ANSWERED] for v in versions] == [False, True]
        assert versions[-1]["extra"][BOARD_REPLY_UNIT] == "牡丹区住房和城乡建设局"
        assert "5月27日复工" in versions[-1]["extra"][BOARD_REPLY]

        # Outside the window the message is not fetched again.
        age_seen_pages(settings, days=4)
        third = crawl(settings, source)["board-test"]
        assert server.fetched("/board/message_1001.html") == 2
        assert third.items == 0
        assert server.fetched("/board/list_1.html") == 3  # listings are always read


@pytest.mark.slow  # a crawl in a child process
def test_listing_pages_lead_to_messages_and_unanswered_ones_are_watched(tmp_path: Path) -> None:
    with RouteServer().running() as server:
        serve_board(server)
        source = board_source(server, unanswered_revisit_days=30)
        settings = crawl_settings(tmp_path, revisit_days=3)
        health = crawl(settings, source)["board-test"]

        assert health.problems == {}
        assert health.items == health.new_items == 3
        posts = latest(published(settings))
        assert sorted(posts) == ["board:board-test:HZ20240510003", "board:board-test:HZ20240518007",
                                 "board:board-test:HZ20240520001"]
        complaint = posts["board:board-test:HZ20240520001"]
        assert complaint.platform == "board"
        assert complaint.extra[BOARD_ANSWERED] is False
        assert "13812345678" not in complaint.text  # masked by the pipelines before publishing
        gbk = posts["board:board-test:HZ20240510003"]
        assert gbk.title == "曹县县城供暖费收费标准"
        assert gbk.extra[BOARD_REPLY_UNIT] == "曹县发展和改革局"

        # Ten days on, outside the 3-day window: the answered messages are left alone, the
        # unanswered complaint is read again and its late answer published.
        age_seen_pages(settings, days=10)
        server.routes["/board/message_1001.html"] = Answer.file(FIXTURES / "message_1001_answered.html")
        later = crawl(settings, source)["board-test"]
        assert server.fetched("/board/message_1001.html") == 2
        assert server.fetched("/board/message_1002.html") == 1
        assert later.items == 1
        versions = [v for v in published(settings) if v["id"] == "board:board-test:HZ20240520001"]
        assert [v["extra"][BOARD_ANSWERED] for v in versions] == [False, True]


@pytest.mark.slow  # a crawl in a child process
def test_broken_pages_are_counted(tmp_path: Path) -> None:
    with RouteServer().running() as server:
        serve_board(server)
        del server.routes["/board/message_1001.html"]  # 404
        server.routes["/board/message_1002.html"] = Answer.file(FIXTURES / "message_empty.html")
        server.routes["/board/maintenance.html"] = Answer(
            ("<html><body><p>" + "系统维护中，请稍后访问。" * 5 + "</p></body></html>").encode()
        )
        server.routes["/board/login.html"] = Answer.file(FIXTURES / "login_wall.html")
        settings = crawl_settings(tmp_path)
        source = board_source(server, start_urls=[server.url("/board/list_1.html"),
                                                  server.url("/board/maintenance.html"),
                                                  server.url("/board/login.html")])
        health = crawl(settings, source)["board-test"]

    assert health.items == 1  # message_1003 on the second listing page
    assert health.problems == {"http_404": 1, "no_message_text": 1, "no_items_on_list": 1, "login_wall": 1}


def test_params_are_validated() -> None:
    from spiders.registry import resolve
    from yuqing.config import ConfigError

    with pytest.raises(ConfigError, match="start_urls"):
        resolve(Source(name="b", kind="board", params={}))
    with pytest.raises(ConfigError, match="reply_units"):
        resolve(Source(name="b", kind="board", params={"start_urls": ["http://x/"], "reply_units": ".x"}))
    with pytest.raises(ConfigError, match="not a valid CSS selector"):
        resolve(Source(name="b", kind="board", params={"start_urls": ["http://x/"], "title_selector": "h1[["}))
