"""Pure parsing of Baidu-Tieba-style forum pages: the thread list (帖子列表) and a thread's first post.

The thread list is `li.j_thread_list` items carrying a JSON `data-field` (id, author, reply
count, pinned flag) around the title link, an abstract and two times (创建时间, 最后回复时间).
Tieba ships the list inside an HTML comment that its scripts unpack; a saved, rendered page
has it in the open. Both are read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from parsel import Selector
from pydantic import BaseModel, ConfigDict, Field, field_validator

from spiders.html_text import check_css, element_text, selected_hrefs, selected_text
from spiders.social_time import is_year_less, parse_social_time
from yuqing.schema import Author, Metrics, Platform, Post, post_id_for

FORUM_NAME = "forum"  # Post.extra: the forum (吧) a thread is in
FORUM_PINNED = "pinned"  # Post.extra: 置顶 thread
FORUM_LAST_REPLY_AT = "last_reply_at"  # Post.extra: ISO time of the latest reply
FORUM_FIRST_POST = "first_post"  # Post.extra: "full" when the thread page was read, else "abstract"

_DATETIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}\s+\d{1,2}:\d{2}")


class ForumSelectors(BaseModel):
    """Where a Tieba-style forum keeps each part; the defaults are Tieba's own markup.

    Keys ending in `_selector` are CSS (parsel pseudo-elements ::text / ::attr() allowed). A
    thread item's JSON `data-field` (Tieba's id, author, reply_num, is_top) wins when present.
    """

    model_config = ConfigDict(extra="forbid")

    thread_selector: str = "li.j_thread_list"
    link_selector: str = "a.j_th_tit::attr(href)"
    title_selector: str = "a.j_th_tit"
    reply_count_selector: str = ".threadlist_rep_num::text"
    abstract_selector: str = ".threadlist_abs"
    created_selector: str = ".is_show_create_time::text"
    last_reply_selector: str = ".threadlist_reply_date::text, .j_reply_data::text"
    next_selector: str = "#frs_list_pager a.next::attr(href)"
    forum_name_selector: str = ".card_title_fname::text"
    post_selector: str = Field(default="div.l_post", description="thread page: one floor; the first is 楼主")
    content_selector: str = Field(default=".d_post_content", description="thread page: a floor's text")
    post_time_selector: str = ".tail-info::text, .post-tail-wrap ::text"

    @field_validator(
        "thread_selector", "link_selector", "title_selector", "reply_count_selector", "abstract_selector",
        "created_selector", "last_reply_selector", "next_selector", "forum_name_selector", "post_selector",
        "content_selector", "post_time_selector",
    )
    @classmethod
    def _valid_css(cls, value: str) -> str:
        return check_css(value)


TIEBA = ForumSelectors()


@dataclass
class ThreadSummary:
    """What the thread list tells about one thread."""

    tid: str
    title: str
    url: str
    author_name: str | None
    author_id: str | None
    replies: int
    pinned: bool
    abstract: str
    created: datetime | None
    last_reply: datetime | None
    created_year_inferred: bool = False  # the list showed the day without its year (12-05)


def parse_thread_list(
    html: str, url: str, now: datetime, selectors: ForumSelectors = TIEBA
) -> tuple[list[ThreadSummary], str | None, str | None]:
    """The threads of a list page, the next page's URL (or None) and the forum's name (or None)."""
    page = Selector(text=html)
    if not page.css(selectors.thread_selector):
        # Tieba as served: the list and its pager live in comments inside <code class="pagelet_html">.
        page = Selector(text=re.sub(r"<!--|-->", "", html))
    threads = [thread for item in page.css(selectors.thread_selector) if (thread := _summary(item, url, now, selectors))]
    next_href = next(iter(selected_hrefs(page, selectors.next_selector)), None)
    forum = selected_text(page, selectors.forum_name_selector) or None
    return threads, urljoin(url, next_href) if next_href else None, forum


def _summary(item: Selector, url: str, now: datetime, selectors: ForumSelectors) -> ThreadSummary | None:
    field = _data_field(item.attrib.get("data-field"))
    tid = str(field.get("id") or item.attrib.get("data-tid") or "")
    href = next(iter(selected_hrefs(item, selectors.link_selector)), None)
    if not tid or not href:
        return None
    author_field = _data_field(item.css(".tb_icon_author").attrib.get("data-field"))
    replies = field.get("reply_num")
    if replies is None:
        replies = selected_text(item, selectors.reply_count_selector) or "0"
    return ThreadSummary(
        tid=tid,
        title=selected_text(item, selectors.title_selector),
        url=urljoin(url, href),
        author_name=str(field.get("author_nickname") or field.get("author_name") or "") or _list_author(item),
        author_id=str(author_field["user_id"]) if author_field.get("user_id") else None,
        replies=int(replies) if str(replies).isdigit() else 0,
        pinned=bool(field.get("is_top")) or "thread_top" in item.attrib.get("class", ""),
        abstract=selected_text(item, selectors.abstract_selector),
        created=parse_social_time(_first(item, selectors.created_selector), now),
        last_reply=parse_social_time(_first(item, selectors.last_reply_selector), now),
        created_year_inferred=is_year_less(_first(item, selectors.created_selector)),
    )


def _first(item: Selector, css: str) -> str:
    """The first string `css` selects: one time of an item, not all of them joined."""
    return selected_text(item, css, keep_lines=True).split("\n")[0]


def _list_author(item: Selector) -> str | None:
    """The author from the list's "主题作者: 名字" tooltip, for lists without data-field JSON."""
    tooltip = item.css(".tb_icon_author").attrib.get("title", "")
    name = tooltip.partition(":")[2].strip() if ":" in tooltip else ""
    return name or None


def _data_field(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_first_post(html: str, now: datetime, selectors: ForumSelectors = TIEBA) -> tuple[str, datetime | None]:
    """Text and time of a thread page's first floor (楼主); ("", None) when the page has none."""
    page = Selector(text=html)
    floors = page.css(selectors.post_selector)
    first = floors[0] if floors else page
    content = first.css(selectors.content_selector)
    if not content:
        return "", None
    text = element_text(content[0].root)
    stamp = _DATETIME.search(" ".join(first.css(selectors.post_time_selector).getall()))
    if stamp:
        return text, parse_social_time(stamp.group(0), now)
    date = _data_field(first.attrib.get("data-field")).get("content")
    return text, parse_social_time(date.get("date") if isinstance(date, dict) else None, now)


def thread_to_post(
    thread: ThreadSummary,
    *,
    source: str,
    now: datetime,
    forum: str | None = None,
    first_post: str | None = None,
    first_post_at: datetime | None = None,
) -> Post:
    """A thread as a Post: its title, its first post (or the list's abstract) and its reply count."""
    extra: dict[str, Any] = {FORUM_FIRST_POST: "full" if first_post else "abstract"}
    if forum:
        extra[FORUM_NAME] = forum
    if thread.pinned:
        extra[FORUM_PINNED] = True
    if thread.last_reply:
        extra[FORUM_LAST_REPLY_AT] = thread.last_reply.isoformat()
    return Post(
        id=post_id_for(Platform.FORUM.value, thread.url, thread.tid),
        url=thread.url,
        platform=Platform.FORUM,
        source=source,
        author=Author(name=thread.author_name, id=thread.author_id),
        title=thread.title,
        text=first_post or thread.abstract or thread.title,
        published_at=first_post_at or thread.created,
        published_year_inferred=first_post_at is None and thread.created_year_inferred,
        fetched_at=now,
        metrics=Metrics(comments=thread.replies),
        extra=extra,
    )
