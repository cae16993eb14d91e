"""Kind `forum`: Baidu-Tieba-style city forums (e.g. 菏泽吧): thread lists, first posts, reply counts.

Example source:

    - name: tieba-heze
      kind: forum
      params:
        start_urls: ["https://tieba.baidu.com/f?kw=菏泽&ie=utf-8"]
        max_pages: 2          # list pages (下一页) per start URL
        first_posts: true     # open each new thread for its full first post (else the list's abstract)
        # *_selector keys override Tieba's markup for look-alike forums (spiders.forum_parsing.ForumSelectors)

Each new thread becomes a post: title, first post, author, reply count (metrics.comments),
creation and last-reply times. A thread page that cannot be read (captcha, error) still yields
the thread from what the list showed, and the reason is counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime

from pydantic import Field
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from spiders.base import YuqingSpider, classify_failure
from spiders.forum_parsing import (
    ForumSelectors,
    ThreadSummary,
    parse_first_post,
    parse_thread_list,
    thread_to_post,
)
from spiders.registry import register_kind
from spiders.social_params import StartPagesParams
from yuqing.schema import Platform, Post, now


class ForumParams(StartPagesParams, ForumSelectors):
    max_pages: int = Field(default=2, ge=1, description="thread list pages per start URL, the first included")
    first_posts: bool = Field(default=True, description="fetch each new thread's page for its full first post")


@register_kind("forum")
class ForumSpider(YuqingSpider):
    platform = Platform.FORUM
    params_model = ForumParams
    same_text_is_duplicate = False
    params: ForumParams

    async def start(self) -> AsyncIterator[Request]:
        for url in self.params.start_urls:
            yield self.fetch(url, self.parse_list, meta={"page": 1}, dont_filter=True)

    def parse_list(self, response: Response) -> Iterator[Request | Post]:
        html = self.html(response)
        if html is None:
            return
        threads, next_url, forum = parse_thread_list(html, response.url, now(), self.params)
        if not threads:
            self.problem("no_items_on_list", response.url)
        chosen = set(self.new_item_urls(thread.url for thread in threads))
        for thread in threads:
            if thread.url not in chosen:
                continue
            chosen.discard(thread.url)  # a thread listed twice (pinned and in the list) is read once
            if self.params.first_posts:
                yield self.fetch(thread.url, self.parse_thread, meta={"thread": thread, "forum": forum},
                                 priority=1).replace(errback=self.thread_failed)
            else:
                yield self._post(thread, forum)
        page = response.meta["page"]
        if next_url and page < self.params.max_pages:
            yield self.fetch(next_url, self.parse_list, meta={"page": page + 1}, dont_filter=True)

    def parse_thread(self, response: Response) -> Iterator[Post]:
        thread, forum = response.meta["thread"], response.meta["forum"]
        html = self.html(response)  # counts captcha / login wall / empty page
        if html is None:
            yield self._post(thread, forum)
            return
        text, when = parse_first_post(html, now(), self.params)
        if not text:
            self.problem("no_first_post", response.url)
        yield self._post(thread, forum, text or None, when)

    def thread_failed(self, failure: Failure) -> Iterator[Post]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on an errback's failure
        self.problem(classify_failure(failure), request.url, str(failure.value)[:200])
        yield self._post(request.meta["thread"], request.meta["forum"])

    def _post(self, thread: ThreadSummary, forum: str | None, first_post: str | None = None,
              first_post_at: datetime | None = None) -> Post:
        return thread_to_post(thread, source=self.source.name, now=now(), forum=forum,
                              first_post=first_post, first_post_at=first_post_at)
