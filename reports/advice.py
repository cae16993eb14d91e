"""研判建议: short recommendations derived by fixed rules from the briefing's own figures.

Each rule reads the gathered `DailyBriefing` and says what the figures call for; it never adds
a fact that is not in them. Thresholds are named so the wording of a rule can be checked against
the number it rests on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from reports.briefing import DailyBriefing
from reports.labels import duration, percent, platform_name
from yuqing.schema import AlertLevel

URGENT, IMPORTANT, ROUTINE = 0, 1, 2
PRIORITY_NAMES = {URGENT: "紧急", IMPORTANT: "重要", ROUTINE: "一般"}

# A briefing shows this many suggestions, most urgent first, and counts the rest (a backlog of overdue
# alerts yields one suggestion per late clock: thousands).
LISTED_ADVICE = 15
DUE_SOON = timedelta(hours=6)
POLICY_MIN_MENTIONS = 10
POLICY_NEGATIVE_SHARE = 0.4
SURGE_MIN_POSTS = 20
SURGE_RATIO = 1.0  # +100 % on the same span of yesterday
SPREAD_PLATFORMS = 3
EVENT_NEGATIVE_SHARE = 0.5
EVENT_MIN_POSTS = 5
# The alert store's verdicts on a response (alerts.effect.ResponseEffect.verdict).
STILL_GROWING = "仍在发酵"
WORKED = "回应见效"


@dataclass(frozen=True)
class Advice:
    priority: int
    text: str

    @property
    def priority_name(self) -> str:
        return PRIORITY_NAMES[self.priority]


def overdue_deadlines(briefing: DailyBriefing) -> Iterable[Advice]:
    for summary in briefing.alerts:
        if not summary.is_open:
            continue
        for state in summary.overdue:
            action = ("尽快召开新闻发布会" if "发布会" in state.deadline.name
                      else "立即发布权威信息，回应社会关切")
            yield Advice(URGENT, f"【{summary.alert.level.value}】{summary.alert.title}：“{state.deadline.name}”"
                                 f"已超时{duration(state.late_by or timedelta())}，建议{action}。")


def deadlines_due_soon(briefing: DailyBriefing) -> Iterable[Advice]:
    for summary in briefing.alerts:
        for state in summary.deadlines:
            if summary.is_open and state.state == "pending" and state.remaining and state.remaining <= DUE_SOON:
                yield Advice(IMPORTANT, f"{summary.alert.title}：距“{state.deadline.name}”时限还有"
                                        f"{duration(state.remaining)}，请抓紧办理。")


def unacknowledged_major_alerts(briefing: DailyBriefing) -> Iterable[Advice]:
    for summary in briefing.alerts:
        alert = summary.alert
        if summary.is_open and alert.level.rank >= AlertLevel.MAJOR.rank and not alert.acknowledged_by:
            yield Advice(URGENT, f"【{alert.level.value}】{alert.title}：尚无人签收，建议立即签收并明确责任单位。")


def responses_without_effect(briefing: DailyBriefing) -> Iterable[Advice]:
    for summary in briefing.alerts:
        effect = summary.effect
        if summary.is_open and effect is not None and effect.verdict == STILL_GROWING:
            yield Advice(IMPORTANT, f"{summary.alert.title}：回应后舆情仍在发酵（负面占比"
                                    f"{percent(effect.before_share)}→{percent(effect.after_share)}，信息量"
                                    f"{effect.before_count}→{effect.after_count}条），建议加强政策解读、持续跟进回应。")


def negative_policies(briefing: DailyBriefing) -> Iterable[Advice]:
    for item in briefing.policies:
        share = item.negative_share
        if item.mentions >= POLICY_MIN_MENTIONS and share is not None and share >= POLICY_NEGATIVE_SHARE:
            owner = item.policy.department or "政策制定部门"
            action = ("加强政策解读" if item.policy.interpretation_url
                      else "尽快发布政策解读（该政策尚未关联解读材料）")
            yield Advice(IMPORTANT, f"《{item.policy.title}》今日相关信息{item.mentions}条，负面占比{percent(share)}，"
                                    f"建议{owner}{action}，回应群众关切。")


def volume_surge(briefing: DailyBriefing) -> Iterable[Advice]:
    overview = briefing.overview
    if overview.total >= SURGE_MIN_POSTS and overview.change is not None and overview.change >= SURGE_RATIO:
        yield Advice(IMPORTANT, f"今日信息量{overview.total}条，较昨日同期增长{overview.change * 100:.0f}%，"
                                "建议加强监测研判，关注热点走向。")


def spreading_negative_events(briefing: DailyBriefing) -> Iterable[Advice]:
    for item in briefing.events:
        platforms = [p for p, n in item.platforms.items() if n]
        share = item.negative_share
        if (item.today >= EVENT_MIN_POSTS and len(platforms) >= SPREAD_PLATFORMS and share is not None
                and share >= EVENT_NEGATIVE_SHARE):
            where = "、".join(platform_name(p) for p in platforms)
            yield Advice(IMPORTANT, f"事件“{item.event.headline}”已在{where}等{len(platforms)}个平台传播，"
                                    f"负面占比{percent(share)}，建议相关部门及时回应、澄清事实。")


def unanswered_board_messages(briefing: DailyBriefing) -> Iterable[Advice]:
    if briefing.unanswered_board:
        yield Advice(ROUTINE, f"今日留言板有{briefing.unanswered_board}条留言尚未回复，建议督促承办单位及时答复。")


def blind_sources(briefing: DailyBriefing) -> Iterable[Advice]:
    for item in briefing.sources:
        if item.health.blind:
            yield Advice(IMPORTANT, f"信息源“{item.title}”已连续{item.health.silent_runs}次采集无数据，"
                                    "存在监测盲区，建议检查采集配置或改用其他渠道。")
        elif item.stale:
            yield Advice(ROUTINE, f"信息源“{item.title}”超过24小时未完成采集，建议检查采集任务。")


RULES: tuple[Callable[[DailyBriefing], Iterable[Advice]], ...] = (
    overdue_deadlines,
    unacknowledged_major_alerts,
    deadlines_due_soon,
    responses_without_effect,
    negative_policies,
    spreading_negative_events,
    volume_surge,
    blind_sources,
    unanswered_board_messages,
)

CALM = Advice(ROUTINE, "今日舆情总体平稳，未发现需要处置的问题，建议保持日常监测。")
SILENT = Advice(ROUTINE, "今日未监测到相关信息，建议核查各信息源采集是否正常运行。")


def recommend(briefing: DailyBriefing) -> list[Advice]:
    """Every rule's advice, most urgent first; a day without any finding gets one line saying so."""
    advice = sorted((item for rule in RULES for item in rule(briefing)), key=lambda a: a.priority)
    return advice or [SILENT if briefing.empty else CALM]
