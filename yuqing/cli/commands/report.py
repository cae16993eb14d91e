"""`yuqing report daily|weekly|event|verify`: write the briefings (HTML, Word, PDF) and check their figures.

    yuqing report daily [--date YYYY-MM-DD] [--format html,docx,pdf] [--out DIR] [--send]
    yuqing report weekly [--week 2026-W49] [--format ...] [--out DIR] [--send]
    yuqing report event EVENT_ID [--format ...] [--out DIR] [--send]
    yuqing report verify FILE
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from yuqing.cli.common import settings_from
from yuqing.config import ConfigError, Settings
from yuqing.schema import SHANGHAI

FORMAT_HELP = "formats to write, comma-separated: html,docx,pdf (default: all three)"
OUT_HELP = "where to write (default: settings report_dir or DATA_DIR/reports)"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="write reports (日报, 周报, 专报) and verify their figures",
                            description="Write reports for leaders from the index, the alerts and the crawl health, "
                                        "as HTML, Word (DOCX) and PDF, each with a manifest of its figures.")
    kinds = parser.add_subparsers(dest="report", metavar="KIND", required=True)

    daily = kinds.add_parser(
        "daily", help="the daily briefing 舆情日报",
        description="Write yuqing-daily-YYYY-MM-DD.{html,docx,pdf} (and .md): volume and tone, hot events, policy "
                    "attention, alerts and deadlines, places, crawl health and recommendations.",
    )
    daily.add_argument("--date", metavar="YYYY-MM-DD", help="the day to report on (default: today, Beijing time)")
    _common(daily)
    _send(daily)
    daily.set_defaults(func=run_daily)

    weekly = kinds.add_parser(
        "weekly", help="the weekly report 舆情周报",
        description="Write yuqing-weekly-YYYY-Www.{html,docx,pdf}: the week (Monday to Sunday, Beijing time) against "
                    "the week before, the day-by-day curve, top events and policies, alerts and their deadlines, "
                    "places, and the sources that went blind.",
    )
    weekly.add_argument("--week", metavar="YYYY-Www", help="the ISO week, e.g. 2026-W49 (default: last week)")
    _common(weekly)
    _send(weekly)
    weekly.set_defaults(func=run_weekly)

    event = kinds.add_parser(
        "event", help="the incident special report 舆情专报 on one event",
        description="Write yuqing-event-<EVENT_ID>.{html,docx,pdf}: lead with a risk verdict, 事件概况, 传播情况, "
                    "观点分析, the alert's clocks and responses, 研判 and 处置建议.",
    )
    event.add_argument("event_id", metavar="EVENT_ID", help="the event's id (as the daily report and console show)")
    _common(event)
    _send(event)
    event.set_defaults(func=run_event)

    verify = kinds.add_parser(
        "verify", help="recompute a report's figures from the index; exit 1 if anything differs",
        description="Read the manifest beside FILE (any of the report's files, or the manifest), recompute every "
                    "figure from the index, look up every quoted post and check each file is unchanged. Lists "
                    "what no longer matches; exit code 1 if anything differs, 0 if all matches.",
    )
    verify.add_argument("file", metavar="FILE", help="a report file or its .manifest.json")
    verify.set_defaults(func=run_verify)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", dest="formats", metavar="LIST", help=FORMAT_HELP)
    parser.add_argument("--out", metavar="DIR", help=OUT_HELP)


def _send(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--send", action="store_true",
                        help="queue the report for e-mail to the settings' report_delivery (sent by the alert worker)")


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError("--date", value, "a date as YYYY-MM-DD, e.g. 2026-11-26") from exc


def _formats(args: argparse.Namespace) -> tuple[str, ...]:
    from reports.output import parse_formats

    return parse_formats(args.formats)


def _notice(text: str) -> None:
    print(text, file=sys.stderr)


def _written(args: argparse.Namespace, name: str, paths: list[Path]) -> int:
    for path in paths:
        print(f"{name}: {path}")
    if args.send:
        queued = queue_report(settings_from(args), paths[0])
        print(f"已加入发送队列 queued for e-mail (outbox #{queued})")
    return 0


def queue_report(settings: Settings, report: Path, now: datetime | None = None) -> int:
    """Put a written report in the alert store's outbox for its e-mail channel; returns the outbox id."""
    from alerts.service import open_alert_store
    from reports.delivery import report_mail

    channel, key, mail = report_mail(settings, report)
    store = open_alert_store(settings)
    try:
        return store.enqueue(key, channel, mail.to_json(), now or datetime.now(SHANGHAI))
    finally:
        store.close()


def run_daily(args: argparse.Namespace) -> int:
    from reports.daily import write_daily_report

    day = parse_day(args.date)
    formats = _formats(args)
    settings = settings_from(args)
    path = write_daily_report(settings, day=day, out_dir=Path(args.out) if args.out else None, formats=formats,
                              notice=_notice)
    stem = path.with_suffix("")
    return _written(args, "日报 report", [*(stem.with_suffix(f".{f}") for f in formats), stem.with_suffix(".md"),
                                   stem.with_name(stem.name + ".manifest.json")])


def run_weekly(args: argparse.Namespace) -> int:
    from reports.weekly import Week, write_weekly_report

    week = Week.parse(args.week)
    formats = _formats(args)
    settings = settings_from(args)
    return _written(args, "周报 report", write_weekly_report(settings, week, out_dir=Path(args.out) if args.out else None,
                                                       formats=formats, notice=_notice))


def run_event(args: argparse.Namespace) -> int:
    from reports.special import write_special_report

    formats = _formats(args)
    settings = settings_from(args)
    return _written(args, "专报 report", write_special_report(settings, args.event_id,
                                                        out_dir=Path(args.out) if args.out else None,
                                                        formats=formats, notice=_notice))


def run_verify(args: argparse.Namespace) -> int:
    from alerts.queries import AlertQueries
    from reports.briefing import alert_state_at
    from reports.figures import load_manifest, verify
    from search import open_index

    manifest_file, manifest = load_manifest(Path(args.file))
    settings = settings_from(args)
    queries = AlertQueries.from_settings(settings)  # a read-only view: verifying writes nothing

    def alert_state(alert_id: str, cutoff: datetime) -> dict[str, Any] | None:
        alert = queries.get(alert_id)
        return alert_state_at(alert, cutoff) if alert is not None else None

    try:
        with open_index(settings) as index:
            checked, differences = verify(index, manifest_file, manifest, alert_state)
    finally:
        queries.close()
    title = manifest.get("title", manifest_file.name)
    if not differences:
        print(f"核对通过 verified: {title}，{checked} 项（数字、引用信息、预警、文件）均与索引和预警库一致")
        return 0
    print(f"核对不通过 differs: {title}，{checked} 项中 {len(differences)} 项不符：")
    for difference in differences:
        print(f"  - {difference.line()}")
    return 1
