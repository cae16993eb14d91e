"""The daily briefing 舆情日报: gather from the index, advise, draw, write one HTML file (and Markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reports.advice import recommend
from reports.briefing import ReportWindow, gather_briefing
from reports.render import draw_charts, render_html, render_markdown
from schema import SHANGHAI, Alert, CrawlHealth, Policy
from search.base import Index


def report_name(day: date, suffix: str = "html") -> str:
    return f"yuqing-daily-{day:%Y-%m-%d}.{suffix}"


def build_daily_report(
    index: Index,
    *,
    alerts: Sequence[Alert],
    policies: Sequence[Policy],
    health: Sequence[CrawlHealth],
    day: date | None = None,
    now: datetime | None = None,
    out_dir: Path,
    effects: Mapping[str, Mapping[str, Any]] | None = None,
    source_titles: Mapping[str, str] | None = None,
    markdown: bool = True,
) -> Path:
    """Write `yuqing-daily-YYYY-MM-DD.html` (and `.md` beside it) for `day` and return the HTML path.

    `day` defaults to today in Beijing time; `now` (default: the clock) cuts a day that is not over.
    `effects` maps alert ids to the alert store's response-effect figures
    (`AlertService.effect(id).as_dict()`); alerts without them show their responses only.
    """
    window = ReportWindow.for_day(day, now)
    briefing = gather_briefing(index, alerts=alerts, policies=policies, health=health, window=window,
                               effects=effects, source_titles=source_titles)
    advice = recommend(briefing)
    generated_at = datetime.now(SHANGHAI)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / report_name(window.day)
    _write(html_path, render_html(briefing, advice, draw_charts(briefing), generated_at))
    if markdown:
        _write(out_dir / report_name(window.day, "md"), render_markdown(briefing, advice, generated_at))
    return html_path


def _write(path: Path, text: str) -> None:
    """Write beside the target and rename, so a reader never opens half a report."""
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
