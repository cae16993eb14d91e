"""`yuqing crawl [--sources FILE] [--source NAME ...]`: crawl the enabled sources into the transport.

Scrapy's reactor starts once per process, and this command is one process: one crawl per call.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from yuqing.cli.common import settings_from
from yuqing.config import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "crawl", help="crawl the sources into the raw-posts topic",
        description="Run the enabled sources through their spiders and the item pipelines (validate, normalise, "
                    "mask personal data, de-duplicate, publish) and print a summary per source. Only pages "
                    "not seen before are fetched.",
    )
    parser.add_argument("--sources", metavar="FILE", help="sources file (default: the configured sources_file)")
    parser.add_argument("--source", metavar="NAME", action="append", default=[],
                        help="crawl only this source (repeatable; a named disabled source runs too)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipelines import SPOOL_FILE, Publisher
    from spiders.runner import resolve_sources
    from workers.crawl import crawl
    from yuqing.config.datafiles import load_sources

    settings = settings_from(args)
    path = Path(args.sources) if args.sources else settings.sources_file
    sources = load_sources(path)
    if args.source:
        known = {source.name: source for source in sources}
        missing = [name for name in args.source if name not in known]
        if missing:
            raise ConfigError(path, "--source", f"no source named {', '.join(missing)}; known: {', '.join(known)}")
        sources = [known[name].model_copy(update={"enabled": True}) for name in args.source]
    resolve_sources(sources, str(path))  # a bad entry stops here with one clear message
    enabled = [source for source in sources if source.enabled]
    if not enabled:
        print(f"{path}: no enabled source to crawl")
        return 0
    print(f"采集 crawling {len(enabled)} source(s) from {path} ...", flush=True)
    runs = crawl(settings, enabled)
    print(f"{'source':<28} {'kind':<11} {'items':>6} {'new':>5}  problems")
    for run_ in runs:
        problems = ", ".join(f"{reason}={count}" for reason, count in sorted(run_.problems.items())) or "-"
        blind = f"  失明 BLIND: nothing for {run_.silent_runs} runs" if run_.blind else ""
        print(f"{run_.source:<28} {run_.kind:<11} {run_.items:>6} {run_.new_items:>5}  {problems}{blind}")
    pending = Publisher(None, settings.path(SPOOL_FILE)).pending()
    if pending:
        print(f"传输不可用 transport unavailable: {pending} message(s) kept in {settings.path(SPOOL_FILE)}; "
              "they are sent on the next run")
    total = sum(run_.items for run_ in runs)
    print(f"共 total: {total} items, {sum(run_.new_items for run_ in runs)} new")
    return 0
