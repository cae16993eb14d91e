"""The weekly report 舆情周报: one ISO week (Monday to Sunday, Beijing time) against the week before —
volume and tone, the day-by-day curve, the top events and policies, the alerts and how their
clocks went, the places, and the sources that went blind."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from reports import charts, labels
from reports.briefing import (
    AlertSummary,
    CutAtNow,
    EventSummary,
    Overview,
    PlaceCount,
    SourceHealth,
    TrendPoint,
    alerts_between,
    between,
    event_headlines,
    negative_only,
    overview_of,
    places_of,
    source_health,
    subject_label,
    summarise_alerts,
    top_events,
    trend,
)
from reports.document import Document, Heading, Paragraph, Text, red, strong
from reports.figures import Ledger
from reports.inputs import read_inputs
from reports.output import FORMATS, write_report
from reports.periodic import ClockTally, bars, chart, clock_tally
from reports.render import render_document
from reports.wording import alert_table, number, quote
from search import open_index
from search.base import Index
from yuqing.config import ConfigError, Settings
from yuqing.schema import SHANGHAI, Alert, CrawlHealth, Policy

TOP_EVENTS = 10
TOP_POLICIES = 10
QUOTED_EVENTS = 3
TOP_PLACES = 12
WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")


@dataclass(frozen=True)
class Week(CutAtNow):
    year: int
    number: int
    now: datetime

    @property
    def start(self) -> datetime:
        return datetime.combine(date.fromisocalendar(self.year, self.number, 1), time(0), SHANGHAI)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    @property
    def name(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def title(self) -> str:
        last = self.end - timedelta(days=1)
        return f"{self.year}年第{self.number}周（{self.start.month}月{self.start.day}日—{last.month}月{last.day}日）"

    @classmethod
    def parse(cls, text: str | None, now: datetime | None = None) -> Week:
        """`2026-W49`; None: the last whole week before now (Beijing time)."""
        now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
        if text is None:
            year, number, _ = (now.date() - timedelta(days=7)).isocalendar()
            return cls(year, number, now)
        match = WEEK.match(text.strip())
        try:
            if not match:
                raise ValueError(text)
            date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError as exc:
            raise ConfigError("--week", text, "an ISO week as YYYY-Www, e.g. 2026-W49") from exc
        return cls(int(match[1]), int(match[2]), now)


def report_stem(week: Week) -> str:
    return f"yuqing-weekly-{week.name}"


@dataclass(frozen=True)
class PolicyWeek:
    policy: Policy
    mentions: int
    negative: int
    previous: int  # mentions the week before

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.mentions if self.mentions else None


@dataclass
class WeeklyReport:
    week: Week
    overview: Overview
    previous_negative: int
    days: list[TrendPoint]
    events: list[EventSummary]
    policies: list[PolicyWeek]
    alerts: list[AlertSummary]
    clocks: ClockTally
    places: list[PlaceCount]
    sources: list[SourceHealth]
    source_titles: dict[str, str]

    @property
    def empty(self) -> bool:
        return self.overview.total == 0

    @property
    def previous_share(self) -> float | None:
        return self.previous_negative / self.overview.previous if self.overview.previous else None


def gather_weekly(ledger: Ledger, week: Week, *, alerts: Sequence[Alert], policies: Sequence[Policy],
                  health: Sequence[CrawlHealth], effects: Mapping[str, Mapping[str, Any]] | None = None,
                  source_titles: Mapping[str, str] | None = None) -> WeeklyReport:
    start, cutoff = week.start, week.cutoff
    span = between(start, cutoff)
    last_start, last_cutoff = start - timedelta(days=7), cutoff - timedelta(days=7)
    before = between(last_start, last_cutoff)
    overview = overview_of(ledger, "week", span, before)
    day_starts = [start + timedelta(days=d) for d in range(7)]
    titles = {p.id: p.title for p in policies}
    headlines = event_headlines(ledger.index, alerts_between(alerts, start, cutoff))
    chosen = []
    for policy in policies:
        key = f"policy.{policy.id}"
        mentions = ledger.count(f"{key}.mentions", between(start, cutoff, policies=[policy.id]))
        if mentions:
            chosen.append(PolicyWeek(
                policy, mentions, ledger.count(f"{key}.negative", negative_only(between(start, cutoff, policies=[policy.id]))),
                ledger.count(f"{key}.previous", between(last_start, last_cutoff, policies=[policy.id]))))
    chosen.sort(key=lambda p: (-p.mentions, -p.negative, p.policy.id))
    summaries = summarise_alerts(alerts, start, cutoff, lambda a: subject_label(a, titles, headlines), ledger,
                                 effects)
    titles_of_sources = dict(source_titles or {})
    return WeeklyReport(
        week=week, overview=overview, previous_negative=ledger.count("week.previous_negative", negative_only(before)),
        days=trend(ledger, "days", span, "day", day_starts),
        events=top_events(ledger, start, cutoff, titles, TOP_EVENTS),
        policies=chosen[:TOP_POLICIES], alerts=summaries, clocks=clock_tally(summaries),
        places=places_of(ledger.tally("week.tally", span)),
        sources=source_health(health, titles_of_sources, cutoff, overview.sources),
        source_titles=titles_of_sources,
    )


def weekly_lead(r: WeeklyReport) -> tuple[Text, ...]:
    o, w = r.overview, r.week
    span = f"{w.title}" + (f"（截至{labels.clock(w.cutoff)}）" if w.partial else "")
    if r.empty:
        return (f"{span}", strong("未监测到相关信息"), f"（上周{number(o.previous)}条）。请核实各信息源采集是否正常。")
    runs: list[Text] = [f"{span}，共监测到相关信息", strong(number(o.total)),
                        f"条，较上周{labels.change(o.change)}（上周{number(o.previous)}条）；其中负面信息",
                        red(number(o.negative)), f"条，占{labels.percent(o.negative_share)}"
                        f"（上周{labels.percent(r.previous_share)}）。"]
    if r.events:
        runs.append(f"本周重点事件{len(r.events)}个，最受关注的是“{r.events[0].event.headline}”（本周{r.events[0].today}条）。")
    if r.alerts:
        runs.append(f"本周涉及预警{len(r.alerts)}条，{r.clocks.words()}。")
    blind = [s for s in r.sources if s.health.blind]
    if blind:
        runs.append(f"另有{len(blind)}个信息源处于监测盲区。")
    return tuple(runs)


def weekly_advice(r: WeeklyReport) -> list[str]:
    """What the week's figures call for; each sentence restates figures of the report."""
    advice = []
    overdue = [s for s in r.alerts if s.overdue and s.is_open]
    if overdue:
        advice.append(f"本周有{len(overdue)}条预警超过处置时限仍未完成，建议督促责任单位尽快回应并说明情况。")
    o = r.overview
    if o.negative_share is not None and r.previous_share is not None and o.negative_share - r.previous_share >= 0.1:
        advice.append(f"本周负面信息占比{labels.percent(o.negative_share)}，较上周{labels.percent(r.previous_share)}"
                      "明显上升，建议加强对重点事件的跟踪研判。")
    for item in r.events[:QUOTED_EVENTS]:
        share = item.negative_share
        if share is not None and share >= 0.5 and item.today >= 5:
            advice.append(f"事件“{item.event.headline}”本周{item.today}条、负面占比{labels.percent(share)}，"
                          "建议相关部门持续发布进展，回应群众关切。")
    for p in r.policies:
        share = p.negative_share
        if share is not None and share >= 0.4 and p.mentions >= 10:
            advice.append(f"《{p.policy.title}》本周相关信息{p.mentions}条、负面占比{labels.percent(share)}，建议加强政策解读。")
    for s in r.sources:
        if s.health.blind:
            advice.append(f"信息源“{s.title}”连续{s.health.silent_runs}次采集无数据，建议检查采集配置，消除监测盲区。")
    if not advice:
        advice.append("本周未监测到相关信息，建议核查各信息源采集是否正常运行。" if r.empty
                      else "本周舆情总体平稳，建议保持日常监测。")
    return advice


def weekly_document(r: WeeklyReport, generated_at: datetime) -> Document:
    o, w = r.overview, r.week
    period = f"统计时段：{labels.clock(w.start)} 至 {labels.clock(w.cutoff)}" + ("（本周未结束）" if w.partial else "")
    d = Document("weekly", "舆情周报", w.title, [period, f"生成时间：{labels.clock(generated_at)}"],
                 weekly_lead(r), generated_at=generated_at)
    d.add(Heading("一、本周舆情概况"))
    d.table(["指标", "本周", "上周", "变化"], [
        ["信息总量", number(o.total), number(o.previous), labels.change(o.change)],
        ["负面信息", number(o.negative), number(r.previous_negative),
         labels.change((o.negative - r.previous_negative) / r.previous_negative if r.previous_negative else None)],
        ["负面占比", labels.percent(o.negative_share), labels.percent(r.previous_share), "—"],
    ], numeric=(1, 2))
    d.add(chart("本周每日信息量", charts.volume_chart, points=r.days, interval="day", key="week-days",
                name="本周每日信息量"))
    d.table(["日期", "信息量", "负面"], [[f"{p.start.month}月{p.start.day}日", p.total, p.negative] for p in r.days],
            numeric=(1, 2))
    if o.platforms:
        d.table(["平台", "条数", "占比", "负面"],
                [[labels.platform_name(p), number(n), labels.percent(n / o.total), number(o.negative_platforms.get(p, 0))]
                 for p, n in o.platforms.items()], numeric=(1, 2, 3))

    d.add(Heading("二、本周重点事件"))
    if r.events:
        d.table(["序号", "事件", "本周信息量", "负面占比", "累计", "首次发现"],
                [[n, e.event.headline, e.today, labels.percent(e.negative_share), e.total, labels.clock(e.event.first_seen)]
                 for n, e in enumerate(r.events, 1)], numeric=(2, 3, 4))
        for n, item in enumerate(r.events[:QUOTED_EVENTS], 1):
            d.add(Heading(f"（{labels.chinese_number(n)}）{item.event.headline}", level=2))
            platforms = "、".join(f"{labels.platform_name(p)}{c}条" for p, c in item.platforms.items()) or "—"
            d.para(f"本周{item.today}条，累计{item.total}条，负面占比", red(labels.percent(item.negative_share)),
                   f"；传播平台：{platforms}；关联政策：{'、'.join(f'《{t}》' for t in item.policies) or '—'}。")
            d.add(*(quote(p, r.source_titles.get(p.source, p.source)) for p in item.posts))
    else:
        d.para("本周未发现重点舆情事件。")

    d.add(Heading("三、政策关注度"))
    if r.policies:
        d.table(["政策文件", "本周提及", "上周提及", "负面", "负面占比"],
                [[f"《{p.policy.title}》", p.mentions, p.previous, p.negative, labels.percent(p.negative_share)]
                 for p in r.policies], numeric=(1, 2, 3, 4))
    else:
        d.para("本周政策文件库中的政策均无相关信息。")

    d.add(Heading("四、预警与处置"))
    if r.alerts:
        d.para(f"本周涉及预警{len(r.alerts)}条，{r.clocks.words()}。")
        alert_table(d, r.alerts)
    else:
        d.para("本周无预警。")

    d.add(Heading("五、地域分布"))
    if r.places:
        d.add(bars("信息量居前的地域", [(p.place, p.count, p.negative) for p in r.places[:TOP_PLACES]], "week-places"))
        d.table(["地域", "信息量", "负面"], [[p.place, p.count, p.negative] for p in r.places[:15]], numeric=(1, 2))
    else:
        d.para("本周信息未涉及具体地域。")

    d.add(Heading("六、监测盲区"))
    troubled = [s for s in r.sources if s.health.blind or s.stale or not s.posts_today]
    if troubled:
        d.table(["信息源", "类型", "最近采集", "本周入库", "状态"],
                [[s.title, labels.source_kind_name(s.health.kind), labels.clock(s.health.finished_at), s.posts_today,
                  labels.source_state(s)] for s in troubled], numeric=(3,),
                flagged=[n for n, s in enumerate(troubled) if s.health.blind])
    else:
        d.para("本周各信息源采集正常，未发现监测盲区。" if r.sources else "暂无采集记录。")

    d.add(Heading("七、研判建议"))
    for n, text in enumerate(weekly_advice(r), 1):
        d.para(f"{n}. {text}")
    return d


def build_weekly_report(index: Index, week: Week, *, alerts: Sequence[Alert], policies: Sequence[Policy],
                        health: Sequence[CrawlHealth], out_dir: Path, formats: Sequence[str] = FORMATS,
                        effects: Mapping[str, Mapping[str, Any]] | None = None,
                        source_titles: Mapping[str, str] | None = None) -> list[Path]:
    """Write `yuqing-weekly-YYYY-Www.{html,docx,pdf}` and its manifest; returns the paths written."""
    ledger = Ledger(index)
    report = gather_weekly(ledger, week, alerts=alerts, policies=policies, health=health, effects=effects,
                           source_titles=source_titles)
    generated_at = datetime.now(SHANGHAI)
    document = weekly_document(report, generated_at)
    return write_report(Path(out_dir) / report_stem(week), formats, html=lambda: render_document(document),
                        document=lambda: document, ledger=ledger, lead=Paragraph(document.lead).text, kind="weekly", title=f"舆情周报 {week.name}",
                        window={"since": week.start.isoformat(), "until": week.cutoff.isoformat()},
                        generated_at=generated_at)


def write_weekly_report(settings: Settings, week: Week, *, out_dir: Path | None = None,
                        formats: Sequence[str] = FORMATS, notice: Any = print) -> list[Path]:
    with open_index(settings) as index:
        inputs = read_inputs(settings, index, notice)
        return build_weekly_report(index, week, alerts=inputs.alerts, policies=inputs.policies, health=inputs.health,
                                   out_dir=out_dir or settings.reports_path, formats=formats, effects=inputs.effects,
                                   source_titles=inputs.source_titles)
