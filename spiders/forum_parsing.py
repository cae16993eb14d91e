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

from schema import Author, Metrics, Platform, Post, post_id_for
from spiders.html_text import element_text
from spiders.social_time import parse_social_time

FORUM_NAME = "forum"  # Post.extra: the forum (吧) a thread is in
FORUM_PINNED = "pinned"  # Post.extra: 置顶 thread
FORUM_LAST_REPLY_AT = "last_reply_at"  # Post.extra: ISO time of the latest reply
FORUM_FIRST_POST = "first_post"  # Post.extra: "full" when the thread page was read, else "abstract"

_THREAD = "li.j_thread_list"
_DATETIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}\s+\d{1,2}:\d{2}")


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


def parse_thread_list(html: str, url: str, now: datetime) -> tuple[list[ThreadSummary], str | None, str | None]:
    """The threads of a list page, the next page's URL (or None) and the forum's name (or None)."""
    page = Selector(text=html)
    if not page.css(_THREAD):
        # Tieba as served: the list and its pager live in comments inside <code class="pagelet_html">.
        page = Selector(text=re.sub(r"<!--|-->", "", html))
    threads = [thread for item in page.css(_THREAD) if (thread := _summary(item, url, now))]
    next_href = page.css("#frs_list_pager a.next::attr(href), a.next.pagination-item::attr(href)").get()
    forum = page.css(".card_title_fname::text").get()
    return threads, urljoin(url, next_href) if next_href else None, forum.strip() if forum else None


def _summary(item: Selector, url: str, now: datetime) -> ThreadSummary | None:
    field = _data_field(item.attrib.get("data-field"))
    tid = str(field.get("id") or item.attrib.get("data-tid") or "")
    link = item.css("a.j_th_tit")
    href = link.attrib.get("href")
    if not tid or not href:
        return None
    title = (link.attrib.get("title") or " ".join(link.css("::text").getall())).strip()
    author_field = _data_field(item.css(".tb_icon_author").attrib.get("data-field"))
    replies = field.get("reply_num")
    if replies is None:
        replies = item.css(".threadlist_rep_num::text").get(default="0").strip()
    abstract = " ".join(" ".join(item.css(".threadlist_abs ::text").getall()).split())
    return ThreadSummary(
        tid=tid,
        title=title,
        url=urljoin(url, href),
        author_name=field.get("author_nickname") or field.get("author_name") or _list_author(item),
        author_id=str(author_field["user_id"]) if author_field.get("user_id") else None,
        replies=int(replies) if str(replies).isdigit() else 0,
        pinned=bool(field.get("is_top")) or "thread_top" in item.attrib.get("class", ""),
        abstract=abstract,
        created=parse_social_time(_first_text(item, ".is_show_create_time::text"), now),
        last_reply=parse_social_time(_first_text(item, ".threadlist_reply_date::text, .j_reply_data::text"), now),
    )


def _first_text(item: Selector, css: str) -> str:
    return item.css(css).get(default="").strip()


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


def parse_first_post(html: str, now: datetime) -> tuple[str, datetime | None]:
    """Text and time of a thread page's first floor (楼主); ("", None) when the page has none."""
    page = Selector(text=html)
    floor = page.css("div.l_post")
    first = floor[0] if floor else page
    content = first.css(".d_post_content")
    if not content:
        return "", None
    text = element_text(content[0].root)
    stamp = _DATETIME.search(" ".join(first.css(".tail-info::text, .post-tail-wrap ::text").getall()))
    if not stamp:
        date = _data_field(first.attrib.get("data-field")).get("content", {})
        stamp_text = date.get("date") if isinstance(date, dict) else None
        return text, parse_social_time(stamp_text, now)
    return text, parse_social_time(stamp.group(0), now)


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
        fetched_at=now,
        metrics=Metrics(comments=thread.replies),
        extra=extra,
    )
