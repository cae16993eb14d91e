"""Run sources through their spiders and the item pipelines into the transport.

`crawl(settings, sources, wiring)` runs every enabled source once and returns one `CrawlHealth`
per source (also published to the CRAWL_HEALTH topic). Scrapy's Twisted reactor can start only once
per process, so `crawl` is usable ONCE per process; for repeated runs in one program call
`crawl_in_subprocess`, which runs `crawl` in a fresh child process and returns the same result.
The item pipelines and the publisher are handed in (`CrawlWiring`; `workers.crawl` wires the
project's own), so the spiders never import the pipelines.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spiders.base import CrawlContext, Publishing, SourceStats
from spiders.extract import ExtractionPool
from spiders.fetch import DOWNLOAD_MAXSIZE, DOWNLOAD_TIMEOUT, DOWNLOAD_WARNSIZE
from spiders.news import ArticleSpider
from spiders.registry import Kind, resolve
from stores.seen import SeenStore
from stores.state import open_seen_store
from transport import CRAWL_HEALTH
from yuqing.config import ConfigError, Settings
from yuqing.config.datafiles import Source
from yuqing.schema import CrawlHealth, now

log = logging.getLogger(__name__)

# The extraction pool is awaited through asyncio futures: the asyncio reactor is required.
ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
VERSION = "0.1"


@dataclass(frozen=True)
class CrawlWiring:
    """What a crawl hands its items to: Scrapy's ITEM_PIPELINES (dotted paths and their order) and a
    factory of the publisher. Module-level functions only, so a wiring reaches a child process."""

    item_pipelines: Mapping[str, int]
    open_publisher: Callable[[Settings], Publishing]


def user_agent(settings: Settings) -> str:
    """Names Yuqing and how to reach its operators, as polite crawlers do."""
    return f"Yuqing/{VERSION} (public-opinion monitor; +{settings.crawl.contact})"


def scrapy_settings(settings: Settings, source: Source, item_pipelines: Mapping[str, int]) -> dict[str, Any]:
    """Scrapy settings for one source: polite by default, robots switchable per source."""
    crawl = settings.crawl
    obey = crawl.obey_robots if source.obey_robots is None else source.obey_robots
    return {
        "USER_AGENT": user_agent(settings),
        "ROBOTSTXT_OBEY": obey,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": crawl.download_delay,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrency_per_domain),
        "DOWNLOAD_DELAY": crawl.download_delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "CONCURRENT_REQUESTS": max(16, crawl.concurrency_per_domain * 4),
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 2,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "RETRY_BACKOFF_BASE": 0.5 if crawl.download_delay == 0 else 2.0,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "spiders.middleware.BackoffRetryMiddleware": 550,
            "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
            "spiders.middleware.MetaRefreshWhenPresent": 580,
        },
        "SPIDER_MIDDLEWARES": {"spiders.middleware.CountSpiderErrors": 50},
        "DOWNLOAD_TIMEOUT": DOWNLOAD_TIMEOUT,
        "DOWNLOAD_MAXSIZE": DOWNLOAD_MAXSIZE,
        "DOWNLOAD_WARNSIZE": DOWNLOAD_WARNSIZE,
        "ITEM_PIPELINES": dict(item_pipelines),
        "TELNETCONSOLE_ENABLED": False,
        # Scrapy's check for `return value` in generator callbacks reads their source code for
        # every response of these per-source spider classes: about 1 ms a page, for a lint.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        # Scrapy starts CONCURRENT_ITEMS (default 100) asyncio tasks for EVERY response's output,
        # however few items it holds: an article page yields one. The pipelines are synchronous,
        # so more than a few parallel slots buy nothing, and the task churn cost the crawl thread
        # about 3 ms a page.
        "CONCURRENT_ITEMS": 4,
        "TWISTED_REACTOR": ASYNCIO_REACTOR,
        "LOG_FORMATTER": "spiders.middleware.PrivateLogFormatter",
        "LOG_ENABLED": True,
        "LOG_LEVEL": "WARNING",
        "HTTPERROR_ALLOW_ALL": False,
        "COOKIES_ENABLED": True,
    }


def _health(source: Source, row: SourceStats, seen: SeenStore, settings: Settings,
            started_at: datetime) -> CrawlHealth:
    # Silent means the source showed nothing at all: no listing entry, no item. Pages already
    # seen still count as entries, so a quiet but working site is not called blind.
    silent_runs = seen.record_run(source.name, row.found + row.items)
    return CrawlHealth(
        source=source.name, kind=source.kind, started_at=row.started_at or started_at,
        finished_at=row.finished_at or now(),
        items=row.items, new_items=row.new_items, problems=dict(row.problems), silent_runs=silent_runs,
        blind=silent_runs >= settings.crawl.silent_runs_before_blind,
    )


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def _without_traceback(record: logging.LogRecord) -> bool:
    """Download failures are counted per source in crawl health: one line each is enough."""
    record.exc_info, record.exc_text = None, None
    return True


def resolve_sources(sources: Iterable[Source], file: str = "sources") -> list[tuple[Source, Kind, Any]]:
    """The enabled sources with their kinds and validated params; ConfigError on the first bad one."""
    return [(source, *resolve(source, file)) for source in sources if source.enabled]


def crawl(settings: Settings, sources: Iterable[Source], wiring: CrawlWiring,
          extract_workers: int | None = None) -> list[CrawlHealth]:
    """Crawl the enabled `sources` once; ONCE per process (Scrapy's reactor cannot restart).

    Article extraction runs in `extract_workers` processes (default: one per CPU; 0: inline).
    """
    from scrapy.crawler import CrawlerProcess

    resolved = resolve_sources(sources)
    if not resolved:
        return []
    seen = open_seen_store(settings)
    publisher = wiring.open_publisher(settings)
    context = CrawlContext(settings=settings, seen=seen, publisher=publisher,
                           extractor=ExtractionPool(extract_workers))
    if any(issubclass(kind.spider, ArticleSpider) for _, kind, _ in resolved):
        context.extractor.start()
    publisher.replay()
    started_at = now()
    quiet = logging.getLogger().getEffectiveLevel() > logging.DEBUG
    if quiet:  # Scrapy's start-up banner and per-request INFO lines are for -vv (DEBUG) only.
        # A filter, not a level: Scrapy's logging set-up resets the levels of these loggers.
        for name in ("scrapy.utils.log", "scrapy.crawler"):
            logging.getLogger(name).addFilter(_warnings_only)
    process = CrawlerProcess({"TELNETCONSOLE_ENABLED": False, "TWISTED_REACTOR": ASYNCIO_REACTOR,
                              "LOG_INSTALL_ROOT_HANDLER": False})
    if quiet:  # Scrapy has just set its own loggers to DEBUG
        for name in ("scrapy", "twisted", "py.warnings"):
            logging.getLogger(name).setLevel(logging.WARNING)
        for name in ("scrapy.downloadermiddlewares.robotstxt", "scrapy.downloadermiddlewares.retry"):
            logging.getLogger(name).addFilter(_without_traceback)
    for source, kind, params in resolved:
        # Per-source settings (robots switch) ride on a subclass: Scrapy reads them from the class.
        spider = type(kind.spider.__name__, (kind.spider,), {"custom_settings": scrapy_settings(settings, source, wiring.item_pipelines)})
        process.crawl(spider, source=source, params=params, context=context)
    # What is loaded by now (Scrapy, Twisted, pydantic, the settings) lives as long as the process:
    # frozen, it is out of the cyclic collector's sight, and the full collections the crawl's
    # allocations trigger scan only what the crawl made.
    gc.freeze()
    try:
        process.start()
    finally:
        gc.unfreeze()
        context.extractor.close()
    publisher.flush()  # the last posts are confirmed (or spooled) and marked seen before health is counted

    healths = [_health(source, context.stats_for(source.name), seen, settings, started_at)
               for source, _, _ in resolved]
    for health in healths:
        publisher.publish(CRAWL_HEALTH, health.model_dump(mode="json"), key=health.source)
    publisher.flush()
    spooled = publisher.pending()
    if spooled:
        log.warning("transport down: %d message(s) wait in %s and are sent on the next run",
                    spooled, publisher.spool_path)
    publisher.close()
    seen.close()
    return healths


def _crawl_as_json(settings: Settings, sources: list[Source], wiring: CrawlWiring,
                   extract_workers: int | None) -> list[dict[str, Any]]:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return [health.model_dump(mode="json") for health in crawl(settings, sources, wiring, extract_workers)]


def crawl_in_subprocess(settings: Settings, sources: Iterable[Source], wiring: CrawlWiring,
                        extract_workers: int | None = None) -> list[CrawlHealth]:
    """`crawl` in a fresh child process, so a program (or a test) can crawl any number of times."""
    sources = list(sources)
    resolve_sources(sources)  # configuration errors surface here, in the caller's process
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            rows = pool.submit(_crawl_as_json, settings, sources, wiring, extract_workers).result()
        except ConfigError:
            raise
        except Exception as exc:  # the child's traceback is in its stderr
            raise RuntimeError(f"crawl subprocess failed: {exc}") from exc
    return [CrawlHealth.model_validate(row) for row in rows]
