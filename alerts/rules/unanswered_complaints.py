"""Unanswered complaints: 留言板 messages about one policy or place left unanswered longer than
N days, or piling up. A message seen again with an answer (boards are revisited) leaves the count, and so
does one unanswered for longer than `forget_after_days` (reported overdue all that while; a board that has not
answered in a month has closed the thread), so the rule's memory holds a bounded stretch of messages.

That stretch is a month of a city's boards, so the messages themselves are kept by a `WaitingArchive`: by default
in the rule's own memory (`WaitingInMemory`); in the alert worker, in its store, saved with its checkpoints (see
`keep_waiting_in`). The rule holds each subject's figures, and the messages that changed since the archive last took
them; it reads the rest when a post, the clock or a finding needs them."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from alerts.rules.base import Finding, Rule, RuleOptions, linked_policies
from yuqing.schema import BOARD_ANSWERED, BOARD_CATEGORY, BOARD_PLACE, EnrichedPost, Platform

Subject = tuple[str, str]  # ("policy", id) or ("place", name)
# A waiting message in its subject's list: (since, in microseconds since the epoch; arrival; post id). Plain tuples: a
# subject's finding names a month of its messages, in this order.
Entry = tuple[int, int, str]
ARRIVAL, POST_ID = itemgetter(1), itemgetter(2)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """The moment in microseconds since the epoch, exactly."""
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class WaitingMessage:
    """A board message waiting for its answer since it was published. `arrival` numbers the waiting messages in the
    order the rule took them in: messages of the same time, and the subjects' findings, come in that order."""

    post_id: str
    subject: Subject
    since: datetime
    arrival: int

    def entry(self) -> Entry:
        return (micros(self.since), self.arrival, self.post_id)


class WaitingArchive(Protocol):
    """The waiting messages as the rule last gave them to be kept."""

    def waiting_by_id(self, post_ids: Collection[str]) -> list[WaitingMessage]:
        """Those of these posts that are kept."""
        ...

    def waiting_between(self, start: datetime, end: datetime) -> list[WaitingMessage]:
        """Those waiting since `start` (included) up to `end` (excluded)."""
        ...

    def waiting_about(self, subject: Subject) -> list[Entry]:
        """Every one about this subject, in time order (of one time: in arrival order)."""
        ...


class WaitingInMemory:
    """The archive in the rule's own memory (a rule on its own, a replay, the tests): it takes the changes at each
    tick."""

    def __init__(self) -> None:
        self.messages: dict[str, WaitingMessage] = {}
        self._about: dict[Subject, list[Entry]] = {}  # in time order, as `waiting_about` gives them
        self._by_since: list[tuple[datetime, str]] = []  # in time order: most come in it, and leave from its start

    def put(self, changes: Mapping[str, WaitingMessage | None]) -> None:
        """Keep these messages, and drop those given as None."""
        for post_id, message in changes.items():
            old = self.messages.pop(post_id, None)
            if old is not None:
                about = self._about[old.subject]
                del about[bisect_left(about, old.entry())]
                if not about:
                    del self._about[old.subject]
                del self._by_since[bisect_left(self._by_since, (old.since, post_id))]
            if message is not None:
                self.messages[post_id] = message
                insort(self._about.setdefault(message.subject, []), message.entry())
                insort(self._by_since, (message.since, post_id))

    def waiting_by_id(self, post_ids: Collection[str]) -> list[WaitingMessage]:
        return [self.messages[post_id] for post_id in post_ids if post_id in self.messages]

    def waiting_between(self, start: datetime, end: datetime) -> list[WaitingMessage]:
        first, last = bisect_left(self._by_since, (start,)), bisect_left(self._by_since, (end,))
        return [self.messages[post_id] for _, post_id in self._by_since[first:last]]

    def waiting_about(self, subject: Subject) -> list[Entry]:
        return list(self._about.get(subject, ()))


def _moment(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


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
    """After each tick a waiting message is overdue exactly when it waited longer than `max_days` at that tick, and
    none waited longer than `forget_after_days`: so a tick reads only the messages whose time crossed one of these
    lines since the last tick (and the messages that came since), not every one that waits."""

    type_name = "unanswered_complaints"
    options_model = UnansweredComplaintsOptions

    def __init__(self, options: UnansweredComplaintsOptions) -> None:
        super().__init__(options)
        self._in_memory: WaitingInMemory | None = WaitingInMemory()  # None once the messages are kept elsewhere
        self._archive: WaitingArchive = self._in_memory
        # The messages changed since the archive last took them (None: no longer waiting), and whether the archive
        # still holds messages that are not this rule's (it started afresh): they are dropped when it takes these.
        self._changes: dict[str, WaitingMessage | None] = {}
        self._dropped: dict[Subject, set[str]] = {}  # the messages that left each subject since (maybe kept there)
        self._archive_stale = False
        self._recalled_apart = False  # the memory recalled was saved with its messages apart (in the archive)
        self._figures: dict[Subject, list[int]] = {}  # subject -> [waiting, overdue]
        self._fresh: dict[str, None] = {}  # messages taken in since the last tick: not yet judged overdue or not
        self._last_reported: dict[Subject, tuple[int, int]] = {}
        self._last_tick: datetime | None = None
        self._latest_tick: datetime | None = None
        self._arrivals = 0
        self._changed: set[Subject] = set()  # the subjects whose figures may have changed since the last tick
        # What the archive answered during this batch (it changes only when it takes the changes).
        self._read_ids: dict[str, WaitingMessage | None] = {}
        self._read_spans: dict[tuple[datetime, datetime], list[WaitingMessage]] = {}

    # --- where the messages are kept -------------------------------------------------------------

    def keep_waiting_in(self, archive: WaitingArchive) -> None:
        """Keep the waiting messages in `archive` from now on: it takes them when `waiting_saved` says the changes
        were saved. What it holds already is this rule's only once `recall` took a memory saved with them."""
        if self._in_memory is not None:
            self._changes = {**self._in_memory.messages, **self._changes}
        self._archive_stale = not self._recalled_apart
        self._in_memory = None
        self._archive = archive
        self._forget_reads()

    def waiting_changes(self) -> tuple[Mapping[str, WaitingMessage | None], bool]:
        """The messages changed since the last save (None: no longer waiting), and whether the archive's messages
        are to be dropped first; to save with the rest of the memory (`memory`)."""
        return dict(self._changes), self._archive_stale

    def waiting_saved(self) -> None:
        """The changes `waiting_changes` gave were saved: the archive holds them now."""
        self._changes, self._dropped = {}, {}
        self._archive_stale = False
        self._forget_reads()

    def _forget_reads(self) -> None:
        self._read_ids = {}
        self._read_spans = {}

    def _end_batch(self) -> None:
        if self._in_memory is not None:
            self._in_memory.put(self._changes)
            self._changes, self._dropped = {}, {}
        self._forget_reads()

    def take_back(self, posts: Iterable[EnrichedPost], now: datetime) -> None:
        """Read at once what feeding these posts and ticking at `now` will need of the archive (a store that is
        down then fails the batch before anything is counted)."""
        self._read([post.id for post in posts if self._concerns(post)])
        for start, end in self._spans(now):
            self._between(start, end)

    def _read(self, post_ids: Iterable[str]) -> None:
        wanted = [post_id for post_id in dict.fromkeys(post_ids)
                  if post_id not in self._changes and post_id not in self._read_ids]
        if wanted:
            found = {} if self._archive_stale else {m.post_id: m for m in self._archive.waiting_by_id(wanted)}
            self._read_ids.update((post_id, found.get(post_id)) for post_id in wanted)

    def _waiting(self, post_id: str) -> WaitingMessage | None:
        if post_id in self._changes:
            return self._changes[post_id]
        self._read([post_id])
        return self._read_ids[post_id]

    def _between(self, start: datetime, end: datetime) -> list[WaitingMessage]:
        """The messages waiting since `start` up to `end`, but those taken in since the last tick."""
        if (start, end) not in self._read_spans:
            self._read_spans[start, end] = [] if self._archive_stale else self._archive.waiting_between(start, end)
        changes = self._changes
        found = [m for m in self._read_spans[start, end] if m.post_id not in changes]
        found += [m for m in changes.values() if m is not None and start <= m.since < end]
        return [m for m in found if m.post_id not in self._fresh]

    def _entries_about(self, subjects: Collection[Subject]) -> dict[Subject, tuple[list[Entry], datetime]]:
        """Each subject's waiting messages, oldest first (of one time: in arrival order), and since when the oldest
        waits (as it was held: the finding shows it in its zone)."""
        added: dict[Subject, list[Entry]] = {subject: [] for subject in subjects}
        for message in self._changes.values():
            if message is not None and message.subject in added:
                added[message.subject].append(message.entry())
        about = {}
        for subject in subjects:
            entries = [] if self._archive_stale else self._archive.waiting_about(subject)
            dropped = self._dropped.get(subject)
            if dropped:
                entries = [entry for entry in entries if entry[2] not in dropped]
            for entry in added[subject]:  # a few, among a month of them
                insort(entries, entry)
            oldest = self._waiting(entries[0][2])
            assert oldest is not None  # the subject's figures count it
            about[subject] = (entries, oldest.since)
        return about

    # --- memory ----------------------------------------------------------------------------------

    def memory(self) -> dict[str, Any]:
        # Each subject's figures and the ticks; the messages too while the rule keeps them itself (else they are
        # saved with it: `waiting_changes`). The engine's orjson writes the times in ISO 8601.
        memory: dict[str, Any] = {
            "last_reported": [[*subject, *figures] for subject, figures in self._last_reported.items()],
            "figures": [[*subject, *figures] for subject, figures in self._figures.items()],
            "last_tick": self._last_tick, "arrivals": self._arrivals, "fresh": list(self._fresh)}
        if self._in_memory is not None:
            self._end_batch()
            memory["waiting"] = {post_id: (m.subject, m.since, m.arrival)
                                 for post_id, m in self._in_memory.messages.items()}
        return memory

    def recall(self, memory: dict[str, Any]) -> None:
        # A memory with "waiting" holds the messages (saved by a rule that kept them itself, or before they were
        # kept apart: then without "figures", and none was judged overdue yet).
        waiting = [WaitingMessage(post_id, (kind, subject_id), _moment(entry[1]), entry[2] if len(entry) > 2 else n)
                   for n, (post_id, entry) in enumerate(memory.get("waiting", {}).items())
                   for kind, subject_id in [entry[0]]]
        last_reported = {(kind, subject_id): (count, overdue)
                         for kind, subject_id, count, overdue in memory["last_reported"]}
        if "figures" in memory:
            figures = {(kind, subject_id): [count, overdue] for kind, subject_id, count, overdue in memory["figures"]}
            last_tick = None if memory["last_tick"] is None else _moment(memory["last_tick"])
            arrivals, fresh = memory["arrivals"], dict.fromkeys(memory["fresh"])
        else:
            figures = {}
            for message in waiting:
                figures.setdefault(message.subject, [0, 0])[0] += 1
            last_tick = None
            arrivals, fresh = len(waiting), dict.fromkeys(m.post_id for m in waiting)
        self._figures, self._last_reported, self._fresh = figures, last_reported, fresh
        # The latest tick is not kept (it never was): after a restart, the ticks since decide what arrives forgotten.
        self._last_tick, self._latest_tick, self._arrivals = last_tick, None, arrivals
        self._changes, self._dropped = {m.post_id: m for m in waiting}, {}
        self._recalled_apart = "waiting" not in memory
        if self._in_memory is not None:
            self._in_memory = WaitingInMemory()
            self._archive = self._in_memory
        self._archive_stale = self._in_memory is None and not self._recalled_apart
        self._changed = set(figures)
        self._forget_reads()

    # --- the feeds -------------------------------------------------------------------------------

    def _concerns(self, post: EnrichedPost) -> bool:
        if post.platform != Platform.BOARD or post.reply_to is not None:
            return False
        return not self.options.categories or post.extra.get(BOARD_CATEGORY) in self.options.categories

    def _subject(self, post: EnrichedPost) -> Subject | None:
        place = post.extra.get(BOARD_PLACE) or (post.places[0] if post.places else None)
        policies = linked_policies(post, self.options.min_policy_score)
        if self.options.group_by == "policy" and policies:
            return ("policy", policies[0])
        if place:
            return ("place", str(place))
        return ("policy", policies[0]) if policies else None

    def on_post(self, post: EnrichedPost) -> list[Finding]:
        if not self._concerns(post):
            return []
        if post.extra.get(BOARD_ANSWERED):
            message = self._waiting(post.id)
            if message is not None:
                self._remove(message)
            return []
        subject = self._subject(post)
        forgotten = self._latest_tick is not None and self._latest_tick - post.when > self._forget_after
        if subject is not None and not forgotten and self._waiting(post.id) is None:
            self._add(post.id, subject, post.when)  # a board revisited shows its month-old messages again
        return []

    @property
    def _limit(self) -> timedelta:
        return timedelta(days=self.options.max_days)

    @property
    def _forget_after(self) -> timedelta:
        return timedelta(days=self.options.forget_after_days)

    def _add(self, post_id: str, subject: Subject, since: datetime) -> None:
        self._changes[post_id] = WaitingMessage(post_id, subject, since, self._arrivals)
        self._arrivals += 1
        self._fresh[post_id] = None
        self._figures.setdefault(subject, [0, 0])[0] += 1
        self._changed.add(subject)

    def _remove(self, message: WaitingMessage) -> None:
        overdue = (message.post_id not in self._fresh and self._last_tick is not None
                   and self._last_tick - message.since > self._limit)
        self._changes[message.post_id] = None
        self._dropped.setdefault(message.subject, set()).add(message.post_id)
        self._fresh.pop(message.post_id, None)
        figures = self._figures[message.subject]
        figures[0] -= 1
        figures[1] -= overdue
        if not figures[0]:
            del self._figures[message.subject]
        self._changed.add(message.subject)

    def _count_overdue(self, message: WaitingMessage, change: int) -> None:
        self._figures[message.subject][1] += change
        self._changed.add(message.subject)

    def _spans(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """The stretches of time whose messages a tick at `now` judges again: those that crossed the overdue line
        (either way: a clock set back makes some no longer overdue), then those past the forget line."""
        last = self._last_tick
        if last is None or now == last:
            return []
        if now < last:
            return [(now - self._limit, last - self._limit)]
        return [(last - self._limit, now - self._limit), (last - self._forget_after, now - self._forget_after)]

    def on_tick(self, now: datetime) -> list[Finding]:
        try:
            self._advance(now)
            return self._findings(now)
        finally:
            self._end_batch()

    def _advance(self, now: datetime) -> None:
        limit, forget_after = self._limit, self._forget_after
        self._latest_tick = max(now, self._latest_tick or now)
        spans = self._spans(now)
        clock_went_back = self._last_tick is not None and now < self._last_tick
        if spans:
            for message in self._between(*spans[0]):
                self._count_overdue(message, -1 if clock_went_back else 1)
        if clock_went_back:
            self._changed.update(self._figures)
        forgotten = self._between(*spans[1]) if len(spans) > 1 else []
        for message in [m for post_id in list(self._fresh) if (m := self._waiting(post_id)) is not None]:
            if now - message.since > limit:
                self._count_overdue(message, 1)
                if now - message.since > forget_after:  # forget_after_days > max_days: overdue before forgotten
                    forgotten.append(message)
        self._fresh = {}
        self._last_tick = now
        for message in forgotten:
            self._remove(message)

    def _findings(self, now: datetime) -> list[Finding]:
        due: dict[Subject, tuple[int, int]] = {}
        for subject in self._changed:
            if subject not in self._figures:
                continue
            waiting, overdue = figures = tuple(self._figures[subject])
            if overdue < self.options.min_overdue and waiting < self.options.pile_up:
                continue
            if self._last_reported.get(subject) != figures:  # else nothing changed since the last tick
                due[subject] = (waiting, overdue)
        about = self._entries_about(list(due))  # read before anything is noted: a failed read is tried next tick
        findings = []
        # In the order the subjects' oldest waiting messages arrived, as a pass over every waiting message had.
        for subject in sorted(due, key=lambda subject: min(map(ARRIVAL, about[subject][0]))):
            entries, oldest = about[subject]
            waiting, overdue = self._last_reported[subject] = due[subject]
            kind, subject_id = subject
            findings.append(Finding(
                subject_kind=kind, subject_id=subject_id, at=now, magnitude=waiting,
                title=f"{subject_id}：{waiting}条留言未回复，其中{overdue}条超过{self.options.max_days:g}天",
                summary=f"最早一条留言于{oldest:%Y-%m-%d %H:%M}发布，至今未见回复。",
                post_ids=tuple(map(POST_ID, entries)),  # oldest first; a month of them
                evidence={"unanswered": waiting, "overdue": overdue, "oldest": oldest.isoformat()},
            ))
        self._changed = set()
        return findings
