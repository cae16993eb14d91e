"""Pure parsing of public government message boards (领导留言板, 12345 热线 listings) into `Post`s.

Every board lays its pages out differently, so where things are is data: a `BoardSelectors`
of CSS selectors per site. A selector picks elements; the value is their whole text. Short
fields often carry their label inside the element ("回复单位：市住建局"); the label is dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from cssselect import SelectorError
from parsel import Selector
from parsel.csstranslator import HTMLTranslator
from pydantic import BaseModel, ConfigDict, Field, field_validator

from schema import (
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
from spiders.html_text import element_text
from spiders.social_time import parse_social_time

BOARD_STATUS = "办理状态"  # Post.extra: the board's own status words, e.g. 办理中

_ANSWERED_WORDS = ("已回复", "已答复", "已办结", "已处理", "已反馈", "已解决")
_OPEN_WORDS = ("未回复", "待回复", "未答复", "办理中", "处理中", "受理中", "未办结", "待处理", "转办中")
_NO_REPLY = re.compile(r"^(暂无|暂未|尚未|未|待)(回复|答复)")  # placeholders some boards print in the reply box
_LABEL = re.compile(r"^[\u4e00-\u9fff]{2,8}\s*[：:]\s*")
_CSS = HTMLTranslator()
_DATETIME = re.compile(r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")


class BoardSelectors(BaseModel):
    """Where a board keeps each part, as CSS selectors of elements (their whole text is taken).

    The defaults are a common layout (the one of the test fixtures); each real board sets its own.
    """

    model_config = ConfigDict(extra="forbid")

    item_link: str = Field(default=".message-list a.message-title", description="listing: links to messages")
    next_page: str | None = Field(default="a.next", description="listing: link to the next page")
    title: str = "h1.message-title"
    text: str = ".message-content"
    published_at: str = ".message-time"
    author: str | None = ".message-author"
    category: str | None = ".message-category"
    place: str | None = ".message-place"
    status: str | None = ".message-status"
    reply: str | None = ".reply-content"
    reply_unit: str | None = ".reply-unit"
    reply_time: str | None = ".reply-time"
    message_id: str | None = Field(default=None, description="element holding the board's own message number")


    @field_validator("*")
    @classmethod
    def _valid_css(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _CSS.css_to_xpath(value)
            except SelectorError as exc:
                raise ValueError(f"not a valid CSS selector: {value!r} ({exc})") from exc
        return value


def listing_links(html: str, url: str, selectors: BoardSelectors) -> tuple[list[str], str | None]:
    """Absolute URLs of the messages on a listing page, and of the next listing page (or None)."""
    page = Selector(text=html)
    links: list[str] = []
    for anchor in page.css(selectors.item_link):
        href = anchor.attrib.get("href") or anchor.css("a::attr(href)").get()
        if href and not href.startswith(("javascript:", "#")):
            absolute = urljoin(url, href.strip())
            if absolute not in links:
                links.append(absolute)
    next_url = None
    if selectors.next_page:
        href = page.css(selectors.next_page).attrib.get("href")
        if href and not href.startswith(("javascript:", "#")):
            next_url = urljoin(url, href.strip())
    return links, next_url


def parse_message(html: str, url: str, selectors: BoardSelectors, *, source: str, now: datetime) -> Post:
    """A message page as a Post with its category, place and answer in `extra` (BOARD_* keys).

    Raises ValueError when the page has no message text: a login wall, an error page or a
    layout the selectors do not fit, which the spider counts rather than storing an empty post.
    """
    page = Selector(text=html)
    title = _text(page, selectors.title)
    text = _text(page, selectors.text, keep_lines=True)
    if not text:
        raise ValueError(f"no message text at selector {selectors.text!r}")
    reply = _text(page, selectors.reply, keep_lines=True)
    if _NO_REPLY.match(_LABEL.sub("", reply)):
        reply = ""
    status = _field(page, selectors.status)
    answered = bool(reply) or _says_answered(status)
    extra: dict[str, Any] = {BOARD_ANSWERED: answered}
    for key, selector in ((BOARD_CATEGORY, selectors.category), (BOARD_PLACE, selectors.place)):
        if value := _field(page, selector):
            extra[key] = value
    if status:
        extra[BOARD_STATUS] = status
    if reply:
        extra[BOARD_REPLY] = reply
    if unit := _field(page, selectors.reply_unit):
        extra[BOARD_REPLY_UNIT] = unit
    if answered_at := _time(page, selectors.reply_time, now):
        extra[BOARD_ANSWERED_AT] = answered_at.isoformat()
    board_id = _field(page, selectors.message_id)
    return Post(
        id=post_id_for(Platform.BOARD.value, url, f"{source}:{board_id}" if board_id else None),
        url=url,
        platform=Platform.BOARD,
        source=source,
        author=Author(name=_field(page, selectors.author)),
        title=title or None,
        text=text,
        published_at=_time(page, selectors.published_at, now),
        fetched_at=now,
        extra=extra,
    )


def _says_answered(status: str | None) -> bool:
    if not status:
        return False
    if any(word in status for word in _OPEN_WORDS):
        return False
    return any(word in status for word in _ANSWERED_WORDS)


def _text(page: Selector, selector: str | None, *, keep_lines: bool = False) -> str:
    """All text under the selected elements; paragraphs kept as lines when asked, else one line."""
    if not selector:
        return ""
    text = "\n".join(part for element in page.css(selector) if (part := element_text(element.root)))
    return text if keep_lines else " ".join(text.split("\n"))


def _field(page: Selector, selector: str | None) -> str | None:
    """A short labelled value: its text with a leading "标签：" removed."""
    value = _LABEL.sub("", _text(page, selector))
    return value or None


def _time(page: Selector, selector: str | None, now: datetime) -> datetime | None:
    value = _field(page, selector)
    if not value:
        return None
    match = _DATETIME.search(value)
    return parse_social_time(match.group(0) if match else value, now)
