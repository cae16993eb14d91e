"""Unanswered complaints: 留言板 messages about one policy or place left unanswered longer than
N days, or piling up. A message seen again with an answer (boards are revisited) leaves the count, and so
does one unanswered for longer than `forget_after_days` (reported overdue all that while; a board that has not
answered in a month has closed the thread), so the rule's memory holds a bounded stretch of messages."""

from __future__ import annotations

import heapq
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
        # post id -> (subject, since, arrival number: the subjects' findings come in the order of their oldest,
        # counted overdue yet)
        self._waiting: dict[str, tuple[tuple[str, str], datetime, int, bool]] = {}
        self._last_reported: dict[tuple[str, str], tuple[int, int]] = {}
        self._latest_tick: datetime | None = None
        # Indexes of `_waiting`, so that a tick costs what changed, not what waits (a month of a city's boards):
        # each subject's messages (in arrival order), how many were overdue at the last tick, the messages by
        # age in two heaps (still to become overdue; overdue, still to be forgotten: a message moves from the
        # first to the second, and an entry whose message left is skipped when reached), and the subjects whose
        # figures may have changed since.
        self._by_subject: dict[tuple[str, str], dict[str, datetime]] = {}
        self._overdue: dict[tuple[str, str], int] = {}
        self._to_overdue: list[tuple[datetime, str]] = []
        self._to_forget: list[tuple[datetime, str]] = []
        self._changed: set[tuple[str, str]] = set()
        self._arrivals = 0
        self._last_tick: datetime | None = None

    def memory(self) -> dict[str, Any]:
        # A month of messages at every checkpoint: the engine's orjson writes the subjects and times (in ISO 8601).
        return {"waiting": {post_id: (subject, since) for post_id, (subject, since, _, _) in self._waiting.items()},
                "last_reported": [[*subject, *figures] for subject, figures in self._last_reported.items()]}

    def recall(self, memory: dict[str, Any]) -> None:
        waiting = [(post_id, (kind, subject_id), datetime.fromisoformat(since))
                   for post_id, ((kind, subject_id), since) in memory["waiting"].items()]
        self._last_reported = {(kind, subject_id): (waiting, overdue)
                               for kind, subject_id, waiting, overdue in memory["last_reported"]}
        self._reindex(waiting)

    def _reindex(self, waiting: list[tuple[str, tuple[str, str], datetime]]) -> None:
        """Build the indexes afresh from (post id, subject, since) in arrival order: none is yet counted overdue."""
        self._waiting, self._by_subject, self._overdue = {}, {}, {}
        self._to_overdue, self._to_forget, self._changed = [], [], set()
        self._last_tick = None
        for post_id, subject, since in waiting:
            self._add(post_id, subject, since)

    def _add(self, post_id: str, subject: tuple[str, str], since: datetime) -> None:
        self._waiting[post_id] = (subject, since, self._arrivals, False)
        self._arrivals += 1
        self._by_subject.setdefault(subject, {})[post_id] = since
        heapq.heappush(self._to_overdue, (since, post_id))
        self._changed.add(subject)

    def _remove(self, post_id: str) -> None:
        subject, _, _, overdue = self._waiting.pop(post_id)
        messages = self._by_subject[subject]
        del messages[post_id]
        if not messages:
            del self._by_subject[subject]
        if overdue:
            self._overdue[subject] -= 1
            if not self._overdue[subject]:
                del self._overdue[subject]
        self._changed.add(subject)

    def _still_waits(self, since: datetime, post_id: str) -> bool:
        entry = self._waiting.get(post_id)
        return entry is not None and entry[1] == since

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
            if post.id in self._waiting:
                self._remove(post.id)
            return []
        subject = self._subject(post)
        forgotten = self._latest_tick is not None and self._latest_tick - post.when > self._forget_after
        if subject is not None and not forgotten and post.id not in self._waiting:
            self._add(post.id, subject, post.when)  # a board revisited shows its month-old messages again
        return []

    @property
    def _forget_after(self) -> timedelta:
        return timedelta(days=self.options.forget_after_days)

    def on_tick(self, now: datetime) -> list[Finding]:
        limit = timedelta(days=self.options.max_days)
        self._latest_tick = max(now, self._latest_tick or now)
        if self._last_tick is not None and now < self._last_tick:  # the clock went back: some are no longer overdue
            last_reported = self._last_reported
            self._reindex([(post_id, subject, since) for post_id, (subject, since, _, _) in self._waiting.items()])
            self._changed = set(self._by_subject)
            self._last_reported = last_reported
        self._last_tick = now
        while self._to_overdue and now - self._to_overdue[0][0] > limit:
            entry = heapq.heappop(self._to_overdue)
            since, post_id = entry
            if self._still_waits(since, post_id) and not self._waiting[post_id][3]:
                subject, _, arrival, _ = self._waiting[post_id]
                self._waiting[post_id] = (subject, since, arrival, True)
                self._overdue[subject] = self._overdue.get(subject, 0) + 1
                self._changed.add(subject)
                heapq.heappush(self._to_forget, entry)  # forget_after_days > max_days: overdue before forgotten
        while self._to_forget and now - self._to_forget[0][0] > self._forget_after:
            since, post_id = heapq.heappop(self._to_forget)
            if self._still_waits(since, post_id):
                self._remove(post_id)
        # In the order the subjects' oldest waiting messages arrived, as a pass over every waiting message had.
        changed = sorted((subject for subject in self._changed if subject in self._by_subject),
                         key=lambda subject: self._waiting[next(iter(self._by_subject[subject]))][2])
        self._changed = set()
        findings = []
        for subject in changed:
            waiting = self._by_subject[subject]
            overdue = self._overdue.get(subject, 0)
            figures = (len(waiting), overdue)
            if overdue < self.options.min_overdue and len(waiting) < self.options.pile_up:
                continue
            if self._last_reported.get(subject) == figures:
                continue  # nothing changed since the last tick: no new finding
            self._last_reported[subject] = figures
            oldest = min(waiting.values())
            kind, subject_id = subject
            findings.append(Finding(
                subject_kind=kind, subject_id=subject_id, at=now, magnitude=len(waiting),
                title=f"{subject_id}：{len(waiting)}条留言未回复，其中{overdue}条超过{self.options.max_days:g}天",
                summary=f"最早一条留言于{oldest:%Y-%m-%d %H:%M}发布，至今未见回复。",
                post_ids=tuple(sorted(waiting, key=waiting.__getitem__)),  # oldest first; a month of them
                evidence={"unanswered": len(waiting), "overdue": overdue, "oldest": oldest.isoformat()},
            ))
        return findings
