"""The crawl as the project runs it: the spiders' runner wired to the item pipelines and the publisher.

`spiders` and `pipelines` do not import each other; this module hands the one to the other.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipelines import ITEM_PIPELINES, open_publisher
from spiders import runner
from yuqing.config import Settings
from yuqing.config.datafiles import Source
from yuqing.schema import CrawlHealth

WIRING = runner.CrawlWiring(item_pipelines=ITEM_PIPELINES, open_publisher=open_publisher)


def crawl(settings: Settings, sources: Iterable[Source], extract_workers: int | None = None) -> list[CrawlHealth]:
    """`spiders.runner.crawl` with the project's pipelines: ONCE per process."""
    return runner.crawl(settings, sources, WIRING, extract_workers)


def crawl_in_subprocess(settings: Settings, sources: Iterable[Source],
                        extract_workers: int | None = None) -> list[CrawlHealth]:
    """`crawl` in a fresh child process, as often as needed."""
    return runner.crawl_in_subprocess(settings, sources, WIRING, extract_workers)
