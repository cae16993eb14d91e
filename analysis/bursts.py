"""Bursts: is a subject louder or angrier now than in its baseline?

Each enriched post counts for its event, its policies, its departments, its places and the
watchlists it matches, in 5-minute buckets. For each window (the last hour against the 12
before it, the last day against the 14 before it) a subject with at least `min_count` recent
posts yields a `BurstSignal`: recent count and negative share beside the baseline's rate and
negative share. Alert rules read the signals and decide; nothing is judged here.

State survives restarts in the `BurstMemory` handed in (`stores.state.open_burst_memory`): `signals()`
saves it at most once a minute and `close()` at the end; a new tracker loads it. The alert worker saves the
changes at its checkpoints instead (of a subject's counts, the days that changed), and hands in its store as a
`BurstArchive`: then the subjects with no post in any recent window wait there, not in memory, until posted again,
and of the others the days in the middle of the 14-day baseline, which no edge of a window comes near for a day or
more, are held as a sum per day (`_Subject.fold`), their buckets read back from it when the clock brings an edge
near them or a late post comes: a busy place holds the buckets of four days or so, not fifteen.
"""

from __future__ import annotations

import re
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from operator import itemgetter
from typing import Any, Protocol

from analysis.gazetteer import Gazetteer
from yuqing.config.datafiles import Watchlist
from yuqing.schema import BurstSignal, EnrichedPost, Policy, SentimentLabel, aware


@dataclass(frozen=True)
class Window:
    name: str
    recent: timedelta
    baseline: timedelta


DEFAULT_WINDOWS = (
    Window("1h/12h", timedelta(hours=1), timedelta(hours=12)),
    Window("1d/14d", timedelta(days=1), timedelta(days=14)),
)
BUCKET_SECONDS = 300
MIN_COUNT = 5
# A quiet baseline is taken as at least one post per window, so 5 posts after silence read as 5x.
RATE_FLOOR = 1.0
RECENT_IDS = 20
RECENT_KEPT = RECENT_IDS * 5
# A post delivered again (a board revisited, a re-crawl) within this much of the tracker's clock (the time given
# to `signals`) is counted once, whatever the volume; the ids are kept in generations of an eighth of it, each
# dropped whole (they were the 200,000 latest posts: two days at a city's volume, months in a quiet county).
SEEN_KEPT = timedelta(days=2)
SEEN_GENERATIONS = 8
# Event names held for events not counted yet: the name and the first post come on different topics, a few
# batches apart at most.
PENDING_NAMES = 20_000
COUNTS_TYPE = "i"  # a subject's counts (see `_Subject`)
# The counts are saved by day (of UTC): a checkpoint writes a changed subject's days that changed.
DAY_BUCKETS = 86_400 // BUCKET_SECONDS
FOLDED = 5  # numbers per folded day (see `_Subject.folded`)
NO_POSTS = ()  # the recent posts of a subject with none in any recent window (one shared empty tuple)
NO_SIGNALS: tuple[BurstSignal, ...] = ()  # what most subjects' evaluation finds (one shared empty tuple)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SAVE_EVERY_SECONDS = 60.0


def _buckets_in(span: timedelta) -> int:
    return int(span.total_seconds()) // BUCKET_SECONDS


def _bucket(when: datetime) -> int:
    # A naive time is Shanghai time, as everywhere in the schema.
    return int((aware(when) - EPOCH).total_seconds()) // BUCKET_SECONDS


def _folded_place(folded: array, day: int) -> int:
    """Where `day` is, or would go, in a subject's folded days (`_Subject.folded`, in order of their days)."""
    return FOLDED * bisect_left(range(len(folded) // FOLDED), day, key=lambda index: folded[FOLDED * index])


class _Subject:
    """One subject's counts, compact: most subjects are events of one post or a few, and the 15-day horizon holds
    every one of them (a dict of bucket lists and a list of tuples took ~830 bytes for a one-post event)."""

    __slots__ = ("_label", "counts", "folded", "recent", "position", "evaluated")

    def __init__(self, label: str, position: int = 0) -> None:
        self._label = label
        self.position = position  # the order subjects were made in: the order their signals come in
        # (bucket, posts, negative posts) triples, oldest bucket first, in 32 bits (a bucket is 6 million now, 840
        # million on the last day a datetime can be): a busy place or policy holds one per 5 minutes of 15 days.
        self.counts = array(COUNTS_TYPE)
        # With an archive, the days that no edge of a window comes near for a while (the middle of the 14-day
        # baseline) are saved there and held as (day, first bucket, last bucket, posts, negative posts), FOLDED
        # numbers each, oldest first, their buckets out of `counts`; None: no day is (most subjects: one day or two).
        self.folded: array | None = None
        # bucket, post id, bucket, post id, ...: the last RECENT_KEPT posts, oldest first (a list once there are any)
        self.recent: Any = NO_POSTS
        # What `BurstTracker.signals` found for this subject, and the clock's buckets it holds for: a post counted or
        # a new name drops it.
        self.evaluated: _Evaluation | None = None

    @property
    def label(self) -> str:
        return self._label

    @label.setter
    def label(self, label: str) -> None:
        self._label = label
        self.evaluated = None

    def count(self, bucket: int, negative: int) -> None:
        self.evaluated = None
        counts = self.counts
        at = len(counts) - 3
        while at >= 0 and counts[at] > bucket:  # posts come mostly in time order: the search starts at the end
            at -= 3
        if at >= 0 and counts[at] == bucket:
            counts[at + 1] += 1
            counts[at + 2] += negative
        else:
            counts[at + 3:at + 3] = array(COUNTS_TYPE, (bucket, 1, negative))

    @property
    def last_bucket(self) -> int:
        # The buckets are in order, and a subject held has one at least (it is forgotten before its last goes).
        last = self.counts[-3] if self.counts else 0
        return last if self.folded is None else max(last, self.folded[-3])

    def fold(self, first_day: int, last_day: int) -> None:
        """Hold the days from `first_day` to `last_day` (saved as they are) as their sums, not their buckets."""
        counts, buckets = self.counts, self.counts[::3]
        start, end = (3 * bisect_left(buckets, day * DAY_BUCKETS) for day in (first_day, last_day + 1))
        if start == end:
            return
        folded = array(COUNTS_TYPE) if self.folded is None else self.folded
        at = start
        while at < end:
            day = counts[at] // DAY_BUCKETS
            day_end = 3 * bisect_left(buckets, (day + 1) * DAY_BUCKETS, at // 3)
            # In its place among the days folded before: a late post may have unfolded a day in their middle.
            place = _folded_place(folded, day)
            folded[place:place] = array(COUNTS_TYPE, (day, counts[at], counts[day_end - 3],
                                                      sum(counts[at + 1:day_end:3]), sum(counts[at + 2:day_end:3])))
            at = day_end
        self.folded = folded
        del counts[start:end]

    def holds_folded(self, day: int) -> bool:
        folded = self.folded
        if folded is None:
            return False
        at = _folded_place(folded, day)
        return at < len(folded) and folded[at] == day

    def folded_days_outside(self, first_day: int, last_day: int) -> list[int]:
        """The folded days before `first_day` or after `last_day`."""
        if self.folded is None:
            return []
        return [day for day in self.folded[::FOLDED] if not first_day <= day <= last_day]

    def unfold(self, days: dict[int, list[int]]) -> None:
        """Hold these folded days' buckets again (`days`: their counts as saved, flat)."""
        folded = self.folded
        assert folded is not None
        for day, numbers in days.items():
            at = _folded_place(folded, day)
            assert folded[at] == day, f"day {day} is not folded"
            del folded[at:at + FOLDED]
            place = 3 * bisect_left(self.counts[::3], day * DAY_BUCKETS)
            self.counts[place:place] = array(COUNTS_TYPE, numbers)
        if not folded:
            self.folded = None

    def folded_between(self, after: int, until: int) -> tuple[int, int]:
        """(posts, negative posts) of the folded days whose buckets are after `after` up to `until` (a day is all
        inside a window's part or all outside it: see `BurstTracker._fold_range`)."""
        folded = self.folded
        if folded is None:
            return 0, 0
        posts = negative = 0
        for at in range(0, len(folded), FOLDED):
            if after < folded[at + 1] and folded[at + 2] <= until:
                posts += folded[at + 3]
                negative += folded[at + 4]
        return posts, negative

    def folded_first_after(self, bucket: int) -> int | None:
        """The first bucket of the folded days after `bucket`."""
        if self.folded is not None:
            for first in self.folded[1::FOLDED]:
                if first > bucket:
                    return first
        return None

    def forget_before(self, bucket: int) -> int | None:
        """Drop the buckets before `bucket`; the first of them (None: there were none)."""
        counts = self.counts
        stale = 0
        while stale < len(counts) and counts[stale] < bucket:
            stale += 3
        first = counts[0] if stale else None
        del counts[:stale]
        return first

    def remember(self, bucket: int, post_id: str) -> None:
        if not self.recent:
            self.recent = [bucket, post_id]
            return
        self.recent += (bucket, post_id)
        if len(self.recent) > 2 * RECENT_KEPT:
            del self.recent[:2]

    def last_ids_between(self, after: int, until: int) -> list[str]:
        """The last RECENT_IDS post ids of buckets after `after` up to `until`, oldest first: read from the newest
        back, as far as needed (a signal per window and batch reads them)."""
        recent = self.recent
        ids: list[str] = []
        for at in range(len(recent) - 2, -1, -2):
            if after < recent[at] <= until:
                ids.append(recent[at + 1])
                if len(ids) == RECENT_IDS:
                    break
        ids.reverse()
        return ids

    def recent_ids(self) -> Iterator[tuple[int, str]]:
        """(bucket, post id) of the last RECENT_KEPT posts, oldest first."""
        return zip(self.recent[::2], self.recent[1::2], strict=True)

    def to_json(self) -> dict[str, Any]:
        """The whole record: the counts as they are held, flat."""
        return {"label": self.label, "counts": self.counts.tolist(), "recent": [list(pair) for pair in self.recent_ids()],
                "position": self.position}

    def changed_days_json(self, days: Iterable[int]) -> dict[str, Any]:
        """The record with the counts of these days only (`DAY_BUCKETS` buckets each; a day without any: an empty
        list), and its last bucket, which the days left out may hold: a place has a bucket per 5 minutes of 15
        days, and a checkpoint writes the day or two that changed, not the fortnight."""
        counts, buckets = self.counts, self.counts[::3]
        by_day = {}
        for day in sorted(days):
            first, last = (3 * bisect_left(buckets, day * DAY_BUCKETS + edge) for edge in (0, DAY_BUCKETS))
            by_day[day] = counts[first:last].tolist()
        return {"label": self.label, "days": by_day, "last_bucket": self.last_bucket,
                "recent": [list(pair) for pair in self.recent_ids()], "position": self.position}

    @classmethod
    def from_json(cls, data: dict[str, Any], position: int) -> _Subject:
        """A subject from its record; `position` when the record has none (saved before subjects kept theirs)."""
        subject = cls(data["label"], data.get("position", position))
        if "counts" in data:
            subject.counts.extend(data["counts"])
        else:  # saved before the counts were kept flat: {bucket: [posts, negative posts]}
            for bucket, (posts, bad) in sorted((int(b), c) for b, c in data["buckets"].items()):
                subject.counts.extend((bucket, posts, bad))
        for bucket, post_id in data["recent"][-RECENT_KEPT:]:
            subject.remember(int(bucket), str(post_id))
        return subject


def every_day_of(data: dict[str, Any], position: int) -> dict[str, Any]:
    """A whole record (in any form saved; `position` when it has none) as `BurstTracker.changes` gives one, with
    every day of its counts: to save by day a subject saved whole before."""
    subject = _Subject.from_json(data, position)
    return subject.changed_days_json({bucket // DAY_BUCKETS for bucket in subject.counts[::3]})


@dataclass(slots=True)
class _Evaluation:
    """A subject's signals as found with the clock in bucket `since`, the same at every bucket before `until` (the
    first at which one of its buckets crosses an edge of a window, of the horizon or of the subject's quietness)
    for as long as no post is counted for it and it keeps its name; only the time they were computed at moves on."""

    since: int
    until: int
    signals: Sequence[BurstSignal]


def _any_of(words: Sequence[str]) -> re.Pattern[str]:
    """A pattern found in a text when any of the words is in it."""
    return re.compile("|".join(map(re.escape, words)))


class WatchlistMatcher:
    """Which watchlists a post matches: a term, and a context word, place or policy when the list names any."""

    def __init__(self, watchlists: Sequence[Watchlist], gazetteer: Gazetteer | None = None) -> None:
        self.watchlists = list(watchlists)
        self.gazetteer = gazetteer
        # Each list's terms, and its context words, as one pattern searched in C: every post is read for every list
        # (a test of each word in turn in Python took twice as long).
        self._patterns = [(_any_of(watchlist.terms), _any_of(watchlist.context) if watchlist.context else None)
                          for watchlist in self.watchlists]

    def _areas(self, places: Iterable[str]) -> set[str]:
        if self.gazetteer is None:
            return set(places)
        return {a for p in places if p in self.gazetteer.places for a in self.gazetteer.lineage(p)}

    def matches(self, post: EnrichedPost) -> list[Watchlist]:
        text = f"{post.title or ''} {post.text}"
        areas: set[str] | None = None
        found = []
        for watchlist, (terms, context) in zip(self.watchlists, self._patterns, strict=True):
            if not terms.search(text) or (context is not None and not context.search(text)):
                continue
            if watchlist.places:
                areas = self._areas(post.places) if areas is None else areas
                if not areas & set(watchlist.places) and not any(p in text for p in watchlist.places):
                    continue
            if watchlist.policies and not {link.id for link in post.policies} & set(watchlist.policies):
                continue
            found.append(watchlist)
        return found


# (subject kind, subject id, the subject's counts as JSON-able data): what the memory keeps.
SubjectRecord = tuple[str, str, dict[str, Any]]


class BurstMemory(Protocol):
    """Where the counts are kept between runs; `save` replaces everything saved before."""

    def save(self, subjects: Iterable[SubjectRecord]) -> None: ...
    def load(self) -> Iterable[SubjectRecord]: ...


class BurstArchive(Protocol):
    """Every subject as the tracker's `changes` were last saved (the alert worker's store, at its checkpoints), each
    with its position, last bucket and whether it is quiet (no post ids kept: nothing in any recent window)."""

    def saved_subjects(self, keys: Sequence[tuple[str, str]]) -> list[SubjectRecord]:
        """The records of these subjects that are saved (the others are not)."""

    def quiet_subjects_after(self, bucket: int) -> list[SubjectRecord]:
        """The records of the quiet subjects whose last bucket is after `bucket`, by position."""

    def next_position(self) -> int:
        """A position after every saved subject's."""

    def saved_counts(self, key: tuple[str, str], days: Sequence[int]) -> dict[int, list[int]]:
        """The counts of these days of a subject as saved (flat, as `_Subject.counts`), by day; a day without any is
        left out."""


class BurstTracker:
    """Volume and negative share per subject, against a baseline, as `BurstSignal`s."""

    def __init__(
        self,
        watchlists: Sequence[Watchlist],
        windows: Sequence[Window] = DEFAULT_WINDOWS,
        *,
        min_count: int = MIN_COUNT,
        gazetteer: Gazetteer | None = None,
        memory: BurstMemory | None = None,
        policies: Sequence[Policy] = (),
    ) -> None:
        self.windows = tuple(windows)
        # Policy titles label policy signals (an alert reads better with a title than an id).
        self.policy_titles = {p.id: p.title for p in policies}
        self.min_count = min_count
        self.matcher = WatchlistMatcher(watchlists, gazetteer)
        self.memory = memory
        # With an archive (`keep_quiet_in`), quiet subjects wait there once saved, not in memory.
        self.archive: BurstArchive | None = None
        self._absent: set[tuple[str, str]] = set()  # not in the archive when `take_back` last looked
        self._lively_taken_back: int | None = None  # the clock's bucket the archive's lively ones were taken back at
        self._subjects: dict[tuple[str, str], _Subject] = {}
        self._next_position = 0
        # The subjects `signals` looks at: all but those with no post in any recent window (most, at a city's volume:
        # the 15-day horizon holds every event of a fortnight), by position (the signals' order) once
        # `_lively_in_order`; each with its position, to be put in order by it in C. A quiet one waits under its last
        # bucket until it is past the horizon or posted again.
        self._lively: dict[tuple[str, str], int] = {}
        self._lively_in_order = True
        self._quiet: dict[int, list[tuple[str, str]]] = {}
        self._now_bucket: int | None = None  # of the last `signals`
        self._oldest: int | None = None  # the horizon's first bucket at the last `signals`: before it, forgotten
        # (start, ids of the posts counted from then on), oldest first; the clock's start before it is first given
        self._seen: list[tuple[datetime, set[str]]] = [(EPOCH, set())]
        # Names of events the clusterer named before their first post arrived (the two come on different topics);
        # a counted event keeps its name with its counts, and a post only knows its own keywords.
        self._event_labels: OrderedDict[str, str] = OrderedDict()
        # What changed since `changes()` was last called: subjects counted or pruned (and the days of their counts
        # that changed), and subjects forgotten.
        self._changed: dict[tuple[str, str], None] = {}
        self._changed_days: dict[tuple[str, str], set[int]] = {}
        self._dropped: set[tuple[str, str]] = set()
        self._horizon = max(w.recent + w.baseline for w in self.windows)
        # How many buckets after a bucket the clock brings it across an edge (see `_next_edge`).
        self._edge_offsets = sorted({0, _buckets_in(self._horizon) + 1, *(_buckets_in(w.recent) for w in self.windows),
                                     *(_buckets_in(w.recent) + _buckets_in(w.baseline) for w in self.windows)})
        # The widest stretch between two edges (behind the clock by these offsets): with an archive, the lively
        # subjects' days inside it are held as their sums (`_Subject.fold`), its buckets being read only summed.
        self._fold_gap = max(pairwise(self._edge_offsets), key=lambda gap: gap[1] - gap[0])
        self._folded: set[tuple[str, str]] = set()  # the subjects holding folded days
        self._folded_until = -1  # a day after every folded day or the last of them: a post after it needs no look
        # The days (`_fold_range`) every folded day was inside when last looked at (None: not since a fold): while the
        # clock keeps them, no folded day can be outside, and the folded subjects are not gone through again.
        self._folds_inside: tuple[int, int] | None = None
        self._saved_at = time.monotonic()
        if memory is not None:
            self._load(memory)

    def subjects_of(self, post: EnrichedPost) -> list[tuple[str, str, str]]:
        """(kind, id, label) of every subject a post counts for."""
        subjects = []
        if post.event_id:
            counted = self._subjects.get(("event", post.event_id))
            label = (counted.label if counted else self._event_labels.get(post.event_id)) \
                or " ".join(post.keywords[:3]) or post.event_id
            subjects.append(("event", post.event_id, label))
        subjects += self._named_subjects_of(post)
        subjects += [("keyword", w.name, w.name) for w in self.matcher.matches(post)]
        return subjects

    def _named_subjects_of(self, post: EnrichedPost) -> list[tuple[str, str, str]]:
        """The policies, departments and places a post counts for: named in it, no text read."""
        return [*(("policy", link.id, self.policy_titles.get(link.id, link.id)) for link in post.policies),
                *(("department", name, name) for name in post.departments),
                *(("place", name, name) for name in post.places)]

    def name_event(self, event_id: str, label: str) -> None:
        """Take an event's name for its signals: its headline title, else its label (top keywords of all its posts)."""
        subject = self._subjects.get(("event", event_id)) or self._take_back([("event", event_id)]).get(
            ("event", event_id))
        if subject is not None:
            if subject.label != label:
                subject.label = label
                self._changed[("event", event_id)] = None
            return
        self._event_labels[event_id] = label
        self._event_labels.move_to_end(event_id)
        if len(self._event_labels) > PENDING_NAMES:
            self._event_labels.popitem(last=False)

    def add(self, post: EnrichedPost) -> None:
        """Count a post once (a redelivered post is ignored)."""
        if any(post.id in ids for _, ids in self._seen):
            return
        if self.archive is not None and post.event_id:
            self._take_back([("event", post.event_id)])  # first: a counted event's posts carry its name
        subjects = self.subjects_of(post)
        bucket = _bucket(post.when)
        day = bucket // DAY_BUCKETS
        if self.archive is not None:
            self._take_back([(kind, subject_id) for kind, subject_id, _ in subjects if kind != "event"])
            if self._folded and day <= self._folded_until:
                self._unfold_day([(kind, subject_id) for kind, subject_id, _ in subjects], day)
        self._seen[-1][1].add(post.id)  # after the archive was read: should that fail, the post is counted later
        negative = int(post.sentiment is not None and post.sentiment.label == SentimentLabel.NEGATIVE)
        changed_days = self._changed_days
        for kind, subject_id, label in subjects:
            key = (kind, subject_id)
            subject = self._subjects.get(key)
            if subject is None:
                subject = self._subjects[key] = _Subject(label, self._next_position)
                self._next_position += 1
                if kind == "event":
                    self._event_labels.pop(subject_id, None)  # the subject carries its name from now on
            elif key not in self._lively:
                self._lively_in_order = False  # a quiet subject posted again: among the others where it was
            self._lively[key] = subject.position
            subject.count(bucket, negative)
            subject.remember(bucket, post.id)
            self._changed[key] = None
            if (days := changed_days.get(key)) is None:
                changed_days[key] = {day}
            else:
                days.add(day)

    def signals(self, now: datetime) -> list[BurstSignal]:
        """A signal per subject and window with at least `min_count` posts in the recent window.

        A subject is worked out again only when a post was counted for it, it was renamed, or the clock has brought one
        of its buckets across an edge since it last was (see `_next_edge`): the others' signals are those found then,
        stamped with `now` (at a city's volume, most subjects with a post in the last day get none in a given batch).

        With a memory, the counts are also saved here at most once a minute, so a worker that
        is killed without `close()` restarts with its baseline."""
        if self.memory is not None and time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS:
            self.save()
        self._advance_seen(now)
        now_bucket = _bucket(now)
        oldest = now_bucket - _buckets_in(self._horizon)
        longest = max(_buckets_in(w.recent) for w in self.windows)
        if self._now_bucket is None or now_bucket < self._now_bucket:
            # The clock is first given, or went back: every subject held is looked at, and those waiting in the
            # archive that have a post in a recent window by this time are taken back.
            self._take_back_lively(now_bucket)
            self._lively = self._by_position({key: subject.position for key, subject in self._subjects.items()})
        elif not self._lively_in_order:
            self._lively = self._by_position(self._lively)
        self._lively_in_order, self._now_bucket, self._lively_taken_back = True, now_bucket, None
        self._unfold_outside(now_bucket)
        # Never back with the clock: what was forgotten stays so (in memory as in the archive).
        self._oldest = oldest if self._oldest is None else max(self._oldest, oldest)
        for bucket in [bucket for bucket in self._quiet if bucket < oldest]:
            for key in self._quiet.pop(bucket):
                quiet = self._subjects.get(key)  # else forgotten already; or posted again since (and lively)
                if quiet is not None and key not in self._lively and quiet.last_bucket < oldest:
                    self._forget(key)
        found: list[BurstSignal] = []
        stamp = aware(now)
        for key in list(self._lively):
            subject = self._subjects[key]
            evaluated = subject.evaluated
            if evaluated is not None and evaluated.since <= now_bucket < evaluated.until:
                # Most subjects at any batch: no post since they were looked at, and no edge crossed since.
                if evaluated.signals and evaluated.signals[0].computed_at is not stamp:
                    evaluated.signals = [signal.model_copy(update={"computed_at": stamp})
                                         for signal in evaluated.signals]
                found += evaluated.signals
                continue
            subject.evaluated = None
            if subject.last_bucket < oldest:
                self._forget(key)
                continue
            if subject.last_bucket <= now_bucket - longest:
                if subject.recent:  # nothing recent in any window: its post ids can never be named again
                    subject.recent = NO_POSTS
                    self._changed[key] = None
                del self._lively[key]
                self._quiet.setdefault(subject.last_bucket, []).append(key)
                continue
            first_forgotten = subject.forget_before(oldest)
            if first_forgotten is not None:
                self._changed[key] = None
                self._changed_days.setdefault(key, set()).update(
                    range(first_forgotten // DAY_BUCKETS, oldest // DAY_BUCKETS + 1))
            # The buckets are in order: each window's runs are found by bisection and summed in C (a place or a
            # department has a bucket every 5 minutes of 15 days, read for every batch).
            buckets = subject.counts[::3]
            signals: list[BurstSignal] = []
            # Fewer posts in the longest recent window than a signal needs (most subjects, at any time: a count over
            # the whole horizon let more through each day it filled): no window can have enough.
            if (sum(subject.counts[3 * bisect_right(buckets, now_bucket - longest) + 1::3])
                    + subject.folded_between(now_bucket - longest, now_bucket + longest)[0]) >= self.min_count:
                for window in self.windows:
                    signal = self._signal(key, subject, buckets, window, stamp, now_bucket)
                    if signal is not None:
                        signals.append(signal)
            subject.evaluated = _Evaluation(now_bucket, self._next_edge(subject, buckets, now_bucket),
                                            signals or NO_SIGNALS)
            found += signals
        return found

    def _next_edge(self, subject: _Subject, buckets: array, now_bucket: int) -> int:
        """The first bucket after `now_bucket` at which the clock brings one of the subject's buckets (`buckets`: those
        it holds, in order; and its folded days') across an edge: into a window's recent part (a post from the
        future), out of it into the baseline, out of the baseline, out of the longest recent window (the prefilter,
        and the subject's quietness when it is its last), or past the horizon. Nothing `signals` finds for the subject
        changes before, but the time it was computed."""
        edges = [buckets[at] + offset for offset in self._edge_offsets
                 if (at := bisect_right(buckets, now_bucket - offset)) < len(buckets)]
        if subject.folded is not None:
            edges += [first + offset for offset in self._edge_offsets
                      if (first := subject.folded_first_after(now_bucket - offset)) is not None]
        return min(edges, default=now_bucket + 1)

    @staticmethod
    def _by_position(positions: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """The subjects in the order of their positions (sorted by a key read in C: most batches revive a few quiet
        subjects, and a lambda reading each subject's position took 0.9 s of the alert stage's 30 on a soak's day)."""
        return dict(sorted(positions.items(), key=itemgetter(1)))

    def take_back(self, posts: Sequence[EnrichedPost], event_ids: Sequence[str], now: datetime) -> None:
        """Bring back from the archive, in one look, every subject that `name_event` for these events, `add` for these
        posts and `signals(now)` will read: then they read nothing from it (a store that is down fails the batch
        here, before anything is counted). Every watchlist's, rather than match the posts' text twice: they are few."""
        if self.archive is None:
            return
        if self._now_bucket is None or _bucket(now) < self._now_bucket:
            self._take_back_lively(_bucket(now))
        self._unfold_outside(_bucket(now))
        if self._folded:  # a late post is counted in a folded day: its buckets are read back now
            watched = [("keyword", watchlist.name) for watchlist in self.matcher.watchlists]
            for post in posts:
                day = _bucket(post.when) // DAY_BUCKETS
                if day <= self._folded_until:
                    keys = [(kind, sid) for kind, sid, _ in self._named_subjects_of(post)] + watched
                    self._unfold_day(keys + [("event", post.event_id)] if post.event_id else keys, day)
        wanted = [("event", event_id) for event_id in event_ids]
        wanted += [("event", post.event_id) for post in posts if post.event_id]
        wanted += [(kind, sid) for post in posts for kind, sid, _ in self._named_subjects_of(post)]
        wanted += [("keyword", watchlist.name) for watchlist in self.matcher.watchlists]
        self._absent = set()
        missing = [key for key in dict.fromkeys(wanted) if key not in self._subjects]
        self._absent = set(missing) - set(self._take_back(missing))

    def _take_back(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], _Subject]:
        """The subjects of `keys` that wait in the archive, back in memory (quiet: `add` makes them lively)."""
        if self.archive is None:
            return {}
        missing = [key for key in keys if key not in self._subjects and key not in self._absent]
        return self._take_back_records(self.archive.saved_subjects(missing)) if missing else {}

    def _take_back_lively(self, now_bucket: int) -> None:
        """Those waiting in the archive that have a post in a recent window by `now_bucket` (once until `signals`
        has run at it: `take_back` may have done it for the batch)."""
        if self.archive is not None and self._lively_taken_back != now_bucket:
            longest = max(_buckets_in(w.recent) for w in self.windows)
            self._take_back_records(self.archive.quiet_subjects_after(now_bucket - longest))
            self._lively_taken_back = now_bucket

    def _take_back_records(self, records: Iterable[SubjectRecord]) -> dict[tuple[str, str], _Subject]:
        """Subjects from the archive, held as quiet ones (those past the horizon are forgotten: the next checkpoint
        deletes them, as it would had they been held)."""
        taken = {}
        for kind, sid, data in records:
            key, subject = (kind, sid), _Subject.from_json(data, self._next_position)
            if key not in self._subjects and (self._oldest is None or subject.last_bucket >= self._oldest):
                taken[key] = self._subjects[key] = subject
                self._quiet.setdefault(subject.last_bucket, []).append(key)
                self._rewrite_if_saved_whole(key, data)
        return taken

    def _rewrite_if_saved_whole(self, key: tuple[str, str], data: dict[str, Any]) -> None:
        """A record saved before the counts were kept flat has them in its own form, not by day (the store moved
        the others' flat counts to their days): the next `changes()` gives every day of it (a day's changes alone
        would leave the others unsaved)."""
        if "buckets" in data:
            self._changed[key] = None
            self._changed_days[key] = {bucket // DAY_BUCKETS for bucket in self._subjects[key].counts[::3]}

    def _fold_range(self, now_bucket: int) -> tuple[int, int]:
        """The first and last day whose buckets all lie inside the widest stretch between two edges (`_fold_gap`)
        with the clock in `now_bucket`: days held folded must stay inside (`_unfold_outside`)."""
        near, far = self._fold_gap
        return (now_bucket - far) // DAY_BUCKETS + 1, (now_bucket - near + 1) // DAY_BUCKETS - 1

    def _fold_saved(self) -> None:
        """Fold the lively subjects' days that are saved and lie inside the stretch with a day to spare (the clock
        takes a day to bring the stretch's far edge to them)."""
        if self.archive is None or self._now_bucket is None:
            return
        first_day, last_day = self._fold_range(self._now_bucket)
        first_day += 1
        if first_day > last_day:
            return
        start, end = first_day * DAY_BUCKETS, (last_day + 1) * DAY_BUCKETS
        for key in self._lively:
            counts = self._subjects[key].counts
            if counts and counts[0] < end and counts[-3] >= start and (
                    bisect_left(counts[::3], start) < bisect_left(counts[::3], end)):
                self._subjects[key].fold(first_day, last_day)
                self._folded.add(key)
                self._folded_until = max(self._folded_until, last_day)
                self._folds_inside = None

    def _unfold(self, key: tuple[str, str], subject: _Subject, days: list[int]) -> None:
        assert self.archive is not None  # days are folded only once saved there
        saved = self.archive.saved_counts(key, days)
        subject.unfold({day: saved.get(day, []) for day in days})
        if subject.folded is None:
            self._folded.discard(key)

    def _unfold_outside(self, now_bucket: int) -> None:
        """Hold again the buckets of the folded days that the clock in `now_bucket` brought out of the stretch (by a
        day, at the far edge; back with the clock, at the near one)."""
        first_day, last_day = self._fold_range(now_bucket)
        if self._folds_inside == (first_day, last_day):
            return  # the clock has not moved the days since they were looked at (most batches: it moves daily)
        for key in list(self._folded):
            subject = self._subjects.get(key)
            if subject is None or subject.folded is None:
                self._folded.discard(key)
            elif days := subject.folded_days_outside(first_day, last_day):
                self._unfold(key, subject, days)
        self._folds_inside = (first_day, last_day)

    def _unfold_day(self, keys: Iterable[tuple[str, str]], day: int) -> None:
        """Hold again the buckets of this day of these subjects if it is folded: a late post is counted in it."""
        for key in keys:
            subject = self._subjects.get(key)
            if subject is not None and subject.holds_folded(day):
                self._unfold(key, subject, [day])

    def _forget(self, key: tuple[str, str]) -> None:
        del self._subjects[key]
        self._lively.pop(key, None)
        self._changed.pop(key, None)
        self._changed_days.pop(key, None)
        self._dropped.add(key)

    def _advance_seen(self, now: datetime) -> None:
        now, seen = aware(now), self._seen
        if now - seen[-1][0] >= SEEN_KEPT / SEEN_GENERATIONS:
            seen.append((now, set()))
        # A generation's posts were counted before the next one started: SEEN_KEPT after that, all of them go.
        while len(seen) > 1 and now - seen[1][0] >= SEEN_KEPT:
            del seen[0]

    def _signal(
        self, key: tuple[str, str], subject: _Subject, buckets: array, window: Window, now: datetime, now_bucket: int
    ) -> BurstSignal | None:
        """The subject's signal in `window`, if it has enough recent posts (`buckets`: its counts' buckets)."""
        recent_start = now_bucket - _buckets_in(window.recent)
        base_start = recent_start - _buckets_in(window.baseline)
        counts = subject.counts
        first, middle, last = (3 * bisect_right(buckets, edge) for edge in (base_start, recent_start, now_bucket))
        base_count, base_negative = sum(counts[first + 1:middle:3]), sum(counts[first + 2:middle:3])
        count, negative = sum(counts[middle + 1:last:3]), sum(counts[middle + 2:last:3])
        folded_base, folded_base_negative = subject.folded_between(base_start, recent_start)
        folded_recent, folded_recent_negative = subject.folded_between(recent_start, now_bucket)
        base_count, base_negative = base_count + folded_base, base_negative + folded_base_negative
        count, negative = count + folded_recent, negative + folded_recent_negative
        if count < self.min_count:
            return None
        rate = base_count * (window.recent / window.baseline)
        ids = subject.last_ids_between(recent_start, now_bucket)
        return BurstSignal(
            subject_kind=key[0],
            subject_id=key[1],
            label=subject.label,
            window=window.name,
            count=count,
            negative=negative,
            baseline_rate=round(rate, 4),
            negative_share=round(negative / count, 4),
            baseline_negative_share=round(base_negative / base_count, 4) if base_count else 0.0,
            ratio=round(count / max(rate, RATE_FLOOR), 4),
            computed_at=aware(now),
            post_ids=ids,
        )

    # -- persistence ------------------------------------------------------------------------
    def records(self) -> list[SubjectRecord]:
        """The counts as JSON-able records (what a memory keeps): the folded days read back."""
        for key in list(self._folded):
            subject = self._subjects.get(key)
            if subject is not None and subject.folded is not None:
                self._unfold(key, subject, list(subject.folded[::FOLDED]))
        self._folded = set()
        return [(kind, sid, subject.to_json()) for (kind, sid), subject in self._subjects.items()]

    def changes(self) -> tuple[Iterator[SubjectRecord], list[tuple[str, str]]]:
        """What changed since the last `changes_saved()` (or since the tracker was built or restored): the records
        of the subjects counted, renamed or pruned (new ones in the order they were made), and the (kind, id) of
        those forgotten. A record holds the counts of the days that changed (`_Subject.changed_days_json`), and its
        other days are as they were saved: so saved over what was saved before, they give what `records()` gives, at
        a cost that follows the change, not the counts held (a busy place's 15 days were written at every
        checkpoint).

        The records are made one by one as they are read (read them before the tracker is fed again)."""
        subjects, days = self._subjects, self._changed_days
        return ((kind, sid, subjects[(kind, sid)].changed_days_json(days.get((kind, sid), ())))
                for kind, sid in list(self._changed)), sorted(self._dropped)

    def changes_saved(self) -> None:
        """The last `changes()` are kept: the next ones start from here. With an archive, it holds the quiet subjects
        as they are now: they leave memory."""
        self._changed, self._changed_days, self._dropped = {}, {}, set()
        if self.archive is not None:
            self._absent = set()  # what was made since it was looked in is saved there now, and may be set aside
            for keys in self._quiet.values():
                for key in keys:
                    if key not in self._lively:
                        self._subjects.pop(key, None)
            self._quiet = {}
            self._fold_saved()

    def forgotten_before(self) -> int | None:
        """The bucket before which a subject's last post leaves it forgotten (None before the clock is given)."""
        return self._oldest

    def keep_quiet_in(self, archive: BurstArchive) -> None:
        """Let quiet subjects wait in `archive` once their changes are saved there (see `BurstArchive`)."""
        self.archive = archive
        self._next_position = max(self._next_position, archive.next_position())

    def save(self) -> None:
        """Hand the counts to the memory (whole: it replaces what it held)."""
        if self.memory is None:
            return
        self._saved_at = time.monotonic()
        self.memory.save(self.records())

    def _load(self, memory: BurstMemory) -> None:
        self.restore(memory.load())

    def restore(self, records: Iterable[SubjectRecord]) -> None:
        """Take back what `records` returned, replacing the counts held now."""
        self._subjects.clear()
        self._lively, self._lively_in_order, self._quiet, self._now_bucket, self._oldest = {}, True, {}, None, None
        self._absent, self._lively_taken_back = set(), None
        self._seen = [(EPOCH, set())]
        self._changed, self._changed_days, self._dropped, self._folded = {}, {}, set(), set()
        self._folds_inside = None
        for kind, sid, data in records:
            subject = self._subjects[(kind, sid)] = _Subject.from_json(data, self._next_position)
            self._next_position = max(self._next_position, subject.position + 1)
            self._lively[(kind, sid)] = subject.position
            self._seen[-1][1].update(pid for _, pid in subject.recent_ids())
            self._rewrite_if_saved_whole((kind, sid), data)

    def close(self) -> None:
        self.save()
