"""Kind `weibo`: keyword searches and account timelines through Weibo's mobile JSON API.

Example source:

    - name: weibo-heze-lxxq
      kind: weibo
      params:
        keywords: [菏泽 老旧小区改造]      # search, containerid 100103type=1&q=<kw>
        search_type: 61                    # 61: 实时 (newest first); default 1: 综合
        users: []                          # uids whose timelines are read (containerid 107603<uid>)
        max_pages: 3

A truncated post (isLongText, or text ending in a 全文 link) is completed from /statuses/extend;
a forwarded original is yielded as its own post and the repost points at it (reply_to). A cookie
is sent when settings.crawl.weibo_cookie (env YUQING_CRAWL__WEIBO_COOKIE) is set; without one the
API serves what it serves anonymously. Posts are revisited within the revisit window, so their
counts stay current.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urljoin

from pydantic import Field, field_validator, model_validator
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from spiders import weibo_parsing as wp
from spiders.base import KindParams, YuqingSpider, check_http_url, classify_failure
from spiders.registry import register_kind
from spiders.social_time import is_relative_time
from yuqing.schema import Platform, Post, now

_REDIRECTS = [301, 302, 303, 307, 308]


class WeiboParams(KindParams):
    api_base: str = Field(default="https://m.weibo.cn", description="the mobile API's origin")
    keywords: list[str] = Field(default_factory=list, description="search terms, e.g. '菏泽 老旧小区改造'")
    users: list[str] = Field(default_factory=list, description="numeric uids whose timelines are read")
    search_type: Literal[1, 61] = Field(default=1, description="1: 综合 (popular first), 61: 实时 (newest first)")
    max_pages: int = Field(default=3, ge=1, description="API pages per keyword or timeline")
    long_text: bool = Field(default=True, description="fetch the full text of truncated posts")
    retweeted: bool = Field(default=True, description="yield forwarded originals as posts of their own")

    @field_validator("api_base")
    @classmethod
    def _http_origin(cls, value: str) -> str:
        return check_http_url(value).rstrip("/")

    @field_validator("users", mode="before")
    @classmethod
    def _numeric_uids(cls, users: object) -> object:
        # YAML reads a bare uid as an int; keep every uid as its digits.
        if not isinstance(users, list):
            return users
        for uid in users:
            if isinstance(uid, bool) or not str(uid).isdigit():
                raise ValueError(f"a Weibo uid is a number, got {uid!r}")
        return [str(uid) for uid in users]

    @model_validator(mode="after")
    def _something_to_read(self) -> WeiboParams:
        if not self.keywords and not self.users:
            raise ValueError("give at least one of 'keywords' or 'users'")
        return self


@register_kind("weibo")
class WeiboSpider(YuqingSpider):
    platform = Platform.WEIBO
    params_model = WeiboParams
    revisits = True
    same_text_is_duplicate = False
    params: WeiboParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._taken: set[str] = set()  # weibo ids handled in this run

    @cached_property
    def _cookies(self) -> dict[str, str]:
        """The configured cookie string ("SUB=...; SUBP=...") as Scrapy's cookie dict: Scrapy's cookie
        middleware owns the Cookie header and would drop one set by hand."""
        secret = self.context.settings.crawl.weibo_cookie
        pairs = (part.partition("=") for part in (secret.get_secret_value() if secret else "").split(";"))
        return {name.strip(): value.strip() for name, sep, value in pairs if sep and name.strip()}

    async def start(self) -> AsyncIterator[Request]:
        for keyword in self.params.keywords:
            url = wp.search_url(self.params.api_base, keyword, 1, self.params.search_type)
            yield self._api(url, self.parse_page, {"keyword": keyword, "page": 1})
        for uid in self.params.users:
            url = wp.timeline_url(self.params.api_base, uid)
            yield self._api(url, self.parse_page, {"uid": uid, "page": 1})

    def _api(self, url: str, callback: Callable[..., Any], meta: dict[str, Any],
             errback: Callable[[Failure], Any] | None = None) -> Request:
        """An API request: JSON accepted, the cookie when configured, redirects (to the login
        page) looked at instead of followed."""
        headers = {
            "Accept": "application/json, text/plain, */*",
            "Referer": self.params.api_base + "/",
            "X-Requested-With": "XMLHttpRequest",
            "MWeibo-Pwa": "1",
        }
        request = self.fetch(url, callback, meta={**meta, "dont_redirect": True,
                                                   "handle_httpstatus_list": _REDIRECTS},
                             headers=headers, cookies=self._cookies, dont_filter=True)
        return request.replace(errback=errback) if errback else request

    def _answer(self, response: Response) -> dict[str, Any]:
        """The API's JSON answer, or WeiboResponseError for a login redirect, HTML or broken JSON."""
        if response.status in _REDIRECTS:
            location = urljoin(response.url, (response.headers.get("Location") or b"").decode("latin-1"))
            if wp.is_login_wall(location):
                raise wp.WeiboResponseError("login_wall", f"redirected to {location}")
            raise wp.WeiboResponseError("unexpected_redirect", f"redirected to {location}")
        return wp.decode_api_json(response.body, response.url)

    def parse_page(self, response: Response) -> Iterator[Request | Post]:
        meta = response.meta
        try:
            page = wp.parse_container(self._answer(response))
        except wp.WeiboResponseError as error:
            self.problem(error.reason, response.url, error.detail)
            return
        for mblog in page.mblogs:
            self.found()
            yield from self._posts_of(mblog)
        if page.end or meta["page"] >= self.params.max_pages:
            return
        following: dict[str, Any] = {**{k: meta[k] for k in ("keyword", "uid") if k in meta}, "page": meta["page"] + 1}
        if "uid" in meta:
            # Timelines page by the since_id of the last answer (older ones by page number);
            # with neither there is no more.
            if not page.since_id and not page.next_page:
                return
            url = wp.timeline_url(self.params.api_base, meta["uid"], page.since_id, page.next_page)
        else:
            url = wp.search_url(self.params.api_base, meta["keyword"], page.next_page or meta["page"] + 1,
                                self.params.search_type)
        yield self._api(url, self.parse_page, following)

    def _posts_of(self, mblog: dict[str, Any]) -> Iterator[Request | Post]:
        """The repost and, when visible, its original: each fetched again only within the revisit window."""
        chain = [mblog]
        if self.params.retweeted and isinstance(mblog.get("retweeted_status"), dict):
            original = wp.retweeted_original(mblog)
            if original is None:
                self.problem("retweet_original_unavailable", wp.post_url(self.params.api_base, wp.weibo_id(mblog)),
                             "the forwarded post is deleted or hidden")
            else:
                chain.append(original)
        for blog in chain:
            ident = wp.weibo_id(blog)
            if not ident:
                self.problem("unexpected_shape", "", "mblog without id")
                continue
            # The same post turns up under several keywords and as the original of many reposts.
            if ident in self._taken:
                continue
            if not self.should_fetch(wp.post_url(self.params.api_base, ident)) or not self.take_budget():
                continue
            self._taken.add(ident)
            if self.params.long_text and wp.is_truncated(blog):
                yield self._api(wp.long_text_url(self.params.api_base, ident), self.parse_long_text, {"mblog": blog},
                                errback=self.long_text_failed)
            elif post := self._post(blog):
                yield post

    def parse_long_text(self, response: Response) -> Iterator[Post]:
        try:
            full_text = wp.parse_long_text(self._answer(response))
        except wp.WeiboResponseError as error:
            self.problem(error.reason, response.url, error.detail)
            full_text = None  # the post is kept with the text it has, marked truncated
        if post := self._post(response.meta["mblog"], full_text):
            yield post

    def long_text_failed(self, failure: Failure) -> Iterator[Post]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on an errback's failure
        self.problem(classify_failure(failure), request.url, str(failure.value)[:200])
        if post := self._post(request.meta["mblog"]):
            yield post

    def _post(self, mblog: dict[str, Any], full_text: str | None = None) -> Post | None:
        """The mblog as a Post; None, counted, when its fields do not fit."""
        try:
            post = wp.mblog_to_post(mblog, source=self.source.name, api_base=self.params.api_base, now=now(),
                                    full_text=full_text)
        except wp.WeiboResponseError as error:
            self.problem(error.reason, wp.post_url(self.params.api_base, wp.weibo_id(mblog)), error.detail)
            return None
        if post.published_at is None:
            return post
        # The API shows a post's time ever more coarsely (5分钟前, 3小时前, 昨天 10:31, 06-07): a
        # time first seen in a relative form is noted and kept, so a revisit updates counts
        # without moving the post in time. Posts first seen with a date need no note.
        seen, key = self.context.seen, f"published_at:{post.id}"
        if is_relative_time(mblog.get("created_at")):
            first = seen.first_note(self.source.name, key, post.published_at.isoformat())
            return post.model_copy(update={"published_at": datetime.fromisoformat(first)})
        noted = seen.note(self.source.name, key)
        if noted is None:
            return post
        # First seen as 昨天 10:31, now as 06-07: the noted time is kept, and its year was never guessed.
        return post.model_copy(update={"published_at": datetime.fromisoformat(noted), "published_year_inferred": False})
