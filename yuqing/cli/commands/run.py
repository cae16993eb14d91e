"""`yuqing run`: continuous monitoring — the workers stay up, the sources are crawled on a schedule, the
daily briefing for the previous day is written every morning (and the weekly one on Mondays) and, when
the settings name a report_delivery channel, sent by e-mail through the alerts' outbox."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, time

from workers.stages import STAGE_NAMES, STATEFUL_STAGES
from workers.supervisor import Supervisor
from yuqing.cli.common import settings_from


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run", help="monitor continuously: workers up, crawl every N minutes, daily report every morning",
        description="Start one process per stage (enrich, events, index, alert), restart any that exits (with a "
                    "growing back-off), crawl the sources file every --interval minutes, each crawl in its own "
                    "process, and write the previous day's 舆情日报 at --report-at (and last week's 舆情周报 on "
                    "Mondays), e-mailed with their Word and PDF files when the settings name report_delivery.channel. "
                    "Ctrl-C stops everything.",
    )
    parser.add_argument("--interval", type=float, default=20.0, help="minutes between crawls (default 20)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes for the enrich and index stages (default 1); the events and alert stages "
                             "run one each: they keep state with one writer (0: no workers, they run elsewhere)")
    parser.add_argument("--report-at", type=_clock, default=time(8, 0), metavar="HH:MM",
                        help="Beijing time to write the previous day's daily report (default 08:00)")
    parser.add_argument("--no-report", action="store_true", help="do not write daily and weekly reports")
    parser.set_defaults(func=run)


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为 HH:MM (expected HH:MM): {text!r}") from None


def _yuqing(args: argparse.Namespace, *command: str) -> list[str]:
    config = ["--config", args.config] if args.config else []
    return [sys.executable, "-m", "yuqing.cli.main", *config, *command]


def worker_commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """The worker processes to keep up: `--workers` of the enrich and index stages, one each of the stages that
    keep state (events, alert: one writer each; on one machine the supervisor's restart is their standby); none
    with `--workers 0` (the workers run as services of their own)."""
    return {f"{stage}-{n + 1}": _yuqing(args, "worker", stage) for stage in STAGE_NAMES
            for n in range(min(args.workers, 1) if stage in STATEFUL_STAGES else args.workers)}


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)  # fail fast, with a clear message, on a bad configuration
    workers = worker_commands(args)
    send = ["--send"] if settings.report_delivery.channel else []

    def report(day: datetime) -> list[str]:
        return _yuqing(args, "report", "daily", "--date", day.date().isoformat(), *send)

    def weekly(monday: datetime) -> list[str]:
        from reports.weekly import Week

        return _yuqing(args, "report", "weekly", "--week", Week.parse(None, monday).name, *send)

    supervisor = Supervisor(workers, _yuqing(args, "crawl"), args.interval * 60,
                            report=None if args.no_report else report, report_at=args.report_at,
                            weekly=None if args.no_report else weekly)
    reports = "off" if args.no_report else (
        f"daily report at {args.report_at:%H:%M}, weekly on Mondays"
        + (f", e-mailed through channel {settings.report_delivery.channel}" if send else ""))
    print(f"监测中 monitoring: {len(workers)} worker(s); crawling every {args.interval:g} min; {reports}. "
          "Ctrl-C to stop.")
    supervisor.run()
    return 0
