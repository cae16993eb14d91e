"""The item pipelines, in order: validate → normalise → mask → de-duplicate → publish.

Each stage's work is a pure function (`normalise_post`, `mask_post`, `content_hash`) wrapped by a
small Scrapy pipeline that reads the spider's `CrawlContext`. Nothing is dropped silently:
invalid items go to the raw topic's dead-letter topic with the validation error, duplicates are
counted, and publishing falls back to the spool when the transport is down.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from pydantic import ValidationError
from scrapy.exceptions import DropItem

from analysis.privacy import mask_author_name, mask_metadata, mask_personal_data
from spiders.base import YuqingSpider
from spiders.parsing import clean_inline, clean_text, parse_datetime, to_halfwidth_alnum
from transport import RAW_POSTS, dead_letter
from yuqing.schema import Post, time_in_range

log = logging.getLogger(__name__)

# Post.extra values under these keys are dates; they are stored as YYYY-MM-DD.
_DATE_KEYS = ("成文日期", "发布日期", "回复时间")


def normalise_post(post: Post) -> Post:
    """Whitespace collapsed, full-width letters and digits made ASCII, extra dates as ISO dates,
    a published time outside the sane window (in the future, or year 1) dropped: it was misread."""
    changes: dict[str, Any] = {
        "title": clean_inline(to_halfwidth_alnum(post.title)) or None if post.title else None,
        "text": clean_text(to_halfwidth_alnum(post.text)),
    }
    if post.published_at and not time_in_range(post.published_at):
        changes["published_at"] = None
    extra = dict(post.extra)
    for key, value in extra.items():
        if isinstance(value, str):
            value = clean_inline(to_halfwidth_alnum(value))
            if key in _DATE_KEYS:
                parsed = parse_datetime(value)
                if parsed:
                    midnight = (parsed.hour, parsed.minute) == (0, 0)
                    value = parsed.date().isoformat() if midnight else parsed.isoformat()
            extra[key] = value
    changes["extra"] = extra
    if post.author.name:
        changes["author"] = post.author.model_copy(update={"name": clean_inline(post.author.name)})
    return post.model_copy(update=changes)


def mask_post(post: Post) -> Post:
    """Personal data masked in the title, text, author name and free-text extra values (pure, idempotent)."""
    author = post.author
    name = mask_author_name(author.name, post.platform.value, verified=author.verified)
    return post.model_copy(update={
        "title": mask_personal_data(post.title) if post.title else post.title,
        "text": mask_personal_data(post.text),
        "author": author.model_copy(update={"name": name}) if name != author.name else author,
        "extra": mask_metadata(post.extra),
    })


def content_hash(post: Post) -> str:
    """A hash of everything a reader would notice changed: not fetched_at, nor whether the year of
    its date was inferred (a weibo's 昨天 10:31 shown as 12-05 a day later is the same post)."""
    data = post.model_dump(mode="json", exclude={"fetched_at", "published_year_inferred"})
    return hashlib.sha1(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def text_fingerprint(post: Post) -> str:
    """Same title and text: the same article, whatever URL it came from."""
    return hashlib.sha1(f"{post.title or ''}\n{post.text}".encode()).hexdigest()


class YuqingPipeline:
    """Base: keeps the crawler so each stage can reach the spider's context."""

    def __init__(self, crawler: Any = None) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> YuqingPipeline:
        return cls(crawler)

    @property
    def spider(self) -> YuqingSpider:
        return self.crawler.spider


class ValidatePipeline(YuqingPipeline):
    def process_item(self, item: Any) -> Post:
        spider = self.spider
        if isinstance(item, Post):
            post = item
        else:
            try:
                post = Post.model_validate(item)
            except ValidationError as exc:
                spider.problem("invalid_item", str(item.get("url", "")) if isinstance(item, dict) else "",
                               str(exc.errors()[0]["msg"]))
                spider.context.publisher.publish(
                    dead_letter(RAW_POSTS),
                    {"item": json.loads(json.dumps(item, default=str)), "error": str(exc)[:2000],
                     "source": spider.source.name},
                    key=spider.source.name,
                )
                raise DropItem(f"invalid item sent to {dead_letter(RAW_POSTS)}") from exc
        spider.stats_row.items += 1
        return post


class NormalisePipeline(YuqingPipeline):
    def process_item(self, item: Post) -> Post:
        return normalise_post(item)


class MaskPipeline(YuqingPipeline):
    def process_item(self, item: Post) -> Post:
        return mask_post(item)


class DedupePipeline(YuqingPipeline):
    """Drop a post already published with the same content, or the same text twice in one run."""

    def __init__(self, crawler: Any = None) -> None:
        super().__init__(crawler)
        self._ids: set[str] = set()
        self._texts: set[str] = set()

    def process_item(self, item: Post) -> Post:
        spider = self.spider
        seen, source = spider.context.seen, spider.source.name
        fingerprint = text_fingerprint(item)
        duplicate = item.id in self._ids or (spider.same_text_is_duplicate and bool(item.text) and (
            fingerprint in self._texts or seen.same_text_elsewhere(source, item.id, fingerprint)))
        # A duplicate is dropped whatever its content hash says: no need to serialise and hash it.
        new, changed = (False, False) if duplicate else seen.is_new_content(source, item.id, content_hash(item))
        if duplicate or not (new or changed):
            spider.stats_row.unchanged += 1
            seen.mark_fetched(source, item.url)  # fetched and judged: not fetched again
            raise DropItem(f"{'duplicate' if duplicate else 'unchanged'}: {item.url}")
        self._ids.add(item.id)
        self._texts.add(fingerprint)
        if new:
            spider.stats_row.new_items += 1
        else:
            spider.stats_row.updated += 1
        return item


class PublishPipeline(YuqingPipeline):
    """RAW_POSTS, key = post id; spooled locally when the transport is down. The page is marked seen only
    once the post is safe (confirmed by the transport or spooled): a crawl that dies before then fetches
    it again next time instead of skipping a post that never arrived."""

    def process_item(self, item: Post) -> Post:
        spider = self.spider
        source, seen = spider.source.name, spider.context.seen
        fingerprints = (content_hash(item), text_fingerprint(item))

        def safe(spooled: bool) -> None:
            if spooled:
                spider.stats_row.spooled += 1
            seen.mark_published(source, item.id, *fingerprints)
            seen.mark_fetched(source, item.url)

        spider.context.publisher.publish(RAW_POSTS, item.model_dump(mode="json"), key=item.id, on_safe=safe)
        return item


# Scrapy's ITEM_PIPELINES setting: the order is the contract.
ITEM_PIPELINES = {
    f"{__name__}.ValidatePipeline": 100,
    f"{__name__}.NormalisePipeline": 200,
    f"{__name__}.MaskPipeline": 300,
    f"{__name__}.DedupePipeline": 400,
    f"{__name__}.PublishPipeline": 500,
}

