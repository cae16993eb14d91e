"""The base every kind of spider builds on: parameters, problem counting, page decoding, seen-store.

A kind is a `YuqingSpider` subclass registered with `spiders.registry.register_kind` together
with its `KindParams` model. One spider instance crawls one `Source`. It yields plain dicts
made by `post_item(...)`; the item pipelines validate, normalise, mask, de-duplicate and
publish them. Everything that goes wrong is counted under a short reason through `problem()`
(and logged), so a crawl never drops a page silently.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Protocol
from urllib.parse import urlsplit

import scrapy
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from scrapy import signals
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from spiders.extract import ExtractionPool, bounded_html
from spiders.parsing import decode_page, page_problem
from stores.seen import SeenStore
from yuqing.config import Settings
from yuqing.config.datafiles import Source
from yuqing.schema import Platform, now

log = logging.getLogger(__name__)


def check_http_url(url: str) -> str:
    """An absolute http(s) URL with a host: a source must never make the crawler read a local
    file (file:///etc/passwd) or speak another protocol."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    return url


HttpUrl = Annotated[str, AfterValidator(check_http_url)]


class KindParams(BaseModel):
    """Parameters every kind accepts; a kind's own model subclasses this and adds its keys."""

    model_config = ConfigDict(extra="forbid")

    max_items: int = Field(default=200, ge=1, description="items fetched per run at most")
    encoding: str | None = Field(default=None, description="force a page encoding, e.g. gb18030")
    revisit_days: float | None = Field(
        default=None, ge=0, description="revisit items first seen this recently (default: the kind's rule)"
    )


@dataclass
class SourceStats:
    """What one source's run produced; becomes its `CrawlHealth`."""

    found: int = 0  # entries seen on listings or feeds, fetched or already known
    items: int = 0  # items the spider produced
    new_items: int = 0  # published for the first time
    updated: int = 0  # published again because their content changed
    unchanged: int = 0  # already published with the same content
    spooled: int = 0  # kept in the local spool because the transport was down
    problems: Counter[str] = field(default_factory=Counter)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Publishing(Protocol):
    """Where the crawl's items go (`pipelines.publish.Publisher`, handed in by whoever starts the crawl)."""

    spool_path: Path

    def publish(self, topic: str, value: dict[str, Any], key: str | None = None,
                on_safe: Callable[[bool], None] | None = None) -> bool: ...
    def replay(self) -> bool: ...
    def flush(self) -> bool: ...
    def pending(self) -> int: ...
    def close(self) -> None: ...


@dataclass
class CrawlContext:
    """What all spiders and pipelines of one crawl share. Built by `spiders.runner`."""

    settings: Settings
    seen: SeenStore
    publisher: Publishing
    extractor: ExtractionPool = field(default_factory=lambda: ExtractionPool(workers=0))
    stats: dict[str, SourceStats] = field(default_factory=dict)

    def stats_for(self, source: str) -> SourceStats:
        return self.stats.setdefault(source, SourceStats())


def classify_failure(failure: Failure) -> str:
    """A short reason for a failed request: http_404, http_5xx, forbidden, timeout, network, ..."""
    if isinstance(failure.value, HttpError):
        status = failure.value.response.status
        if status >= 500:
            return "http_5xx"
        if status in (401, 403):
            return "forbidden"
        if status == 429:
            return "rate_limited"
        return f"http_{status}"
    name = type(failure.value).__name__
    if "Timeout" in name:
        return "timeout"
    if name == "IgnoreRequest" and "robots" in str(failure.value).lower():
        return "robots_disallowed"
    if name in ("DownloadCancelledError", "CancelledError") and "size" in str(failure.value).lower():
        return "too_large"
    if any(word in name for word in ("DNS", "Resolve", "Connect", "Refused", "NeverReceived", "DataLoss",
                                     "DownloadFailed")):
        return "network"
    return "request_failed"


class YuqingSpider(scrapy.Spider):
    """Base of every kind. Subclasses set `kind`, `platform`, `params_model` and implement `start`."""

    kind: ClassVar[str] = ""
    platform: Platform = Platform.OTHER  # a kind's own, or a source's (rss sets it per feed)
    params_model: ClassVar[type[KindParams]] = KindParams
    # Kinds whose items change after publication (weibo metrics, board replies) revisit them
    # within settings.crawl.revisit_days; articles and documents are fetched once.
    revisits: ClassVar[bool] = False
    # Two items with the same title and text in one run are one article reprinted, except on
    # social platforms, where many people posting the same words (转发微博) is the signal itself.
    same_text_is_duplicate: ClassVar[bool] = True

    def __init__(self, source: Source, params: KindParams, context: CrawlContext, **kwargs: Any) -> None:
        super().__init__(name=source.name, **kwargs)
        self.source = source
        self.params = params
        self.context = context
        self.stats_row = context.stats_for(source.name)
        self._item_budget = params.max_items
        self.stats_row.started_at = now()

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> YuqingSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_item_error, signal=signals.item_error)
        return spider

    def _on_item_error(self, item: Any, response: Any, spider: Any, failure: Failure) -> None:
        url = item.get("url", "") if isinstance(item, dict) else getattr(item, "url", "")
        self.problem("pipeline_error", url, str(failure.value)[:200])

    def closed(self, reason: str) -> None:
        """Called by Scrapy when the spider finishes; a reason other than 'finished' is a problem."""
        self.stats_row.finished_at = now()
        if reason != "finished":
            self.problem(f"closed_{reason}")

    # ---- requests -------------------------------------------------------------------------

    def fetch(self, url: str, callback: Callable[..., Any], *, meta: dict[str, Any] | None = None,
              priority: int = 0, dont_filter: bool = False, **kwargs: Any) -> Request:
        """A request whose failures are counted under a reason instead of vanishing."""
        return Request(url, callback=callback, errback=self.on_error, meta=meta or {}, priority=priority,
                       dont_filter=dont_filter, **kwargs)

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        self.problem(classify_failure(failure), request.url if request else "", str(failure.value)[:200])

    # ---- bookkeeping -----------------------------------------------------------------------

    def problem(self, reason: str, url: str = "", detail: str = "") -> None:
        """Count and log one thing that went wrong; `reason` is a short stable word."""
        self.stats_row.problems[reason] += 1
        log.warning("%s: %s %s %s", self.source.name, reason, url, detail)

    def found(self, count: int = 1) -> None:
        """Count entries discovered on a listing or feed (fetched or already known)."""
        self.stats_row.found += count

    @property
    def revisit_days(self) -> float | None:
        if self.params.revisit_days is not None:
            return self.params.revisit_days
        return self.context.settings.crawl.revisit_days if self.revisits else None

    def should_fetch(self, url: str) -> bool:
        """False for an item page fetched in an earlier run (outside the revisit window)."""
        return self.context.seen.should_fetch(self.source.name, url, self.revisit_days)

    def take_budget(self) -> bool:
        """Reserve one of this run's `max_items` fetches; False once they are used up."""
        if self._item_budget <= 0:
            return False
        self._item_budget -= 1
        return True

    def new_item_urls(self, urls: Iterable[str]) -> list[str]:
        """Of the item URLs found on a listing: the ones to fetch now (new, within budget), in order."""
        chosen: list[str] = []
        for url in dict.fromkeys(urls):
            self.found()
            if self.should_fetch(url) and self.take_budget():
                chosen.append(url)
        return chosen

    # ---- responses -------------------------------------------------------------------------

    def html(self, response: Response, min_chars: int = 20) -> str | None:
        """The page decoded (charset sniffed, GBK safe) and within the page limits (a longer page
        is cut, counted as huge_page_truncated); None, with a counted reason, when it is empty,
        a login wall or a captcha."""
        if not response.body:
            self.problem("empty_page", response.url)
            return None
        text, _ = decode_page(response.body, (response.headers.get("Content-Type") or b"").decode("latin-1"),
                              self.params.encoding)
        text, truncated = bounded_html(text)
        if truncated:
            self.problem("huge_page_truncated", response.url)
        reason = page_problem(text, min_chars)
        if reason:
            self.problem(reason, response.url)
            return None
        return text

    def json(self, response: Response) -> Any | None:
        """The JSON body; None, counted as 'bad_json', when it does not parse (or nests deeper than
        the parser's stack)."""
        text, _ = decode_page(response.body, (response.headers.get("Content-Type") or b"").decode("latin-1"),
                              self.params.encoding)
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.problem("bad_json", response.url, str(exc)[:120])
            return None

    def post_item(self, url: str, **fields: Any) -> dict[str, Any]:
        """A raw post dict for the pipelines; platform and source are filled in."""
        return {"url": url, "platform": self.platform.value, "source": self.source.name, **fields}
