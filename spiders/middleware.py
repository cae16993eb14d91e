"""Crawl plumbing: retries with exponential backoff, meta-refresh redirects without a second
decoding of every page, and log lines that never print item contents."""

from __future__ import annotations

import logging
from typing import Any

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater

# Seconds before the first retry; doubled for each further one.
BACKOFF_BASE = 1.0


def backoff_delay(retry_times: int, base: float = BACKOFF_BASE) -> float:
    """Delay before retry number `retry_times` (1-based): base, 2·base, 4·base, ..."""
    return base * 2 ** max(retry_times - 1, 0)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry rules, with each retry held back by `backoff_delay` seconds."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", BACKOFF_BASE)

    async def _later(self, result: Request | Response, request: Request) -> Request | Response:
        if isinstance(result, Request) and result is not request:
            delay = backoff_delay(result.meta.get("retry_times", 1), self.backoff_base)
            if delay > 0:
                # Imported here: importing the reactor at module load would install the wrong one.
                from twisted.internet import reactor

                await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))
        return result

    # Scrapy (>= 2.14) awaits coroutine middleware methods and no longer passes the spider.
    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        return await self._later(super().process_response(request, response), request)

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        result = super().process_exception(request, exception)
        return None if result is None else await self._later(result, request)


# Scrapy looks for <meta http-equiv="refresh"> in the first 4096 characters of a page; in any
# encoding of at most 4 bytes a character they lie within these many bytes.
_META_REFRESH_BYTES = 4 * 4096


class MetaRefreshWhenPresent(MetaRefreshMiddleware):
    """Scrapy's meta-refresh redirects, asked only of pages whose head holds the word 'refresh'.
    Scrapy decodes the WHOLE body (with its own charset guess) to look at 4096 characters; the
    spiders decode every page once more their own way, so most pages were decoded twice.
    Pages with NUL bytes near the top (UTF-16) always go to Scrapy. (A 'refresh' spelled with
    character entities, which Scrapy would decode, is not looked for.)"""

    def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        head = response.body[:_META_REFRESH_BYTES]
        if b"\x00" not in head and b"refresh" not in head.lower():
            return response
        return super().process_response(request, response)


class PrivateLogFormatter(LogFormatter):
    """Scrapy's log lines without item contents: a dropped or failed item still holds the raw,
    unmasked text, and personal data must not reach the logs."""

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any = None) -> LogFormatterResult:
        return {"level": logging.DEBUG, "msg": "Dropped: %(exception)s", "args": {"exception": exception}}

    def item_error(self, item: Any, exception: BaseException, response: Any, spider: Any = None) -> LogFormatterResult:
        url = item.get("url") if isinstance(item, dict) else getattr(item, "url", "")
        return {"level": logging.ERROR, "msg": "Error processing item %(url)s", "args": {"url": url}}

    def scraped(self, item: Any, response: Any, spider: Any = None) -> LogFormatterResult:
        url = getattr(item, "url", None) or (item.get("url") if isinstance(item, dict) else "")
        return {"level": logging.DEBUG, "msg": "Scraped %(url)s", "args": {"url": url}}


class CountSpiderErrors:
    """Spider middleware: an exception in a callback (a page that breaks a parser) is counted
    under 'parse_error' on the source and the crawl goes on."""

    def __init__(self, crawler: Any = None) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> CountSpiderErrors:
        return cls(crawler)

    def process_spider_exception(self, response: Response, exception: Exception) -> list[Any]:
        self.crawler.spider.problem("parse_error", response.url, f"{type(exception).__name__}: {exception}"[:200])
        return []
