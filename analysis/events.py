"""Reprints and events: near-duplicate detection with SimHash, then online clustering.

A 转载 copy (same text, maybe a different headline, a source line, a few words changed) is
found by SimHash: 64-bit fingerprints within 3 bits of each other, looked up by keys made of two of
five blocks of bits (two fingerprints within 3 bits agree exactly on at least two blocks). A post of several
paragraphs also has its first paragraph fingerprinted: a weibo that copies an article's lead is
its copy too. A copy is linked to the earliest original and joins its event without moving it.
Crawl order is not publication order: when the original arrives after its copies, the copies are
re-linked to it (`take_relinked`) and the original joins their event.

Other posts join the active event whose keyword centroid is most similar (cosine), unless the
post names districts and not the one the event is mostly in. A post sharing a distinctive anchor with an
event (a #topic#, or a named neighbourhood such as 化肥厂家属院) counts as at least 0.5 close to it,
whatever other districts it names: replies naming the place are the incident even when their words differ.
Merging needs more than joining: a post merges two events (into the larger) when its words, with and
without its place names, are at least 0.5 similar to each and the two are mostly in one district; or when
it names the estate both are mostly about, in one district. An anchor shared with only one of them, a #topic#
(anyone adds one to a post on anything) or a county's name (in every complaint made there) merges nothing:
such evidence chained a month's incidents into one event holding most posts (bench.soak). A repost,
reply or comment joins the event of the post it answers (or of the page it sits on), like a reprint; one
crawled before its original waits in an event of its own, folded into the original's when it arrives.
A post with no thread, no anchor and no keyword ("顶", "同问") opens no event; one keyword is enough
(many short "又停水了" posts are an event). Event ids derive from the first post's id, so they are
stable across restarts and runs.

Candidates come from capped postings (term or anchor -> the events that most recently took a post with
it), and idle events leave memory through a time-ordered queue: the cost per post does not grow with
the number of events (bench/events_bench.py).
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import itertools
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from operator import itemgetter, mul
from typing import Any, Protocol, cast

import numpy as np

from analysis.titles import Headline, HeadlineKind, composed_title
from yuqing.schema import Event

FINGERPRINT_BITS = 64
MAX_REPRINT_DISTANCE = 3
# Near copies are looked up by keys. The 64 bits are cut into five blocks of 13, 13, 13, 13 and 12 bits (the
# lowest first): two fingerprints within 3 bits differ in at most three blocks, so agree on at least two, and
# each pair of blocks (ten pairs: a 25- or 26-bit key each) is a key. Every near copy shares a key with the
# post; an unrelated fingerprint shares one by chance with odds of about 2 in 10 million, so the rows a lookup
# reads back stay few however many a week's window holds (four 16-bit bands, one of which near copies share,
# had odds of 6 in 100,000: 29 rows a post at a week of 100,000 posts a day; bench/band_recall.py).
KEY_BLOCKS = (13, 13, 13, 13, 12)
_BLOCKS = tuple((sum(KEY_BLOCKS[:n]), width) for n, width in enumerate(KEY_BLOCKS))  # (shift, width) of each
# ((shift, width) of the low block, (shift, width) of the high block) of each key: the key is the low block's
# bits, then the high block's above them.
KEY_PAIRS = tuple(itertools.combinations(_BLOCKS, 2))
# Below this many characters a "copy" is usually a stock phrase (转发微博, 支持), not a reprint.
MIN_REPRINT_CHARS = 30
MIN_REPRINT_FEATURES = 8

JOIN_SIMILARITY = 0.3
MERGE_SIMILARITY = 0.5
CENTROID_TERMS = 40
CENTROID_KEPT = 200
# An event's top terms, which posts are scored against, are taken again once it grew by this factor (see
# EventState.terms_scored).
TERMS_RETAKEN_AFTER = 1.1
# Events remembered per term or anchor (the most recently joined), and how many of those sharing
# the most keyword weight with a post are scored exactly.
POSTINGS_PER_KEY = 24
SCORED_CANDIDATES = 8
# A post opens an event only with this many keywords, an anchor or a thread to hold it together.
MIN_EVENT_TERMS = 1
ACTIVE_FOR = timedelta(days=7)
# Events held in memory when a store keeps the others (EventClusterer's `memory`): about 5 KB each. The
# events a post joins are mostly ones joined within hours; one older is read back from the store.
EVENTS_HELD = 10_000
REPRESENTATIVES = 5
LABEL_TERMS = 3
# Title candidates an event keeps (the best by score), and how much better than the shown title
# another must score to replace it: a title does not flip back and forth as posts join.
HEADLINES_KEPT = 6
TITLE_KEEP_SHARE = 0.8
# A shared anchor makes a post at least this similar to an event: enough to join it, not to merge it with
# another (see EventClusterer.assign).
ANCHOR_SIMILARITY = MERGE_SIMILARITY
MAX_ANCHORS = 5
_HASHTAG = re.compile(r"#([^#\s]{2,40})#")
# Words ending so name one housing estate or village; the qualifiers before them make a category.
PLACE_SUFFIXES = ("家属院", "家属楼", "小区", "社区", "新村", "花园", "宿舍", "大院", "村")
# One of them at the end of a line: searched for, not matched from each line's start (`^.*` tried the suffixes at
# every character of every line, backtracking), so `re` skips to the characters a suffix starts with.
_PLACE_SUFFIX_AT_END = re.compile(f"(?m)(?:{'|'.join(PLACE_SUFFIXES)})$")
GENERIC_QUALIFIERS = frozenset({"老旧", "居民", "整个", "我们", "你们", "他们", "这个", "那个", "附近", "周边",
                                "城中", "新建", "商品房", "回迁", "安置", "农村", "城市", "乡村", "美丽"})


# One tzinfo object per UTC offset (see `in_shared_zone`).
_ZONES: dict[timedelta, timezone] = {}


def in_shared_zone(when: datetime) -> datetime:
    """`when` (the same instant, at the same offset: written the same) with the one tzinfo object of its fixed offset.
    CPython compares two aware datetimes sharing their tzinfo object as naive ones, others by asking both for their
    offset, some twenty times slower; times parsed from JSON or read from a store each have an object of their own,
    and the clusterer compares times in every heap, window and candidate test. A named zone's time (its offset may
    change with the date) is left as it is."""
    zone = when.tzinfo
    offset = zone.utcoffset(None) if zone is not None else None
    if offset is None:
        return when
    shared = _ZONES.get(offset)
    if shared is None:
        shared = _ZONES[offset] = timezone(offset)
    return when if zone is shared else when.replace(tzinfo=shared)


def anchors_of(text: str, words: Sequence[str]) -> list[str]:
    """Distinctive anchors of a post: its #topics# and the named estates or villages among its words."""
    found = [f"#{tag}#" for tag in _HASHTAG.findall(text)] if "#" in text else []
    # The few words with a place's suffix, found by one scan of the words written one a line (a str.endswith call a
    # word cost several times more); words that hold a line break themselves (no segmenter's do) are tested alone.
    lines = "\n".join(words)
    suffixed = ([lines[lines.rfind("\n", 0, end.start()) + 1 : end.end()] for end in _PLACE_SUFFIX_AT_END.finditer(lines)]
                if lines.count("\n") == len(words) - 1 else [word for word in words if word.endswith(PLACE_SUFFIXES)])
    for word in suffixed:
        suffix = next(s for s in PLACE_SUFFIXES if word.endswith(s))
        qualifier = word[: -len(suffix)]
        if len(qualifier) >= 2 and qualifier not in GENERIC_QUALIFIERS:
            found.append(word)
    return list(dict.fromkeys(found))[:MAX_ANCHORS]


def _feature_hash(feature: str) -> bytes:
    """The feature's 64-bit hash, as the bytes of a little-endian integer."""
    return hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()


_hash_cache: dict[str, bytes] = {}
HASH_CACHE_SIZE = 200_000  # about 25 MB: the vocabulary of recent posts


def _hash_bytes(features: list[str]) -> bytes:
    """The features' hashes one after the other (8 bytes each), each new feature hashed once and kept."""
    try:
        return b"".join(map(_hash_cache.__getitem__, features))
    except KeyError:  # some words are new: only those are hashed (set difference in C)
        new = set(features).difference(_hash_cache)
        if len(_hash_cache) + len(new) > HASH_CACHE_SIZE:
            _hash_cache.clear()
            new = set(features)
        _hash_cache.update(zip(new, map(_feature_hash, new), strict=True))
        return b"".join(map(_hash_cache.__getitem__, features))


def simhashes(feature_lists: Sequence[Sequence[str]]) -> list[int]:
    """The 64-bit SimHash of each list of features (each counted as often as it occurs; 0 for none), all lists
    counted at once: bit i of a list's majority is set where more than half of its features' hashes have bit i set.

    The bytes of the bitwise majority are read in reverse order: fingerprints keep the layout they
    always had (NumPy's unpackbits/packbits), so fingerprints already stored still compare."""
    lengths = np.fromiter(map(len, feature_lists), dtype=np.intp, count=len(feature_lists))
    counted = np.flatnonzero(lengths)  # reduceat gives an empty list the next list's first row, not zeros
    found = np.zeros(len(feature_lists), dtype=np.uint64)
    if counted.size:
        hashes = np.frombuffer(_hash_bytes(list(itertools.chain.from_iterable(feature_lists))), dtype=np.uint8)
        # Row f, column i: bit i of feature f's hash (byte i // 8 of the little-endian hash, bit i % 8).
        bits = np.unpackbits(hashes.reshape(-1, 8), axis=1, bitorder="little")
        starts = (np.cumsum(lengths) - lengths)[counted]
        votes = np.add.reduceat(bits, starts, axis=0, dtype=np.int32)
        majority = votes > (lengths[counted] // 2)[:, np.newaxis]
        # Byte j of a packed row is bits 8j..8j+7 of the majority: its little-endian bytes, read big-endian.
        found[counted] = np.packbits(majority, axis=1, bitorder="little").view(">u8").ravel()
    return found.tolist()


def simhash(features: Sequence[str]) -> int:
    """64-bit SimHash of the features (`simhashes` of one list)."""
    return simhashes([features])[0]


def reprint_simhashes_many(posts: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[tuple[int | None, int | None]]:
    """`reprint_simhashes` of each (features, lead_features) pair, all hashed at once."""
    long_enough = [features for pair in posts for features in pair if len(features) >= MIN_REPRINT_FEATURES]
    hashed = iter(simhashes(long_enough))
    return [(next(hashed) if len(features) >= MIN_REPRINT_FEATURES else None,
             next(hashed) if len(lead) >= MIN_REPRINT_FEATURES else None) for features, lead in posts]


def reprint_simhashes(features: Sequence[str], lead_features: Sequence[str] = ()) -> tuple[int | None, int | None]:
    """A post's SimHash and its first paragraph's (`lead_features`, when it has several), each None when made of
    too few features to tell a copy from a stock phrase."""
    return reprint_simhashes_many([(features, lead_features)])[0]


def most_common(counts: Counter[str], n: int) -> list[tuple[str, Any]]:
    """`counts.most_common(n)`, in the same order (the highest first, ties in the order the keys were added: a stable
    sort, which is what heapq.nlargest amounts to) with one C sort instead of nlargest's loop in Python: a tenth of the
    time over a centroid's hundred terms."""
    return sorted(counts.items(), key=itemgetter(1), reverse=True)[:n]


_KEY_PARTS = tuple((pair, low_shift, (1 << low_width) - 1, high_shift, (1 << high_width) - 1, low_width)
                   for pair, ((low_shift, low_width), (high_shift, high_width)) in enumerate(KEY_PAIRS))


# Fingerprints whose keys are kept (about 1 KB each: 4 MB). A fingerprint's keys are asked for again and again: a
# batch's are computed for its read (`ReprintDetector.recall`), again for each post's look-up and when it is held;
# the rows read back are checked by theirs and sorted by them; copies of one story share one fingerprint, read back
# at each of its next copies. Three calls in four were for a fingerprint seen before on bench.throughput's stream,
# seven in ten on bench.events_history's 7-day state (eight in ten with 65,536 kept).
KEYS_CACHED = 4096


@functools.lru_cache(maxsize=KEYS_CACHED)
def fingerprint_keys(fingerprint: int) -> tuple[tuple[int, int], ...]:
    """(pair, key) of each of KEY_PAIRS: what a fingerprint is looked up by."""
    return tuple([(pair, fingerprint >> low_shift & low_mask | (fingerprint >> high_shift & high_mask) << low_width)
                  for pair, low_shift, low_mask, high_shift, high_mask, low_width in _KEY_PARTS])


@dataclass(slots=True)
class Fingerprint:
    post_id: str
    value: int
    when: datetime
    original: str  # the earliest original's id (its own id when it is the original)
    event_id: str | None
    lead: int | None = None  # SimHash of the first paragraph, for a post of several paragraphs


class ClusterMemory(Protocol):
    """Where the clusterer reads back what it handed over to be saved and no longer holds
    (`stores.analysis_state`): analysed posts' fingerprints and threads, and events. A city's week is
    too much to hold, and a restart would have to read all of it. What it returns may be older than
    the clusterer's window: the clusterer filters by time."""

    def event(self, event_id: str) -> EventState | None: ...
    def latest_events(self, limit: int) -> list[EventState]: ...
    def fingerprint(self, post_id: str) -> Fingerprint | None: ...
    def fingerprints_keyed(
        self, value_keys: Sequence[tuple[int, int]], lead_keys: Sequence[tuple[int, int]]
    ) -> list[Fingerprint]: ...
    def copies_of(self, post_id: str) -> list[Fingerprint]: ...
    def thread(self, key: str, since: datetime | None) -> tuple[str, datetime] | None: ...
    # `fingerprint` and `thread` of a batch's posts in a few reads (see EventClusterer.recall).
    def fingerprints_of(self, post_ids: Sequence[str]) -> dict[str, Fingerprint]: ...
    def threads(self, keys: Sequence[str], since: datetime | None) -> dict[str, tuple[str, datetime]]: ...


class ReprintDetector:
    """Remembers fingerprints of recent posts and finds the original a new post copies.

    With a `memory`, it holds only the fingerprints not yet saved (`saved` forgets the others) and
    asks the memory for the rest: one indexed read a post, whatever the window holds."""

    def __init__(self, keep_for: timedelta = ACTIVE_FOR, memory: ClusterMemory | None = None) -> None:
        self.keep_for = keep_for
        self.memory = memory
        self.cutoff: datetime | None = None  # fingerprints older than this are forgotten (see `prune`)
        self.by_id: dict[str, Fingerprint] = {}
        self._by_key: dict[tuple[int, int], set[str]] = {}
        self._by_lead_key: dict[tuple[int, int], set[str]] = {}
        self._copies: dict[str, set[str]] = {}  # original id -> ids of the posts linked to it
        self._queue: list[tuple[datetime, str]] = []  # (when, post id), oldest first: what to forget next
        # What the memory said of a batch's posts (`recall`): good until the next save changes it. Keyed: the
        # (pair, key) asked of the fingerprints' values and of their leads, and the fingerprints found.
        self._recalled: dict[str, Fingerprint | None] = {}  # post id -> what the memory said of it
        self._asked_keys: set[tuple[int, int]] = set()
        self._asked_lead_keys: set[tuple[int, int]] = set()
        self._recalled_keys: dict[tuple[int, int], list[Fingerprint]] = {}
        self._recalled_lead_keys: dict[tuple[int, int], list[Fingerprint]] = {}

    def recall(self, post_ids: Sequence[str], simhashes: Iterable[tuple[int, int | None]]) -> None:
        """Read at once what the memory holds of a batch's posts (their ids, and the (value, lead) of their
        fingerprints), of the posts near them and of those posts' originals: `get` and `original_of` ask it
        little more for them until the next save. A post's copies among the batch's earlier posts are held, so
        the memory need not have them."""
        if self.memory is None:
            return
        self._recall_by_id([post_id for post_id in post_ids if post_id not in self.by_id])
        value_keys: set[tuple[int, int]] = set()
        lead_keys: set[tuple[int, int]] = set()
        self._asked_keys, self._asked_lead_keys = value_keys, lead_keys
        for value, lead in simhashes:
            value_keys.update(fingerprint_keys(value))
            if lead is not None:
                value_keys.update(fingerprint_keys(lead))
            lead_keys.update(fingerprint_keys(value))
        self._recalled_keys, self._recalled_lead_keys = {}, {}
        # In no particular order (a store finds the rows of each key however they are asked): sorting a batch's
        # ten thousand keys took a fiftieth of the stage's time.
        near = self.memory.fingerprints_keyed(list(value_keys), list(lead_keys))
        self._recalled.update((fingerprint.post_id, fingerprint) for fingerprint in near)
        self._recall_by_id([*dict.fromkeys(fp.original for fp in near if fp.original not in self._recalled)])
        for fingerprint in near:
            for hashed, asked, found in ((fingerprint.value, value_keys, self._recalled_keys),
                                         (fingerprint.lead, lead_keys, self._recalled_lead_keys)):
                for key in asked.intersection(fingerprint_keys(hashed)) if hashed is not None else ():
                    found.setdefault(key, []).append(fingerprint)

    def _recall_by_id(self, post_ids: list[str]) -> None:
        assert self.memory is not None
        self._recalled.update(dict.fromkeys(post_ids))
        self._recalled.update(self.memory.fingerprints_of(post_ids))

    def _stored_near(self, value_keys: Sequence[tuple[int, int]], lead_keys: Sequence[tuple[int, int]]) -> list[Fingerprint]:
        """What `memory.fingerprints_keyed` answers, from what was recalled when it was all asked."""
        assert self.memory is not None
        if not (self._asked_keys.issuperset(value_keys) and self._asked_lead_keys.issuperset(lead_keys)):
            return self.memory.fingerprints_keyed(value_keys, lead_keys)
        found = [fp for key in value_keys for fp in self._recalled_keys.get(key, ())]
        found += [fp for key in lead_keys for fp in self._recalled_lead_keys.get(key, ())]
        return list({fp.post_id: fp for fp in found}.values())

    def add(self, fingerprint: Fingerprint) -> None:
        self.by_id[fingerprint.post_id] = fingerprint
        heapq.heappush(self._queue, (fingerprint.when, fingerprint.post_id))
        for key in fingerprint_keys(fingerprint.value):
            self._by_key.setdefault(key, set()).add(fingerprint.post_id)
        if fingerprint.lead is not None:
            for key in fingerprint_keys(fingerprint.lead):
                self._by_lead_key.setdefault(key, set()).add(fingerprint.post_id)
        if fingerprint.original != fingerprint.post_id:
            self._copies.setdefault(fingerprint.original, set()).add(fingerprint.post_id)

    def _kept(self, fingerprint: Fingerprint | None) -> Fingerprint | None:
        """A fingerprint read from the memory, as held if it is held, or None once older than the window."""
        if fingerprint is None:
            return None
        held = self.by_id.get(fingerprint.post_id)
        if held is not None:
            return held
        return fingerprint if self.cutoff is None or fingerprint.when >= self.cutoff else None

    def get(self, post_id: str) -> Fingerprint | None:
        held = self.by_id.get(post_id)
        if held is None and self.memory is not None:
            if post_id not in self._recalled:  # the memory's answer holds until the next save
                self._recalled[post_id] = self.memory.fingerprint(post_id)
            return self._kept(self._recalled[post_id])
        return held

    def _held_near(self, value_keys: Sequence[tuple[int, int]], keys: dict[tuple[int, int], set[str]]) -> list[Fingerprint]:
        by_id = self.by_id
        return [by_id[post_id] for key in value_keys for post_id in keys.get(key, ())]

    def original_of(self, value: int, lead: int | None = None) -> Fingerprint | None:
        """The earliest original of the known posts within 3 bits of `value`, if any: posts with the
        same text, posts whose first paragraph is this text, and (given `lead`, this post's first
        paragraph) posts that copied only that paragraph."""
        value_keys = fingerprint_keys(value)
        lead_keys = fingerprint_keys(lead) if lead is not None else ()
        by_value = self._held_near(value_keys, self._by_key)
        by_lead = self._held_near(value_keys, self._by_lead_key)
        if lead_keys:
            by_value += self._held_near(lead_keys, self._by_key)
        if self.memory is not None:
            stored = self._stored_near(value_keys + lead_keys, value_keys)
            kept = [fp for fp in map(self._kept, stored) if fp is not None and fp.post_id not in self.by_id]
            by_value += kept
            by_lead += [fp for fp in kept if fp.lead is not None]
        near = [other for other in by_value if _close(other.value, value) or _close(other.value, lead)]
        near += [other for other in by_lead if _close(other.lead, value)]
        originals = [self._original(other) for other in near]
        return min(originals, key=lambda fp: (fp.when, fp.post_id), default=None)

    def _original(self, fingerprint: Fingerprint) -> Fingerprint:
        # An original can later turn out to copy an older post that arrived late: follow the links.
        for _ in range(8):
            nxt = self.get(fingerprint.original) if fingerprint.original != fingerprint.post_id else None
            if nxt is None or nxt is fingerprint:
                break
            fingerprint = nxt
        return fingerprint

    def adopt(self, former: Fingerprint, original: Fingerprint) -> list[Fingerprint]:
        """`original` (published earlier, arrived later) is what `former` and its copies copy:
        link them all to it and return them (held until saved)."""
        copies = {c: self.by_id[c] for c in self._copies.pop(former.post_id, ()) if c in self.by_id}
        if self.memory is not None:
            stored = map(self._kept, self.memory.copies_of(former.post_id))
            copies.update({fp.post_id: fp for fp in stored
                           if fp is not None and fp.post_id not in copies and fp.post_id != former.post_id})
        moved = [former, *(copies[c] for c in sorted(copies))]
        for fingerprint in moved:
            fingerprint.original = original.post_id
            if fingerprint.post_id not in self.by_id:  # read from the memory: held until saved again
                self.add(fingerprint)
        self._copies.setdefault(original.post_id, set()).update(fp.post_id for fp in moved)
        return moved

    def saved(self) -> None:
        """Everything held was saved: with a memory, forget it (the memory answers from now on)."""
        if self.memory is not None:
            for held in (self.by_id, self._by_key, self._by_lead_key, self._copies, self._recalled, self._recalled_keys,
                         self._recalled_lead_keys):
                held.clear()
            for asked in (self._asked_keys, self._asked_lead_keys):
                asked.clear()
            self._queue.clear()

    def prune(self, now: datetime) -> None:
        cutoff = self.cutoff = now - self.keep_for
        while self._queue and self._queue[0][0] < cutoff:
            _, post_id = heapq.heappop(self._queue)
            fingerprint = self.by_id.get(post_id)
            if fingerprint is None or fingerprint.when >= cutoff:
                continue
            del self.by_id[post_id]
            self._copies.pop(post_id, None)
            for table, value in ((self._by_key, fingerprint.value), (self._by_lead_key, fingerprint.lead)):
                for key in fingerprint_keys(value) if value is not None else ():
                    members = table.get(key)
                    if members is not None:
                        members.discard(post_id)
                        if not members:
                            del table[key]


def _close(compared: int | None, value: int | None) -> bool:
    return compared is not None and value is not None and (compared ^ value).bit_count() <= MAX_REPRINT_DISTANCE


@dataclass
class EventState:
    """What an event accumulates; `centroid` sums its posts' keyword weights (each post's averaging one)."""

    id: str
    first_seen: datetime
    last_seen: datetime
    centroid: Counter[str] = field(default_factory=Counter)
    size: int = 0
    reprints: int = 0  # of size, posts linked to an original (see ReprintDetector)
    platforms: Counter[str] = field(default_factory=Counter)
    places: Counter[str] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)
    sentiment: Counter[str] = field(default_factory=Counter)
    policies: Counter[str] = field(default_factory=Counter)
    anchors: Counter[str] = field(default_factory=Counter)
    residents: Counter[str] = field(default_factory=Counter)  # anchors in its authors' names (see PostTraits)
    first_post: str = ""
    # (engagement, post id) of the most-engaged posts, the first post always kept apart.
    engaged: list[tuple[int, str]] = field(default_factory=list)
    merged_into: str | None = None
    headlines: list[Headline] = field(default_factory=list)
    title: str | None = None  # the title last shown: kept while it stays nearly the best
    # (size, top terms, their norm) as last taken to score posts against (see `terms_scored`).
    scored_terms: tuple[int, dict[str, float], float] | None = None

    def terms_scored(self) -> tuple[dict[str, float], float]:
        """The top terms posts are scored against, and their norm: taken again only once the event grew by a tenth
        (a big event's centroid moves slowly)."""
        scored = self.scored_terms
        # `_terms_due`, written out: this is asked for every event scored, a dozen times a post.
        if scored is None or self.size > scored[0] * TERMS_RETAKEN_AFTER:
            top: dict[str, float] = dict(self.centroid) if len(self.centroid) <= CENTROID_TERMS else dict(most_common(self.centroid, CENTROID_TERMS))
            scored = self.scored_terms = (self.size, top, _norm(top))
        return scored[1], scored[2]

    def _terms_due(self) -> bool:
        return self.scored_terms is None or self.size > self.scored_terms[0] * TERMS_RETAKEN_AFTER

    def _terms_to_save(self) -> tuple[int, dict[str, float]] | None:
        """What of `scored_terms` an event let go must take back to be scored as if it had been held: nothing when
        they are due to be taken again (from the centroid it saves), or were taken at its present size (from the
        same centroid); only a big event's terms, taken before its last few posts, are saved."""
        if self.scored_terms is None or self._terms_due() or self.scored_terms[0] == self.size:
            return None
        return self.scored_terms[0], self.scored_terms[1]

    def add_headlines(self, headlines: Iterable[Headline]) -> None:
        """Take title candidates, keeping the best few (and the one shown); pruned once twice as
        many have gathered, so a big event does not rank them for every post it takes."""
        known = {h.text for h in self.headlines}
        for headline in headlines:
            if headline.text not in known:
                known.add(headline.text)
                self.headlines.append(headline)
        if len(self.headlines) > 2 * HEADLINES_KEPT:
            centroid, norm = self._title_centroid()
            ranked = sorted(self.headlines, key=lambda h: (h.text != self.title, -h.score(centroid, norm), h.text))
            self.headlines = ranked[:HEADLINES_KEPT]

    def _title_centroid(self, top_terms: Sequence[tuple[str, float]] | None = None) -> tuple[dict[str, float], float]:
        """The centroid's CENTROID_TERMS top terms and their norm (`top_terms`: those terms, when known)."""
        top = {term: float(weight) for term, weight in top_terms or most_common(self.centroid, CENTROID_TERMS)}
        return top, _norm(top)

    def choose_title(self, keywords: Sequence[str], named: str | None,
                     top_terms: Sequence[tuple[str, float]] | None = None) -> str | None:
        """The best-scoring candidate (see analysis.titles); the shown one stays unless another
        scores clearly higher. Without candidates: the estate or place and the action."""
        if not self.headlines:
            return composed_title(named, [p for p, _ in most_common(self.places, 3)], keywords)
        if len(self.headlines) == 1:  # the best, whatever its score (most events taken, the small ones, have one)
            return self.headlines[0].text
        centroid, norm = self._title_centroid(top_terms)
        scores = {h.text: h.score(centroid, norm) for h in self.headlines}
        best = max(sorted(scores), key=scores.__getitem__)
        if self.title in scores and scores[self.title] >= TITLE_KEEP_SHARE * scores[best]:
            return self.title
        return best

    def where(self) -> list[str]:
        """Where it happened: the estates or villages it names (at least two posts, or all of a
        small event, name them), then the gazetteer's places, most named first."""
        quorum = min(2, self.size)
        estates = [a for a, n in self.anchors.most_common() if n >= quorum and not a.startswith("#")] if self.anchors else []
        return [*estates[:2], *(p for p, _ in most_common(self.places, 5))][:5]

    def to_event(self) -> Event:
        # A stable sort: its first 10 of the top CENTROID_TERMS are its top 10.
        top_terms = most_common(self.centroid, CENTROID_TERMS)
        keywords = [term for term, _ in top_terms[:10]]
        # A named estate among the event's keywords says best what it is about, ahead of the
        # words of its many short replies (老人家, 复工).
        named = next((anchor for anchor, _ in self.anchors.most_common() if anchor in keywords), None) if self.anchors else None
        label = [named] if named else []
        label += [term for term in keywords if term != named][: LABEL_TERMS - len(label)]
        representatives = [self.first_post] + [pid for _, pid in self.engaged if pid != self.first_post]
        self.title = self.choose_title(keywords, named, top_terms)
        return Event(
            id=self.id,
            label=" ".join(label) or self.id,
            title=self.title,
            keywords=keywords,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            size=self.size,
            reprints=self.reprints,
            platforms=dict(self.platforms),
            places=self.where(),
            sentiment_mix=dict(self.sentiment),
            policies=[p for p, _ in most_common(self.policies, 5)],
            representative_posts=representatives[:REPRESENTATIVES],
            merged_into=self.merged_into,
        )

    def to_json(self) -> dict[str, Any]:
        """The state as JSON values, for a JSON writer to write (not a copy: the Counters are dicts, the engaged
        pairs tuples, both written as they are; a store writes every event that took a post, every batch)."""
        return {
            "id": self.id, "first_seen": self.first_seen.isoformat(), "last_seen": self.last_seen.isoformat(),
            "centroid": self.centroid, "size": self.size, "reprints": self.reprints, "platforms": self.platforms,
            "places": self.places, "areas": self.areas, "sentiment": self.sentiment,
            "policies": self.policies, "anchors": self.anchors, "residents": self.residents,
            "first_post": self.first_post,
            "engaged": self.engaged, "merged_into": self.merged_into,
            "headlines": [h.to_json() for h in self.headlines], "title": self.title,
            "scored_terms": self._terms_to_save(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventState:
        """The state `to_json` wrote, as a JSON decoder gave it back. Its dicts and lists are the decoder's own,
        so the event takes them rather than copies (but for its counters, which must be Counters): a restart reads
        10,000 events."""
        counters = ("platforms", "places", "areas", "sentiment", "policies")
        return cls(
            id=data["id"], first_seen=in_shared_zone(datetime.fromisoformat(data["first_seen"])),
            last_seen=in_shared_zone(datetime.fromisoformat(data["last_seen"])), size=data["size"], reprints=data.get("reprints", 0),
            first_post=data["first_post"], engaged=list(map(tuple, data["engaged"])),
            merged_into=data.get("merged_into"), centroid=_saved_counter(_shared_terms(data["centroid"])),
            **{name: _saved_counter(data[name]) for name in counters},
            # State saved before anchors or residents existed has none.
            anchors=_saved_counter(data.get("anchors", {})), residents=_saved_counter(data.get("residents", {})),
            headlines=[Headline.from_json(h) for h in data.get("headlines", [])], title=data.get("title"),
            scored_terms=_scored_terms(data.get("scored_terms")),
        )


def _saved_counter(saved: dict[str, Any]) -> Counter[str]:
    """`Counter(saved)` of a saved mapping, made as that makes it (an empty Counter's `update` of a mapping is a
    dict's) without its Python-level `__init__` and generic Mapping check: a restart reads eight counters of each
    of 10,000 events. `Counter.__new__` is dict's: an empty Counter, all that `__init__` without arguments leaves."""
    counter: Counter[str] = Counter.__new__(Counter)
    dict.update(counter, saved)
    return counter


def _shared_terms(weights: dict[str, float]) -> dict[str, float]:
    """The weights keyed by the one string of each term (`sys.intern`), in the same order. A decoder makes strings of
    its own, as each post's message does: the events held (read back, or taking posts) kept a copy of a word for each
    event using it, and more of them as long-lived events filled their centroids (bench.soak's stream)."""
    return dict(zip(map(sys.intern, weights), weights.values(), strict=True))


def _scored_terms(saved: tuple[int, dict[str, float]] | None) -> tuple[int, dict[str, float], float] | None:
    """EventState.scored_terms as saved (without the norm: it is the same sum of the same floats again).
    State saved before the terms were kept has none: they are taken again at the next post scored. JSON keys are
    strings, and weights written as floats read back as floats."""
    if saved is None:
        return None
    size, top = saved
    return size, _shared_terms(top), _norm(top)


# Not frozen: a frozen dataclass sets each of its fields through object.__setattr__, and one is made per post
# (3.6 us against 5.5 us for its fourteen fields).
@dataclass(slots=True)
class PostTraits:
    """What clustering needs of an enriched post (read, never changed)."""

    id: str
    when: datetime
    keywords: Sequence[tuple[str, float]]  # (term, tf-idf weight)
    platform: str
    places: Sequence[str] = ()
    areas: Sequence[str] = ()  # districts/counties the places lie in: posts in different ones do not join
    sentiment: str | None = None
    policies: Sequence[str] = ()
    engagement: int = 0
    anchors: Sequence[str] = ()  # see anchors_of()
    replies_to: Sequence[str] = ()  # ids of the posts this one reposts, answers or comments on
    thread: str | None = None  # what every post of one thread shares, e.g. its page's URL without the #floor
    # Named estates in the author's name (化肥厂家属院老王): a resident, whose posts on what an event
    # with that anchor is about join it even without naming the place.
    author_anchors: Sequence[str] = ()
    headline: tuple[str, HeadlineKind] | None = None  # the post's title candidate (analysis.titles)


# No event ids: the threads' events of a post that has no thread held (most posts).
_NO_IDS: frozenset[str] = frozenset()
# What `_late_originals` says of a post that is no late original: most posts.
_NOT_LATE: tuple[str | None, frozenset[str]] = (None, frozenset())


def event_id_for(post_id: str) -> str:
    return "evt-" + hashlib.sha1(post_id.encode("utf-8")).hexdigest()[:12]


def _most_counted(counts: Counter[str]) -> str | None:
    """The key counted most (the first counted on a tie, as `most_common`), None for no key."""
    return max(counts, key=counts.__getitem__) if counts else None


def _one_district(first: EventState, second: EventState) -> bool:
    """Are two events mostly in the same district (or one names none)? Each one's areas count every district its
    posts named (a board message's 地点, a writer's home county), so two events of two districts soon share some."""
    districts = (_most_counted(first.areas), _most_counted(second.areas))
    return None in districts or districts[0] == districts[1]


def _norm(vector: dict[str, float]) -> float:
    weights = vector.values()
    return math.sqrt(sum(map(mul, weights, weights))) or 1.0  # the squares in the generator's order, made in C


class Postings:
    """Term or anchor -> the events that most recently took a post carrying it, newest last.

    Each list is capped: a word hundreds of events use (菏泽, 疫情) points at the latest few only,
    so finding a post's candidates costs the same with a hundred events open or a hundred thousand,
    and an event that stopped growing drops out of the lists as newer ones arrive. Plain lists: a
    city's vocabulary makes hundreds of thousands of them, and a few dozen ids are searched in C."""

    def __init__(self, per_key: int = POSTINGS_PER_KEY, pushed_out: Callable[[str, str], None] | None = None) -> None:
        """`pushed_out(key, event id)` is told of each event a full list drops for a newer one."""
        self.per_key = per_key
        self._lists: dict[str, list[str]] = {}
        self._pushed_out = pushed_out

    def add_all(self, keys: Iterable[str], event_id: str) -> None:
        """Put the event last (the most recent) in each key's list, the list's first one out when it is full."""
        lists, per_key, pushed_out = self._lists, self.per_key, self._pushed_out
        for key in keys:
            events = lists.get(key)
            if events is None:
                lists[key] = [event_id]
                continue
            if event_id in events:
                events.remove(event_id)
            events.append(event_id)
            if len(events) > per_key:
                if pushed_out is not None:
                    pushed_out(key, events[0])
                del events[0]

    def fill(self, keyed: Iterable[tuple[Iterable[str], str]]) -> None:
        """Fill empty postings with (keys, event id) of distinct events, the least recent first (a restart posts
        10,000), as `add_all` of each in turn fills them. No event is in a list before its turn, so that only
        appends, and drops a full list's first: each list ends as its last `per_key` ids, which one cut at the end
        keeps too, without a search of the list for each key."""
        if self._lists:
            raise ValueError("postings are filled only when empty")
        lists = self._lists
        for keys, event_id in keyed:
            for key in keys:
                events = lists.get(key)
                if events is None:
                    lists[key] = [event_id]
                else:
                    events.append(event_id)
        per_key = self.per_key
        for events in lists.values():
            if len(events) > per_key:
                del events[:-per_key]

    def get(self, key: str) -> Iterable[str]:
        return self._lists.get(key, ())

    def __len__(self) -> int:
        """(key, event) entries held."""
        return sum(map(len, self._lists.values()))

    def shared(self, weights: dict[str, float]) -> dict[str, float]:
        """Event id -> the sum of the squared weights of the keys it is posted under (in the order of `weights`)."""
        found: dict[str, float] = {}
        lists_get = self._lists.get
        for key, weight in weights.items():
            events = lists_get(key)
            if events:
                squared = weight * weight
                for event_id in events:  # a test and a sum in place, not a call of found.get: a post reads ~200
                    if event_id in found:
                        found[event_id] += squared
                    else:
                        found[event_id] = squared
        return found

    def discard_all(self, keys: Iterable[str], event_id: str) -> None:
        """Take the event out of each key's list (an event merged or forgotten: every term of its centroid)."""
        lists = self._lists
        for key in keys:
            events = lists.get(key)
            if events is not None and event_id in events:
                events.remove(event_id)
                if not events:
                    del lists[key]


class EventClusterer:
    """Online clustering of posts into events, with reprints attached to their original's event.

    With a `memory` (see ClusterMemory), what was saved leaves memory: fingerprints and threads at once,
    events beyond the `events_held` most recently joined; they are read back when a post needs them."""

    def __init__(self, memory: ClusterMemory | None = None, events_held: int = EVENTS_HELD) -> None:
        self.memory = memory
        self.events_held = events_held
        # Held events, least recently joined first (with a memory, the first leave when it is full).
        self.events: dict[str, EventState] = {}
        self._evicted: dict[str, datetime] = {}  # events saved and let go while in the window -> last seen
        self.reprints = ReprintDetector(memory=memory)
        self._by_term = Postings(pushed_out=self._no_longer_posted_under)
        self._by_anchor = Postings()
        self._by_resident = Postings()
        # Event id -> the terms its centroid let go that it may still be posted under (`_let_go`), each with when it
        # last let it go, in that order: taken out of their postings ACTIVE_FOR later, or with the event.
        self._terms_let_go: dict[str, dict[str, datetime]] = {}
        # (last seen when queued, event id): idle events leave memory oldest first, without a full pass.
        self._idle_queue: list[tuple[datetime, str]] = []
        self._queued: set[str] = set()  # events with an entry in it: one each, however often read back
        # post id or thread key -> (event id, when); and a post not seen yet -> the events of posts
        # that answer it (a repost crawled before its original), to be joined when it arrives.
        self._threads: dict[str, tuple[str, datetime]] = {}
        self._saved_threads: dict[str, tuple[str, datetime] | None] = {}  # what the memory said since the last save
        self._waiting: dict[str, tuple[set[str], datetime]] = {}
        self._thread_queue: list[tuple[datetime, str]] = []
        self.changed: set[str] = set()  # since the last take_changed(): to be indexed
        self.unsaved: set[str] = set()  # since the last save: to be persisted
        self._relinked: list[tuple[str, str]] = []  # (copy, original) not yet taken
        # a late original -> (the event of the post thought original before it, the events of all its copies)
        self._late_originals: dict[str, tuple[str | None, set[str]]] = {}

    # -- reprints ---------------------------------------------------------------------------
    def reprint(self, post_id: str, when: datetime, text: str, features: Sequence[str],
                lead_features: Sequence[str] = ()) -> str | None:
        """The id of the earliest original this post copies, or None; remembers the post either way.
        `lead_features` are those of the post's first paragraph when it has several.

        A post older than the original known so far is the original: that one and its copies are
        re-linked to it (see `take_relinked`), and the post will join their event."""
        return self.reprint_hashed(post_id, when, text, *reprint_simhashes(features, lead_features))

    def reprint_hashed(self, post_id: str, when: datetime, text: str, value: int | None, lead: int | None) -> str | None:
        """`reprint` of a post whose SimHashes are known (`reprint_simhashes`)."""
        if len(text) < MIN_REPRINT_CHARS or value is None:
            return None
        known = self.reprints.get(post_id)
        if known is not None:  # the same post again (a re-crawl): keep what was decided
            return None if known.original == post_id else known.original
        original = self.reprints.original_of(value, lead)
        if original is not None and (original.when, original.post_id) <= (when, post_id):
            self.reprints.add(Fingerprint(post_id, value, when, original.post_id, original.event_id, lead))
            return original.post_id
        fingerprint = Fingerprint(post_id, value, when, post_id, None, lead)
        self.reprints.add(fingerprint)
        if original is not None:  # this post is older than the one thought original: it becomes the original
            moved = self.reprints.adopt(original, fingerprint)
            self._relinked += [(copy.post_id, post_id) for copy in moved]
            # Only the former original is a new copy: the others were counted as copies already.
            self._late_originals[post_id] = (original.event_id, {c.event_id for c in moved if c.event_id})
        return None

    def take_relinked(self) -> list[tuple[str, str]]:
        """(copy id, original id) of copies re-linked since the last call: their original arrived late."""
        relinked, self._relinked = self._relinked, []
        return relinked

    # -- clustering -------------------------------------------------------------------------
    def _similarity(self, vector: dict[str, float], event: EventState, vector_norm: float | None = None) -> float:
        if not vector:
            return 0.0
        centroid, centroid_norm = event.terms_scored()
        # A loop, not sum() of a list: the same additions in the same order, without the list and its frame. A term
        # the centroid lacks adds 0.0, which changes no sum: skipped, with a test instead of a call of centroid.get.
        dot = 0.0
        for term, weight in vector.items():
            if term in centroid:
                dot += weight * centroid[term]
        return dot / ((vector_norm or _norm(vector)) * centroid_norm)

    @staticmethod
    def _open(event: EventState, earliest_seen: datetime, latest_seen: datetime) -> bool:
        """Can a post still join the event? Not long after it went quiet, nor long before it began (a policy
        document from 2022 is no part of a 2026 complaint). The post's time - and + ACTIVE_FOR are given, computed
        once for its few candidates."""
        return not event.merged_into and event.first_seen <= latest_seen and earliest_seen <= event.last_seen

    def _candidate_ids(
        self, post: PostTraits, vector: dict[str, float], vector_norm: float
    ) -> tuple[list[str], set[str]]:
        """The events sharing the most keyword weight with the post (to be scored), and those sharing
        an anchor with it. Only the capped postings of the post's own terms are read."""
        shared = self._by_term.shared(vector)  # event id -> squared weight of the post's terms it has
        # Cosine similarity is at most |shared part of the post| / |post| (Cauchy-Schwarz): an event
        # sharing only a common word cannot reach JOIN_SIMILARITY and is not scored at all.
        floor = (JOIN_SIMILARITY * vector_norm) ** 2
        # Only the first SCORED_CANDIDATES are kept: an event weighing less than the one in that place is not among
        # them, so it is left out before the sorts below (a post shares words with some sixty events; one C sort of
        # their weights costs less than sorting them all by id and again by weight).
        if len(shared) > SCORED_CANDIDATES:
            floor = max(floor, sorted(shared.values(), reverse=True)[SCORED_CANDIDATES - 1])
        # Ties broken by id: the same stream gives the same events in every process. Sorted by id, then (a stable
        # sort) by weight: no (weight, id) pair to build and compare for each.
        ranked = sorted([event_id for event_id, weight in shared.items() if weight >= floor])
        ranked.sort(key=shared.__getitem__, reverse=True)
        anchored = {event_id for anchor in post.anchors for event_id in self._by_anchor.get(anchor)} if post.anchors else set()
        return ranked[:SCORED_CANDIDATES], anchored

    def _candidates(
        self, post: PostTraits, vector: dict[str, float], threads: Sequence[EventState] = (), by_words: bool = True,
    ) -> list[tuple[float, EventState, bool]]:
        """Events similar enough to join, best first, each with whether the post is tied to it strongly enough to
        merge it with another (`assign`). Only the events sharing the most keyword weight with the post are scored
        exactly (none unless `by_words`). Events sharing an anchor with the post, those holding replies to it, and
        those a resident of their anchor writes about (sharing at least one keyword) count as at least
        ANCHOR_SIMILARITY close: enough to join. Only words (MERGE_SIMILARITY, with and without the post's place names)
        and threads tie the post to an event."""
        vector_norm = _norm(vector)
        best, anchored = self._candidate_ids(post, vector if by_words else {}, vector_norm)
        thread_ids = {event.id for event in threads} if threads else _NO_IDS
        close = anchored | thread_ids if thread_ids else anchored
        # Both ways: a resident's post finds the estate's event, a post naming the estate finds events
        # holding its residents' posts (whichever was crawled first). Most posts name no estate.
        residents: set[str] = set()
        if post.author_anchors:
            residents.update(event_id for anchor in post.author_anchors for event_id in self._by_anchor.get(anchor))
        if post.anchors:
            residents.update(event_id for anchor in post.anchors for event_id in self._by_resident.get(anchor))
        scored = []
        earliest_seen, latest_seen = post.when - ACTIVE_FOR, post.when + ACTIVE_FOR
        said: dict[str, float] | None = None  # see below: made for the first event the post is close enough to merge
        said_norm = vector_norm
        held = self.events.get
        for event_id in best + sorted((close | residents) - set(best)) if close or residents else best:
            event = held(event_id) or self._event(event_id)
            # `_open`, written out: asked of every event scored, eight a post.
            if event is None or event.merged_into or event.first_seen > latest_seen or earliest_seen > event.last_seen:
                continue
            # Scored whether or not it can be joined: scoring caches the centroid as of the event's size (`_centroid`).
            similarity = self._similarity(vector, event, vector_norm)
            tied = event_id in thread_ids
            if not tied and similarity >= MERGE_SIMILARITY:
                if said is None:
                    # What the post says, without where: a place's name is in every complaint made there, so it joins a
                    # post to its place's events but does not show two of them are one happening. The post's own
                    # words when it names no place among them: scored the same.
                    said = vector
                    if post.places and not vector.keys().isdisjoint(post.places):
                        said = {term: weight for term, weight in vector.items() if term not in post.places}
                        said_norm = _norm(said)
                tied = said is vector or self._similarity(said, event, said_norm) >= MERGE_SIMILARITY
            # The same named place, topic or thread: other districts named are context.
            if event_id in close or (event_id in residents and similarity > 0):
                scored.append((max(ANCHOR_SIMILARITY, similarity), event, tied))
            elif similarity >= JOIN_SIMILARITY and not (
                    post.areas and event.areas and _most_counted(event.areas) not in post.areas):
                scored.append((similarity, event, tied))  # the same complaint in two districts is two events
        if len(scored) > 1:
            scored.sort(key=lambda item: (-item[0], item[1].first_seen, item[1].id))
        return scored

    @staticmethod
    def _same_estate(post: PostTraits, first: EventState, second: EventState) -> bool:
        """Are two events one incident at a named estate the post names? It is the anchor both carry most, and they
        are mostly in the same district (or one names none): 幸福小区 in 曹县 and 幸福小区 in 单县 are two places.
        A #topic# never says so: anyone adds one to a post about anything."""
        estate = _most_counted(first.anchors)
        if estate is None or estate.startswith("#") or estate not in post.anchors or _most_counted(second.anchors) != estate:
            return False
        return _one_district(first, second)

    def assign(self, post: PostTraits, reprint_of: str | None = None) -> str | None:
        """Put a post into an event (its original's, its thread's, a similar one, or a new one) and
        return the event id; None for a post with nothing to hold an event together (no thread, no
        anchor, no keyword) that joins no event: "顶", "同问", "转发微博". One keyword is enough: many
        people posting "又停水了" is an event however short each post is."""
        # Keyed as `_shared_terms` keys weights, in one pass over the pairs: not a dict made, then made again.
        vector = {sys.intern(term): weight for term, weight in post.keywords}
        replies = self._replies_waiting_for(post)
        former, copies = self._late_originals.pop(post.id, _NOT_LATE)
        if former and (counted := self._resolve(former)):
            counted.reprints += 1
            self.changed.add(counted.id)
            self.unsaved.add(counted.id)
        # An original that arrived after its copies joins their event, as a post joins its replies'.
        if copies:
            replies += [e for e in map(self._resolve, sorted(copies)) if e is not None and e not in replies]
        event: EventState | None = None
        if reprint_of is not None:
            original = self.reprints.get(reprint_of)
            if original is not None and original.event_id:
                event = self._resolve(original.event_id)
        if event is None:  # a repost, reply or comment stays in its thread
            event = self._thread_event(post)
        if event is not None:
            for other in replies:  # replies that arrived first are in the same thread
                if other is not event:
                    event = self._merge(event, other)
        elif vector or post.anchors or replies:
            # A reply whose post has not arrived yet (crawl order is not publication order) waits for
            # it in an event of its own, or its anchor's: its few words would pick a thread at random.
            waiting = bool(post.replies_to) and any(self._thread(parent) is None for parent in post.replies_to)
            candidates = self._candidates(post, vector, replies, by_words=not waiting)
            if candidates:
                _, event, best_tied = candidates[0]
                # A post tied to two events of one district by its words or threads shows they are one
                # happening; so does one naming the estate two events of one district are about. An anchor
                # shared with one of them does not: a #topic# or estate name on a post about something else
                # would chain events without end (each merged event carries both events' anchors and words).
                for _, other, tied in candidates[1:]:
                    if other is not event and (best_tied and tied and _one_district(event, other)
                                               or self._same_estate(post, event, other)):
                        event = self._merge(event, other)
        if event is None:
            if len(vector) < MIN_EVENT_TERMS and not post.anchors and not post.replies_to:
                return None
            event = EventState(id=event_id_for(post.id), first_seen=post.when, last_seen=post.when, first_post=post.id)
            self.events[event.id] = event
            self._queue_idle(event.last_seen, event.id)
        self._add(event, post, vector)
        if reprint_of is not None:
            event.reprints += 1
        self._remember_thread(post, event)
        fingerprint = self.reprints.by_id.get(post.id)
        if fingerprint is not None:
            fingerprint.event_id = event.id
        return event.id

    def _thread_event(self, post: PostTraits) -> EventState | None:
        for key in (*post.replies_to, post.thread):
            known = self._thread(key) if key else None
            event = self._resolve(known[0]) if known else None
            if event is not None:
                return event
        return None

    def _replies_waiting_for(self, post: PostTraits) -> list[EventState]:
        """Events of replies that arrived before this post (crawl order is not publication order)."""
        waiting = self._waiting.pop(post.id, None)
        if waiting is None:  # most posts: no reply came first
            return []
        found = {event.id: event for event in map(self._resolve, sorted(waiting[0])) if event}
        return [found[event_id] for event_id in sorted(found)]

    def recall(self, post_ids: Sequence[str], simhashes: Iterable[tuple[int, int | None]],
               thread_keys: Sequence[str]) -> None:
        """Read what the memory knows of a batch's posts (their ids and fingerprints' (value, lead)) and of the
        threads they are in or answer, at once: a few reads a batch, not several a post. Good until the next save
        (`saved` forgets it), as the memory's answers are: it changes only when saved to, and the window's start
        (the memory's filter) only after a save."""
        if self.memory is None:
            return
        self.reprints.recall(post_ids, simhashes)
        unknown = [key for key in dict.fromkeys(thread_keys) if key not in self._threads and key not in self._saved_threads]
        found = self.memory.threads(unknown, self.reprints.cutoff)
        self._saved_threads.update({key: found.get(key) for key in unknown})

    def _thread(self, key: str) -> tuple[str, datetime] | None:
        """(event id, when) of a post id or thread key, held or saved, while in the window. What the memory
        said is kept until the next save: a post asks for its page's key twice (to join, to be remembered)."""
        known = self._threads.get(key)
        if known is None and self.memory is not None:
            if key not in self._saved_threads:
                self._saved_threads[key] = self.memory.thread(key, self.reprints.cutoff)
            known = self._saved_threads[key]
        return known

    def _remember_thread(self, post: PostTraits, event: EventState) -> None:
        self._threads[post.id] = (event.id, post.when)
        heapq.heappush(self._thread_queue, (post.when, post.id))
        if post.thread and self._thread(post.thread) is None:
            self._threads[post.thread] = (event.id, post.when)
            heapq.heappush(self._thread_queue, (post.when, post.thread))
        for parent in post.replies_to:
            if self._thread(parent) is None:
                events, _ = self._waiting.get(parent, (set(), post.when))
                events.add(event.id)
                self._waiting[parent] = (events, post.when)
                heapq.heappush(self._thread_queue, (post.when, parent))

    def _resolve(self, event_id: str) -> EventState | None:
        event = self._event(event_id)
        while event is not None and event.merged_into:
            event = self._event(event.merged_into)
        return event

    def _event(self, event_id: str) -> EventState | None:
        """A held event, else one read back from the memory while it can still be joined (as if held)."""
        event = self.events.get(event_id)
        if event is None and self.memory is not None:
            event = self.memory.event(event_id)
            # One let go is held again whatever its age (it was held until pruned); one saved before a
            # restart, or pruned since, only while a post could still join it.
            cutoff = self.reprints.cutoff
            if event is not None and (event_id in self._evicted or cutoff is None or event.last_seen >= cutoff):
                self._hold(event)
            else:
                event = None
        return event

    def _hold(self, event: EventState) -> None:
        """Hold an event read back (postings already name it, or will as it takes posts)."""
        self._evicted.pop(event.id, None)
        self.events[event.id] = event
        self._queue_idle(event.last_seen, event.id)

    def _queue_idle(self, last_seen: datetime, event_id: str) -> None:
        if event_id not in self._queued:
            self._queued.add(event_id)
            heapq.heappush(self._idle_queue, (last_seen, event_id))

    def _add(self, event: EventState, post: PostTraits, vector: dict[str, float]) -> None:
        self.events[event.id] = self.events.pop(event.id)  # the most recently joined: let go last
        event.size += 1
        if post.when < event.first_seen:
            event.first_seen, event.first_post = post.when, post.id
        event.last_seen = max(event.last_seen, post.when)
        # Each keyword counts about once, whatever the post's length: tf-idf gives the one word of
        # "三号楼也一样" several times the weight of a long report's words, and a thread's short
        # replies must not outweigh what the thread is about.
        scale = len(vector) / (sum(vector.values()) or 1.0)
        centroid = cast(dict[str, float], event.centroid)  # a Counter of weights, not counts
        for term, weight in vector.items():  # Counter.update's sums, without its checks of the argument's type
            if term in centroid:  # a test, not a call of centroid.get: a new term's weight is the post's
                centroid[term] = weight * scale + centroid[term]
            else:
                centroid[term] = weight * scale
        self._by_term.add_all(vector, event.id)  # before a trim: a term of the post let go at once is posted (recorded)
        if len(event.centroid) > 2 * CENTROID_KEPT:
            # A big event's rare terms never reach its top terms: keep memory and state bounded.
            kept = Counter(dict(most_common(event.centroid, CENTROID_KEPT)))
            self._let_go(event, kept)
            event.centroid = kept
        event.platforms[post.platform] = event.platforms.get(post.platform, 0) + 1
        # Counted one by one as Counter.update counts them, without its checks of the argument, and with dict.get: a
        # Counter's `counts[name] += 1` calls its __missing__ (Python) for each name new to it. Most posts name a place
        # or two, few a policy or an anchor.
        for counts, found in ((event.places, post.places), (event.areas, post.areas), (event.policies, post.policies),
                              (event.anchors, post.anchors), (event.residents, post.author_anchors)):
            for name in found:
                counts[name] = counts.get(name, 0) + 1
        if post.sentiment:
            event.sentiment[post.sentiment] = event.sentiment.get(post.sentiment, 0) + 1
        if post.anchors:
            self._by_anchor.add_all(post.anchors, event.id)
        if post.author_anchors:
            self._by_resident.add_all(post.author_anchors, event.id)
        if post.headline is not None:
            event.add_headlines([Headline(post.headline[0], post.headline[1], dict(vector))])
        if len(event.engaged) < REPRESENTATIVES or post.engagement > event.engaged[-1][0]:
            event.engaged = sorted([*event.engaged, (post.engagement, post.id)], key=lambda item: -item[0])
            event.engaged = event.engaged[:REPRESENTATIVES]
        self.changed.add(event.id)
        self.unsaved.add(event.id)

    def _let_go(self, event: EventState, kept: Counter[str]) -> None:
        """Note the terms an event lets go as it keeps only `kept` of its centroid (it stays posted under them), and
        take it out of the postings of those it let go ACTIVE_FOR or more before: as a forgotten event leaves all of
        its postings, a term stays a way to an event for as long as a post could join it after it last held the term.
        An event taking posts for weeks stayed posted under every rare word its posts used, and the postings grew
        after the first week (bench.soak's stream). The record is kept in the order terms were last let go, so a trim
        reads what it lets go and what has expired, not the week's record (a long-lived event trims many times a
        day); a term leaves it too when a newer event pushes the event out of the term's list, or when it expires
        back in the centroid (posted as one of its terms again)."""
        record, posted_under = self._terms_let_go.setdefault(event.id, {}), self._by_term.get
        now = event.last_seen  # never earlier than a time recorded: the record stays in time order
        for term in event.centroid:
            if term not in kept and event.id in posted_under(term):
                record.pop(term, None)  # let go again: it moves to the end, with its new time
                record[term] = now
        expired = now - ACTIVE_FOR
        ended = []
        for term, when in record.items():
            if when >= expired:
                break
            ended.append(term)
        for term in ended:
            del record[term]
        self._by_term.discard_all([term for term in ended if term not in kept], event.id)

    def _no_longer_posted_under(self, term: str, event_id: str) -> None:
        """A newer event pushed this one out of the term's list: if it had let the term go, it has nothing there to
        take out any more (it is posted there again only as one of its centroid's terms)."""
        record = self._terms_let_go.get(event_id)
        if record is not None and record.pop(term, None) is not None and not record:
            del self._terms_let_go[event_id]

    def _posted_under(self) -> list[tuple[Postings, str]]:
        """Each postings and the field of an event whose keys post the event there: its terms, its anchors and its
        residents' anchors."""
        return [(self._by_term, "centroid"), (self._by_anchor, "anchors"), (self._by_resident, "residents")]

    def _keys_of(self, event: EventState) -> list[tuple[Postings, Iterable[str]]]:
        """Where the event is posted."""
        return [(postings, getattr(event, name)) for postings, name in self._posted_under()]

    def _merge(self, keep: EventState, gone: EventState) -> EventState:
        """Fold the smaller event into the larger (the older on a tie); the other records where it went."""
        if (gone.size, keep.first_seen) > (keep.size, gone.first_seen):
            keep, gone = gone, keep
        keep.size += gone.size
        keep.reprints += gone.reprints
        if gone.first_seen < keep.first_seen:
            keep.first_seen, keep.first_post = gone.first_seen, gone.first_post
        keep.last_seen = max(keep.last_seen, gone.last_seen)
        for name in ("centroid", "platforms", "places", "areas", "sentiment", "policies", "anchors", "residents"):
            getattr(keep, name).update(getattr(gone, name))
        keep.engaged = sorted(keep.engaged + gone.engaged, key=lambda item: -item[0])[:REPRESENTATIVES]
        keep.add_headlines(gone.headlines)
        gone.merged_into = keep.id
        # Key by key the lists are apart: all taken out, then all put in, is taking out and putting in each.
        for postings, keys in self._keys_of(gone):
            postings.discard_all(keys, gone.id)
            postings.add_all(keys, keep.id)
        self.changed.update({keep.id, gone.id})
        self.unsaved.update({keep.id, gone.id})
        return keep

    # -- bookkeeping ------------------------------------------------------------------------
    def take_changed(self) -> list[Event]:
        """Events created or updated since the last call. The title shown is part of an event's state (it stays
        while nearly the best): an event whose title changed is to be saved again, or one let go and read back
        would choose another."""
        events = []
        for event_id in sorted(self.changed):
            state = self.events[event_id]
            shown = state.title
            events.append(state.to_event())
            if state.title != shown:
                self.unsaved.add(event_id)
        self.changed.clear()
        return events

    def prune(self, now: datetime) -> list[str]:
        """Forget events idle for longer than they can be joined, and the threads of posts as old;
        return the events' ids (already persisted). Costs what is forgotten, not what is kept."""
        cutoff = now - ACTIVE_FOR
        self.reprints.prune(now)
        idle, kept = [], []
        while self._idle_queue and self._idle_queue[0][0] < cutoff:
            _, event_id = heapq.heappop(self._idle_queue)
            self._queued.discard(event_id)
            event = self.events.get(event_id)
            if event is None and self.memory is not None and event_id in self._evicted:
                if self._evicted[event_id] >= cutoff:  # let go after it took posts since it was queued
                    self._queue_idle(self._evicted[event_id], event_id)
                    continue
                del self._evicted[event_id]
                event = self.memory.event(event_id)  # read back to find where it is posted
            if event is None:
                continue
            if event.last_seen >= cutoff:  # it took posts since it was queued
                self._queue_idle(event.last_seen, event_id)
            elif event_id in self.changed or event_id in self.unsaved:
                kept.append((event.last_seen, event_id))  # forgotten once persisted
            else:
                idle.append(event_id)
                self.events.pop(event_id, None)
                for postings, keys in self._keys_of(event):
                    postings.discard_all(keys, event_id)
                self._by_term.discard_all(self._terms_let_go.pop(event_id, {}), event_id)
        for last_seen, event_id in kept:
            self._queue_idle(last_seen, event_id)
        while self._thread_queue and self._thread_queue[0][0] < cutoff:
            _, key = heapq.heappop(self._thread_queue)
            for table in (self._threads, self._waiting):
                entry = table.get(key)
                if entry is not None and entry[1] < cutoff:
                    del table[key]
        return idle

    def saved(self) -> None:
        """Everything handed over was saved: with a memory, let go of the fingerprints and threads, and of
        the events joined least recently beyond `events_held` (none waiting to be taken)."""
        self.unsaved.clear()
        self.reprints.saved()
        if self.memory is None:
            return
        self._threads.clear()
        self._saved_threads.clear()
        self._thread_queue = [(when, key) for key, (_, when) in self._waiting.items()]
        heapq.heapify(self._thread_queue)
        excess = len(self.events) - self.events_held
        letting_go: list[str] = []
        for event_id in self.events if excess > 0 else ():
            if len(letting_go) >= excess:
                break
            if event_id not in self.changed:
                letting_go.append(event_id)
        for event_id in letting_go:
            self._evicted[event_id] = self.events.pop(event_id).last_seen

    def resume(self, since: datetime) -> None:
        """Start from the memory: hold the events joined most recently (their words find them again, so
        the postings are as they were), read the rest back when a post needs them."""
        if self.memory is None:
            return
        self.reprints.cutoff = since
        latest = [event for event in self.memory.latest_events(self.events_held) if event.last_seen >= since]
        self.restore(reversed(latest), [])

    def held(self) -> dict[str, int]:
        """How much is held in memory (what `prune` bounds)."""
        return {"fingerprints": len(self.reprints.by_id), "events": len(self.events),
                "threads": len(self._threads) + len(self._waiting),
                "postings": sum(len(postings) for postings in (self._by_term, self._by_anchor, self._by_resident))}

    def restore(
        self, events: Iterable[EventState], fingerprints: Iterable[Fingerprint],
        posts: Iterable[tuple[str, str, datetime]] = (),
    ) -> None:
        """Take back persisted events (the least recently joined first), fingerprints and (post id, event id, when)
        of recent posts, into a clusterer that holds none yet."""
        posted: list[EventState] = []
        for event in events:
            self.events[event.id] = event
            self._queue_idle(event.last_seen, event.id)
            if not event.merged_into:
                posted.append(event)
        for postings, name in self._posted_under():
            postings.fill((getattr(event, name), event.id) for event in posted)
        for fingerprint in fingerprints:
            self.reprints.add(fingerprint)
        for post_id, event_id, when in posts:
            self._threads[post_id] = (event_id, when)
            heapq.heappush(self._thread_queue, (when, post_id))
