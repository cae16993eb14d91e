"""Did the response work? The subject's volume and negative share in the 24 hours before the
response against the hours after it (up to 24), read from the search index. No verdict is given
until the hours after the response are enough to judge: an hour with no post says nothing yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from search.base import Index, SearchQuery
from yuqing.schema import Alert, SentimentLabel

SPAN = timedelta(hours=24)
# Fewer hours than this after the response give no verdict: people have not read it yet, and a
# quiet first hour is the normal state of most subjects, not a sign that the response worked.
JUDGED_AFTER = timedelta(hours=3)
WAITING = "尚待观察"


@dataclass(frozen=True)
class WindowFigures:
    total: int
    negative: int
    hours: float

    @property
    def negative_share(self) -> float:
        return self.negative / self.total if self.total else 0.0

    @property
    def per_hour(self) -> float:
        return self.total / self.hours if self.hours > 0 else 0.0


@dataclass(frozen=True)
class ResponseEffect:
    responded_at: datetime
    before: WindowFigures
    after: WindowFigures

    @property
    def complete(self) -> bool:
        return self.after.hours >= SPAN.total_seconds() / 3600

    @property
    def verdict(self) -> str:
        """回应见效 when the anger or the noise clearly fell, 仍在发酵 when either grew, else 变化不明显;
        尚待观察 until JUDGED_AFTER has passed since the response."""
        before, after = self.before, self.after
        if after.hours < JUDGED_AFTER.total_seconds() / 3600:
            return WAITING
        if before.total == 0 and after.total == 0:
            return "暂无数据"
        share_change = after.negative_share - before.negative_share
        rate_ratio = after.per_hour / before.per_hour if before.per_hour else float("inf")
        if share_change <= -0.10 or (rate_ratio <= 0.7 and share_change <= 0.0):
            return "回应见效"
        if share_change >= 0.05 or rate_ratio >= 1.3:
            return "仍在发酵"
        return "变化不明显"

    def as_dict(self) -> dict:
        return {
            "responded_at": self.responded_at.isoformat(),
            "before": {"posts": self.before.total, "negative": self.before.negative,
                       "negative_share": round(self.before.negative_share, 3), "hours": self.before.hours},
            "after": {"posts": self.after.total, "negative": self.after.negative,
                      "negative_share": round(self.after.negative_share, 3), "hours": round(self.after.hours, 2)},
            "verdict": self.verdict,
            "judged_at": (self.responded_at + JUDGED_AFTER).isoformat(),
            "complete": self.complete,
        }


def subject_query(alert: Alert) -> SearchQuery | None:
    """The index filter for the alert's subject; None for subjects the index cannot count (a document)."""
    subject = alert.subject_id
    if not subject:
        return None
    by_kind: dict[str, dict[str, Any]] = {
        "policy": {"policies": [subject]}, "event": {"events": [subject]}, "place": {"places": [subject]},
        "source": {"sources": [subject]}, "keyword": {"text": subject}, "department": {"text": subject},
    }
    filters = by_kind.get(alert.subject_kind or "")
    return SearchQuery(limit=0, **filters) if filters is not None else None


def _figures(index: Index, query: SearchQuery, since: datetime, until: datetime) -> WindowFigures:
    window = query.model_copy(update={"since": since, "until": until})
    total = index.search(window).total
    negative = index.search(window.model_copy(update={"sentiments": [SentimentLabel.NEGATIVE]})).total
    return WindowFigures(total, negative, (until - since).total_seconds() / 3600)


def measure_effect(index: Index, alert: Alert, now: datetime) -> ResponseEffect | None:
    """Before/after figures around the alert's first response; None before any response or for uncountable subjects."""
    query = subject_query(alert)
    if query is None or not alert.responses:
        return None
    responded_at = min(response.at for response in alert.responses)
    after_end = min(now, responded_at + SPAN)
    return ResponseEffect(
        responded_at=responded_at,
        before=_figures(index, query, responded_at - SPAN, responded_at),
        after=_figures(index, query, responded_at, max(after_end, responded_at)),
    )
