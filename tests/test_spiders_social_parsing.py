"""Table tests of the pure parsers behind the weibo, board and forum spiders (no network, fixed now)."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path

import pytest

from spiders import board_parsing, forum_parsing, weibo_parsing
from spiders.social_time import is_relative_time, parse_social_time
from yuqing.schema import (
    BOARD_ANSWERED,
    BOARD_ANSWERED_AT,
    BOARD_CATEGORY,
    BOARD_PLACE,
    BOARD_REPLY,
    BOARD_REPLY_UNIT,
    SHANGHAI,
    Platform,
)

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
NOW = datetime(2024, 6, 10, 15, 30, 0, tzinfo=SHANGHAI)


def bj(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("刚刚", NOW),
        ("30秒前", bj(2024, 6, 10, 15, 29, 30)),
        ("5分钟前", bj(2024, 6, 10, 15, 25)),
        ("3小时前", bj(2024, 6, 10, 12, 30)),
        ("2天前", bj(2024, 6, 8, 15, 30)),
        ("今天 08:05", bj(2024, 6, 10, 8, 5)),
        ("昨天 10:31", bj(2024, 6, 9, 10, 31)),
        ("前天 23:59", bj(2024, 6, 8, 23, 59)),
        ("06-07", bj(2024, 6, 7)),
        ("12-31", bj(2023, 12, 31)),  # not in the future: last year
        ("06-07 10:31", bj(2024, 6, 7, 10, 31)),
        ("2022-06-07", bj(2022, 6, 7)),
        ("2022-06-07 10:31", bj(2022, 6, 7, 10, 31)),
        ("2024-05-20 09:15:00", bj(2024, 5, 20, 9, 15)),
        ("2024年5月20日", bj(2024, 5, 20)),
        ("Tue Jun 07 10:31:00 +0800 2022", bj(2022, 6, 7, 10, 31)),
        ("2022-06-07T02:31:00+00:00", bj(2022, 6, 7, 10, 31)),
        ("11:51", bj(2024, 6, 10, 11, 51)),  # tieba: today
        ("7-3", bj(2024, 7, 3).replace(year=2023)),  # tieba: month-day, July is still ahead
        ("2019-12", bj(2019, 12, 1)),  # tieba: year-month for old threads
        ("10分钟前 来自 iPhone客户端", bj(2024, 6, 10, 15, 20)),
        ("", None),
        ("不是时间", None),
        ("02-30", None),
    ],
)
def test_social_times_resolve_against_a_fixed_now(text: str, expected: datetime | None) -> None:
    assert parse_social_time(text, NOW) == expected


def test_relative_times_are_no_more_precise_than_their_form() -> None:
    now = datetime(2024, 6, 10, 15, 30, 42, 123456, tzinfo=SHANGHAI)
    assert parse_social_time("刚刚", now) == bj(2024, 6, 10, 15, 30, 42)
    assert parse_social_time("12秒前", now) == bj(2024, 6, 10, 15, 30, 30)
    assert parse_social_time("5分钟前", now) == bj(2024, 6, 10, 15, 25)
    assert parse_social_time("2小时前", now) == bj(2024, 6, 10, 13, 30)


@pytest.mark.parametrize(
    ("text", "relative"),
    [("刚刚", True), ("5分钟前", True), ("3小时前", True), ("昨天 10:31", True), ("今天 08:00", True),
     ("06-07", False), ("2022-06-07", False), ("Tue Jun 07 10:31:00 +0800 2022", False), ("", False), (None, False)],
)
def test_relative_forms_are_told_apart(text: str | None, relative: bool) -> None:
    assert is_relative_time(text) is relative


def test_social_time_uses_beijing_date_when_now_is_utc() -> None:
    # 16:30 UTC is already 00:30 the next day in Beijing: 昨天 means the Beijing yesterday.
    utc_now = datetime.fromisoformat("2024-06-09T16:30:00+00:00")
    assert parse_social_time("昨天 08:00", utc_now) == bj(2024, 6, 9, 8, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234, 1234),
        ("1234", 1234),
        ("1,234", 1234),
        ("12.3万", 123_000),
        ("1.2亿", 120_000_000),
        ("100万+", 1_000_000),
        ("3w", 30_000),
        (None, None),
        ("", None),
        ("很多", None),
        (True, None),
        (-5, 0),
    ],
)
def test_counts_as_weibo_shows_them(value: object, expected: int | None) -> None:
    assert weibo_parsing.parse_count(value) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('太气人了<span class="url-icon"><img alt="[怒]" src="x.png" /></span>', "太气人了[怒]"),
        ("第一行<br />第二行", "第一行\n第二行"),
        ("<a href='/n/菏泽发布'>@菏泽发布</a> 回应", "@菏泽发布 回应"),
        ('<a href="https://m.weibo.cn/search"><span class="surl-text">#菏泽#</span></a>好', "#菏泽#好"),
        ('开头...<a href="/status/1">全文</a>', "开头..."),
        ("A&amp;B &lt;C&gt;", "A&B <C>"),
        ('<img src="card.png">网页链接', "网页链接"),
        ("", ""),
        ("纯文本", "纯文本"),
    ],
)
def test_weibo_html_is_stripped_keeping_emoticons_and_lines(html: str, expected: str) -> None:
    assert weibo_parsing.strip_weibo_html(html) == expected


def load_json(name: str) -> dict:
    return json.loads((FIXTURES / "weibo" / name).read_text(encoding="utf-8"))


def test_search_page_yields_mblogs_including_card_groups() -> None:
    page = weibo_parsing.parse_container(load_json("search_page1.json"))
    assert [weibo_parsing.weibo_id(m) for m in page.mblogs] == [
        "5001000000000001",
        "5001000000000002",
        "5001000000000003",
    ]
    assert not page.end
    assert weibo_parsing.parse_container(load_json("search_page3_empty.json")).end


@pytest.mark.parametrize(
    ("info", "next_page", "end"),
    [
        ({"page": 2}, 2, False),
        ({"page": None}, None, True),  # the API's last page
        ({}, None, False),  # no word on paging: the spider tries the next number
        ({"since_id": 42, "page": None}, None, False),
    ],
)
def test_paging_follows_cardlist_info(info: dict, next_page: int | None, end: bool) -> None:
    mblog = {"id": "1", "text": "x", "user": {"id": 2}}
    page = weibo_parsing.parse_container({"ok": 1, "data": {"cardlistInfo": info, "cards": [{"mblog": mblog}]}})
    assert (page.next_page, page.end) == (next_page, end)


def test_timeline_page_carries_since_id() -> None:
    assert weibo_parsing.parse_container(load_json("timeline_page1.json")).since_id == "4999000000000001"
    assert weibo_parsing.parse_container(load_json("timeline_page2.json")).since_id is None


def test_mblog_becomes_a_post_with_author_metrics_and_region() -> None:
    mblog = weibo_parsing.parse_container(load_json("search_page1.json")).mblogs[0]
    post = weibo_parsing.mblog_to_post(
        mblog, source="weibo-test", api_base="https://m.weibo.cn", now=NOW
    )
    assert post.id == "weibo:5001000000000001"
    assert post.platform is Platform.WEIBO
    assert post.url == "https://m.weibo.cn/status/5001000000000001"
    assert post.text == "#菏泽老旧小区改造#我们小区改造拖了半年了，楼道里到处是建筑垃圾，老人上下楼都不方便[怒][怒]\n希望有关部门管一管！"
    assert post.published_at == bj(2024, 6, 10, 15, 25)
    assert (post.metrics.reposts, post.metrics.comments, post.metrics.likes) == (12, 34, 56)
    assert post.author.name == "牡丹区居民小王"
    assert post.author.id == "7001000001"
    assert post.author.followers == 12_000
    assert not post.author.verified
    assert post.extra[weibo_parsing.WEIBO_REGION] == "山东"
    assert post.reply_to is None


@pytest.mark.parametrize(("created_at", "inferred"), [("06-07", True), ("2023-06-07", False), ("3小时前", False)])
def test_a_weibo_dated_without_its_year_says_so(created_at: str, inferred: bool) -> None:
    mblog = {**weibo_parsing.parse_container(load_json("search_page1.json")).mblogs[0], "created_at": created_at}
    post = weibo_parsing.mblog_to_post(mblog, source="weibo-test", api_base="https://m.weibo.cn", now=NOW)
    assert post.published_year_inferred is inferred
    assert post.published_at <= NOW


def test_truncated_mblog_takes_the_long_text() -> None:
    mblog = weibo_parsing.parse_container(load_json("search_page1.json")).mblogs[1]
    assert weibo_parsing.is_truncated(mblog)
    full = weibo_parsing.parse_long_text(load_json("extend_5001000000000002.json"))
    post = weibo_parsing.mblog_to_post(mblog, source="s", api_base="https://m.weibo.cn", now=NOW, full_text=full)
    assert "确保年底前全部完工。\n市民如有问题可拨打12345热线反映。[赞]" in post.text
    assert "全文" not in post.text
    assert weibo_parsing.WEIBO_TRUNCATED not in post.extra
    assert post.author.verified
    assert post.author.verified_reason == "菏泽市人民政府新闻办公室官方微博"
    assert post.author.followers == 1_234_000
    assert (post.metrics.reposts, post.metrics.likes) == (15_000, 1_000_000)
    assert post.published_at == bj(2024, 6, 9, 10, 31)
    # Without the long text the post keeps what it has and says it is cut.
    cut = weibo_parsing.mblog_to_post(mblog, source="s", api_base="https://m.weibo.cn", now=NOW)
    assert cut.extra[weibo_parsing.WEIBO_TRUNCATED] is True
    assert cut.text.endswith("目前已开工118个...")


def test_retweet_points_at_its_original() -> None:
    mblog = weibo_parsing.parse_container(load_json("search_page1.json")).mblogs[2]
    original = weibo_parsing.retweeted_original(mblog)
    assert original is not None
    repost = weibo_parsing.mblog_to_post(mblog, source="s", api_base="https://m.weibo.cn", now=NOW)
    source_post = weibo_parsing.mblog_to_post(original, source="s", api_base="https://m.weibo.cn", now=NOW)
    assert repost.reply_to == source_post.id == "weibo:5001000000000004"
    assert repost.extra[weibo_parsing.WEIBO_RETWEET_OF] == source_post.id
    assert repost.published_at == bj(2024, 6, 7)
    assert source_post.published_at == bj(2022, 6, 7, 10, 31)
    assert source_post.text == "菏泽市保障性租赁住房首批房源今日开始申请，详见网页链接"


def test_deleted_original_is_not_a_post_but_is_still_referenced() -> None:
    mblog = weibo_parsing.parse_container(load_json("search_page2.json")).mblogs[1]
    assert weibo_parsing.retweeted_original(mblog) is None
    repost = weibo_parsing.mblog_to_post(mblog, source="s", api_base="https://m.weibo.cn", now=NOW)
    assert repost.reply_to == "weibo:5001000000000007"


@pytest.mark.parametrize(
    ("body", "url", "reason"),
    [
        ((FIXTURES / "weibo" / "broken.json").read_bytes(), "", "broken_json"),
        ((FIXTURES / "weibo" / "login_wall.html").read_bytes(), "", "login_wall"),
        ((FIXTURES / "weibo" / "error_page.html").read_bytes(), "", "not_json"),
        (b"<html><body>\xe8\xaf\xb7\xe8\xbe\x93\xe5\x85\xa5\xe9\xaa\x8c\xe8\xaf\x81\xe7\xa0\x81</body></html>", "", "captcha"),
        (b"[1, 2]", "", "broken_json"),
        (b'{"ok": 1}', "https://passport.weibo.cn/signin/login?entry=mweibo", "login_wall"),
        (b'{"ok": -100, "url": "https://passport.weibo.cn/signin/welcome?entry=mweibo&r=x"}', "", "login_wall"),
    ],
)
def test_unusable_answers_raise_a_reason(body: bytes, url: str, reason: str) -> None:
    with pytest.raises(weibo_parsing.WeiboResponseError) as caught:
        weibo_parsing.decode_api_json(body, url)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"ok": 0, "msg": "请求过于频繁，请稍后再试"}, "api_not_ok"),
        ({"ok": 1, "data": "x"}, "unexpected_shape"),
    ],
)
def test_not_ok_answers_raise_a_reason(data: dict, reason: str) -> None:
    with pytest.raises(weibo_parsing.WeiboResponseError) as caught:
        weibo_parsing.parse_container(data)
    assert caught.value.reason == reason


def test_odd_shapes_are_reported_not_crashed_on() -> None:
    with pytest.raises(weibo_parsing.WeiboResponseError, match="not a list"):
        weibo_parsing.parse_container({"ok": 1, "data": {"cards": {"0": {}}}})
    page = weibo_parsing.parse_container(
        {"ok": 1, "data": {"cards": ["广告", {"card_group": "x"}, {"mblog": {"id": "1", "text": "好"}}]}}
    )
    assert [m["id"] for m in page.mblogs] == ["1"]
    with pytest.raises(weibo_parsing.WeiboResponseError) as caught:
        weibo_parsing.mblog_to_post({"id": "2", "user": {"screen_name": ["a", "b"]}}, source="s",
                                    api_base="https://m.weibo.cn", now=NOW)
    assert caught.value.reason == "unexpected_shape"


def test_missing_long_text_raises() -> None:
    with pytest.raises(weibo_parsing.WeiboResponseError) as caught:
        weibo_parsing.parse_long_text(load_json("extend_missing.json"))
    assert caught.value.reason == "long_text_missing"


def test_api_urls_follow_the_container_api() -> None:
    assert weibo_parsing.search_url("https://m.weibo.cn", "菏泽 老旧小区改造", 2) == (
        "https://m.weibo.cn/api/container/getIndex?containerid=100103type%3D1%26q%3D"
        "%E8%8F%8F%E6%B3%BD%20%E8%80%81%E6%97%A7%E5%B0%8F%E5%8C%BA%E6%94%B9%E9%80%A0&page_type=searchall&page=2"
    )
    assert "containerid=100103type%3D61%26q%3D%E5%8D%95%E5%8E%BF&" in weibo_parsing.search_url(
        "https://m.weibo.cn", "单县", 1, search_type=61
    )
    assert weibo_parsing.timeline_url("https://m.weibo.cn", "7001000002") == (
        "https://m.weibo.cn/api/container/getIndex?containerid=1076037001000002"
    )
    assert weibo_parsing.timeline_url("https://m.weibo.cn", "7001000002", "49").endswith("&since_id=49")
    assert weibo_parsing.timeline_url("https://m.weibo.cn", "7001000002", page=3).endswith("&page=3")
    assert weibo_parsing.long_text_url("http://127.0.0.1:8000/", "5") == "http://127.0.0.1:8000/statuses/extend?id=5"


BOARD_SELECTORS = board_parsing.BoardSelectors(id_selector=".message-no")


def board_page(name: str) -> str:
    raw = (FIXTURES / "board" / name).read_bytes()
    return raw.decode("gbk") if b"charset=gbk" in raw else raw.decode("utf-8")


def test_board_listing_gives_message_links_and_next_page() -> None:
    links, next_url = board_parsing.listing_links(
        board_page("list_1.html"), "http://board.example/board/list_1.html", BOARD_SELECTORS
    )
    assert links == [
        "http://board.example/board/message_1001.html",
        "http://board.example/board/message_1002.html",
    ]
    assert next_url == "http://board.example/board/list_2.html"
    _, last = board_parsing.listing_links(board_page("list_2.html"), "http://board.example/list_2.html", BOARD_SELECTORS)
    assert last is None


def parse_board(name: str):
    return board_parsing.parse_message(
        board_page(name), f"http://board.example/board/{name}", BOARD_SELECTORS, source="board-test", now=NOW
    )


def test_unanswered_board_message() -> None:
    post = parse_board("message_1001.html")
    assert post.platform is Platform.BOARD
    assert post.id == "board:board-test:HZ20240520001"
    assert post.title == "牡丹区某小区老旧小区改造停工半年无人管"
    assert post.text.startswith("尊敬的领导：\n我是牡丹区丹阳街道某小区居民")
    assert post.published_at == bj(2024, 5, 20, 9, 15)
    assert post.author.name == "张**"
    assert post.extra[BOARD_ANSWERED] is False
    assert post.extra[BOARD_CATEGORY] == "投诉"
    assert post.extra[BOARD_PLACE] == "牡丹区"
    assert post.extra[board_parsing.BOARD_STATUS] == "办理中"
    assert BOARD_REPLY not in post.extra
    assert BOARD_REPLY_UNIT not in post.extra


def test_a_board_message_dated_without_its_year_says_so() -> None:
    assert parse_board("message_1001.html").published_year_inferred is False
    html = board_page("message_1001.html").replace("留言时间：2024-05-20 09:15:00", "留言时间：05-20 09:15")
    post = board_parsing.parse_message(html, "http://board.example/board/1001", BOARD_SELECTORS,
                                       source="board-test", now=NOW)
    assert post.published_year_inferred is True
    assert post.published_at is not None and post.published_at <= NOW


@pytest.mark.parametrize(
    ("name", "unit", "answered_at"),
    [
        ("message_1001_answered.html", "牡丹区住房和城乡建设局", "2024-05-28T16:40:00+08:00"),
        ("message_1002.html", "菏泽市住房和城乡建设局", "2024-05-19T10:05:00+08:00"),
        ("message_1003.html", "曹县发展和改革局", "2024-05-12T00:00:00+08:00"),
    ],
)
def test_answered_board_messages(name: str, unit: str, answered_at: str) -> None:
    post = parse_board(name)
    assert post.extra[BOARD_ANSWERED] is True
    assert post.extra[BOARD_REPLY_UNIT] == unit
    assert post.extra[BOARD_ANSWERED_AT] == answered_at
    assert post.extra[BOARD_REPLY].startswith("您好！")


def test_same_board_message_keeps_its_id_when_answered() -> None:
    assert parse_board("message_1001.html").id == parse_board("message_1001_answered.html").id


def test_board_page_without_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="no message text"):
        parse_board("message_empty.html")


@pytest.mark.parametrize(
    ("status", "reply", "answered"),
    [
        ("已回复", "", True),
        ("已办结", "", True),
        ("办理中", "", False),
        ("未回复", "", False),
        ("", "", False),
        ("", "您好，已转交", True),
        ("", "暂无回复", False),
    ],
)
def test_board_answered_is_judged_from_status_and_reply(status: str, reply: str, answered: bool) -> None:
    html = (
        f'<div class="message-content">问题</div><span class="message-status">{status}</span>'
        f'<div class="reply-content">{reply}</div>'
    )
    post = board_parsing.parse_message(html, "http://b/1", board_parsing.BoardSelectors(), source="b", now=NOW)
    assert post.extra[BOARD_ANSWERED] is answered


TIEBA_NOW = datetime(2020, 8, 1, 16, 30, tzinfo=SHANGHAI)  # the day the list page was saved


@pytest.mark.parametrize("name", ["tieba_list.html", "tieba_list_served.html"])
def test_tieba_thread_list(name: str) -> None:
    html = (FIXTURES / "forum" / name).read_text(encoding="utf-8")
    threads, next_url, forum = forum_parsing.parse_thread_list(html, "https://tieba.baidu.com/f?kw=x", TIEBA_NOW)
    assert forum == "贴吧热议吧"
    assert next_url == "https://tieba.baidu.com/f?kw=%E8%B4%B4%E5%90%A7%E7%83%AD%E8%AE%AE&ie=utf-8&pn=50"
    assert len(threads) == 7
    pinned = threads[0]
    assert (pinned.tid, pinned.pinned, pinned.replies) == ("6401593389", True, 143)
    assert pinned.title == "【招聘】贴吧热议吧吧务邀请你的加入！！"
    assert pinned.url == "https://tieba.baidu.com/p/6401593389"
    assert pinned.author_name == "烟给我烟"
    assert pinned.author_id == "459603298"
    assert pinned.created == bj(2019, 12, 1)
    lost = threads[1]
    assert lost.abstract.startswith("8月1日，青海省格尔木公安局通报称")
    assert not lost.pinned
    assert threads[2].created == bj(2020, 8, 1, 11, 51)
    assert threads[2].last_reply == bj(2020, 8, 1, 16, 9)
    assert threads[4].title == "#明星来了#更新最新贴吧APP，领取限定头像挂饰！"
    assert threads[4].replies == 2196
    # "1-9" on the list has no year (inferred); "11:51" is today.
    assert threads[4].created == bj(2020, 1, 9) and threads[4].created_year_inferred
    assert not threads[2].created_year_inferred
    assert forum_parsing.thread_to_post(threads[4], source="tieba-test", now=TIEBA_NOW).published_year_inferred


def test_tieba_first_post_and_post() -> None:
    html = (FIXTURES / "forum" / "thread_6855874703.html").read_text(encoding="utf-8")
    text, when = forum_parsing.parse_first_post(html, TIEBA_NOW)
    assert text == "近日，一名女大学生乘坐网约车时找不到上车点，\n被司机一通数落。[汗] 大家怎么看？"
    assert when == bj(2020, 8, 1, 11, 51)
    listing = (FIXTURES / "forum" / "tieba_list.html").read_text(encoding="utf-8")
    threads, _, forum = forum_parsing.parse_thread_list(listing, "https://tieba.baidu.com/f?kw=x", TIEBA_NOW)
    post = forum_parsing.thread_to_post(
        threads[2], source="tieba-test", now=TIEBA_NOW, forum=forum, first_post=text, first_post_at=when
    )
    assert post.id == "forum:6855874703"
    assert post.platform is Platform.FORUM
    assert post.metrics.comments == 73
    assert post.text == text
    assert post.extra[forum_parsing.FORUM_NAME] == "贴吧热议吧"
    assert post.extra[forum_parsing.FORUM_FIRST_POST] == "full"
    abstract_only = forum_parsing.thread_to_post(threads[1], source="tieba-test", now=TIEBA_NOW)
    assert abstract_only.text.startswith("8月1日")
    assert abstract_only.extra[forum_parsing.FORUM_FIRST_POST] == "abstract"


def test_first_post_of_a_page_without_posts() -> None:
    assert forum_parsing.parse_first_post("<html><body>贴子不存在</body></html>", TIEBA_NOW) == ("", None)


def test_whole_saved_tieba_page_parses() -> None:
    page = SHARED / "data" / "html" / "gne_pages" / "test_list_page" / "tieba" / "1.html"
    if not page.exists():
        pytest.skip(f"shared data not present at {page}")
    threads, next_url, _ = forum_parsing.parse_thread_list(
        page.read_text(encoding="utf-8"), "https://tieba.baidu.com/f?kw=x", TIEBA_NOW
    )
    assert len(threads) == 50
    assert len({t.tid for t in threads}) == 50
    assert all(t.url.startswith("https://tieba.baidu.com/p/") for t in threads)
    assert sum(t.pinned for t in threads) == 2
    assert next_url is not None and next_url.endswith("pn=50")


def test_plain_thread_list_without_data_field() -> None:
    html = """<ul><li class="j_thread_list" data-tid="9001">
      <span class="threadlist_rep_num">4</span>
      <a class="j_th_tit" href="/tieba/p/9001" title="化肥厂家属院什么时候复工">化肥厂家属院什么时候复工</a>
      <span class="tb_icon_author" title="主题作者: 西城老住户">西城老住户</span>
      <div class="threadlist_abs">路挖开三个月了</div>
      <span class="threadlist_reply_date">06-09 21:15</span></li></ul>"""
    [thread], next_url, forum = forum_parsing.parse_thread_list(html, "http://demo/tieba/f?kw=x", NOW)
    assert (thread.tid, thread.replies, thread.author_name) == ("9001", 4, "西城老住户")
    assert thread.url == "http://demo/tieba/p/9001"
    assert thread.last_reply == bj(2024, 6, 9, 21, 15)
    assert thread.created is None
    assert next_url is None and forum is None


def test_weibo_uids_from_yaml_ints() -> None:
    from spiders.weibo import WeiboParams

    assert WeiboParams.model_validate({"users": [5901234567, "42"]}).users == ["5901234567", "42"]


def test_board_selectors_may_pick_strings_with_pseudo_elements() -> None:
    listing = """<table class="msg-list"><tr><td class="msg-title"><a href="detail.html?tid=7">路灯不亮</a></td></tr>
      </table><div class="pagination"><a class="next" href="list.html?page=2">下一页</a></div>"""
    detail = """<div class="msg-detail"><h2 class="msg-title">西城街道路灯不亮</h2>
      <table><tr><th>留言时间</th><td class="msg-time">2024-06-01 20:15:00</td>
      <th>办理状态</th><td class="msg-state">未回复</td></tr></table>
      <div class="msg-content"><h3>留言内容</h3><p>第一段。</p><p>第二段。</p></div>
      <p class="no-reply">该留言正在办理中，尚未回复。</p></div>"""
    selectors = board_parsing.BoardSelectors(
        link_selector="td.msg-title a::attr(href)",
        next_selector="div.pagination a.next::attr(href)",
        title_selector="h2.msg-title::text",
        content_selector="div.msg-content p",
        time_selector="td.msg-time::text",
        status_selector="td.msg-state::text",
        reply_selector="div.reply-content",
    )
    links, next_url = board_parsing.listing_links(listing, "http://demo/lyb/list.html", selectors)
    assert links == ["http://demo/lyb/detail.html?tid=7"]
    assert next_url == "http://demo/lyb/list.html?page=2"
    post = board_parsing.parse_message(detail, links[0], selectors, source="demo", now=NOW)
    assert (post.title, post.text) == ("西城街道路灯不亮", "第一段。\n第二段。")
    assert post.published_at == bj(2024, 6, 1, 20, 15)
    assert post.extra[BOARD_ANSWERED] is False
    assert post.extra[board_parsing.BOARD_STATUS] == "未回复"


def test_parsers_survive_every_real_saved_page() -> None:
    """Pages of other kinds (news, portals, some GB2312) are the odd input a misconfigured source
    feeds these parsers: they must answer with nothing or a ValueError, never crash."""
    pages = sorted((SHARED / "data" / "html").rglob("*.html"))
    if not pages:
        pytest.skip(f"shared data not present at {SHARED}")
    for page in pages:
        html = page.read_bytes().decode("utf-8", errors="replace")
        forum_parsing.parse_thread_list(html, "https://example.cn/list", NOW)
        forum_parsing.parse_first_post(html, NOW)
        board_parsing.listing_links(html, "https://example.cn/list", BOARD_SELECTORS)
        with contextlib.suppress(ValueError):
            board_parsing.parse_message(html, "https://example.cn/1", BOARD_SELECTORS, source="s", now=NOW)
        assert isinstance(weibo_parsing.strip_weibo_html(html), str)
        with pytest.raises(weibo_parsing.WeiboResponseError):
            weibo_parsing.decode_api_json(page.read_bytes())
