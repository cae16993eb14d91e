"""Bursts: is a subject louder or angrier now than in its baseline?

Each enriched post counts for its event, its policies, its departments, its places and the
watchlists it matches, in 5-minute buckets. For each window (the last hour against the 12
before it, the last day against the 14 before it) a subject with at least `min_count` recent
posts yields a `BurstSignal`: recent count and negative share beside the baseline's rate and
negative share. Alert rules read the signals and decide; nothing is judged here.

State survives restarts in the `BurstMemory` handed in (`stores.state.open_burst_memory`): `signals()`
saves it at most once a minute and `close()` at the end; a new tracker loads it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
SEEN_POSTS = 200_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SAVE_EVERY_SECONDS = 60.0


def _bucket(when: datetime) -> int:
    # A naive time is Shanghai time, as everywhere in the schema.
    return int((aware(when) - EPOCH).total_seconds()) // BUCKET_SECONDS


@dataclass
class _Subject:
    label: str
    buckets: dict[int, list[int]] = field(default_factory=dict)  # bucket -> [posts, negative posts]
    # The last RECENT_KEPT (bucket, post id), oldest first. A list, not a deque: most subjects (events) see one
    # post or a few, an empty deque alone takes about 600 bytes, and the 15-day horizon holds every event of it.
    recent: list[tuple[int, str]] = field(default_factory=list)
    last_bucket: int = 0


class WatchlistMatcher:
    """Which watchlists a post matches: a term, and a context word, place or policy when the list names any."""

    def __init__(self, watchlists: Sequence[Watchlist], gazetteer: Gazetteer | None = None) -> None:
        self.watchlists = list(watchlists)
        self.gazetteer = gazetteer

    def _areas(self, places: Iterable[str]) -> set[str]:
        if self.gazetteer is None:
            return set(places)
        return {a for p in places if p in self.gazetteer.places for a in self.gazetteer.lineage(p)}

    def matches(self, post: EnrichedPost) -> list[Watchlist]:
        text = f"{post.title or ''} {post.text}"
        areas: set[str] | None = None
        found = []
        for watchlist in self.watchlists:
            if not any(term in text for term in watchlist.terms):
                continue
            if watchlist.context and not any(word in text for word in watchlist.context):
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
        self._subjects: dict[tuple[str, str], _Subject] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        # Event labels as the clusterer last named them; a post only knows its own keywords.
        self._event_labels: OrderedDict[str, str] = OrderedDict()
        self._horizon = max(w.recent + w.baseline for w in self.windows)
        self._saved_at = time.monotonic()
        if memory is not None:
            self._load(memory)

    def subjects_of(self, post: EnrichedPost) -> list[tuple[str, str, str]]:
        """(kind, id, label) of every subject a post counts for."""
        subjects = []
        if post.event_id:
            label = self._event_labels.get(post.event_id) or " ".join(post.keywords[:3]) or post.event_id
            subjects.append(("event", post.event_id, label))
        subjects += [("policy", link.id, self.policy_titles.get(link.id, link.id)) for link in post.policies]
        subjects += [("department", name, name) for name in post.departments]
        subjects += [("place", name, name) for name in post.places]
        subjects += [("keyword", w.name, w.name) for w in self.matcher.matches(post)]
        return subjects

    def name_event(self, event_id: str, label: str) -> None:
        """Take an event's name for its signals: its headline title, else its label (top keywords of all its posts)."""
        self._event_labels[event_id] = label
        self._event_labels.move_to_end(event_id)
        if len(self._event_labels) > SEEN_POSTS:
            self._event_labels.popitem(last=False)
        subject = self._subjects.get(("event", event_id))
        if subject is not None:
            subject.label = label

    def add(self, post: EnrichedPost) -> None:
        """Count a post once (a redelivered post is ignored)."""
        if post.id in self._seen:
            return
        self._seen[post.id] = None
        if len(self._seen) > SEEN_POSTS:
            self._seen.popitem(last=False)
        bucket = _bucket(post.when)
        negative = int(post.sentiment is not None and post.sentiment.label == SentimentLabel.NEGATIVE)
        for kind, subject_id, label in self.subjects_of(post):
            subject = self._subjects.get((kind, subject_id))
            if subject is None:
                subject = self._subjects[(kind, subject_id)] = _Subject(label=label)
            counts = subject.buckets.setdefault(bucket, [0, 0])
            counts[0] += 1
            counts[1] += negative
            subject.recent.append((bucket, post.id))
            if len(subject.recent) > RECENT_KEPT:
                del subject.recent[0]
            subject.last_bucket = max(subject.last_bucket, bucket)

    def signals(self, now: datetime) -> list[BurstSignal]:
        """A signal per subject and window with at least `min_count` posts in the recent window.

        With a memory, the counts are also saved here at most once a minute, so a worker that
        is killed without `close()` restarts with its baseline."""
        if self.memory is not None and time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS:
            self.save()
        now_bucket = _bucket(now)
        oldest = now_bucket - int(self._horizon.total_seconds()) // BUCKET_SECONDS
        longest = max(int(w.recent.total_seconds()) // BUCKET_SECONDS for w in self.windows)
        found: list[BurstSignal] = []
        for key in list(self._subjects):
            subject = self._subjects[key]
            if subject.last_bucket < oldest:
                del self._subjects[key]
                continue
            if subject.last_bucket <= now_bucket - longest:
                continue  # nothing recent in any window
            for stale in [b for b in subject.buckets if b < oldest]:
                del subject.buckets[stale]
            for window in self.windows:
                signal = self._signal(key, subject, window, now, now_bucket)
                if signal is not None:
                    found.append(signal)
        return found

    def _signal(
        self, key: tuple[str, str], subject: _Subject, window: Window, now: datetime, now_bucket: int
    ) -> BurstSignal | None:
        recent_start = now_bucket - int(window.recent.total_seconds()) // BUCKET_SECONDS
        base_start = recent_start - int(window.baseline.total_seconds()) // BUCKET_SECONDS
        count = negative = base_count = base_negative = 0
        for bucket, (posts, bad) in subject.buckets.items():
            if recent_start < bucket <= now_bucket:
                count += posts
                negative += bad
            elif base_start < bucket <= recent_start:
                base_count += posts
                base_negative += bad
        if count < self.min_count:
            return None
        rate = base_count * (window.recent / window.baseline)
        ids = [pid for bucket, pid in subject.recent if recent_start < bucket <= now_bucket][-RECENT_IDS:]
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
        """The counts as JSON-able records (what a memory keeps)."""
        return [(kind, sid, {"label": s.label, "buckets": s.buckets, "recent": list(s.recent)})
                for (kind, sid), s in self._subjects.items()]

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
        self._seen.clear()
        for kind, sid, data in records:
            subject = _Subject(label=data["label"])
            subject.buckets = {int(b): list(c) for b, c in data["buckets"].items()}
            subject.recent = [(int(b), str(p)) for b, p in data["recent"]][-RECENT_KEPT:]
            subject.last_bucket = max(subject.buckets, default=0)
            self._subjects[(kind, sid)] = subject
            self._seen.update((pid, None) for _, pid in subject.recent)

    def close(self) -> None:
        self.save()
