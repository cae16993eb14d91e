"""`yuqing report daily [--date YYYY-MM-DD] [--out DIR]`: write the daily briefing 舆情日报."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from yuqing.cli.common import settings_from
from yuqing.config import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="write reports: the daily briefing 舆情日报",
                            description="Write reports for leaders from the index, the alerts and the crawl health.")
    kinds = parser.add_subparsers(dest="report", metavar="KIND", required=True)
    daily = kinds.add_parser(
        "daily", help="the daily briefing as one HTML file (and Markdown beside it)",
        description="Write yuqing-daily-YYYY-MM-DD.html: volume and tone, hot events, policy attention, alerts "
                    "and deadlines, places, crawl health and recommendations. Charts are inline; the file "
                    "prints on A4.",
    )
    daily.add_argument("--date", metavar="YYYY-MM-DD", help="the day to report on (default: today, Beijing time)")
    daily.add_argument("--out", metavar="DIR", help="where to write (default: settings report_dir or DATA_DIR/reports)")
    daily.set_defaults(func=run_daily)


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError("--date", value, "a date as YYYY-MM-DD, e.g. 2026-11-26") from exc


def run_daily(args: argparse.Namespace) -> int:
    from reports.daily import write_daily_report

    day = parse_day(args.date)
    settings = settings_from(args)
    path = write_daily_report(settings, day=day, out_dir=Path(args.out) if args.out else None,
                              notice=lambda text: print(text, file=sys.stderr))
    print(f"日报 report: {path}")
    print(f"文本版 markdown: {path.with_suffix('.md')}")
    return 0
