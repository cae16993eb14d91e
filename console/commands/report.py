"""`yuqing report daily [--date YYYY-MM-DD] [--out DIR]`: write the daily briefing 舆情日报."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from config import ConfigError, Settings
from config.datafiles import load_policies, load_sources
from console.common import settings_from
from schema import Alert
from search import Index, open_index


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


def load_alert_state(settings: Settings, index: Index) -> tuple[list[Alert], dict[str, dict[str, Any]]]:
    """The alerts the report covers and the effect figures of their responses, from the alert store.

    The alert store is written in parallel (`alerts.service`); where it is not installed the
    report runs without alerts and says so on stderr. Replace this function's body if the store's
    interface changes: the report needs only the two values it returns.
    """
    try:
        from alerts.service import AlertService
    except ImportError:
        print("提示：预警库不可用，本次日报不含预警信息 (alert store not available)", file=sys.stderr)
        return [], {}
    service = AlertService.from_settings(settings, index=index)
    try:
        # All statuses: alerts closed during the day belong in its report too; the report drops older ones.
        alerts = service.store.alerts()
        effects = {a.id: effect.as_dict() for a in alerts if a.responses and (effect := service.effect(a.id))}
    finally:
        service.close()
    return alerts, effects


def source_titles(settings: Settings) -> dict[str, str]:
    """Human names of the sources (e.g. 菏泽市人民政府) for the crawl-health table; none if the file is absent."""
    if not settings.sources_file.exists():
        return {}
    return {s.name: s.title for s in load_sources(settings.sources_file) if s.title}


def run_daily(args: argparse.Namespace) -> int:
    from reports.daily import build_daily_report

    day = parse_day(args.date)
    settings = settings_from(args)
    out_dir = settings.reports_path if args.out is None else Path(args.out)
    policies = []
    if settings.policies_file.exists():
        policies = load_policies(settings.policies_file)
    else:
        print(f"提示：政策文件库 {settings.policies_file} 不存在，日报不含政策关注度 (no policies file)",
              file=sys.stderr)
    with open_index(settings) as index:
        alerts, effects = load_alert_state(settings, index)
        path = build_daily_report(index, alerts=alerts, policies=policies, health=index.crawl_health(), day=day,
                                  out_dir=out_dir, effects=effects, source_titles=source_titles(settings))
    print(f"日报 report: {path}")
    print(f"文本版 markdown: {path.with_suffix('.md')}")
    return 0
