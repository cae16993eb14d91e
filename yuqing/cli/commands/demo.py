"""`yuqing demo`: the whole flow on the embedded default, against the bundled sample site.

The sample site is served on 127.0.0.1 at a fixed port, because page URLs are part of post ids:
a second run must find the same posts and add nothing twice.
"""

from __future__ import annotations

import argparse
import time

from search import SearchQuery, open_index
from transport import open_transport
from workers.runner import Worker
from workers.stages import STAGE_NAMES, build_stage
from yuqing.cli.commands.console import DEFAULT_PORT as CONSOLE_PORT
from yuqing.cli.common import settings_from
from yuqing.config import ConfigError, Settings

DEMO_PORT = 18620


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="crawl the bundled sample site end to end: alerts and a daily report",
        description="Serve the bundled sample city site on 127.0.0.1, crawl it with the real spiders, analyse, "
                    "index, evaluate the alert rules and write the daily briefing. Running it again adds "
                    "nothing twice.",
    )
    parser.add_argument("--port", type=int, default=DEMO_PORT, help=f"sample site port (default {DEMO_PORT})")
    parser.set_defaults(func=run)


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def run_stages(settings: Settings) -> dict[str, int]:
    """Drain every stage in order; each stops when its topics are empty."""
    processed: dict[str, int] = {}
    with open_transport(settings) as transport:
        for name in STAGE_NAMES:
            outcomes = Worker(transport, build_stage(name, settings, transport)).run(until_idle=True)
            processed[name] = outcomes["processed"]
            if outcomes["quarantined"]:
                print(f"    {name}: {outcomes['quarantined']} message(s) quarantined in the dead-letter topic")
    return processed


def run(args: argparse.Namespace) -> int:
    from alerts.service import AlertService
    from console.accounts import demo_accounts
    from reports.daily import write_daily_report
    from sample_site import SampleSite, sources_for
    from workers.crawl import crawl

    # The demo is our own loopback site: no politeness delay needed.
    settings = settings_from(args)
    settings.crawl.download_delay = 0.0
    started = time.monotonic()
    site = SampleSite()
    try:
        base_url = site.start(args.port)
    except OSError as exc:
        raise ConfigError("--port", str(args.port), f"cannot serve the sample site there ({exc}); "
                                                    "free the port or pass --port") from exc
    try:
        step(f"示例站点 sample site at {base_url}")
        step("采集 crawling with the Scrapy spiders")
        sources = sources_for(base_url)
        runs = crawl(settings, sources)
    finally:
        site.stop()
    crawled = sum(r.items for r in runs)
    for r in runs:
        problems = ", ".join(f"{k}={v}" for k, v in r.problems.items())
        print(f"    {r.source}: {r.items} items ({r.new_items} new){'  problems: ' + problems if problems else ''}")

    step("分析、索引、预警 analysing, indexing, evaluating alert rules")
    processed = run_stages(settings)

    step("生成舆情日报 writing the daily briefing")
    report = write_daily_report(settings, sources=sources)
    service = AlertService.from_settings(settings, read_only=True)
    try:
        alerts = service.open_alerts()
    finally:
        service.close()
    with open_index(settings) as index:
        indexed = index.search(SearchQuery(limit=0)).total

    print()
    print(f"采集 crawled: {crawled} items this run; 分析 analysed: {processed['enrich']}; "
          f"索引 indexed in total: {indexed}")
    print(f"预警 alerts: {len(alerts)}")
    for alert in alerts:
        print(f"  [{alert.level.value}] {alert.title}")
    print(f"日报 report: {report}")
    listing = demo_accounts(settings)
    print(f"({time.monotonic() - started:.0f} s)")
    print()
    print("打开控制台 open the console on this data:")
    config = f" --config {settings.config_file}" if settings.config_file else ""
    print(f"  yuqing{config} console        然后访问 then browse http://127.0.0.1:{CONSOLE_PORT}/")
    print(f"  演示账户 demo accounts (用户名 角色 密码 name role password) in {listing}:")
    for line in listing.read_text(encoding="utf-8").splitlines():
        name, role, _ = line.split("\t")
        print(f"    {name}  {role}")
    return 0
