"""Kind `board`: public government message boards (领导留言板, 市长信箱, 12345 热线 listings).

Example source:

    - name: heze-board
      kind: board
      params:
        start_urls: [https://board.example.gov.cn/list_1.html]
        max_pages: 3
        # CSS selectors of this site (see spiders.board_parsing.BoardSelectors for all keys):
        link_selector: "ul.message-list a.message-title"
        next_selector: "a.next::attr(href)"
        title_selector: "h1::text"
        content_selector: "div.message-content"
        id_selector: ".message-no"

Listing pages (with pagination) lead to message pages; each message becomes a post with its
category, place, status, reply, replying unit and reply time (schema BOARD_* keys). Messages are
revisited within the revisit window, and unanswered ones for longer (unanswered_revisit_days):
one answered after the first crawl is published again with its answer. Unanswered complaints are
what alert rules watch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from pydantic import Field
from scrapy.http import Request, Response

from spiders.base import YuqingSpider
from spiders.board_parsing import BoardSelectors, listing_links, parse_message
from spiders.registry import register_kind
from spiders.social_params import StartPagesParams
from yuqing.schema import BOARD_ANSWERED, BOARD_ANSWERED_AT, Platform, Post, now

_ANSWERED_NOTE = "answered:"  # seen-store note per message URL, once an answer was seen


class BoardParams(StartPagesParams, BoardSelectors):
    unanswered_revisit_days: float = Field(
        default=30, ge=0, description="messages not yet answered are re-read this long after first seen")


@register_kind("board")
class BoardSpider(YuqingSpider):
    platform = Platform.BOARD
    params_model = BoardParams
    revisits = True
    same_text_is_duplicate = False
    params: BoardParams

    async def start(self) -> AsyncIterator[Request]:
        for url in self.params.start_urls:
            yield self.fetch(url, self.parse_list, meta={"page": 1}, dont_filter=True)

    def parse_list(self, response: Response) -> Iterator[Request]:
        html = self.html(response)
        if html is None:
            return
        links, next_url = listing_links(html, response.url, self.params)
        if not links:
            self.problem("no_items_on_list", response.url, f"selector {self.params.link_selector!r}")
        for url in links:
            self.found()
            if self._wanted(url) and self.take_budget():
                yield self.fetch(url, self.parse_message, priority=1)
        page = response.meta["page"]
        if next_url and page < self.params.max_pages:
            yield self.fetch(next_url, self.parse_list, meta={"page": page + 1}, dont_filter=True)

    def _wanted(self, url: str) -> bool:
        """New messages, those in the revisit window, and unanswered ones for longer: boards often
        answer after a week or two, and the answer (or its absence) is what press officers watch."""
        if self.should_fetch(url):
            return True
        seen = self.context.seen
        return (seen.note(self.source.name, _ANSWERED_NOTE + url) is None
                and seen.should_fetch(self.source.name, url, self.params.unanswered_revisit_days))

    def parse_message(self, response: Response) -> Iterator[Post]:
        html = self.html(response)
        if html is None:
            return
        # The seen-store remembers the URL the listing gave, whatever it redirected to.
        url = response.meta.get("redirect_urls", [response.url])[0]
        try:
            post = parse_message(html, url, self.params, source=self.source.name, now=now())
        except ValueError as error:
            self.problem("no_message_text", response.url, str(error))
            return
        if post.extra[BOARD_ANSWERED]:
            self.context.seen.first_note(self.source.name, _ANSWERED_NOTE + url, post.extra.get(BOARD_ANSWERED_AT, ""))
        yield post
