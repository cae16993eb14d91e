"""Pure parsing of public government message boards (领导留言板, 12345 热线 listings) into `Post`s.

Every board lays its pages out differently, so where things are is data: `BoardSelectors`,
CSS selectors per site (flat `*_selector` keys in the source params). A selector picks elements
(their whole text is used) or ends in ::text / ::attr(href). Short fields often carry their label
inside the element ("回复单位：市住建局"); the label is dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from parsel import Selector
from pydantic import BaseModel, ConfigDict, Field, field_validator

from spiders.html_text import check_css, selected_hrefs, selected_text
from spiders.social_time import is_year_less, parse_social_time
from yuqing.schema import (
    BOARD_ANSWERED,
    BOARD_ANSWERED_AT,
    BOARD_CATEGORY,
    BOARD_PLACE,
    BOARD_REPLY,
    BOARD_REPLY_UNIT,
    Author,
    Platform,
    Post,
    post_id_for,
)

BOARD_STATUS = "办理状态"  # Post.extra: the board's own status words, e.g. 办理中

_ANSWERED_WORDS = ("已回复", "已答复", "已办结", "已处理", "已反馈", "已解决")
_OPEN_WORDS = ("未回复", "待回复", "未答复", "办理中", "处理中", "受理中", "未办结", "待处理", "转办中")
_NO_REPLY = re.compile(r"^(暂无|暂未|尚未|未|待)(回复|答复)")  # placeholders some boards print in the reply box
_LABEL = re.compile(r"^[\u4e00-\u9fff]{2,8}\s*[：:]\s*")
_DATETIME = re.compile(r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")


class BoardSelectors(BaseModel):
    """Where a board keeps each part. The defaults are one common layout (that of the test
    fixtures); each real board sets its own."""

    model_config = ConfigDict(extra="forbid")

    link_selector: str = Field(default=".message-list a.message-title", description="listing: message links")
    next_selector: str | None = Field(default="a.next", description="listing: the next page's link")
    title_selector: str = "h1.message-title"
    content_selector: str = ".message-content"
    time_selector: str = ".message-time"
    author_selector: str | None = ".message-author"
    category_selector: str | None = ".message-category"
    place_selector: str | None = ".message-place"
    status_selector: str | None = ".message-status"
    reply_selector: str | None = ".reply-content"
    reply_unit_selector: str | None = ".reply-unit"
    reply_time_selector: str | None = ".reply-time"
    id_selector: str | None = Field(default=None, description="the board's own message number, for a stable id")

    @field_validator(
        "link_selector", "next_selector", "title_selector", "content_selector", "time_selector",
        "author_selector", "category_selector", "place_selector", "status_selector", "reply_selector",
        "reply_unit_selector", "reply_time_selector", "id_selector",
    )
    @classmethod
    def _valid_css(cls, value: str | None) -> str | None:
        return check_css(value)


def listing_links(html: str, url: str, selectors: BoardSelectors) -> tuple[list[str], str | None]:
    """Absolute URLs of the messages on a listing page, and of the next listing page (or None)."""
    page = Selector(text=html)
    links = [urljoin(url, href) for href in selected_hrefs(page, selectors.link_selector)
             if not href.startswith(("javascript:", "#"))]
    following = selected_hrefs(page, selectors.next_selector) if selectors.next_selector else []
    following = [href for href in following if not href.startswith(("javascript:", "#"))]
    return list(dict.fromkeys(links)), urljoin(url, following[0]) if following else None


def parse_message(html: str, url: str, selectors: BoardSelectors, *, source: str, now: datetime) -> Post:
    """A message page as a Post with its category, place and answer in `extra` (BOARD_* keys).

    Raises ValueError when the page has no message text: a login wall, an error page or a
    layout the selectors do not fit, which the spider counts rather than storing an empty post.
    """
    page = Selector(text=html)
    title = selected_text(page, selectors.title_selector)
    text = selected_text(page, selectors.content_selector, keep_lines=True)
    if not text:
        raise ValueError(f"no message text at selector {selectors.content_selector!r}")
    reply = selected_text(page, selectors.reply_selector, keep_lines=True)
    if _NO_REPLY.match(_LABEL.sub("", reply)):
        reply = ""
    status = _field(page, selectors.status_selector)
    answered = bool(reply) or _says_answered(status)
    extra: dict[str, Any] = {BOARD_ANSWERED: answered}
    for key, selector in ((BOARD_CATEGORY, selectors.category_selector), (BOARD_PLACE, selectors.place_selector)):
        if value := _field(page, selector):
            extra[key] = value
    if status:
        extra[BOARD_STATUS] = status
    if reply:
        extra[BOARD_REPLY] = reply
    if unit := _field(page, selectors.reply_unit_selector):
        extra[BOARD_REPLY_UNIT] = unit
    if answered_at := _time(page, selectors.reply_time_selector, now):
        extra[BOARD_ANSWERED_AT] = answered_at.isoformat()
    board_id = _field(page, selectors.id_selector)
    return Post(
        id=post_id_for(Platform.BOARD.value, url, f"{source}:{board_id}" if board_id else None),
        url=url,
        platform=Platform.BOARD,
        source=source,
        author=Author(name=_field(page, selectors.author_selector)),
        title=title or None,
        text=text,
        published_at=_time(page, selectors.time_selector, now),
        published_year_inferred=is_year_less(_time_text(page, selectors.time_selector)),
        fetched_at=now,
        extra=extra,
    )


def _says_answered(status: str | None) -> bool:
    if not status:
        return False
    if any(word in status for word in _OPEN_WORDS):
        return False
    return any(word in status for word in _ANSWERED_WORDS)


def _field(page: Selector, selector: str | None) -> str | None:
    """A short labelled value: its text with a leading "标签：" removed."""
    value = _LABEL.sub("", selected_text(page, selector))
    return value or None


def _time_text(page: Selector, selector: str | None) -> str | None:
    value = _field(page, selector)
    if not value:
        return None
    match = _DATETIME.search(value)
    return match.group(0) if match else value


def _time(page: Selector, selector: str | None, now: datetime) -> datetime | None:
    value = _time_text(page, selector)
    return parse_social_time(value, now) if value else None
