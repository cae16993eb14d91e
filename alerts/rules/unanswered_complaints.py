"""Unanswered complaints: 留言板 messages about one policy or place left unanswered longer than N days, or piling up.

The rule's state, per message and per subject (a policy or a place):

- a board message seen unanswered starts *waiting* and is *fresh* (no tick has judged it yet); seen again with an
  answer (boards are revisited), it stops waiting.
- a tick at `now` judges the fresh messages and those whose wait crossed `max_days` (they become *overdue*) or
  `forget_after_days` (they stop waiting: a board that has not answered in a month has closed the thread) since the
  last tick. A clock set back makes some no longer overdue.
- each subject keeps its figures (waiting, overdue); a tick reports the subjects whose figures changed and pass
  `min_overdue` or `pile_up`, naming (oldest first) their newest waiting messages and those the engine may know.

A finding names its subject's newest messages (`NAMED_NEWEST`) and, of the older ones, those the engine's policy
links may know (seen since the engine last said which it knows: `forget_unknown`, `seen_among`): what an alert keeps
and how the engine resolves its subject are those of a finding that names them all, and a tick reads no month.

Where the waiting messages are: a month of a city's boards, so they are kept by a `WaitingArchive`, with the changes
made since it last took them on top (`ArchiveAndChanges`). Without a store the archive is `WaitingInMemory`, which takes
the changes at the end of every tick and is saved within the rule's memory. In the alert worker it is the alert store
(`keep_waiting_in`), which takes them with the worker's checkpoints (`waiting_changes`, `waiting_saved`); the rule's
memory then leaves them out, and a batch reads from the store what it needs (`take_back`)."""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from alerts.rules.base import MAX_POST_IDS, Finding, Rule, RuleOptions, linked_policies
from yuqing.schema import BOARD_ANSWERED, BOARD_CATEGORY, BOARD_PLACE, EnrichedPost, Platform

Subject = tuple[str, str]  # ("policy", id) or ("place", name)
# A waiting message in its subject's list: (since, in microseconds since the epoch; arrival; post id). Plain tuples: a
# subject's finding names a thousand or more of its messages, in this order.
Entry = tuple[int, int, str]
ARRIVAL, POST_ID = itemgetter(1), itemgetter(2)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A subject's messages in one of these orders: oldest first (of one time: in arrival order; as a finding names them),
# newest first, or by arrival.
AboutOrder = Literal["oldest", "newest", "arrival"]
# A finding names its subject's newest messages, twice as many as an alert keeps: an alert merging a finding keeps the
# newest of its posts it did not hold yet, up to MAX_POST_IDS of them, whatever of them it held
# (`AlertEngine.merge`); so an alert keeps the same posts as from a finding naming a month of them.
NAMED_NEWEST = 2 * MAX_POST_IDS
# The newest messages of a subject read from the archive and held: those a finding names and a few more (answers
# between two reads take some); no more, as a subject reported now and again is read again each time.
HELD_NEWEST = NAMED_NEWEST + 200


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

    def waiting_about(self, subject: Subject, order: AboutOrder = "oldest", limit: int | None = None) -> list[Entry]:
        """Those about this subject in this order, the first `limit` of them (None: all)."""
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

    def waiting_about(self, subject: Subject, order: AboutOrder = "oldest", limit: int | None = None) -> list[Entry]:
        about = self._about.get(subject, [])
        if order == "oldest":
            return about[:limit]
        if order == "newest":
            return about[::-1][:limit]
        return heapq.nsmallest(len(about) if limit is None else limit, about, key=ARRIVAL)


class ArchiveAndChanges:
    """The rule's waiting messages: those its archive holds, under the changes made since the archive took them (per
    post, its message, or None once it no longer waits), which answer first.

    An archive in memory takes the changes at the end of every batch (`end_batch`); the alert store takes them when
    the worker saves them (`saved`). An archive that is not the rule's (`archive_is_ours` False: the rule started
    afresh, or recalled a memory that held its messages itself) holds another memory's messages: it is read as empty,
    and emptied when it takes the changes. What the archive answered is remembered until the batch ends: the store is
    read once per batch (`read_ahead`), and holds the same messages until the changes are saved.

    A subject's newest messages in the archive (`about`), once read, are held while the subject is asked about at
    every tick (at most HELD_NEWEST), and brought up to date with the changes the archive takes (`saved`): a subject
    that piles up is reported at nearly every tick, and reading them from the store each time made every tick cost
    that, not what changed."""

    def __init__(self, archive: WaitingArchive, changes: dict[str, WaitingMessage | None] | None = None, *,
                 archive_is_ours: bool) -> None:
        self.archive = archive
        self.archive_is_ours = archive_is_ours
        self.changes: dict[str, WaitingMessage | None] = {} if changes is None else changes
        self._left: dict[Subject, set[str]] = {}  # per subject, the messages that stopped waiting (maybe archived)
        self._read_ids: dict[str, WaitingMessage | None] = {}
        self._read_spans: dict[tuple[datetime, datetime], list[WaitingMessage]] = {}
        self._newest: dict[Subject, _HeldNewest] = {}  # subjects' newest messages as the archive holds them

    def get(self, post_id: str) -> WaitingMessage | None:
        """The post's message, if it waits."""
        if post_id in self.changes:
            return self.changes[post_id]
        if post_id not in self._read_ids:
            self._read_by_id([post_id])
        return self._read_ids[post_id]

    def between(self, start: datetime, end: datetime) -> list[WaitingMessage]:
        """Those waiting since `start` (included) up to `end` (excluded): the archive's in time order, then those
        changed since in the order they changed."""
        changes = self.changes
        found = [m for m in self._read_span(start, end) if m.post_id not in changes]
        found += [m for m in changes.values() if m is not None and start <= m.since < end]
        return found

    def about(self, subjects: Collection[Subject], newest: int | None) -> dict[Subject, tuple[list[Entry], Entry, int]]:
        """Each subject's `newest` messages (None: all of them), in time order (of one time: in arrival order), its
        oldest message and the first arrival among its messages. The newest read from the archive are held for the
        subjects asked about now only: a subject that piles up is asked about at nearly every tick, and every subject
        ever asked about held its messages here."""
        held = self._newest
        self._newest = {subject: held[subject] for subject in subjects if subject in held}
        added: dict[Subject, list[Entry]] = {subject: [] for subject in subjects}
        for message in self.changes.values():
            if message is not None and message.subject in added:
                added[message.subject].append(message.entry())
        about = {}
        for subject in subjects:
            left = self._left.get(subject, set())
            archived, whole = self._archived_newest(subject, None if newest is None else newest + len(left))
            entries = sorted([entry for entry in archived if entry[2] not in left] + added[subject])
            if whole:
                about[subject] = (entries[-newest:] if newest else entries, entries[0], min(map(ARRIVAL, entries)))
                continue
            # The first ones in either order that are not among those that left: the newest say nothing of them.
            firsts = {order: [entry for entry in self.archive.waiting_about(subject, order, 1 + len(left))
                              if entry[2] not in left] + added[subject] for order in ("oldest", "arrival")}
            about[subject] = (entries[-newest:] if newest else entries, min(firsts["oldest"]),
                              min(map(ARRIVAL, firsts["arrival"])))
        return about

    def _archived_newest(self, subject: Subject, count: int | None) -> tuple[list[Entry], bool]:
        """The archive's newest `count` messages about the subject (None: all), in time order, and whether they are all
        it holds about it; read once and held (`saved` keeps them up to date), all of them read each time."""
        if not self.archive_is_ours:
            return [], True
        if count is None:
            return self.archive.waiting_about(subject), True
        held = self._newest.get(subject)
        if held is None or (len(held.entries) < count and not held.whole):
            read = max(count, HELD_NEWEST)
            newest_first = self.archive.waiting_about(subject, "newest", read)
            held = self._newest[subject] = _HeldNewest(newest_first[::-1], whole=len(newest_first) < read)
        return held.entries[-count:], held.whole and len(held.entries) <= count

    def among(self, post_ids: Collection[str]) -> list[WaitingMessage]:
        """The messages of these posts that wait (not remembered: for a start)."""
        changes = self.changes
        found = [message for post_id in post_ids if (message := changes.get(post_id)) is not None]
        if self.archive_is_ours:
            found += self.archive.waiting_by_id([post_id for post_id in post_ids if post_id not in changes])
        return found

    def read_ahead(self, post_ids: Iterable[str], spans: Iterable[tuple[datetime, datetime]]) -> None:
        """Read at once what `get` of these posts and `between` of these spans will need of the archive."""
        wanted = [post_id for post_id in dict.fromkeys(post_ids)
                  if post_id not in self.changes and post_id not in self._read_ids]
        if wanted:
            self._read_by_id(wanted)
        for start, end in spans:
            self._read_span(start, end)

    def _read_by_id(self, post_ids: list[str]) -> None:
        found = {m.post_id: m for m in self.archive.waiting_by_id(post_ids)} if self.archive_is_ours else {}
        self._read_ids.update((post_id, found.get(post_id)) for post_id in post_ids)

    def _read_span(self, start: datetime, end: datetime) -> list[WaitingMessage]:
        if (start, end) not in self._read_spans:
            self._read_spans[start, end] = self.archive.waiting_between(start, end) if self.archive_is_ours else []
        return self._read_spans[start, end]

    def _archive_took_changes(self) -> None:
        """Bring the subjects' newest messages read from the archive to what it holds now that it took the changes:
        those that stopped waiting leave, those that wait now (maybe again) join, when among the newest."""
        held = self._newest
        for subject, left in self._left.items():
            if subject in held:
                held[subject].entries = [entry for entry in held[subject].entries if entry[2] not in left]
        for message in self.changes.values():
            if message is not None and (newest := held.get(message.subject)) is not None:
                entry = message.entry()
                if newest.whole or (newest.entries and entry > newest.entries[0]):
                    insort(newest.entries, entry)
        for newest in held.values():
            if len(newest.entries) > HELD_NEWEST:
                del newest.entries[:-HELD_NEWEST]
                newest.whole = False

    def put(self, message: WaitingMessage) -> None:
        self.changes[message.post_id] = message

    def remove(self, message: WaitingMessage) -> None:
        self.changes[message.post_id] = None
        self._left.setdefault(message.subject, set()).add(message.post_id)

    def end_batch(self) -> None:
        """The batch is over: an archive in memory takes the changes now (the store, when they are saved)."""
        if isinstance(self.archive, WaitingInMemory):
            self.archive.put(self.changes)
            self.saved()
        else:
            self._read_ids, self._read_spans = {}, {}

    def saved(self) -> None:
        """The archive took the changes: it holds the rule's waiting messages, all of them."""
        if self.archive_is_ours:
            self._archive_took_changes()
        else:  # it dropped another memory's messages: none of its subjects was read
            self._newest = {}
        self.changes, self._left = {}, {}
        self.archive_is_ours = True
        self._read_ids, self._read_spans = {}, {}


@dataclass(slots=True)
class _HeldNewest:
    """A subject's newest messages in the archive, in time order; `whole`: all it holds about the subject."""

    entries: list[Entry]
    whole: bool


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
        self._waiting = ArchiveAndChanges(WaitingInMemory(), archive_is_ours=True)
        self._figures: dict[Subject, list[int]] = {}  # subject -> [waiting, overdue]
        self._fresh: dict[str, None] = {}  # messages taken in since the last tick: not yet judged overdue or not
        self._changed_subjects: set[Subject] = set()  # those whose figures may have changed since the last tick
        self._last_reported: dict[Subject, tuple[int, int]] = {}
        self._last_tick: datetime | None = None
        # The newest time any tick gave since the start (the clock may be set back): a post older than it by
        # `forget_after_days` is not taken in. Not kept in the memory (it never was).
        self._newest_tick: datetime | None = None
        self._arrivals = 0
        # The waiting messages the engine's policy links may know, by subject: those seen since the engine last said
        # which posts its links know (`forget_unknown`, `seen_among`); None: any (recalled, and not told since). A rule
        # on its own is never told: it names every message it saw, so all of them.
        self._seen: dict[Subject, dict[str, Entry]] | None = {}

    # --- where the messages are kept -------------------------------------------------------------

    def keep_waiting_in(self, archive: WaitingArchive) -> None:
        """Keep the waiting messages in `archive` from now on: it takes them when `waiting_saved` says the changes
        were saved. Before `recall`: what the archive holds already is this rule's only once `recall` took a memory
        saved with them (else it is dropped at the first save)."""
        held = self._waiting.archive.messages if isinstance(self._waiting.archive, WaitingInMemory) else {}
        self._waiting = ArchiveAndChanges(archive, {**held, **self._waiting.changes}, archive_is_ours=False)

    def waiting_changes(self) -> tuple[Mapping[str, WaitingMessage | None], bool]:
        """The messages changed since the last save (None: no longer waiting), and whether the archive's messages
        are to be dropped first; to save with the rest of the memory (`memory`)."""
        return dict(self._waiting.changes), not self._waiting.archive_is_ours

    def waiting_saved(self) -> None:
        """The changes `waiting_changes` gave were saved: the archive holds them now."""
        self._waiting.saved()

    def take_back(self, posts: Iterable[EnrichedPost], now: datetime) -> None:
        """Read at once what feeding these posts and ticking at `now` will need of the archive (a store that is
        down then fails the batch before anything is counted)."""
        self._waiting.read_ahead([post.id for post in posts if post.platform == Platform.BOARD], self._spans(now))

    # --- what the engine's policy links know ---------------------------------------------------

    def forget_unknown(self, known: Callable[[Collection[str]], Collection[str]]) -> None:
        """Forget having seen the messages the engine's links no longer know (`known`: those of these posts they
        know): the links forget posts, and know them again only once they come again (the rule sees them then)."""
        if self._seen is None:
            return
        still = set(known([post_id for seen in self._seen.values() for post_id in seen]))
        kept = {subject: {post_id: entry for post_id, entry in seen.items() if post_id in still}
                for subject, seen in self._seen.items()}
        self._seen = {subject: seen for subject, seen in kept.items() if seen}

    def seen_among(self, post_ids: Collection[str]) -> None:
        """The engine's links know these posts (as they were restored): those of them that wait are the ones seen."""
        self._seen = {}
        for message in self._waiting.among(post_ids):
            self._note_seen(message)

    def _note_seen(self, message: WaitingMessage) -> None:
        if self._seen is not None:
            self._seen.setdefault(message.subject, {})[message.post_id] = message.entry()

    # --- memory ----------------------------------------------------------------------------------

    def memory(self) -> dict[str, Any]:
        # Each subject's figures and the ticks; the messages too while the rule keeps them itself (else they are
        # saved with it: `waiting_changes`). The engine's orjson writes the times in ISO 8601.
        memory: dict[str, Any] = {
            "last_reported": [[*subject, *figures] for subject, figures in self._last_reported.items()],
            "figures": [[*subject, *figures] for subject, figures in self._figures.items()],
            "last_tick": self._last_tick, "arrivals": self._arrivals, "fresh": list(self._fresh)}
        archive = self._waiting.archive
        if isinstance(archive, WaitingInMemory):
            self._waiting.end_batch()  # the archive takes the changes
            memory["waiting"] = {post_id: (m.subject, m.since, m.arrival) for post_id, m in archive.messages.items()}
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
        # The newest tick is not kept (it never was): after a restart, the ticks since decide what arrives forgotten.
        self._last_tick, self._newest_tick, self._arrivals = last_tick, None, arrivals
        # The recalled messages are changes for the archive to take: an archive in memory starts empty; the store
        # holds this memory's messages when it was saved without them, else another's.
        in_memory = isinstance(self._waiting.archive, WaitingInMemory)
        self._waiting = ArchiveAndChanges(WaitingInMemory() if in_memory else self._waiting.archive,
                                        {m.post_id: m for m in waiting},
                                        archive_is_ours=in_memory or "waiting" not in memory)
        self._changed_subjects = set(figures)
        self._seen = None  # until the engine says what its links know

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
        if post.platform != Platform.BOARD:
            return []
        # A board revisited shows its month-old messages again: the links know them again, whatever they say now.
        if (message := self._waiting.get(post.id)) is not None:
            self._note_seen(message)
        if not self._concerns(post):
            return []
        if post.extra.get(BOARD_ANSWERED):
            if message is not None:
                self._remove(message)
            return []
        subject = self._subject(post)
        forgotten = self._newest_tick is not None and self._newest_tick - post.when > self._forget_after
        if message is None and subject is not None and not forgotten:
            self._add(post.id, subject, post.when)
        return []

    @property
    def _limit(self) -> timedelta:
        return timedelta(days=self.options.max_days)

    @property
    def _forget_after(self) -> timedelta:
        return timedelta(days=self.options.forget_after_days)

    def _add(self, post_id: str, subject: Subject, since: datetime) -> None:
        message = WaitingMessage(post_id, subject, since, self._arrivals)
        self._waiting.put(message)
        self._note_seen(message)
        self._arrivals += 1
        self._fresh[post_id] = None
        self._figures.setdefault(subject, [0, 0])[0] += 1
        self._changed_subjects.add(subject)

    def _remove(self, message: WaitingMessage) -> None:
        overdue = (message.post_id not in self._fresh and self._last_tick is not None
                   and self._last_tick - message.since > self._limit)
        self._waiting.remove(message)
        self._fresh.pop(message.post_id, None)
        if self._seen is not None and (seen := self._seen.get(message.subject)) is not None:
            seen.pop(message.post_id, None)
            if not seen:
                del self._seen[message.subject]
        figures = self._figures[message.subject]
        figures[0] -= 1
        figures[1] -= overdue
        if not figures[0]:
            del self._figures[message.subject]
        self._changed_subjects.add(message.subject)

    def _count_overdue(self, message: WaitingMessage, change: int) -> None:
        self._figures[message.subject][1] += change
        self._changed_subjects.add(message.subject)

    def _spans(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """The stretches of time whose messages a tick at `now` judges again: those that crossed the overdue line
        (either way: a clock set back makes some no longer overdue), then those past the forget line."""
        last = self._last_tick
        if last is None or now == last:
            return []
        if now < last:
            return [(now - self._limit, last - self._limit)]
        return [(last - self._limit, now - self._limit), (last - self._forget_after, now - self._forget_after)]

    def _judged_between(self, start: datetime, end: datetime) -> list[WaitingMessage]:
        """The messages waiting since `start` up to `end` that a tick judged already (the fresh ones are judged
        apart)."""
        return [m for m in self._waiting.between(start, end) if m.post_id not in self._fresh]

    def _named_about(self, subjects: Collection[Subject]) -> dict[Subject, tuple[list[Entry], datetime, int]]:
        """Each subject's messages its finding names, oldest first (of one time: in arrival order): the newest
        NAMED_NEWEST and the others the links may know (all while it may be any); since when the oldest of all waits
        (as it was held: the finding shows it in its zone); and the first arrival among all of them."""
        seen = self._seen
        named = {}
        for subject, (newest, oldest_entry, first_arrival) in self._waiting.about(
                subjects, None if seen is None else NAMED_NEWEST).items():
            older = sorted(entry for entry in (seen or {}).get(subject, {}).values() if entry < newest[0])
            oldest = self._waiting.get(oldest_entry[2])
            assert oldest is not None  # the subject's figures count it
            named[subject] = (older + newest, oldest.since, first_arrival)
        return named

    def on_tick(self, now: datetime) -> list[Finding]:
        try:
            self._advance(now)
            return self._findings(now)
        finally:
            self._waiting.end_batch()

    def _advance(self, now: datetime) -> None:
        limit, forget_after = self._limit, self._forget_after
        self._newest_tick = max(now, self._newest_tick or now)
        spans = self._spans(now)
        clock_went_back = self._last_tick is not None and now < self._last_tick
        if spans:
            for message in self._judged_between(*spans[0]):
                self._count_overdue(message, -1 if clock_went_back else 1)
        if clock_went_back:
            self._changed_subjects.update(self._figures)
        forgotten = self._judged_between(*spans[1]) if len(spans) > 1 else []
        for message in [m for post_id in list(self._fresh) if (m := self._waiting.get(post_id)) is not None]:
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
        for subject in self._changed_subjects:
            if subject not in self._figures:
                continue
            waiting, overdue = figures = tuple(self._figures[subject])
            if overdue < self.options.min_overdue and waiting < self.options.pile_up:
                continue
            if self._last_reported.get(subject) != figures:  # else nothing changed since the last tick
                due[subject] = (waiting, overdue)
        about = self._named_about(list(due))  # read before anything is noted: a failed read is tried next tick
        findings = []
        # In the order the subjects' oldest waiting messages arrived, as a pass over every waiting message had.
        for subject in sorted(due, key=lambda subject: about[subject][2]):
            entries, oldest, _ = about[subject]
            waiting, overdue = self._last_reported[subject] = due[subject]
            kind, subject_id = subject
            findings.append(Finding(
                subject_kind=kind, subject_id=subject_id, at=now, magnitude=waiting,
                title=f"{subject_id}：{waiting}条留言未回复，其中{overdue}条超过{self.options.max_days:g}天",
                summary=f"最早一条留言于{oldest:%Y-%m-%d %H:%M}发布，至今未见回复。",
                post_ids=tuple(map(POST_ID, entries)),  # oldest first
                evidence={"unanswered": waiting, "overdue": overdue, "oldest": oldest.isoformat()},
            ))
        self._changed_subjects = set()
        return findings
