"""Kind `rss`: RSS 2.0 / Atom feeds, each entry followed to its article page.

Example source:

    - name: dzwww-sd
      kind: rss
      params:
        feed_urls: [https://www.example.cn/rss/shandong.xml]
        follow: true        # fetch each article page (false: the feed's summary is the text)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import lxml.html
from lxml import etree
from pydantic import Field
from scrapy.http import Request, Response

from spiders.base import HttpUrl
from spiders.news import ArticleSpider, ExtractionParams, article_fields
from spiders.parsing import absolute, clean_inline, clean_text, decode_page, parse_datetime, url_allowed
from spiders.registry import register_kind
from yuqing.schema import Platform

_ATOM = "{http://www.w3.org/2005/Atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


@dataclass
class FeedEntry:
    url: str
    title: str | None
    published_at: datetime | None
    author: str | None
    summary: str


class FeedError(ValueError):
    """The document is not an RSS or Atom feed."""


def feed_date(value: str | None) -> datetime | None:
    """RFC 822 (RSS), ISO 8601 (Atom), or a Chinese form some feeds use."""
    if not value:
        return None
    value = value.strip()
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return parse_datetime(value)


def _html_text(fragment: str | None) -> str:
    if not fragment or not fragment.strip():
        return ""
    try:
        return clean_text(lxml.html.fromstring(fragment).text_content())
    except (etree.ParserError, ValueError):
        return clean_text(fragment)


def _text(element: etree._Element | None, *paths: str) -> str | None:
    if element is None:
        return None
    for path in paths:
        found = element.find(path)
        if found is not None and (found.text or "").strip():
            return found.text.strip()
    return None


def parse_feed(body: bytes, base_url: str) -> list[FeedEntry]:
    """Entries of an RSS 2.0, RSS 1.0 or Atom feed; FeedError when it is none of these."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise FeedError(str(exc)) from exc
    if root is None:
        raise FeedError("empty or unreadable XML")
    entries: list[FeedEntry] = []
    items = root.iter("item", "{http://purl.org/rss/1.0/}item")
    for item in items:
        link = _text(item, "link", "{http://purl.org/rss/1.0/}link", "guid")
        url = absolute(base_url, link)
        if url:
            entries.append(FeedEntry(
                url=url, title=clean_inline(_text(item, "title", "{http://purl.org/rss/1.0/}title")) or None,
                published_at=feed_date(_text(item, "pubDate", f"{_DC}date")),
                author=_text(item, "author", f"{_DC}creator"),
                summary=_html_text(_text(item, f"{_CONTENT}encoded", "description")),
            ))
    for entry in root.iter(f"{_ATOM}entry"):
        links = entry.findall(f"{_ATOM}link")
        href = next((link.get("href") for link in links if link.get("rel", "alternate") == "alternate"), None)
        url = absolute(base_url, href or (links[0].get("href") if links else None))
        if url:
            entries.append(FeedEntry(
                url=url, title=clean_inline(_text(entry, f"{_ATOM}title")) or None,
                published_at=feed_date(_text(entry, f"{_ATOM}published", f"{_ATOM}updated")),
                author=_text(entry, f"{_ATOM}author/{_ATOM}name"),
                summary=_html_text(_text(entry, f"{_ATOM}content", f"{_ATOM}summary")),
            ))
    if not entries and etree.QName(root).localname not in {"rss", "feed", "RDF"}:
        raise FeedError(f"root element <{etree.QName(root).localname}> is not a feed")
    return entries


class RssParams(ExtractionParams):
    feed_urls: list[HttpUrl] = Field(min_length=1)
    # A feed is how articles arrive, not where they were published: its entries count as the site's.
    platform: Literal[Platform.NEWS, Platform.GOV] = Field(
        default=Platform.NEWS, description="news for a newspaper or portal's news, gov for a government site")
    follow: bool = Field(default=True, description="fetch each entry's article page")
    item_allow: list[str] = Field(default_factory=list)
    item_deny: list[str] = Field(default_factory=list)


@register_kind("rss")
class RssSpider(ArticleSpider):
    params_model = RssParams
    params: RssParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.platform = self.params.platform

    async def start(self) -> AsyncIterator[Request]:
        for url in self.params.feed_urls:
            yield self.fetch(url, self.parse_feed, dont_filter=True)

    def parse_feed(self, response: Response) -> Iterable[Request | dict[str, Any]]:
        if not response.body.strip():
            self.problem("empty_page", response.url)
            return
        # Decoded first (GBK feeds often declare nothing), then handed to lxml as clean UTF-8.
        text, _ = decode_page(response.body, (response.headers.get("Content-Type") or b"").decode("latin-1"),
                              self.params.encoding)
        try:
            entries = parse_feed(_XML_DECLARATION.sub("", text, count=1).strip().encode("utf-8"), response.url)
        except FeedError as exc:
            self.problem("bad_feed", response.url, str(exc)[:120])
            return
        if not entries:
            self.problem("no_items_on_list", response.url)
        entries = [e for e in entries if url_allowed(e.url, self.params.item_allow, self.params.item_deny)]
        by_url = {entry.url: entry for entry in entries}
        for url in self.new_item_urls(by_url):
            entry = by_url[url]
            if self.params.follow:
                yield self.fetch(url, self.parse_item, cb_kwargs={"entry": entry}, priority=1)
            elif entry.summary:
                yield self.post_item(url, title=entry.title, text=entry.summary, published_at=entry.published_at,
                                     author={"name": entry.author})
            else:
                self.problem("no_text", url)

    async def parse_item(self, response: Response, entry: FeedEntry) -> AsyncIterator[dict[str, Any]]:
        extracted = await self.page_article(response)
        if extracted is None:
            return
        fields = article_fields(extracted[1])
        # The feed's own title and date are the publisher's metadata: they win over page heuristics.
        fields["title"] = entry.title or fields["title"]
        fields["published_at"] = entry.published_at or fields["published_at"]
        if entry.author and not fields["author"]["name"]:
            fields["author"] = {"name": entry.author}
        yield self.post_item(self.item_url(response), **fields)
