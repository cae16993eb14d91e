"""Article extraction from one HTML page: title, published time, author, 来源 and main text.

The main text comes from trafilatura (fast mode: its fallback extractors cost three times the
time and rarely help on Chinese article pages); title, time, author and source come from
general rules that hold on Chinese news and government pages (meta tags, the <h1> that echoes
<title>, 发布时间：/来源：/作者： labels near the top). A source may override any field with a
CSS selector when the general rules miss on its pages.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.settings import use_config

from spiders.parsing import (
    DateHints,
    ParsedDate,
    clean_inline,
    clean_text,
    find_published,
    parse_date,
    parse_datetime,
    url_years,
)
from yuqing.schema import SHANGHAI

# Limits that keep one hostile page from holding a crawl or filling memory: a 20 MB page took
# 18-60 s and gigabytes, a tag with 100k attributes over ten minutes (libxml2 compares every
# attribute with all before it). Real article pages are a few hundred kB and extract in 50 ms.
MAX_PAGE_CHARS = 1_000_000  # the rest of a longer page is cut off (counted: huge_page_truncated)
MAX_TAG_CHARS = 10_000  # a start tag longer than this keeps its name and loses its attributes
EXTRACT_SECONDS = 3.0  # wall time for one page's extraction (counted: extract_timeout)
_HUGE_TAG = re.compile(rf"<([A-Za-z][A-Za-z0-9:-]{{0,40}})[^<>]{{{MAX_TAG_CHARS},}}>")


@dataclass
class Article:
    title: str | None = None
    published_at: datetime | None = None
    published_year_inferred: bool = False  # the page showed the day without a year (see DateHints)
    author: str | None = None
    source_name: str | None = None  # 来源: the outlet the article credits
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # a limit the page hit: huge_page_truncated or extract_timeout

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["published_at"] = self.published_at.isoformat() if self.published_at else None
        return data


@dataclass(frozen=True)
class Selectors:
    """Per-site CSS overrides; None means the general rule."""

    title: str | None = None
    text: str | None = None
    date: str | None = None
    author: str | None = None
    source: str | None = None


_DATE_META = ("article:published_time", "og:release_date", "pubdate", "publishdate", "publish_date",
              "firstpublishedtime", "publishtime", "dc.date", "dc.date.issued", "dc.date.created",
              "datepublished", "release_date", "og:published_time")
_JSON_LD_DATE = re.compile(r'"date(?:Published|Created)"\s*:\s*"([^"]{8,40})"')
# Dates in scripts: "time": "2019-12-29 22:31:02", "pubDate": "2019-10-08"; and a publication
# timestamp in seconds (WeChat's var ct = "1581517074", publish_time, createTime ...).
_SCRIPT_DATE = re.compile(r'"\w*(?:[tT]ime|[dD]ate)\w*"\s*:\s*"((?:19|20)\d{2}-\d{1,2}-\d{1,2}[^"]{0,15})"')
_PUBLISH_STAMP = re.compile(
    r"\b(?:ct|publish_?time|publishTime|pub_?time|pubTime|create_?time|createTime|ptime)[\"']?\s*[=:]\s*[\"']?"
    r"(1\d{9})(?!\d)")
_TITLE_META = ("og:title", "articletitle", "twitter:title", "title")
_SOURCE_META = ("contentsource", "source", "og:site_name", "article:publisher")
_AUTHOR_META = ("author", "article:author", "dc.creator")

_TRAILING_SEGMENT = re.compile(r"\s*(?:[_|｜–—-]+)\s*[^_|｜–—-]{1,24}\s*$")
# '明日股市预测--最新出炉…': a short column name before a doubled or bar separator.
_LEADING_SECTION = re.compile(r"^\s*[^_|｜\-—]{1,10}\s*(?:--|——|__|[_|｜])\s*")
_MIN_HEADLINE_CHARS = 6
_SOURCE_LABEL = re.compile(r"(?:来源|稿源|出处|信息来源|文章来源)\s*[:：]\s*([^\s|｜/:：]{2,30})")
_AUTHOR_LABEL = re.compile(
    r"(?:作者|记者|撰稿|文|通讯员)\s*[:：/]\s*(?:(?:本报|全媒体)?(?:记者|实习生|通讯员|编辑)\s+)?([^\s|｜:：]{2,20})")
_NOT_A_NAME = re.compile(r"\d{4}|发布|时间|日期|来源|浏览|点击|字号")


# trafilatura's size thresholds are set for alphabetic text: 250 characters is a paragraph of
# English but a whole short 政务 news item in Chinese, and below it trafilatura falls back to
# taking the whole page, navigation included.
_TRAFILATURA_CONFIG = use_config()
_TRAFILATURA_CONFIG.set("DEFAULT", "MIN_EXTRACTED_SIZE", "120")
_TRAFILATURA_CONFIG.set("DEFAULT", "MIN_OUTPUT_SIZE", "10")
_NEVER_CONTENT = etree.XPath("//script|//style|//noscript|//iframe|//svg|//header|//footer|//nav|//aside"
                             "|//select|//textarea")
# Whole words of class/id names (split at space, _ and -): 'nav', 'footer', 'article-comment'.
_BOILERPLATE_NAME = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|menu|footer|foot|header|sidebar|side|breadcrumb|crumb|comments?|recommend"
    r"|related|hot|rank|share|copyright|login|search|ads?|banner)(?=$|[\s_-])", re.I)
_MAX_BOILERPLATE_SHARE = 0.4
# Below this many characters, a text extracted without tables is retried with them.
MIN_TEXT_WITHOUT_TABLES = 200
# Plain strings: lxml's default "smart" strings each keep a reference to their parent element.
# Scripts and styles are stripped first: cheaper than testing every text node's ancestors.
_VISIBLE_TEXT = etree.XPath("//body//text()", smart_strings=False)


def _meta(tree: lxml.html.HtmlElement, names: tuple[str, ...]) -> str | None:
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if key in names and content and key not in found:
            found[key] = content
    for name in names:
        if name in found:
            return found[name]
    return None


def _json_ld(tree: lxml.html.HtmlElement) -> list[str]:
    """The texts of the page's JSON-LD scripts (schema.org metadata)."""
    return [script.text for script in tree.iter("script")
            if script.text and (script.get("type") or "").lower() == "application/ld+json"]


def _structured_date(tree: lxml.html.HtmlElement, json_ld: list[str]) -> datetime | None:
    """schema.org JSON-LD datePublished, or an HTML5 <time datetime> inside the article."""
    for text in json_ld:
        match = _JSON_LD_DATE.search(text)
        if match:
            return parse_datetime(match.group(1))
    for element in tree.xpath("//article//time[@datetime]|//time[@pubdate]"):
        found = parse_datetime(element.get("datetime") or "")
        if found:
            return found
    return None


def _date_hints(tree: lxml.html.HtmlElement, scripts: str, url: str | None) -> DateHints:
    """The page's full dates outside its visible text (meta tags, <time>, scripts) and its URL's years."""
    values = [meta.get("content") or "" for meta in tree.iter("meta")]
    values += [element.get("datetime") or "" for element in tree.iter("time")]
    values += _SCRIPT_DATE.findall(scripts)
    dates = [d.moment for d in map(parse_date, values) if d and not d.year_inferred and not d.relative]
    dates += [datetime.fromtimestamp(int(stamp), SHANGHAI) for stamp in _PUBLISH_STAMP.findall(scripts)]
    canonical = [link.get("href") for link in tree.iter("link") if (link.get("rel") or "").lower() == "canonical"]
    urls = [url, _meta(tree, ("og:url",)), *canonical]
    return DateHints(dates=tuple(dates), url_years=tuple(y for u in urls for y in url_years(u)))


def _publish_stamp(scripts: str, now: datetime) -> datetime | None:
    """A publication timestamp a script sets (WeChat's var ct = "1581517074"), if plausible."""
    for stamp in _PUBLISH_STAMP.findall(scripts):
        moment = datetime.fromtimestamp(int(stamp), SHANGHAI)
        if moment <= now + timedelta(days=1):
            return moment
    return None


def _select_text(tree: lxml.html.HtmlElement, css: str | None) -> str | None:
    if not css:
        return None
    try:
        nodes = tree.cssselect(css)
    except Exception:  # a bad selector in a sources file: the general rule takes over
        return None
    if not nodes:
        return None
    return "\n".join(clean_text(node.text_content()) for node in nodes).strip() or None


def _title(tree: lxml.html.HtmlElement) -> str | None:
    """The <h1>/<h2> whose text the <title> contains (sites append their name to <title>), else
    the meta title, else the longest segment of <title>."""
    page_title = clean_inline(tree.findtext(".//title"))
    meta_title = clean_inline(_meta(tree, _TITLE_META))
    headings = [clean_inline(h.text_content()) for tag in ("h1", "h2") for h in tree.iter(tag)]
    headings = [h for h in headings if 4 <= len(h) <= 120]
    for reference in (page_title, meta_title):
        for heading in headings:
            if reference and (heading in reference or reference in heading):
                return heading
    if meta_title:
        return strip_site_name(meta_title)
    if page_title:
        return strip_site_name(page_title)
    return headings[0] if headings else None


def strip_site_name(title: str) -> str:
    """'法国全国大罢工再次严重影响交通-新华网' → '法国全国大罢工再次严重影响交通': a short leading
    column name goes ('明日股市预测--…'), and trailing segments
    after _ | - — that are short (site names, column names) go; a hyphen inside the headline
    ('1-10月德清县…') stays because what precedes it is too short to be a headline."""
    leading = _LEADING_SECTION.match(title)
    if leading and len(title[leading.end():].strip()) >= _MIN_HEADLINE_CHARS:
        title = title[leading.end():]
    while True:
        match = _TRAILING_SEGMENT.search(title)
        if not match or len(title[:match.start()].strip()) < _MIN_HEADLINE_CHARS:
            return title.strip()
        title = title[:match.start()]


def _header_text(tree: lxml.html.HtmlElement, title: str | None, raw_text: str) -> str:
    """The visible text from the title on: where 发布时间/来源/作者 lines live."""
    if title:
        position = raw_text.find(title[:20])
        if position >= 0:
            return raw_text[position:position + 800]
    return raw_text[:3000]


def _clean_name(value: str | None) -> str | None:
    value = clean_inline(value)
    if not value or _NOT_A_NAME.search(value):
        return None
    return value


def prune_boilerplate(tree: lxml.html.HtmlElement) -> None:
    """Drop what is never the article before trafilatura sees the page: scripts, forms' pickers,
    <nav>/<header>/<footer>/<aside>, and blocks whose class or id names them navigation, footer,
    sidebar, comments, related lists, sharing or ads. trafilatura would discard them too, but
    only after several passes over the whole tree: cutting them first halves its time."""
    for element in _NEVER_CONTENT(tree):
        element.drop_tree()
    body = tree.find("body")
    page_chars = len(body.text_content()) if body is not None else 0
    for element in list(tree.iter("div", "ul", "ol", "section", "table", "span", "p", "dl", "td")):
        names = f"{element.get('class') or ''} {element.get('id') or ''}"
        # A block holding most of the page is a layout wrapper whatever its name ('blq-int-nav').
        if (names.strip() and _BOILERPLATE_NAME.search(names)
                and len(element.text_content()) < _MAX_BOILERPLATE_SHARE * page_chars):
            element.drop_tree()


def _main_text(tree: lxml.html.HtmlElement, html: str | None, url: str | None) -> str:
    """trafilatura's main text. Tables are left out first: old portals lay whole pages out in
    tables, navigation included; only when that leaves almost nothing are tables read as content."""
    has_tables = tree.find(".//table") is not None
    # trafilatura cleans the tree it is given in place: the metadata rules read it first.
    prune_boilerplate(tree)
    text = trafilatura.extract(tree, url=url, fast=True, include_comments=False, include_tables=False,
                               config=_TRAFILATURA_CONFIG) or ""
    if has_tables and len(text) < MIN_TEXT_WITHOUT_TABLES and html is not None:
        text = trafilatura.extract(html, url=url, fast=True, include_comments=False, include_tables=True,
                                   config=_TRAFILATURA_CONFIG) or text
    return text


def bounded_html(html: str) -> tuple[str, bool]:
    """The page within the limits: monstrous tags without their attributes, then cut at
    MAX_PAGE_CHARS; and whether it had to be cut. One linear pass, whatever the page holds."""
    if len(html) > MAX_TAG_CHARS:
        html = _HUGE_TAG.sub(r"<\1>", html)
    truncated = len(html) > MAX_PAGE_CHARS
    return (html[:MAX_PAGE_CHARS] if truncated else html), truncated


class ExtractionTimeout(BaseException):
    """Raised inside an extraction that ran past its time limit. A BaseException, so the broad
    `except Exception` of a library in between cannot swallow it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ExtractionTimeout in the code of the block once `seconds` have passed (a real-time
    timer; C code such as one lxml parse finishes first). Only in the main thread, where signals
    arrive; an outer timer (a test runner's) is re-armed with what is left of it afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outer_delay, _ = signal.getitimer(signal.ITIMER_REAL)
    if outer_delay and outer_delay <= seconds:  # the outer timer fires first anyway
        yield
        return

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise ExtractionTimeout(f"extraction took more than {seconds} s")

    outer_handler = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_delay:
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - started), 0.001))


def extract_article(html: str | lxml.html.HtmlElement, url: str | None = None,
                    selectors: Selectors | None = None, now: datetime | None = None) -> Article:
    """Everything `yuqing extract` shows for one page. Never raises on bad HTML: empty fields.
    A page over the limits is cut (problem huge_page_truncated); an extraction over its time
    limit gives an empty article (problem extract_timeout).

    `now` is the crawl time: a date shown without a year, or relative (昨天), is resolved against
    it and the page's other dates, never after it."""
    truncated = False
    if isinstance(html, str):
        html, truncated = bounded_html(html)
    try:
        with time_limit(EXTRACT_SECONDS):
            article = _extract(html, url, selectors or Selectors(), now)
    except ExtractionTimeout:
        return Article(problem="extract_timeout")
    except RecursionError:  # nesting deeper than Python's stack, in a library's recursive walk
        return Article(problem="too_deeply_nested")
    if truncated:
        article.problem = "huge_page_truncated"
    return article


def _extract(html: str | lxml.html.HtmlElement, url: str | None, selectors: Selectors,
             now: datetime | None) -> Article:
    if isinstance(html, str):
        try:
            tree = lxml.html.document_fromstring(html)
        except (etree.ParserError, ValueError):
            return Article()
    else:
        tree = html
    json_ld = _json_ld(tree)
    scripts = "\n".join(script.text for script in tree.iter("script") if script.text)
    now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    hints = _date_hints(tree, scripts, url)
    etree.strip_elements(tree, "script", "style", with_tail=False)
    raw_text = clean_inline(" ".join(_VISIBLE_TEXT(tree)))
    title = _select_text(tree, selectors.title) or _title(tree)
    header = _header_text(tree, title, raw_text)

    found: ParsedDate | None = parse_date(_select_text(tree, selectors.date) or "", now, hints)
    if found is None:
        structured = parse_datetime(_meta(tree, _DATE_META) or "") or _structured_date(tree, json_ld)
        found = ParsedDate(structured) if structured else None
    if found is None:
        found = find_published(header, now, hints) or find_published(raw_text[:3000], now, hints)
    if found is None or found.relative or found.year_inferred:
        # "昨天" or "10-08" on the page; a script that sets the publication time knows it exactly.
        stamp = _publish_stamp(scripts, now)
        found = ParsedDate(stamp) if stamp else found

    source_match = _SOURCE_LABEL.search(header)
    source_name = _select_text(tree, selectors.source) or (source_match.group(1) if source_match else None)
    source_name = _clean_name(source_name) or _clean_name(_meta(tree, _SOURCE_META))
    author_match = _AUTHOR_LABEL.search(header)
    author = _select_text(tree, selectors.author) or _clean_name(_meta(tree, _AUTHOR_META))
    if not author and author_match:
        author = _clean_name(author_match.group(1))

    text = _select_text(tree, selectors.text) or _main_text(tree, html if isinstance(html, str) else None, url)
    return Article(title=title, published_at=found.moment if found else None,
                   published_year_inferred=bool(found and found.year_inferred), author=author,
                   source_name=source_name, text=clean_text(text))


def _ready() -> None:
    """A no-op task: submitting one per worker starts the workers."""


def _freeze_imports() -> None:
    """Worker initializer: what a worker has imported by now (lxml, trafilatura, this module)
    lives as long as the worker; frozen, the cyclic collector stops rescanning it (about 1% of
    a worker's time)."""
    gc.freeze()


class ExtractionPool:
    """Article extraction in worker processes, so a crawl uses every core (trafilatura is CPU-bound
    and Scrapy runs in one thread). Awaitable from async Scrapy callbacks under the asyncio reactor;
    with `workers=0` it extracts inline."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the workers now, without waiting for them: called before the crawl starts, they
        get ready while Scrapy sets up and fetches the first list pages."""
        if self.workers > 0 and self._pool is None:
            # spawn, not fork: forking a process that runs the Twisted reactor and SQLite is unsafe.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_freeze_imports)
            for _ in range(self.workers):
                self._pool.submit(_ready)

    async def extract(self, html: str, url: str | None = None, selectors: Selectors | None = None) -> Article:
        if self.workers <= 0:
            return extract_article(html, url, selectors)
        self.start()
        assert self._pool is not None
        return await asyncio.wrap_future(self._pool.submit(extract_article, html, url, selectors))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
