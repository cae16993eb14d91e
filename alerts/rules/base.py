"""What every rule type shares: options validated from the rules file, a `Finding`, and windows.

A rule is a pure state machine: it is fed posts, burst signals, crawl-health records and clock
ticks, keeps what it needs in memory, and answers with findings. It never sends or stores
anything; the engine turns findings into grouped alerts.
"""

from __future__ import annotations

import re
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from yuqing.schema import BurstSignal, CrawlHealth, EnrichedPost, SentimentLabel


class RuleOptions(BaseModel):
    """Options of one rule type; unknown keys are errors so typos do not silently disable a rule."""

    model_config = ConfigDict(extra="forbid")


Options = TypeVar("Options", bound=RuleOptions)


class SignalScopeOptions(RuleOptions):
    """Options of rules fed burst signals: which kinds of subject, and optionally which ones."""

    subject_kinds: list[str] = Field(min_length=1)
    subjects: list[str] = Field(default_factory=list, description="only these subject ids (empty: all)")

    def covers(self, signal: BurstSignal) -> bool:
        return signal.subject_kind in self.subject_kinds and (not self.subjects or signal.subject_id in self.subjects)


MAX_POST_IDS = 500  # evidence kept per alert; the search index has the rest


@dataclass(frozen=True)
class Finding:
    """A rule's judgement that a subject needs attention now; `magnitude` drives the level."""

    subject_kind: str  # policy, event, department, place, keyword, source, document
    subject_id: str
    title: str
    at: datetime
    magnitude: float
    summary: str = ""
    post_ids: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)


class Rule(Generic[Options]):
    """Base of the rule types. Subclasses set `type_name` and `options_model` and override the feeds they read."""

    type_name: ClassVar[str]
    options_model: ClassVar[type[RuleOptions]]

    def __init__(self, options: Options) -> None:
        self.options = options

    def on_post(self, post: EnrichedPost) -> list[Finding]:
        return []

    def on_signal(self, signal: BurstSignal) -> list[Finding]:
        return []

    def on_health(self, health: CrawlHealth) -> list[Finding]:
        return []

    def on_tick(self, now: datetime) -> list[Finding]:
        """Time-driven checks (something left undone for N days); called once per batch."""
        return []

    def memory(self) -> dict[str, Any]:
        """What the rule remembers, as data the engine writes as JSON with orjson (which also writes datetimes, in ISO
        8601, and tuples), so a restarted worker goes on where it was."""
        return {}

    def recall(self, memory: dict[str, Any]) -> None:
        """Take back what `memory` returned (of a rule with the same type and options)."""


class WindowRule(Rule[Options]):
    """A rule whose memory is one `SubjectWindow` over `options.window`."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.window = SubjectWindow(options.window)  # type: ignore[attr-defined]

    def on_tick(self, now: datetime) -> list[Finding]:
        self.window.advance(now)
        return []

    def memory(self) -> dict[str, Any]:
        return {"window": self.window.to_json()}

    def recall(self, memory: dict[str, Any]) -> None:
        self.window = SubjectWindow.from_json(self.window.span, memory["window"], self.window.lateness)


# How late an item may arrive behind the newest one of any subject and still meet its subject's earlier items:
# a subject whose newest item is older than the newest of all by its window and this much is forgotten (the
# subjects are events, places and policies; new events keep coming for as long as the worker runs). The rules
# built from a rules file take its `stale_after` instead: a later item raises no alert anyway.
LATENESS = timedelta(days=7)


class SubjectWindow:
    """Recent items per subject inside a sliding time window, each item counted once by id.

    Items are kept in time order whatever order they arrive in (crawls deliver a week-old board
    message after today's weibo), so the window always ends at the newest item seen.
    """

    def __init__(self, span: timedelta, lateness: timedelta = LATENESS) -> None:
        self.span = span
        self.lateness = lateness
        self._items: dict[str, list[tuple[datetime, str, Any]]] = {}
        self._ids: dict[str, set[str]] = {}
        self._newest: datetime | None = None  # of all subjects
        self._swept: datetime | None = None  # the newest time when quiet subjects were last forgotten

    def add(self, subject: str, at: datetime, item_id: str, value: Any = None) -> bool:
        """Record an item; False when this id is already in the subject's window (a redelivery) or the
        item is older than the window."""
        ids = self._ids.setdefault(subject, set())
        items = self._items.setdefault(subject, [])
        if item_id in ids or (items and at < items[-1][0] - self.span):
            return False
        # Ids are unique within a subject, so the comparison never reaches the values.
        insort(items, (at, item_id, value))
        ids.add(item_id)
        self._expire(subject)
        if self._newest is None or at > self._newest:
            self._newest = at
            self._forget_quiet(at)
        return True

    def advance(self, now: datetime) -> None:
        """The clock says it is `now`: subjects quiet for longer than the window and the lateness by then are
        forgotten, even when no newer item comes (a backlog of old posts, a quiet night) to move the window."""
        if self._newest is None or now > self._newest:
            self._forget_quiet(now)

    def _forget_quiet(self, newest: datetime) -> None:
        """Drop the subjects quiet for longer than the window and the lateness, at most once per window of time."""
        if self._swept is not None and newest - self._swept < self.span:
            return
        self._swept = newest
        cutoff = newest - self.span - self.lateness
        for subject in [s for s, items in self._items.items() if items[-1][0] < cutoff]:
            del self._items[subject]
            del self._ids[subject]

    def _expire(self, subject: str) -> None:
        items = self._items[subject]
        stale = bisect_left(items, (items[-1][0] - self.span,))
        for _, old_id, _ in items[:stale]:
            self._ids[subject].discard(old_id)
        del items[:stale]

    def items(self, subject: str) -> list[tuple[datetime, str, Any]]:
        return list(self._items.get(subject, ()))

    def ids(self, subject: str) -> tuple[str, ...]:
        return tuple(item_id for _, item_id, _ in self._items.get(subject, ()))

    def count(self, subject: str) -> int:
        return len(self._items.get(subject, ()))

    def to_json(self) -> dict[str, list[tuple[datetime, str, Any]]]:
        """The items as they are held, (time, id, value) per subject: what the engine writes with orjson (times in
        ISO 8601), `from_json` reads back."""
        return {subject: items for subject, items in self._items.items() if items}

    @classmethod
    def from_json(cls, span: timedelta, data: dict[str, list[Any]],
                  lateness: timedelta = LATENESS) -> SubjectWindow:
        window = cls(span, lateness)
        for subject, items in data.items():
            # JSON turns tuples into lists; values are compared only when (time, id) tie, which never happens.
            window._items[subject] = [(at if isinstance(at, datetime) else datetime.fromisoformat(at), item_id, value)
                                      for at, item_id, value in items]
            window._ids[subject] = {item_id for _, item_id, _ in items}
        window._newest = max((items[-1][0] for items in window._items.values()), default=None)
        return window


def is_negative(post: EnrichedPost) -> bool:
    return post.sentiment is not None and post.sentiment.label == SentimentLabel.NEGATIVE


def linked_policies(post: EnrichedPost, min_score: float, wanted: Iterable[str] = ()) -> list[str]:
    """Ids of the policies the post is linked to (at least `min_score`), limited to `wanted` when given."""
    wanted_set = set(wanted)
    return [
        link.id for link in post.policies
        if link.score >= min_score and (not wanted_set or link.id in wanted_set)
    ]


def post_text(post: EnrichedPost) -> str:
    return f"{post.title or ''}\n{post.text}"


def policy_name(title: str) -> str:
    """A document's own name: 《…》 if quoted, else the title without its 关于印发…的通知 frame."""
    quoted = re.search(r"《([^》]+)》", title)
    if quoted:
        return quoted.group(1)
    framed = re.search(r"关于印发(.+?)的(?:通知|意见|决定|公告)$", title)
    return framed.group(1) if framed else title.strip()
