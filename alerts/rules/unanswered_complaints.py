"""Unanswered complaints: 留言板 messages about one policy or place left unanswered longer than
N days, or piling up. A message seen again with an answer (boards are revisited) leaves the count, and so
does one unanswered for longer than `forget_after_days` (reported overdue all that while; a board that has not
answered in a month has closed the thread), so the rule's memory holds a bounded stretch of messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from alerts.rules.base import Finding, Rule, RuleOptions, linked_policies
from yuqing.schema import BOARD_ANSWERED, BOARD_CATEGORY, BOARD_PLACE, EnrichedPost, Platform


class UnansweredComplaintsOptions(RuleOptions):
    max_days: float = Field(default=5.0, gt=0, description="a message unanswered longer than this is overdue")
    pile_up: int = Field(default=10, ge=1, description="this many unanswered messages on one subject fire too")
    min_overdue: int = Field(default=1, ge=1)
    group_by: Literal["policy", "place"] = "policy"
    min_policy_score: float = Field(default=0.0, ge=0)
    categories: list[str] = Field(default_factory=list, description="only these 分类 (empty: all)")
    forget_after_days: float = Field(default=30.0, gt=0, description="a message waiting longer leaves the counts")

    @model_validator(mode="after")
    def _forgets_after_it_is_overdue(self) -> UnansweredComplaintsOptions:
        if self.forget_after_days <= self.max_days:
            raise ValueError("forget_after_days must be longer than max_days (else nothing is ever overdue)")
        return self


class UnansweredComplaintsRule(Rule[UnansweredComplaintsOptions]):
    type_name = "unanswered_complaints"
    options_model = UnansweredComplaintsOptions

    def __init__(self, options: UnansweredComplaintsOptions) -> None:
        super().__init__(options)
        self._waiting: dict[str, tuple[tuple[str, str], datetime]] = {}  # post id -> (subject, since)
        self._last_reported: dict[tuple[str, str], tuple[int, int]] = {}
        self._latest_tick: datetime | None = None

    def memory(self) -> dict[str, Any]:
        return {"waiting": {post_id: [list(subject), since.isoformat()]
                            for post_id, (subject, since) in self._waiting.items()},
                "last_reported": [[*subject, *figures] for subject, figures in self._last_reported.items()]}

    def recall(self, memory: dict[str, Any]) -> None:
        self._waiting = {post_id: ((kind, subject_id), datetime.fromisoformat(since))
                         for post_id, ((kind, subject_id), since) in memory["waiting"].items()}
        self._last_reported = {(kind, subject_id): (waiting, overdue)
                               for kind, subject_id, waiting, overdue in memory["last_reported"]}

    def _subject(self, post: EnrichedPost) -> tuple[str, str] | None:
        place = post.extra.get(BOARD_PLACE) or (post.places[0] if post.places else None)
        policies = linked_policies(post, self.options.min_policy_score)
        if self.options.group_by == "policy" and policies:
            return ("policy", policies[0])
        if place:
            return ("place", str(place))
        return ("policy", policies[0]) if policies else None

    def on_post(self, post: EnrichedPost) -> list[Finding]:
        if post.platform != Platform.BOARD or post.reply_to is not None:
            return []
        if self.options.categories and post.extra.get(BOARD_CATEGORY) not in self.options.categories:
            return []
        if post.extra.get(BOARD_ANSWERED):
            self._waiting.pop(post.id, None)
            return []
        subject = self._subject(post)
        forgotten = self._latest_tick is not None and self._latest_tick - post.when > self._forget_after
        if subject is not None and not forgotten:  # a board revisited shows its month-old messages again
            self._waiting.setdefault(post.id, (subject, post.when))
        return []

    @property
    def _forget_after(self) -> timedelta:
        return timedelta(days=self.options.forget_after_days)

    def on_tick(self, now: datetime) -> list[Finding]:
        limit = timedelta(days=self.options.max_days)
        self._latest_tick = max(now, self._latest_tick or now)
        for post_id in [p for p, (_, since) in self._waiting.items() if now - since > self._forget_after]:
            del self._waiting[post_id]
        by_subject: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
        for post_id, (subject, since) in self._waiting.items():
            by_subject.setdefault(subject, []).append((post_id, since))
        findings = []
        for subject, waiting in by_subject.items():
            overdue = [post_id for post_id, since in waiting if now - since > limit]
            figures = (len(waiting), len(overdue))
            if len(overdue) < self.options.min_overdue and len(waiting) < self.options.pile_up:
                continue
            if self._last_reported.get(subject) == figures:
                continue  # nothing changed since the last tick: no new finding
            self._last_reported[subject] = figures
            oldest = min(since for _, since in waiting)
            kind, subject_id = subject
            findings.append(Finding(
                subject_kind=kind, subject_id=subject_id, at=now, magnitude=len(waiting),
                title=f"{subject_id}：{len(waiting)}条留言未回复，其中{len(overdue)}条超过{self.options.max_days:g}天",
                summary=f"最早一条留言于{oldest:%Y-%m-%d %H:%M}发布，至今未见回复。",
                post_ids=tuple(post_id for post_id, _ in sorted(waiting, key=lambda item: item[1])),
                evidence={"unanswered": len(waiting), "overdue": len(overdue), "oldest": oldest.isoformat()},
            ))
        return findings
