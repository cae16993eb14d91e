"""Sentences several reports and formats share, built once as runs of text (see `reports.document`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from reports import labels
from reports.briefing import LISTED_ALERTS, AlertSummary, DailyBriefing, DeadlineState, PostRef
from reports.document import Document, Quote, Text, red, strong


def number(n: int) -> str:
    return f"{n:,}"


def daily_lead(b: DailyBriefing) -> tuple[Text, ...]:
    """The opening paragraph of the daily briefing: volume, tone, platforms, the top event, alerts, blind spots."""
    o, w = b.overview, b.window
    day = labels.chinese_date(w.start)
    if b.empty:
        before = f"昨日同期为{number(o.previous)}条。" if o.previous else ""
        return (f"{day}统计时段内", strong("未监测到相关信息"), f"。{before}请结合“信息来源”部分核实采集是否正常。")
    span = f"（截至{labels.clock(w.cutoff, with_date=False)}）" if w.partial else "全天"
    previous = f"（昨日同期{number(o.previous)}条）" if o.previous else ""
    runs: list[Text] = [f"{day}{span}，共监测到相关信息", strong(number(o.total)),
                        f"条，较昨日同期{labels.change(o.change)}{previous}。其中负面信息", red(number(o.negative)),
                        f"条，占{labels.percent(o.negative_share)}。"]
    if o.platforms:
        top = "、".join(f"{labels.platform_name(p)}（{number(n)}条）" for p, n in list(o.platforms.items())[:3])
        runs.append(f"信息主要来自{top}。")
    if b.events:
        first = b.events[0]
        runs.append(f"今日重点事件{len(b.events)}个，最受关注的是“{first.event.headline}”（今日{first.today}条）。")
    if b.alerts:
        overdue = [s for s in b.alerts if s.overdue and s.is_open]
        runs.append(f"在办预警{sum(s.is_open for s in b.alerts)}条")
        if overdue:
            runs += ["，其中", red(f"{len(overdue)}条已超过处置时限")]
        runs.append("。")
    blind = [s for s in b.sources if s.health.blind]
    if blind:
        runs.append(f"另有{len(blind)}个信息源处于监测盲区，相关渠道情况未能掌握。")
    return tuple(runs)


def clock_state(state: DeadlineState) -> str:
    """How a response clock went, in one phrase."""
    deadline = state.deadline
    if state.state == "met":
        return f"按时完成（{labels.clock(deadline.met_at)}）"
    if state.state == "met_late":
        return f"超时完成（{labels.clock(deadline.met_at)}，超时{labels.duration(state.late_by or timedelta())}）"
    if state.state == "overdue":
        return f"已超时{labels.duration(state.late_by or timedelta())}，尚未完成"
    return f"进行中，剩余{labels.duration(state.remaining or timedelta())}"


def next_clock(summary: AlertSummary) -> str:
    clock = summary.next_clock
    if clock and clock.state == "overdue":
        return f"{clock.deadline.name}已超时{labels.duration(clock.late_by or timedelta())}"
    if clock:
        return f"{clock.deadline.name}剩余{labels.duration(clock.remaining or timedelta())}"
    return "均已完成" if summary.deadlines else "—"


def alert_rows(summaries: Sequence[AlertSummary]) -> list[list[str]]:
    """级别, 预警, 状态, 处置时限, 签收: one line per alert."""
    return [[s.alert.level.value, s.alert.title, labels.status_name(s.alert.status), next_clock(s),
             s.alert.acknowledged_by or "未签收"] for s in summaries]


ALERT_PAGE = "控制台“预警处置”页"  # console/templates/alerts.html.j2: every alert, with filters


def unlisted_alerts(count: int) -> str:
    """The line under a shortened alert list."""
    return f"另有 {number(count)} 条预警未列出，完整列表见{ALERT_PAGE}。"


def unlisted_advice(count: int) -> str:
    """The line under a shortened list of suggestions."""
    return f"另有 {number(count)} 条建议未列出（以上按紧急程度排列）；涉及预警的事项见{ALERT_PAGE}。"


def alert_table(d: Document, alerts: Sequence[AlertSummary]) -> Sequence[AlertSummary]:
    """The 级别…签收 table of the first `LISTED_ALERTS` alerts (given most urgent first), then a line counting
    the rest; returns the alerts listed."""
    listed = alerts[:LISTED_ALERTS]
    d.table(["级别", "预警", "状态", "处置时限", "签收"], alert_rows(listed),
            flagged=[n for n, s in enumerate(listed) if s.overdue and s.is_open])
    if len(alerts) > len(listed):
        d.para(unlisted_alerts(len(alerts) - len(listed)), note=True)
    return listed


def quote(post: PostRef, source_title: str, label: str | None = None) -> Quote:
    tone = labels.sentiment_name(post.sentiment or "unknown")
    where = " · ".join(x for x in (labels.platform_name(post.platform), source_title, post.author) if x)
    return Quote(post_id=post.id, label=label or tone, title=post.title, excerpt=post.excerpt, source=where,
                 when=labels.clock(post.when), url=post.url, negative=post.sentiment == "negative")
