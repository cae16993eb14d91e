"""Parsing helpers as tables: encodings, Chinese dates, URL rules, page checks, lists, feeds, tables."""

from datetime import datetime
from pathlib import Path

import pytest

from spiders.gov_policy import attachments_and_interpretation, metadata_table, validity_of
from spiders.listing import item_links, next_page, template_pages
from spiders.parsing import (
    absolute,
    clean_text,
    decode_page,
    find_published_at,
    page_problem,
    parse_datetime,
    to_halfwidth_alnum,
    url_allowed,
    visible_text,
)
from spiders.rss import FeedError, feed_date, parse_feed
from yuqing.schema import SHANGHAI, Validity

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEXT = "菏泽市人民政府办公室关于做好农民工工资支付工作的通知"


def page(charset_meta: str) -> str:
    return f"<html><head>{charset_meta}<title>{TEXT}</title></head><body><p>{TEXT}</p></body></html>"


@pytest.mark.parametrize(("body", "content_type", "expected_encoding"), [
    (page('<meta charset="utf-8">').encode("utf-8"), None, "utf-8"),
    (page("").encode("utf-8"), None, "utf-8"),
    (page("").encode("gbk"), None, "gb18030"),  # no declaration at all
    (page('<meta charset="utf-8">').encode("gbk"), None, "gb18030"),  # wrong declaration
    (page('<meta http-equiv="Content-Type" content="text/html; charset=gb2312">').encode("gb2312"), None, "gb18030"),
    (page("").encode("gb18030"), "text/html; charset=utf-8", "gb18030"),  # wrong header
    (page("").encode("gbk"), "text/html; charset=GBK", "gb18030"),
    (b"\xef\xbb\xbf" + page("").encode("utf-8"), None, "utf-8"),  # BOM
])
def test_decode_page(body, content_type, expected_encoding):
    text, encoding = decode_page(body, content_type)
    assert encoding == expected_encoding
    assert TEXT in text


def test_a_stray_bad_byte_does_not_turn_utf8_into_gbk():
    body = page('<meta charset="utf-8">').encode("utf-8") * 20
    body = body[:500] + b"\xff" + body[500:]
    text, encoding = decode_page(body, None)
    assert encoding == "utf-8" and TEXT in text


def test_decode_page_never_fails_on_garbage():
    text, _ = decode_page(b"<html>\xff\xfe\xfa\x80 broken</html>" + TEXT.encode("utf-8"))
    assert "broken" in text


def test_fixture_with_wrong_declaration_decodes():
    body = (FIXTURES / "gov_policy/art/2023/1/5/art_35425_10399003.html").read_bytes()
    text, encoding = decode_page(body, "text/html")
    assert encoding == "gb18030" and "农民工工资" in text


def at(*parts):
    return datetime(*parts, tzinfo=SHANGHAI)


NOW = at(2022, 6, 2, 12, 0)


@pytest.mark.parametrize(("text", "expected"), [
    ("2022年06月02日", at(2022, 6, 2)),
    ("2022年6月2日 10:31", at(2022, 6, 2, 10, 31)),
    ("2022-06-02 10:31", at(2022, 6, 2, 10, 31)),
    ("2022-06-02 10:31:05", at(2022, 6, 2, 10, 31, 5)),
    ("2022/6/2", at(2022, 6, 2)),
    ("2022.06.02", at(2022, 6, 2)),
    ("20220602", at(2022, 6, 2)),
    ("2022-06-02T10:31:00", at(2022, 6, 2, 10, 31)),
    ("发布时间：2022-06-02 10:31", at(2022, 6, 2, 10, 31)),
    ("来源：菏泽日报 时间：2022-05-30 16:45:12", at(2022, 5, 30, 16, 45, 12)),
    ("２０２２－０６－０２　１０：３１", at(2022, 6, 2, 10, 31)),  # full-width digits
    ("二〇二二年六月二日", at(2022, 6, 2)),
    ("二〇二二年十二月二十三日", at(2022, 12, 23)),
    ("发布时间：18-03-08 23:16", at(2018, 3, 8, 23, 16)),  # two-digit year, with a time
    ("06-01 09:30", at(2022, 6, 1, 9, 30)),  # no year: this year
    ("12-31 23:00", at(2021, 12, 31, 23, 0)),  # no year, would be in the future: last year
    ("5分钟前", at(2022, 6, 2, 11, 55)),
    ("3小时前", at(2022, 6, 2, 9, 0)),
    ("昨天 10:31", at(2022, 6, 1, 10, 31)),
    ("2022-02-30", None),  # no such day
    ("浏览次数：1024", None),
    ("", None),
])
def test_parse_datetime(text, expected):
    assert parse_datetime(text, now=NOW) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # the labelled date wins over an earlier unlabelled one (a 今天是 line, a related link)
    ("今天是2022年6月9日 星期四 | 发布时间：2022-06-02 10:31 来源：菏泽日报", at(2022, 6, 2, 10, 31)),
    ("相关：2021-01-01 某新闻 发布日期：2022年06月02日", at(2022, 6, 2)),
    ("2022-06-02 10:31 来源：菏泽日报", at(2022, 6, 2, 10, 31)),
    ("没有日期", None),
])
def test_find_published_at(text, expected):
    assert find_published_at(text, now=NOW) == expected


@pytest.mark.parametrize(("url", "allow", "deny", "expected"), [
    ("http://www.heze.gov.cn/art/2022/6/2/art_35425_1.html", [r"/art/\d{4}/"], [], True),
    ("http://www.heze.gov.cn/col/col35425/index.html", [r"/art/\d{4}/"], [], False),
    ("http://x.cn/news/t20220602_1.html", [], [r"_m\.html$"], True),
    ("http://x.cn/news/t20220602_1_m.html", [], [r"_m\.html$"], False),
    ("http://x.cn/a", [], [], True),
])
def test_url_allowed(url, allow, deny, expected):
    assert url_allowed(url, allow, deny) is expected


@pytest.mark.parametrize(("base", "href", "expected"), [
    ("http://x.cn/news/index.html", "./202206/t1.html", "http://x.cn/news/202206/t1.html"),
    ("http://x.cn/news/index.html", "/art/1.html", "http://x.cn/art/1.html"),
    ("http://x.cn/news/index.html", "javascript:void(0)", None),
    ("http://x.cn/news/index.html", "#top", None),
    ("http://x.cn/news/index.html", "mailto:a@b.cn", None),
    ("http://x.cn/news/index.html", "", None),
])
def test_absolute(base, href, expected):
    assert absolute(base, href) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("news/news/202206/t20220603_1004.html", "login_wall"),
    ("news/news/202206/t20220603_1005.html", "captcha"),
    ("news/news/202206/t20220604_1006.html", "empty_page"),
    ("news/news/202206/t20220602_1001.html", None),  # a 登录 link in the header is not a wall
    ("gov_policy/art/2022/6/2/art_35425_10299001.html", None),
])
def test_page_problem(name, expected):
    html, _ = decode_page((FIXTURES / name).read_bytes())
    assert page_problem(html) == expected


def test_text_normalisation():
    assert to_halfwidth_alnum("ＡＢＣ１２３，。") == "ABC123，。"  # Chinese punctuation stays
    assert clean_text("  第一段 \u3000\n\n\n\n 第二段\t\tend  ") == "第一段\n\n第二段 end"


def test_item_links_read_jcms_datastore_records():
    html = (FIXTURES / "gov_policy/col/col35425/index.html").read_text(encoding="utf-8")
    urls = item_links(html, "http://www.heze.gov.cn/col/col35425/index.html", [r"/art/\d{4}/"], [])
    assert urls[0] == "http://www.heze.gov.cn/art/2022/6/2/art_35425_10299001.html"
    assert len(urls) == 4  # navigation, /status/ and /col/ links are not documents


def test_item_links_default_rule_and_next_page():
    html = (FIXTURES / "news/news/index.html").read_text(encoding="utf-8")
    base = "http://news.example.cn/news/index.html"
    urls = item_links(html, base, [], [])
    assert "http://news.example.cn/news/202206/t20220602_1001.html" in urls
    assert all("/t2022" in url for url in urls)  # no nav, search, login or list pages
    assert next_page(html, base) == "http://news.example.cn/news/index_1.html"
    last = (FIXTURES / "news/news/index_1.html").read_text(encoding="utf-8")
    assert next_page(last, "http://news.example.cn/news/index_1.html") is None


def test_template_pages():
    assert template_pages("http://x.cn/list_{page}.html", 2, 2) == ["http://x.cn/list_2.html", "http://x.cn/list_3.html"]


def test_metadata_table_of_a_full_document():
    html = (FIXTURES / "gov_policy/art/2022/6/2/art_35425_10299001.html").read_text(encoding="utf-8")
    assert metadata_table(html) == {
        "索引号": "11371700004345623G/2022-00118", "主题分类": "城乡建设、环境保护",
        "发文机构": "菏泽市人民政府办公室", "发文字号": "菏政办发〔2022〕12号", "成文日期": "2022年05月27日",
        "发布日期": "2022年06月02日", "有效性": "现行有效",
        "标题": "菏泽市人民政府办公室关于进一步加强城镇老旧小区改造工作的实施意见",
    }
    files, interpretation = attachments_and_interpretation(html, "http://www.heze.gov.cn/art/2022/6/2/a.html")
    assert [f["title"] for f in files] == ["1.菏泽市2022年城镇老旧小区改造计划表.pdf", "2.老旧小区改造居民意见征求表.docx"]
    assert interpretation == "http://www.heze.gov.cn/art/2022/6/3/art_35426_10299002.html"


def test_metadata_in_list_layout_with_padded_labels():
    html = (FIXTURES / "gov_policy/art/2019/3/1/art_35425_9001001.html").read_text(encoding="utf-8")
    table = metadata_table(html)
    assert table["索引号"] == "11371700004345623G/2019-00021"
    assert table["发文字号"] == "菏政发〔2019〕5号"  # label padded as 文　　号
    assert table["发文机构"] == "菏泽市人民政府"  # labelled 发布机构 on this page
    assert table["有效性"] == "已废止"  # labelled 效力状态


def test_metadata_several_labels_in_one_paragraph():
    html = "<html><body><p>成文日期：2022-05-27 发布日期：2022-06-02</p><p>正文发布日期另见。</p></body></html>"
    assert metadata_table(html) == {"成文日期": "2022-05-27", "发布日期": "2022-06-02"}


@pytest.mark.parametrize(("value", "title", "expected"), [
    ("现行有效", None, Validity.CURRENT),
    ("有效", None, Validity.CURRENT),
    ("已废止", None, Validity.REPEALED),
    ("失效", None, Validity.REPEALED),
    ("已修改", None, Validity.AMENDED),
    (None, "关于印发某办法的通知（已废止）", Validity.REPEALED),
    (None, "关于印发某办法的通知", Validity.UNKNOWN),
])
def test_validity_of(value, title, expected):
    assert validity_of(value, title) is expected


def test_parse_rss_and_atom():
    entries = parse_feed((FIXTURES / "rss/feed.xml").read_bytes(), "http://www.heze.gov.cn/feed.xml")
    assert [e.url for e in entries][:2] == ["http://www.heze.gov.cn/a/20220602_0001.html",
                                             "http://www.heze.gov.cn/a/20220601_0002.html"]
    assert entries[0].published_at == at(2022, 6, 2, 10, 31)
    assert entries[0].author == "市住建局" and entries[0].summary.startswith("6月2日")
    atom = parse_feed((FIXTURES / "rss/atom.xml").read_bytes(), "http://www.heze.gov.cn/atom.xml")
    assert atom[0].title == "菏泽市召开城镇老旧小区改造工作推进会" and atom[0].published_at == at(2022, 6, 2, 10, 31)


def test_parse_feed_rejects_what_is_not_a_feed():
    with pytest.raises(FeedError):
        parse_feed((FIXTURES / "rss/notafeed.xml").read_bytes(), "http://x.cn/")
    with pytest.raises(FeedError):
        parse_feed(b"", "http://x.cn/")


@pytest.mark.parametrize(("value", "expected"), [
    ("Thu, 02 Jun 2022 10:31:00 +0800", at(2022, 6, 2, 10, 31)),
    ("2022-06-02T02:31:00Z", at(2022, 6, 2, 10, 31)),
    ("2022年06月02日 10:31", at(2022, 6, 2, 10, 31)),
    ("not a date", None),
])
def test_feed_date(value, expected):
    assert feed_date(value) == expected


@pytest.mark.parametrize(("exception", "reason"), [
    ("CannotResolveHostError", "network"),
    ("DownloadConnectionRefusedError", "network"),
    ("DownloadTimeoutError", "timeout"),
    ("ResponseDataLossError", "network"),
    ("DownloadCancelledError", "too_large"),
])
def test_classify_failure(exception, reason):
    import scrapy.exceptions
    from twisted.python.failure import Failure

    from spiders.base import classify_failure

    message = "Received 30000000 bytes which is larger than download max size (20971520) in request <GET x>."
    assert classify_failure(Failure(getattr(scrapy.exceptions, exception)(message))) == reason


def test_classify_http_errors():
    from scrapy.http import HtmlResponse, Request
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.python.failure import Failure

    from spiders.base import classify_failure

    def failure(status):
        response = HtmlResponse("http://x.cn/", status=status, request=Request("http://x.cn/"))
        return Failure(HttpError(response))

    assert [classify_failure(failure(s)) for s in (404, 503, 403, 429)] == ["http_404", "http_5xx", "forbidden",
                                                                             "rate_limited"]


def test_an_article_with_a_login_box_is_not_a_wall():
    login_box = ('<form action="/login"><input name="u"><input type="password" name="p">'
                 "<button>登录</button> 请先登录</form>")
    article = "<p>" + "菏泽市召开城镇老旧小区改造工作推进会，会议通报了全市改造工作进展情况。" * 10 + "</p>"
    assert page_problem(f"<html><body>{login_box}{article}</body></html>") is None
    # an ASP.NET page: one form wraps everything, the login box included
    assert page_problem(f'<html><body><form id="form1">{login_box.replace("form", "div")}{article}</form></body></html>') is None
    wall = "<p>该内容为会员专享，请登录后阅读全文。欢迎订阅菏泽日报数字版。</p>"
    assert page_problem(f"<html><body>{login_box}{wall}</body></html>") == "login_wall"


def test_no_real_saved_page_is_called_a_wall(shared_data):
    for path in sorted((shared_data / "html").rglob("*.html")):
        assert page_problem(decode_page(path.read_bytes())[0]) is None, path.name


def test_visible_text_skips_whole_scripts_and_styles():
    html = ('<html><head><STYLE>p{color:red}</STYLE><script>if (a<b && c>d) { x = "</p>"; }</SCRIPT >'
            "</head><body><p>正文<b>一</b></p><script type='text/javascript'>var s = '<div>';</script>尾"
            "<scripts>自定义标签</scripts></body></html>")
    assert visible_text(html) == "正文 一 尾 自定义标签"
    # a script never closed: its tag goes, the text after it stays
    assert visible_text("<p>甲</p><script>document.write('乙')") == "甲 document.write('乙')"
