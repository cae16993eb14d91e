"""Factories for posts, burst signals and crawl-health records: for tests, the benchmark and demos.

They build valid schema objects with only the fields a scenario cares about; everything else
gets a plain default, and every post gets its own URL (so its own id).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from yuqing.schema import (
    BOARD_ANSWERED,
    BOARD_PLACE,
    GOV_DOC_NUMBER,
    GOV_INTERPRETATION,
    SHANGHAI,
    Author,
    BurstSignal,
    CrawlHealth,
    EnrichedPost,
    Platform,
    PolicyLink,
    Sentiment,
    SentimentLabel,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
_serial = itertools.count(1)


def make_post(text: str = "", *, title: str | None = None, platform: str = "weibo", at: datetime = T0,
              sentiment: str | None = "neutral", policies: Iterable[str] = (), places: Iterable[str] = (),
              departments: Iterable[str] = (), event: str | None = None, followers: int | None = None,
              verified: bool = False, verified_reason: str | None = None, author: str | None = None,
              extra: dict[str, Any] | None = None, source: str | None = None, post_id: str | None = None,
              reply_to: str | None = None) -> EnrichedPost:
    number = next(_serial)
    label = SentimentLabel(sentiment) if sentiment else None
    score = {SentimentLabel.NEGATIVE: 0.1, SentimentLabel.NEUTRAL: 0.5, SentimentLabel.POSITIVE: 0.9}
    return EnrichedPost(
        id=post_id or f"{platform}:t{number}",
        url=f"https://{platform}.example.cn/p/{number}",
        platform=Platform(platform), source=source or f"{platform}-test",
        author=Author(name=author or f"用户{number}", followers=followers, verified=verified,
                      verified_reason=verified_reason),
        title=title, text=text, masked_text=text, published_at=at, fetched_at=at,
        sentiment=Sentiment(score=score[label], label=label) if label else None,
        policies=[PolicyLink(id=p, score=1.0) for p in policies], places=list(places),
        departments=list(departments), event_id=event, extra=extra or {}, reply_to=reply_to,
    )


def make_signal(subject_id: str, *, kind: str = "policy", count: int = 40, negative: int = 0,
                baseline_rate: float = 5.0, baseline_negative_share: float = 0.1, at: datetime = T0,
                window: str = "1h/24h", label: str | None = None, post_ids: Iterable[str] = ()) -> BurstSignal:
    return BurstSignal(
        subject_kind=kind, subject_id=subject_id, label=label or subject_id, window=window, count=count,
        negative=negative, baseline_rate=baseline_rate, negative_share=negative / count if count else 0.0,
        baseline_negative_share=baseline_negative_share, ratio=count / max(baseline_rate, 1.0),
        computed_at=at, post_ids=list(post_ids),
    )


def make_health(source: str, *, silent_runs: int = 0, items: int = 0, at: datetime = T0, kind: str = "news",
                problems: dict[str, int] | None = None) -> CrawlHealth:
    return CrawlHealth(source=source, kind=kind, started_at=at - timedelta(minutes=2), finished_at=at,
                       items=items, silent_runs=silent_runs, problems=problems or {})


@dataclass(frozen=True)
class Scenario:
    """A replayable stream and the alerts it must raise: (rule name, subject "kind:id", level)."""

    items: list[EnrichedPost | BurstSignal | CrawlHealth]
    expected: set[tuple[str, str, str]]
    end: datetime


POLICIES = {"P-heat": "城区供暖管理办法", "P-bus": "公交票价调整方案", "P-school": "义务教育学区划分"}
CHATTER = ["{p}出台后大家怎么看", "关于{p}的几点理解", "{p}今天正式实施", "转发：{p}问答", "{p}和我们小区有关系吗"]


def incident_stream(seed: int = 7, days: int = 7) -> Scenario:
    """A week of a city's ordinary chatter with four known incidents, as analysis would emit it.

    Incidents: a negative surge on 城区供暖管理办法 (rising to 重大), demolition complaints with
    上访/强拆 in 东关村 (较大), board messages about 西城区 street lights unanswered for a week
    (一般), and a county portal that went silent (一般). The chatter mentions 拆迁 without
    context, has small negative shares, answered board messages, interpreted policy documents,
    verified accounts speaking positively and healthy crawls: none of it may fire.
    """
    from random import Random

    rng = Random(seed)
    start = T0 - timedelta(days=days)
    items: list[EnrichedPost | BurstSignal | CrawlHealth] = []
    hours = days * 24
    for hour in range(hours):
        at = start + timedelta(hours=hour)
        for _ in range(rng.randint(2, 5)):
            policy = rng.choice(list(POLICIES))
            platform = rng.choice(["weibo", "news", "forum"])
            items.append(make_post(
                rng.choice(CHATTER).format(p=POLICIES[policy]), policies=[policy],
                platform=platform, at=at + timedelta(minutes=rng.randint(0, 59)),
                sentiment=rng.choices(["positive", "neutral", "negative"], [3, 5, 2])[0],
                followers=rng.randint(10, 5000), event=f"E-{platform}-{hour // 6}-{rng.randint(0, 3)}"))
        for policy, label in POLICIES.items():
            count = rng.randint(8, 14)
            items.append(make_signal(policy, label=label, count=count, negative=rng.randint(1, 3),
                                     baseline_rate=10, baseline_negative_share=0.18, at=at + timedelta(minutes=59)))
        for source in ("city-portal", "county-portal", "city-weibo"):
            silent = source == "county-portal" and hour >= hours - 4
            items.append(make_health(source, items=0 if silent else rng.randint(3, 20),
                                     silent_runs=max(0, hour - (hours - 5)) if silent else 0,
                                     at=at + timedelta(minutes=30), kind="gov_policy"))
        if hour % 8 == 0:  # construction news: 拆迁 without any context of protest
            items.append(make_post("地铁三号线沿线拆迁工作顺利推进，居民搬迁有序。", places=["北关街道"], platform="news",
                                   at=at + timedelta(minutes=5)))
            items.append(make_post("官方发布：供暖季准备工作就绪", policies=["P-heat"], sentiment="positive",
                                   verified=True, verified_reason="某市人民政府新闻办公室官方微博", at=at))
        if hour % 12 == 0:  # board messages, seen unanswered and, on the next visit a day later, answered
            for seen, answered in ((at, False), (at + timedelta(days=1), True)):
                items.append(make_post("小区门口积水，请尽快处理", platform="board", at=seen, post_id=f"board:b{hour}",
                                       extra={BOARD_ANSWERED: answered, BOARD_PLACE: "南湖区"}))
        if hour % 24 == 3:  # a policy document published with its interpretation
            items.append(make_post("现印发给你们", title=f"关于印发《第{hour}号管理办法》的通知", platform="gov", at=at,
                                   extra={GOV_DOC_NUMBER: f"某政发〔2026〕{hour}号", GOV_INTERPRETATION: "https://gov.example.cn/jd"}))
    surge_start = start + timedelta(days=days - 1, hours=9)
    for step, negative in enumerate([12, 25, 45, 70, 95]):
        items.append(make_signal("P-heat", label=POLICIES["P-heat"], count=negative + 20, negative=negative,
                                 baseline_rate=10, baseline_negative_share=0.18,
                                 at=surge_start + timedelta(hours=step, minutes=59, seconds=30)))
    for n in range(10):
        items.append(make_post(rng.choice(["东关村拆迁户今天集体上访，要求公开补偿标准", "东关村强拆，老人被打伤，求助媒体",
                                           "东关村拆迁补偿不公，村民维权无门"]),
                               places=["东关村"], platform=rng.choice(["weibo", "forum"]), sentiment="negative",
                               at=surge_start + timedelta(hours=2, minutes=25 * n)))
    for n in range(4):
        items.append(make_post(f"西城区建设路路灯坏了一个月了{n}", platform="board",
                               at=start + timedelta(hours=2 + n), extra={BOARD_ANSWERED: False, BOARD_PLACE: "西城区"}))
    expected = {
        ("政策负面舆情上升", "policy:P-heat", "重大"),
        ("拆迁征收维权", "place:东关村", "较大"),
        ("留言积压未回复", "place:西城区", "一般"),
        ("信息源失明", "source:county-portal", "一般"),
    }
    return Scenario(items, expected, start + timedelta(hours=hours))
