"""The daily briefing 舆情日报: gather from the index, advise, draw, write one HTML file (and Markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reports.advice import recommend
from reports.briefing import ReportWindow, gather_briefing
from reports.render import draw_charts, render_html, render_markdown
from search import open_index
from search.base import Index
from yuqing.config import Settings
from yuqing.config.datafiles import Source, load_policies, load_sources
from yuqing.schema import SHANGHAI, Alert, CrawlHealth, Policy


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
    (`AlertQueries.effect(alert).as_dict()`); alerts without them show their responses only.
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


def load_alert_state(settings: Settings, index: Index) -> tuple[list[Alert], dict[str, dict[str, Any]]]:
    """Every alert in the store (the report keeps those that concern its day) and the measured
    effect of each response, from the alert store."""
    from alerts.queries import AlertQueries

    queries = AlertQueries.from_settings(settings, index=index)
    try:
        alerts = queries.alerts()
        effects = {a.id: effect.as_dict() for a in alerts if a.responses and (effect := queries.effect(a))}
    finally:
        queries.close()
    return alerts, effects


def write_daily_report(settings: Settings, *, day: date | None = None, out_dir: Path | None = None,
                       sources: Sequence[Source] | None = None, notice: Any = print) -> Path:
    """The daily briefing from what the settings point at: the index, the alert store, the policy
    registry and the sources (for their human names; default: the sources file)."""
    policies: list[Policy] = []
    if settings.policies_file.exists():
        policies = load_policies(settings.policies_file)
    else:
        notice(f"提示：政策文件库 {settings.policies_file} 不存在，日报不含政策关注度 (no policies file)")
    if sources is None:
        sources = load_sources(settings.sources_file) if settings.sources_file.exists() else []
    with open_index(settings) as index:
        alerts, effects = load_alert_state(settings, index)
        return build_daily_report(
            index, alerts=alerts, policies=policies, health=index.crawl_health(), day=day,
            out_dir=out_dir or settings.reports_path, effects=effects,
            source_titles={s.name: s.title for s in sources if s.title},
        )
