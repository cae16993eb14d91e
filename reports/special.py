"""The incident special report 舆情专报 on one event, in the form press offices use: a lead of at most
200 characters ending in a one-sentence risk verdict; 事件概况 (first appearance, timeline);
传播情况 (volume curve, platforms, first post, reprints, the accounts that carried it furthest);
观点分析 (what media, officials and netizens said, with quoted stored posts, critical ones included);
the alert's clocks and the responses so far; 研判 and 处置建议, which restate only figures of the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reports import charts, labels
from reports.briefing import (
    AlertSummary,
    PlaceCount,
    PostRef,
    TrendPoint,
    between,
    negative_only,
    places_of,
    summarise_alerts,
    trend,
)
from reports.document import Document, Heading, Paragraph, Text, red, strong
from reports.figures import Ledger, ReportError
from reports.inputs import read_inputs
from reports.output import FORMATS, write_report
from reports.periodic import bars, chart, clock_tally
from reports.render import render_document
from reports.wording import alert_table, clock_state, number, quote
from search import open_index
from search.base import Index, Interval
from yuqing.config import Settings
from yuqing.schema import SHANGHAI, Alert, AlertLevel, Event, Policy

LEAD_MAX = 200
HOURLY_UP_TO = timedelta(hours=72)  # a shorter life is drawn hour by hour, a longer one day by day
RECENT = timedelta(hours=24)
TOP_ACCOUNTS = 5
VOICE_NAMES = {"media": "媒体", "official": "官方", "netizen": "网民"}
# Risk: points from the report's own figures.
HIGH_NEGATIVE, SOME_NEGATIVE = 0.5, 0.3
WIDE_SPREAD = 3
GROWING = 1.0  # +100 % in the last 24 h against the 24 h before
GROWING_MIN_POSTS = 10


class EventNotFound(ReportError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"索引中没有编号为 {event_id} 的事件 (no such event; the daily report and the console "
                         "show event ids)")


def report_stem(event_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in event_id)
    return f"yuqing-event-{safe}"


@dataclass(frozen=True)
class Voice:
    name: str  # 媒体, 官方, 网民
    posts: int
    negative: int
    quotes: list[PostRef]

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.posts if self.posts else None


@dataclass(frozen=True)
class Account:
    name: str  # a verified account's name, else the platform's word for a user
    platform: str
    posts: int
    reach: int
    followers: int


@dataclass(frozen=True)
class Risk:
    level: str  # 高, 较高, 一般
    reasons: list[str]

    def sentence(self) -> str:
        because = "，".join(self.reasons) if self.reasons else "各项指标平稳"
        return f"综合研判，该事件舆情风险{self.level}：{because}。"


@dataclass
class SpecialReport:
    event: Event
    cutoff: datetime
    total: int
    negative: int
    platforms: dict[str, int]
    sentiment: dict[str, int]
    curve: list[TrendPoint]
    interval: str
    first: PostRef | None
    reprints: int
    reposts: int
    accounts: list[Account]
    voices: list[Voice]
    places: list[PlaceCount]
    recent: int  # posts in the last 24 h before the cutoff
    before_recent: int  # in the 24 h before those
    unanswered_board: int
    policies: list[str]
    alerts: list[AlertSummary]
    source_titles: dict[str, str]

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.total if self.total else None

    @property
    def growth(self) -> float | None:
        return (self.recent - self.before_recent) / self.before_recent if self.before_recent else None

    @property
    def peak(self) -> TrendPoint | None:
        return max(self.curve, key=lambda p: (p.total, -p.start.timestamp()), default=None)

    def risk(self) -> Risk:
        points, reasons = 0, []
        share = self.negative_share
        if share is not None and share >= SOME_NEGATIVE:
            points += 2 if share >= HIGH_NEGATIVE else 1
            reasons.append(f"负面占比{labels.percent(share)}")
        spread = [p for p, n in self.platforms.items() if n]
        if len(spread) >= WIDE_SPREAD:
            points += 1
            reasons.append(f"已在{len(spread)}个平台传播")
        if self.recent >= GROWING_MIN_POSTS and self.growth is not None and self.growth >= GROWING:
            points += 1
            reasons.append(f"近24小时信息量{self.recent}条，较此前24小时{labels.change(self.growth)}")
        overdue = [s for s in self.alerts if s.overdue and s.is_open]
        if overdue:
            points += 1
            reasons.append(f"{len(overdue)}条预警已超过处置时限")
        if any(s.alert.level.rank >= AlertLevel.MAJOR.rank and s.is_open for s in self.alerts):
            points += 1
            reasons.append("已触发重大及以上级别预警")
        level = "高" if points >= 4 else ("较高" if points >= 2 else "一般")
        return Risk(level, reasons)


def find_event(index: Index, event_id: str) -> Event:
    found = index.events_by_id([event_id])
    if not found:
        raise EventNotFound(event_id)
    return found[0]


def gather_special(ledger: Ledger, event: Event, cutoff: datetime, *, alerts: Sequence[Alert],
                   policies: Sequence[Policy], effects: Mapping[str, Mapping[str, Any]] | None = None,
                   source_titles: Mapping[str, str] | None = None) -> SpecialReport:
    start = event.first_seen
    cutoff = max(cutoff, start + timedelta(seconds=1))
    whole = between(start, cutoff, events=[event.id])
    interval: Interval = "hour" if cutoff - start <= HOURLY_UP_TO else "day"
    curve = trend(ledger, "curve", whole, interval, _bucket_starts(start, cutoff, interval))
    tallied = ledger.event_tally("event.tally", whole, TOP_ACCOUNTS)
    voices = []
    for key, data in tallied["voices"].items():
        quoted = [ledger.get(pid) for pid in dict.fromkeys((data["top"], data["top_negative"])) if pid]
        voices.append(Voice(VOICE_NAMES[key], data["posts"], data["negative"], [PostRef.of(p) for p in quoted if p]))
    first = ledger.get(tallied["first"]) if tallied["first"] else None
    titles = {p.id: p.title for p in policies}
    def concerns(alert: Alert) -> bool:
        if alert.subject_kind == "event" and alert.subject_id == event.id:
            return True
        if alert.subject_kind == "policy" and alert.subject_id in event.policies:
            return True
        # Any other alert whose evidence includes a post of the event (a few ids are enough to tell).
        return any((post := ledger.index.get(pid)) is not None and post.event_id == event.id
                   for pid in alert.post_ids[:20])

    mine = [a for a in alerts if concerns(a)]
    summaries = summarise_alerts(mine, start, cutoff, lambda a: _subject(a, event, titles), ledger, effects)
    return SpecialReport(
        event=event, cutoff=cutoff, total=ledger.count("event.total", whole),
        negative=ledger.count("event.negative", negative_only(whole)),
        platforms=ledger.counts_by("event.platforms", "platform", whole),
        sentiment=ledger.counts_by("event.sentiment", "sentiment", whole), curve=curve, interval=interval,
        first=PostRef.of(first) if first else None, reprints=tallied["reprints"], reposts=tallied["reposts"],
        accounts=[Account(name or f"{labels.platform_name(platform)}用户", platform, posts, reach_, followers)
                  for name, platform, posts, reach_, followers in tallied["accounts"]],
        voices=voices, places=places_of(ledger.tally("event.places", whole)),
        recent=ledger.count("event.recent", between(cutoff - RECENT, cutoff, events=[event.id])),
        before_recent=ledger.count("event.before_recent", between(cutoff - 2 * RECENT, cutoff - RECENT,
                                                                  events=[event.id])),
        unanswered_board=tallied["unanswered_board"], policies=[titles.get(p, p) for p in event.policies],
        alerts=summaries, source_titles=dict(source_titles or {}),
    )


def _subject(alert: Alert, event: Event, titles: Mapping[str, str]) -> str | None:
    if alert.subject_kind == "event":
        return f"“{event.headline}”"
    if alert.subject_kind == "policy" and alert.subject_id is not None and alert.subject_id in titles:
        return f"《{titles[alert.subject_id]}》"
    return None


def _bucket_starts(start: datetime, cutoff: datetime, interval: str) -> list[datetime]:
    local = start.astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0)
    step = timedelta(hours=1)
    if interval == "day":
        local, step = local.replace(hour=0), timedelta(days=1)
    starts = []
    while local < cutoff:
        starts.append(local)
        local += step
    return starts


def special_lead(r: SpecialReport) -> tuple[Text, ...]:
    """At most LEAD_MAX characters, ending in the risk verdict; optional clauses go first when it is long."""
    e = r.event
    platforms = "、".join(labels.platform_name(p) for p, n in list(r.platforms.items())[:3] if n)
    verdict = r.risk().sentence()
    opening = f"{labels.clock(e.first_seen)}起，{platforms or '网络'}出现关于“{e.headline}”的信息，"
    counted = f"截至{labels.clock(r.cutoff)}累计{number(r.total)}条，负面占比{labels.percent(r.negative_share)}"
    optional = []
    if e.places:
        optional.append(f"，涉及{'、'.join(e.places[:3])}")
    if r.alerts:
        worst = r.alerts[0]
        optional.append(f"；已触发{worst.alert.level.value}预警（{labels.status_name(worst.alert.status)}）")
    while optional and len(opening + counted + "".join(optional) + "。" + verdict) > LEAD_MAX:
        optional.pop()
    text = opening + counted + "".join(optional) + "。"
    if len(text + verdict) > LEAD_MAX:
        verdict = f"综合研判，该事件舆情风险{r.risk().level}。"
    return (text, strong(verdict))


def special_advice(r: SpecialReport) -> list[str]:
    """处置建议 from the report's figures only."""
    advice = []
    for s in r.alerts:
        if not s.is_open:
            continue
        for state in s.overdue:
            advice.append(f"“{state.deadline.name}”已超时{labels.duration(state.late_by or timedelta())}，"
                          "建议立即发布权威信息，回应社会关切。")
        if not s.responses and (clock := s.next_clock) is not None and clock.state == "pending":
            advice.append(f"目前尚未回应，建议在“{clock.deadline.name}”时限内（剩余"
                          f"{labels.duration(clock.remaining or timedelta())}）发布权威信息。")
    share = r.negative_share
    if share is not None and share >= SOME_NEGATIVE and r.policies:
        advice.append(f"负面占比{labels.percent(share)}，涉及{'、'.join(f'《{t}》' for t in r.policies)}，"
                      "建议政策制定部门加强政策解读。")
    spread = [labels.platform_name(p) for p, n in r.platforms.items() if n]
    if len(spread) >= WIDE_SPREAD:
        advice.append(f"信息已在{'、'.join(spread)}等{len(spread)}个平台传播，建议通过相应平台同步发布回应。")
    if r.unanswered_board:
        advice.append(f"留言板有{r.unanswered_board}条相关留言尚未回复，建议督促承办单位及时答复。")
    if r.growth is not None and r.growth >= GROWING and r.recent >= GROWING_MIN_POSTS:
        advice.append(f"近24小时信息量{r.recent}条，较此前24小时{labels.change(r.growth)}，建议加强跟踪监测。")
    return advice or ["各项指标平稳，建议保持跟踪监测。"]


def special_document(r: SpecialReport, generated_at: datetime) -> Document:
    e = r.event
    d = Document("event", "舆情专报", e.headline,
                 [f"统计时段：{labels.clock(e.first_seen)} 至 {labels.clock(r.cutoff)}",
                  f"生成时间：{labels.clock(generated_at)}"], special_lead(r), generated_at=generated_at)

    d.add(Heading("一、事件概况"))
    d.para(f"该事件首次发现于{labels.clock(e.first_seen)}，截至{labels.clock(r.cutoff)}累计相关信息{number(r.total)}条，"
           f"其中负面{number(r.negative)}条，占{labels.percent(r.negative_share)}；涉及地域：{'、'.join(e.places) or '—'}；"
           f"关联政策：{'、'.join(f'《{t}》' for t in r.policies) or '—'}。")
    if e.keywords:
        d.para(f"关键词：{'、'.join(e.keywords[:8])}。", note=True)
    timeline = []
    if r.first:
        timeline.append((r.first.when, f"首发：{labels.platform_name(r.first.platform)}"
                                       f"（{r.source_titles.get(r.first.source, r.first.source)}）"))
    peak = r.peak
    if peak and peak.total:
        unit = "小时" if r.interval == "hour" else "日"
        timeline.append((peak.start, f"峰值：该{unit}{peak.total}条，其中负面{peak.negative}条"))
    for s in r.alerts:
        timeline.append((s.alert.fired_at, f"触发预警：【{s.alert.level.value}】{s.alert.title}"))
        timeline += [(resp.at, f"回应：{resp.kind.value}（{resp.by or '—'}）") for resp in s.responses]
    timeline.append((e.last_seen if e.last_seen < r.cutoff else r.cutoff, "最新动态"))
    d.table(["时间", "节点"], [[labels.clock(at), what] for at, what in sorted(timeline, key=lambda t: t[0])])

    d.add(Heading("二、传播情况"))
    caption = "信息量走势（按小时）" if r.interval == "hour" else "信息量走势（按日）"
    d.add(chart(caption, charts.volume_chart, points=r.curve, interval=r.interval, key="event-curve", name=caption))
    if r.platforms:
        d.table(["平台", "条数", "占比"], [[labels.platform_name(p), number(n), labels.percent(n / r.total)]
                                          for p, n in r.platforms.items()], numeric=(1, 2))
    d.para(f"转发、跟帖类信息{r.reprints}条，相关信息累计被转发{number(r.reposts)}次。")
    if r.first:
        d.add(Heading("首发信息", level=2))
        d.add(quote(r.first, r.source_titles.get(r.first.source, r.first.source), "首发"))
    if r.accounts:
        d.add(Heading("主要传播账号", level=2))
        d.table(["账号", "平台", "发布条数", "互动量", "粉丝数"],
                [[a.name, labels.platform_name(a.platform), a.posts, number(a.reach), number(a.followers)]
                 for a in r.accounts], numeric=(2, 3, 4))
    if r.places:
        d.add(bars("涉及地域", [(p.place, p.count, p.negative) for p in r.places[:10]], "event-places"))

    d.add(Heading("三、观点分析"))
    for v in r.voices:
        if not v.posts:
            continue
        d.add(Heading(f"{v.name}观点", level=2))
        d.para(f"{v.name}相关信息{v.posts}条，其中负面{v.negative}条，占{labels.percent(v.negative_share)}。")
        for post in v.quotes:
            critical = post.sentiment == "negative"
            d.add(quote(post, r.source_titles.get(post.source, post.source), "批评" if critical else "代表性观点"))

    d.add(Heading("四、预警与回应情况"))
    if r.alerts:
        d.para(f"涉及预警{len(r.alerts)}条，{clock_tally(r.alerts).words()}。")
        for s in alert_table(d, r.alerts):
            if s.deadlines:
                d.table(["处置时限", "截止时间", "完成情况"],
                        [[c.deadline.name, labels.clock(c.deadline.due_at), clock_state(c)] for c in s.deadlines],
                        flagged=[n for n, c in enumerate(s.deadlines) if c.state == "overdue"])
            if s.responses:
                d.table(["回应方式", "时间", "回应单位/人", "说明"],
                        [[x.kind.value, labels.clock(x.at), x.by or "—", x.note or "—"] for x in s.responses])
            if s.effect:
                f = s.effect
                d.para(f"回应效果：回应前{f.before_count}条、负面占比{labels.percent(f.before_share)}；回应后"
                       f"{f.after_count}条、负面占比{labels.percent(f.after_share)}；研判：", strong(f.verdict))
            elif not s.responses:
                d.para(red("尚未回应。"))
    else:
        d.para("该事件未触发预警。")

    d.add(Heading("五、研判"))
    risk = r.risk()
    d.para(risk.sentence())
    if r.growth is not None:
        d.para(f"近24小时信息量{r.recent}条，此前24小时{r.before_recent}条，{labels.change(r.growth)}。")
    d.add(Heading("六、处置建议"))
    for n, text in enumerate(special_advice(r), 1):
        d.para(f"{n}. {text}")
    return d


def build_special_report(index: Index, event_id: str, *, alerts: Sequence[Alert], policies: Sequence[Policy],
                         out_dir: Path, now: datetime | None = None, formats: Sequence[str] = FORMATS,
                         effects: Mapping[str, Mapping[str, Any]] | None = None,
                         source_titles: Mapping[str, str] | None = None) -> list[Path]:
    """Write `yuqing-event-<id>.{html,docx,pdf}` and its manifest; returns the paths written."""
    event = find_event(index, event_id)
    ledger = Ledger(index)
    cutoff = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    report = gather_special(ledger, event, cutoff, alerts=alerts, policies=policies, effects=effects,
                            source_titles=source_titles)
    generated_at = datetime.now(SHANGHAI)
    document = special_document(report, generated_at)
    return write_report(Path(out_dir) / report_stem(event.id), formats, html=lambda: render_document(document),
                        document=lambda: document, ledger=ledger, lead=Paragraph(document.lead).text, kind="event", title=f"舆情专报 {event.headline}",
                        window={"since": event.first_seen.isoformat(), "until": report.cutoff.isoformat(),
                                "event": event.id},
                        generated_at=generated_at)


def write_special_report(settings: Settings, event_id: str, *, out_dir: Path | None = None,
                         formats: Sequence[str] = FORMATS, notice: Any = print) -> list[Path]:
    with open_index(settings) as index:
        inputs = read_inputs(settings, index, notice)
        return build_special_report(index, event_id, alerts=inputs.alerts, policies=inputs.policies,
                                    out_dir=out_dir or settings.reports_path, formats=formats, effects=inputs.effects,
                                    source_titles=inputs.source_titles)
