"""Factories for posts, burst signals and crawl-health records: for tests, the benchmark and demos.

They build valid schema objects with only the fields a scenario cares about; everything else
gets a plain default, and every post gets its own URL (so its own id).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from schema import (
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
