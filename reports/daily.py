"""The daily briefing 舆情日报: gather from the index, advise, draw, write one HTML file (and Markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reports import labels
from reports.advice import LISTED_ADVICE, Advice, recommend
from reports.briefing import AlertSummary, DailyBriefing, ReportWindow, gather_briefing
from reports.document import Chart, Document, Heading, Paragraph, red, strong
from reports.figures import Ledger
from reports.inputs import read_inputs
from reports.output import FORMATS, write_report, write_text
from reports.render import draw_charts, print_css, render_html, render_markdown
from reports.wording import alert_table, clock_state, daily_lead, number, quote, unlisted_advice
from search import open_index
from search.base import Index
from yuqing.config import Settings
from yuqing.config.datafiles import Source
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
    formats: Sequence[str] = ("html",),
) -> Path:
    """Write `yuqing-daily-YYYY-MM-DD.{html,docx,pdf}` (the `formats` asked for; `.md` beside them)
    and `.manifest.json` for `day`; return the path of the first format written.

    `day` defaults to today in Beijing time; `now` (default: the clock) cuts a day that is not over.
    `effects` maps alert ids to the alert store's response-effect figures
    (`AlertQueries.effect(alert).as_dict()`); alerts without them show their responses only.
    """
    window = ReportWindow.for_day(day, now)
    ledger = Ledger(index)
    briefing = gather_briefing(index, alerts=alerts, policies=policies, health=health, window=window,
                               effects=effects, source_titles=source_titles, ledger=ledger)
    advice = recommend(briefing)
    generated_at = datetime.now(SHANGHAI)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = []
    if markdown:
        extra.append(write_text(out_dir / report_name(window.day, "md"), render_markdown(briefing, advice, generated_at)))
    written = write_report(
        out_dir / report_name(window.day, "")[:-1], formats,
        html=lambda: render_html(briefing, advice, draw_charts(briefing), generated_at),
        document=lambda: daily_document(briefing, advice, generated_at),
        ledger=ledger, kind="daily", title=f"舆情日报 {labels.chinese_date(window.start)}",
        lead=Paragraph(daily_lead(briefing)).text,
        window={"since": window.start.isoformat(), "until": window.cutoff.isoformat()},
        generated_at=generated_at, pdf_css=[print_css()], extra_files=extra,
    )
    return written[0]


def daily_document(b: DailyBriefing, advice: Sequence[Advice], generated_at: datetime) -> Document:
    """The daily briefing laid out for Word: the same sections and words as the HTML page."""
    o, w = b.overview, b.window
    drawn = draw_charts(b, png=True)
    period = f"统计时段：{labels.clock(w.start)} 至 {labels.clock(w.cutoff)}" + ("（当日未结束）" if w.partial else "")
    d = Document("daily", "舆情日报", labels.chinese_date(w.start),
                 [period, f"生成时间：{labels.clock(generated_at)}"], daily_lead(b), generated_at=generated_at)

    d.add(Heading("一、今日舆情概况"))
    d.para(f"信息总量{number(o.total)}条，较昨日同期{labels.change(o.change)}；负面信息{number(o.negative)}条，"
           f"占{labels.percent(o.negative_share)}；重点事件{len(b.events)}个；预警{len(b.alerts)}条。")
    d.add(Chart("近24小时信息量（按小时）", "", drawn.hourly),  # type: ignore[arg-type]
          Chart("近14日信息量（按日）", "", drawn.daily))  # type: ignore[arg-type]
    if o.total:
        d.table(["倾向", "条数", "占比"], [[labels.sentiment_name(k), number(n), labels.percent(n / o.total)]
                                        for k, n in o.sentiment.items()], numeric=(1, 2))
        d.table(["平台", "条数", "占比", "负面"],
                [[labels.platform_name(p), number(n), labels.percent(n / o.total), number(o.negative_platforms.get(p, 0))]
                 for p, n in o.platforms.items()], numeric=(1, 2, 3))

    d.add(Heading("二、重点舆情"))
    for number_, item in enumerate(b.events, 1):
        e = item.event
        d.add(Heading(f"（{labels.chinese_number(number_)}）{e.headline}", level=2))
        platforms = "、".join(f"{labels.platform_name(p)}{n}条" for p, n in item.platforms.items()) or "—"
        d.para(f"今日{item.today}条，累计{item.total}条，负面占比", red(labels.percent(item.negative_share)),
               f"；首次发现{labels.clock(e.first_seen)}，最近{labels.clock(e.last_seen)}；传播平台：{platforms}；"
               f"涉及地域：{'、'.join(e.places) or '—'}；关联政策：{'、'.join(f'《{t}》' for t in item.policies) or '—'}。")
        d.add(*(quote(p, b.source_title(p.source)) for p in item.posts))
    if not b.events:
        d.para("今日未发现重点舆情事件。")

    d.add(Heading("三、政策关注度"))
    if b.policies:
        d.table(["政策文件", "发文机构", "今日提及", "负面", "负面占比", "前7日日均"],
                [[f"《{a.policy.title}》", a.policy.department or "—", a.mentions, a.negative,
                  labels.percent(a.negative_share), f"{a.baseline:.1f}"] for a in b.policies], numeric=(2, 3, 4, 5))
    else:
        d.para("近14日政策文件库中的政策均无相关信息。" if b.quiet_policies else "政策文件库为空，未统计政策关注度。")

    d.add(Heading("四、预警与处置"))
    if b.alerts:
        for s in alert_table(d, b.alerts):
            if s.needs_detail:
                _alert_detail(d, s)
    else:
        d.para("今日无预警。")

    d.add(Heading("五、地域分布"))
    if b.places:
        d.add(Chart("信息量居前的地域", "", drawn.places, narrow=True))  # type: ignore[arg-type]
        d.table(["地域", "信息量", "负面"], [[p.place, p.count, p.negative] for p in b.places[:15]], numeric=(1, 2))
    else:
        d.para("今日信息未涉及具体地域。")

    d.add(Heading("六、信息来源与采集情况"))
    _sources(d, b)
    d.add(Heading("七、研判建议"))
    for n, a in enumerate(advice[:LISTED_ADVICE], 1):
        d.para(f"{n}. ", strong(f"【{a.priority_name}】"), a.text)
    if len(advice) > LISTED_ADVICE:
        d.para(unlisted_advice(len(advice) - LISTED_ADVICE), note=True)
    return d


def _alert_detail(d: Document, s: AlertSummary) -> None:
    a = s.alert
    d.add(Heading(f"【{a.level.value}】{a.title}", level=2))
    subject = f"；对象：{labels.subject_name(a.subject_kind)}{' ' + s.subject if s.subject else ''}" if a.subject_kind else ""
    d.para(f"状态：{labels.status_name(a.status)}；触发时间{labels.clock(a.fired_at)}{subject}。"
           f"签收：{a.acknowledged_by or '未签收'}；交办：{a.assigned_to or '未交办'}。")
    if s.deadlines:
        d.table(["处置时限", "时长", "截止时间", "完成情况"],
                [[c.deadline.name, labels.duration(c.allowed) if c.allowed else "—", labels.clock(c.deadline.due_at),
                  clock_state(c)] for c in s.deadlines],
                flagged=[n for n, c in enumerate(s.deadlines) if c.state == "overdue"])
    if s.responses:
        d.table(["回应方式", "时间", "回应单位/人", "说明"],
                [[r.kind.value, labels.clock(r.at), r.by or "—", r.note or "—"] for r in s.responses])
        f = s.effect
        if f:
            d.para(f"回应效果：回应前{f.before_count}条，负面占比{labels.percent(f.before_share)}；回应后"
                   f"{'' if f.complete else f'{f.after_hours:g}小时（观察中）'}{f.after_count}条，负面占比"
                   f"{labels.percent(f.after_share)}。研判：", strong(f.verdict))
        else:
            d.para("回应效果：暂无评估数据。", note=True)
    elif a.status != "closed":
        d.para("尚未回应。", note=True)


def _sources(d: Document, b: DailyBriefing) -> None:
    blind = [s for s in b.sources if s.health.blind]
    if blind:
        d.para(red("监测盲区："), "、".join(f"“{s.title}”" for s in blind), "已连续多次采集无数据，相关渠道的舆情目前无法掌握。")
    if b.sources:
        d.table(["信息源", "类型", "最近采集", "今日入库", "状态"],
                [[s.title, labels.source_kind_name(s.health.kind), labels.clock(s.health.finished_at), s.posts_today,
                  labels.source_state(s)] for s in b.sources],
                numeric=(3,), flagged=[n for n, s in enumerate(b.sources) if s.health.blind or s.stale])
    else:
        d.para("暂无采集记录。")


def write_daily_report(settings: Settings, *, day: date | None = None, out_dir: Path | None = None,
                       formats: Sequence[str] = FORMATS, sources: Sequence[Source] | None = None,
                       notice: Any = print) -> Path:
    """The daily briefing from what the settings point at: the index, the alert store (read-only), the
    policy registry and the sources (for their human names; default: the sources file)."""
    with open_index(settings) as index:
        inputs = read_inputs(settings, index, notice, sources)
        return build_daily_report(
            index, alerts=inputs.alerts, policies=inputs.policies, health=inputs.health, day=day,
            out_dir=out_dir or settings.reports_path, effects=inputs.effects, source_titles=inputs.source_titles,
            formats=formats,
        )
