"""Turn a gathered briefing into the pages people read: self-contained HTML files and Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from reports import charts, labels
from reports.advice import LISTED_ADVICE, STILL_GROWING, WORKED, Advice
from reports.briefing import DailyBriefing
from reports.document import Document
from reports.wording import daily_lead, next_clock, unlisted_advice, unlisted_alerts

TOP_PLACES = 12
TOP_PLATFORMS = 8


@dataclass(frozen=True)
class Charts:
    """SVG markup, or PNG bytes when drawn for Word (which has no sparklines)."""

    hourly: str | bytes
    daily: str | bytes
    sentiment: str | bytes | None
    platforms: str | bytes | None
    places: str | bytes | None
    sparklines: dict[str, str]


def draw_charts(briefing: DailyBriefing, png: bool = False) -> Charts:
    """Every chart of the briefing; a chart with nothing to show is None and the page says so."""
    overview = briefing.overview
    platform_rows = [(labels.platform_name(p), n, overview.negative_platforms.get(p, 0))
                     for p, n in list(overview.platforms.items())[:TOP_PLATFORMS]]
    place_rows = [(p.place, p.count, p.negative) for p in briefing.places[:TOP_PLACES]]
    sentiment_names = {k: labels.sentiment_name(k) for k in overview.sentiment}
    return Charts(
        hourly=charts.volume_chart(briefing.hourly, interval="hour", key="hourly", name="近24小时信息量", png=png),
        daily=charts.volume_chart(briefing.daily, interval="day", key="daily", name="近14日信息量", png=png),
        sentiment=(charts.sentiment_chart(overview.sentiment, sentiment_names, key="sentiment", name="情感倾向",
                                          png=png) if overview.total else None),
        platforms=(charts.bar_chart(platform_rows, key="platforms", name="平台分布", png=png)
                   if platform_rows else None),
        places=charts.bar_chart(place_rows, key="places", name="地域分布", png=png) if place_rows else None,
        sparklines={} if png else {
            a.policy.id: charts.sparkline(a.daily, key=f"spark{number}", name=f"{a.policy.title} 近14日走势")
            for number, a in enumerate(briefing.policies)},
    )


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=autoescape,  # explicit: the templates end in .j2, which select_autoescape would not match
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        clock=labels.clock, percent=labels.percent, duration=labels.duration, change=labels.change,
        platform=labels.platform_name, sentiment=labels.sentiment_name, status=labels.status_name,
        subject=labels.subject_name, problem=labels.problem_name, source_kind=labels.source_kind_name, cn_date=labels.chinese_date,
        number=lambda n: f"{n:,}", next_clock=next_clock,
    )
    env.globals.update(listed_advice=LISTED_ADVICE, unlisted_advice=unlisted_advice, unlisted_alerts=unlisted_alerts)
    return env


_HTML = _environment(autoescape=True)
_TEXT = _environment(autoescape=False)


def render_html(briefing: DailyBriefing, advice: list[Advice], drawn: Charts, generated_at: datetime) -> str:
    # The SVG comes from matplotlib, not from posts, so it is inserted as markup.
    svg = {name: Markup(value) if value else None for name, value in vars(drawn).items() if name != "sparklines"}
    sparklines = {key: Markup(value) for key, value in drawn.sparklines.items()}
    return _HTML.get_template("daily.html.j2").render(
        b=briefing, advice=advice, charts=svg, sparklines=sparklines, generated_at=generated_at,
        worse_verdict=STILL_GROWING, good_verdict=WORKED, lead=daily_lead(briefing),
    )


def render_document(document: Document) -> str:
    """A weekly or special report (or the Word layout of any report) as one self-contained HTML page."""
    return _HTML.get_template("document.html.j2").render(d=document)


def print_css() -> str:
    """The stylesheet added when the daily briefing's HTML is printed to PDF (page numbers)."""
    return _HTML.loader.get_source(_HTML, "print.css")[0]  # type: ignore[union-attr]


def render_markdown(briefing: DailyBriefing, advice: list[Advice], generated_at: datetime) -> str:
    return _TEXT.get_template("daily.md.j2").render(b=briefing, advice=advice, generated_at=generated_at)
