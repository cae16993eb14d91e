"""Kind `news`: list pages → article pages on news sites and government portals.

Example source:

    - name: heze-news
      kind: news
      params:
        start_urls: [https://www.heze.gov.cn/col/col4398/index.html]
        item_allow: ['/art/\\d{4}/']        # optional: regexes article URLs match
        max_pages: 3                        # list pages followed per start URL (下一页 links)
        text_css: div.article-content       # optional per-site override of the main text
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from pydantic import Field, field_validator
from scrapy.http import Request, Response

from spiders.base import HttpUrl, KindParams, YuqingSpider, check_http_url
from spiders.extract import Article, Selectors
from spiders.listing import item_links, next_page, template_pages
from spiders.registry import register_kind
from yuqing.schema import Platform


class ExtractionParams(KindParams):
    """Per-site CSS overrides of the general extraction rules."""

    title_css: str | None = None
    text_css: str | None = None
    date_css: str | None = None
    author_css: str | None = None
    source_css: str | None = None

    @property
    def selectors(self) -> Selectors:
        return Selectors(title=self.title_css, text=self.text_css, date=self.date_css,
                         author=self.author_css, source=self.source_css)


class ListingParams(ExtractionParams):
    start_urls: list[HttpUrl] = Field(min_length=1, description="list pages")
    item_allow: list[str] = Field(default_factory=list, description="regexes article URLs must match")
    item_deny: list[str] = Field(default_factory=list, description="regexes article URLs must not match")
    list_css: str | None = Field(default=None, description="the page region holding the list")
    same_site: bool = True
    max_pages: int = Field(default=3, ge=1, description="list pages per start URL, the first included")
    page_url_template: str | None = Field(
        default=None, description="numbered list pages, e.g. 'https://x/index_{page}.html'")
    first_template_page: int = 1

    @field_validator("page_url_template")
    @classmethod
    def _has_page_slot(cls, template: str | None) -> str | None:
        if template is not None and "{page}" not in template:
            raise ValueError("must contain {page}")
        return check_http_url(template) if template is not None else None


class ArticleSpider(YuqingSpider):
    """Item pages that hold one article each, extracted in the crawl's extraction pool."""

    params: ExtractionParams

    async def page_article(self, response: Response) -> tuple[str, Article] | None:
        """The item page decoded and extracted; None (counted) when it holds no article."""
        html = self.html(response)
        if html is None:
            return None
        article = await self.context.extractor.extract(html, response.url, self.params.selectors)
        # A limit the extraction hit is its reason; `html` already counted a truncation.
        if article.problem and article.problem != "huge_page_truncated":
            self.problem(article.problem, response.url)
        elif not article.text:
            self.problem("no_text", response.url)
        if not article.text:
            return None
        return html, article

    def item_url(self, response: Response) -> str:
        """The URL the item was found under (before redirects): what the seen-store remembers."""
        return (response.meta.get("redirect_urls") or [response.url])[0]


class ListingSpider(ArticleSpider):
    """List pages (with pagination) → item pages. Subclasses turn an item page into a post."""

    params: ListingParams

    async def start(self) -> AsyncIterator[Request]:
        for url in self.params.start_urls:
            yield self.fetch(url, self.parse_list, meta={"page": 1}, dont_filter=True)
        if self.params.page_url_template and self.params.max_pages > 1:
            for url in template_pages(self.params.page_url_template, self.params.first_template_page,
                                      self.params.max_pages - 1):
                yield self.fetch(url, self.parse_list, meta={"page": self.params.max_pages})

    def parse_list(self, response: Response) -> Iterable[Request]:
        html = self.html(response)
        if html is None:
            return
        params = self.params
        urls = item_links(html, response.url, params.item_allow, params.item_deny, params.list_css,
                          params.same_site)
        if not urls:
            self.problem("no_items_on_list", response.url)
        for url in self.new_item_urls(urls):
            yield self.fetch(url, self.parse_item, priority=1)
        page = response.meta.get("page", 1)
        if page < params.max_pages and not params.page_url_template:
            following = next_page(html, response.url)
            if following:
                yield self.fetch(following, self.parse_list, meta={"page": page + 1})

    def parse_item(self, response: Response) -> AsyncIterator[dict[str, Any]]:
        """Turn an item page into posts: each listing kind says how."""
        raise NotImplementedError


# Post.extra key of the outlet an article credits (来源：菏泽日报); reprint detection reads it.
NEWS_OUTLET = "来源"


def article_fields(article: Article) -> dict[str, Any]:
    """Post fields from an extracted article."""
    extra = {NEWS_OUTLET: article.source_name} if article.source_name else {}
    return {"title": article.title, "text": article.text, "published_at": article.published_at,
            "published_year_inferred": article.published_year_inferred,
            "author": {"name": article.author or article.source_name}, "extra": extra}


@register_kind("news")
class NewsSpider(ListingSpider):
    platform = Platform.NEWS
    params_model = ListingParams

    async def parse_item(self, response: Response) -> AsyncIterator[dict[str, Any]]:
        extracted = await self.page_article(response)
        if extracted is not None:
            yield self.post_item(self.item_url(response), **article_fields(extracted[1]))
