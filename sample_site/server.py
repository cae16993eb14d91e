"""The sample site's HTTP server: one loopback server for the portal, the newspaper, the Weibo-style
API, the message board and the forum, rendered from `sample_site/content/` with Jinja2.

    with SampleSite() as site:
        base = site.start()          # e.g. http://127.0.0.1:41234, served from a daemon thread
        ...

The 政府信息公开 pages (`/zwgk/`) are served in GBK, as many real portals still are; everything
else is UTF-8. Times are fixed against the moment `start()` is called, except Weibo's relative
`created_at`, which is computed when each response is made, as the real API does.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from sample_site import weibo
from sample_site.content import CONTENT_DIR, SiteContent, paragraphs
from yuqing.schema import SHANGHAI

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
POLICY_PAGE_SIZE = 5
NEWS_PAGE_SIZE = 8
BOARD_PAGE_SIZE = 10
FORUM_PAGE_SIZE = 10
ROBOTS_TXT = """User-agent: *
Allow: /
Disallow: /admin/
Disallow: /search/

Sitemap: {base}/sitemap.xml
"""
# A 1x1 transparent PNG for emoticons and avatars: the page stays whole without any outside fetch.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def blank_pdf() -> bytes:
    """A valid one-page blank PDF, standing in for an attachment's file."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes


@dataclass
class Request:
    path: str
    query: dict[str, str]
    base: str


class NotFound(Exception):
    """The requested page does not exist."""


def page_count(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


class Pages:
    """Renders every page of the site from the content; one method per kind of page."""

    def __init__(self, content: SiteContent) -> None:
        self.content = content
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html", "xml"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(paragraphs=paragraphs, at=self._at, tieba_time=self._tieba_time)
        self.env.filters["cn_date"] = lambda moment: f"{moment:%Y年%m月%d日}"
        self.routes: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
            (re.compile(r"/(?:index\.html?)?"), self.home),
            (re.compile(r"/robots\.txt"), self.robots),
            (re.compile(r"/sitemap\.xml"), self.sitemap),
            (re.compile(r"/zwgk/(?:index\.html)?"), self.disclosure_home),
            (re.compile(r"/zwgk/zcwj/(?:index(?:_(\d+))?\.html)?"), self.policy_list),
            (re.compile(r"/zwgk/zcwj/\d{6}/t\d{8}_\d+\.html"), self.policy_detail),
            (re.compile(r"/zwgk/zcwj/files/([\w\-.]+\.pdf)"), self.attachment),
            (re.compile(r"/zwgk/zcjd/(?:index(?:_(\d+))?\.html)?"), self.interpretation_list),
            (re.compile(r"/zwgk/zcjd/\d{6}/t\d{8}_\d+\.html"), self.interpretation_detail),
            (re.compile(r"/xwzx/zwyw/(?:index(?:_(\d+))?\.html)?"), self.news_list),
            (re.compile(r"/xwzx/zwyw/content_(\d+)\.html"), self.portal_article),
            (re.compile(r"/rss/zwyw\.xml"), self.portal_rss),
            (re.compile(r"/hcrb/(?:index(?:_(\d+))?\.html)?"), self.paper_list),
            (re.compile(r"/hcrb/news/(\d+)\.html"), self.paper_article),
            (re.compile(r"/hcrb/rss\.xml"), self.paper_rss),
            (re.compile(r"/api/container/getIndex"), self.weibo_index),
            (re.compile(r"/statuses/extend"), self.weibo_extend),
            (re.compile(r"/status/(\w+)"), self.weibo_status),
            (re.compile(r"/lyb/(?:list\.html)?"), self.board_list),
            (re.compile(r"/lyb/detail\.html"), self.board_detail),
            (re.compile(r"/tieba/f"), self.forum_list),
            (re.compile(r"/tieba/p/(\d+)"), self.forum_thread),
            (re.compile(r"/static/portal\.css"), self.stylesheet),
            (re.compile(r"/static/(?:emoticon|avatar)/[\w\-.]+"), self.pixel),
        ]

    # -- plumbing ---------------------------------------------------------------------------

    def _at(self, item: Any) -> datetime:
        return item.at(self.content.start)

    def _tieba_time(self, moment: datetime) -> str:
        """Tieba's list times: HH:MM today, M-D this year, YYYY-M before."""
        today = self.content.start
        if moment.date() == today.date():
            return f"{moment:%H:%M}"
        if moment.year == today.year:
            return f"{moment.month}-{moment.day}"
        return f"{moment.year}-{moment.month}"

    def handle(self, request: Request) -> Response:
        for pattern, page in self.routes:
            match = pattern.fullmatch(request.path)
            if match:
                try:
                    return page(request, *match.groups())
                except NotFound:
                    break
        return self.html("not_found.html", status=HTTPStatus.NOT_FOUND, title="页面不存在")

    def html(
        self, template: str, status: int = HTTPStatus.OK, charset: str = "utf-8", **values: Any
    ) -> Response:
        text = self.env.get_template(template).render(charset=charset, **values)
        # GBK pages: any character outside GBK becomes a numeric reference, as CMSs do.
        body = text.encode(charset, errors="xmlcharrefreplace")
        return Response(status, f"text/html; charset={charset.upper()}", body)

    def gbk(self, template: str, **values: Any) -> Response:
        return self.html(template, charset="gbk", **values)

    @staticmethod
    def json(data: dict[str, Any]) -> Response:
        # m.weibo.cn escapes non-ASCII characters as \\uXXXX.
        return Response(HTTPStatus.OK, "application/json; charset=utf-8", json.dumps(data).encode("ascii"))

    @staticmethod
    def page_number(raw: str | None) -> int:
        return int(raw) if raw else 0

    @staticmethod
    def slice_page(items: list, number: int, size: int) -> list:
        chunk = items[number * size : (number + 1) * size]
        if number and not chunk:
            raise NotFound
        return chunk

    # -- portal -----------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        return self.html(
            "home.html",
            title="首页",
            news=self.content.news_of("portal")[:8],
            policies=self.content.policies[:6],
            interpretations=self.content.interpretations[:4],
            messages=self.content.messages[:6],
        )

    def robots(self, request: Request) -> Response:
        return Response(
            HTTPStatus.OK, "text/plain; charset=utf-8", ROBOTS_TXT.format(base=request.base).encode()
        )

    def sitemap(self, request: Request) -> Response:
        paths = [
            "/index.html",
            "/zwgk/zcwj/index.html",
            "/zwgk/zcjd/index.html",
            "/xwzx/zwyw/index.html",
            "/hcrb/index.html",
            "/lyb/list.html",
        ]
        paths += [doc.path for doc in self.content.policies] + [i.path for i in self.content.interpretations]
        paths += [article.path for article in self.content.news]
        text = self.env.get_template("sitemap.xml").render(base=request.base, paths=paths)
        return Response(HTTPStatus.OK, "application/xml; charset=utf-8", text.encode("utf-8"))

    def disclosure_home(self, request: Request) -> Response:
        return self.gbk(
            "disclosure_home.html",
            title="政府信息公开",
            policies=self.content.policies[:8],
            interpretations=self.content.interpretations,
        )

    def policy_list(self, request: Request, number: str | None) -> Response:
        page = self.page_number(number)
        docs = self.slice_page(self.content.policies, page, POLICY_PAGE_SIZE)
        return self.gbk(
            "policy_list.html",
            title="政策文件",
            docs=docs,
            page=page,
            pages=page_count(len(self.content.policies), POLICY_PAGE_SIZE),
            total=len(self.content.policies),
        )

    def policy_detail(self, request: Request) -> Response:
        doc = next((d for d in self.content.policies if d.path == request.path), None)
        if doc is None:
            raise NotFound
        return self.gbk(
            "policy_detail.html",
            title=doc.title,
            doc=doc,
            interpretation=self.content.interpretation_for(doc.policy),
        )

    def attachment(self, request: Request, name: str) -> Response:
        if not any(a.file == name for doc in self.content.policies for a in doc.attachments):
            raise NotFound
        return Response(HTTPStatus.OK, "application/pdf", blank_pdf())

    def interpretation_list(self, request: Request, number: str | None) -> Response:
        page = self.page_number(number)
        items = self.slice_page(self.content.interpretations, page, POLICY_PAGE_SIZE)
        return self.gbk(
            "interpretation_list.html",
            title="政策解读",
            items=items,
            page=page,
            pages=page_count(len(self.content.interpretations), POLICY_PAGE_SIZE),
            total=len(self.content.interpretations),
        )

    def interpretation_detail(self, request: Request) -> Response:
        item = next((i for i in self.content.interpretations if i.path == request.path), None)
        if item is None:
            raise NotFound
        return self.gbk(
            "interpretation_detail.html",
            title=item.title,
            item=item,
            doc=self.content.policy_doc(item.policy),
        )

    def news_list(self, request: Request, number: str | None) -> Response:
        page = self.page_number(number)
        articles = self.content.news_of("portal")
        return self.html(
            "news_list.html",
            title="政务要闻",
            articles=self.slice_page(articles, page, NEWS_PAGE_SIZE),
            page=page,
            pages=page_count(len(articles), NEWS_PAGE_SIZE),
        )

    def portal_article(self, request: Request, number: str) -> Response:
        article = self.content.article("portal", int(number))
        if article is None:
            raise NotFound
        return self.html("news_detail.html", title=article.title, article=article)

    def _rss(self, request: Request, site: str, title: str, link: str, description: str) -> Response:
        text = self.env.get_template("rss.xml").render(
            base=request.base,
            title=title,
            link=link,
            description=description,
            articles=self.content.news_of(site)[:20],
            rfc822=lambda moment: format_datetime(moment),
            built=format_datetime(self.content.start),
        )
        return Response(HTTPStatus.OK, "application/rss+xml; charset=utf-8", text.encode("utf-8"))

    def portal_rss(self, request: Request) -> Response:
        return self._rss(
            request,
            "portal",
            "菏泽市人民政府 - 政务要闻",
            "/xwzx/zwyw/index.html",
            "菏泽市人民政府门户网站政务要闻栏目（演示样例站点）",
        )

    # -- local newspaper --------------------------------------------------------------------

    def paper_list(self, request: Request, number: str | None) -> Response:
        page = self.page_number(number)
        articles = self.content.news_of("paper")
        return self.html(
            "paper_list.html",
            title="本地新闻",
            articles=self.slice_page(articles, page, NEWS_PAGE_SIZE),
            page=page,
            pages=page_count(len(articles), NEWS_PAGE_SIZE),
        )

    def paper_article(self, request: Request, number: str) -> Response:
        article = self.content.article("paper", int(number))
        if article is None:
            raise NotFound
        return self.html("paper_detail.html", title=article.title, article=article)

    def paper_rss(self, request: Request) -> Response:
        return self._rss(
            request,
            "paper",
            "菏城新闻网 - 本地新闻",
            "/hcrb/index.html",
            "菏城日报社主办 菏城新闻网本地新闻（演示样例站点）",
        )

    # -- weibo ------------------------------------------------------------------------------

    def weibo_index(self, request: Request) -> Response:
        page = request.query.get("page", "1")
        number = int(page) if page.isdigit() else 1
        containerid, since_id = request.query.get("containerid", ""), request.query.get("since_id")
        return self.json(weibo.get_index(self.content, containerid, number, datetime.now(UTC), since_id))

    def weibo_extend(self, request: Request) -> Response:
        return self.json(weibo.extend(self.content, request.query.get("id", "")))

    def weibo_status(self, request: Request, id_or_bid: str) -> Response:
        post = weibo.find(self.content, id_or_bid)
        if post is None:
            raise NotFound
        status = weibo.mblog_json(self.content, post, datetime.now(UTC))
        status["text"] = weibo.render_text(post.text)
        status["isLongText"] = False
        return self.html(
            "weibo_status.html",
            title="微博正文",
            render_data=json.dumps([{"status": status}], ensure_ascii=False),
        )

    # -- message board ----------------------------------------------------------------------

    def board_list(self, request: Request) -> Response:
        raw = request.query.get("page", "1")
        number = int(raw) - 1 if raw.isdigit() and int(raw) >= 1 else 0
        messages = self.content.messages
        return self.html(
            "board_list.html",
            title="网上留言",
            messages=self.slice_page(messages, number, BOARD_PAGE_SIZE),
            page=number + 1,
            pages=page_count(len(messages), BOARD_PAGE_SIZE),
            total=len(messages),
        )

    def board_detail(self, request: Request) -> Response:
        tid = request.query.get("tid", "")
        message = next((m for m in self.content.messages if tid.isdigit() and m.tid == int(tid)), None)
        if message is None:
            raise NotFound
        return self.html("board_detail.html", title=message.title, message=message)

    # -- forum ------------------------------------------------------------------------------

    def forum_list(self, request: Request) -> Response:
        raw = request.query.get("pn", "0")
        offset = int(raw) if raw.isdigit() else 0
        threads = sorted(self.content.threads, key=self.content.last_reply_at, reverse=True)
        chunk = threads[offset : offset + FORUM_PAGE_SIZE]
        if offset and not chunk:
            raise NotFound
        return self.html(
            "forum_list.html",
            title="菏泽吧",
            threads=chunk,
            offset=offset,
            size=FORUM_PAGE_SIZE,
            total=len(threads),
            last_reply_at=self.content.last_reply_at,
        )

    def forum_thread(self, request: Request, tid: str) -> Response:
        thread = next((t for t in self.content.threads if t.tid == int(tid)), None)
        if thread is None:
            raise NotFound
        posts = [(thread.author, thread.text, thread)] + [(r.author, r.text, r) for r in thread.replies]
        return self.html("forum_thread.html", title=thread.title, thread=thread, posts=posts)

    # -- static -----------------------------------------------------------------------------

    def stylesheet(self, request: Request) -> Response:
        return Response(HTTPStatus.OK, "text/css; charset=utf-8", (TEMPLATES / "portal.css").read_bytes())

    def pixel(self, request: Request) -> Response:
        return Response(HTTPStatus.OK, "image/png", PIXEL_PNG)


class _Handler(BaseHTTPRequestHandler):
    server_version = "nginx"
    sys_version = ""
    server: _Server

    def _respond(self, with_body: bool) -> None:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        base = f"http://{self.headers.get('Host') or self.server.site.base_url.split('//', 1)[1]}"
        request = Request(unquote(parts.path) or "/", query, base)
        try:
            response = self.server.site.pages.handle(request)
        except Exception:  # a bug in a page must show as a 500, not kill the server thread
            log.exception("sample site failed on %s", self.path)
            response = Response(
                HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "服务器内部错误".encode()
            )
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        self._respond(with_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sample site: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: SampleSite


class SampleSite:
    """The demo city's web sources on loopback; `start()` returns the base URL."""

    def __init__(self, content_dir: Path = CONTENT_DIR, host: str = "127.0.0.1",
                 clock: Callable[[], datetime] = lambda: datetime.now(SHANGHAI)) -> None:
        self.content_dir = content_dir
        self.host = host
        self.clock = clock  # "now" for the content's relative times ("3 hours ago")
        self.content: SiteContent | None = None
        self.pages: Pages
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sample site is not running; call start() first")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self, port: int = 0) -> str:
        """Load the content against the clock's time and serve it from a daemon thread."""
        if self._server is not None:
            return self.base_url
        self.content = SiteContent(self.clock(), self.content_dir)
        self.pages = Pages(self.content)
        self._server = _Server((self.host, port), _Handler)
        self._server.site = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="sample-site", daemon=True)
        self._thread.start()
        log.info("sample site serving at %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SampleSite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
