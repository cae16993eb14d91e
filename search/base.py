"""The index interface: upsert enriched posts and events; search, count, stream and facet them with
one query language (`search.query`).

Two implementations: `search.sqlite_fts` (embedded default) and Elasticsearch (scale-out),
chosen by `settings.index`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field

from search.query import And, FieldName, Filter, Node, Or, Query, QueryError, TimeRange, parse_query
from yuqing.errors import BackendUnavailable
from yuqing.schema import SHANGHAI, CrawlHealth, EnrichedPost, Event, ReprintLink, SentimentLabel

Interval = Literal["hour", "day"]


class SearchBackendError(BackendUnavailable):
    """The index is unreachable or refused a request; callers keep their items and retry."""


class SearchRefused(SearchBackendError):
    """The index refused a request for good: a 4xx other than 429 (a script it cannot run, a mapping
    conflict). Sending it again never passes, so the items it concerns go to the dead-letter topic with
    `reason` instead of holding up the stage. (401/403 and a missing index are set-up problems: those wait.)"""

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


# 4xx answers that a fix of the installation (credentials, `yuqing index setup`) or time makes pass.
_PASSING_4XX = (401, 403, 404, 408, 409, 429)


def refused_for_good(status: int) -> bool:
    return 400 <= status < 500 and status not in _PASSING_4XX


@dataclass(frozen=True)
class DocumentFailure:
    """One document Elasticsearch did not write, with its status and reason."""

    id: str
    status: int
    reason: str

    @property
    def retryable(self) -> bool:
        """Rejections (429) and server errors may pass later; a 400 (bad document) never will."""
        return self.status == 429 or self.status >= 500


class BulkWriteError(SearchBackendError):
    """Some documents of a bulk write failed; the others were written. Writing again is harmless
    because document ids are the item ids, so callers retry the failed ids (or the whole batch)."""

    def __init__(self, index: str, written: int, failures: list[DocumentFailure]) -> None:
        self.index = index
        self.written = written
        self.failures = failures
        shown = "; ".join(f"{f.id}: {f.status} {f.reason}" for f in failures[:5])
        more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
        super().__init__(f"{len(failures)} document(s) not written to {index} ({written} written): {shown}{more}")

    @property
    def failed_ids(self) -> list[str]:
        return [f.id for f in self.failures]

    @property
    def retryable(self) -> bool:
        return all(f.retryable for f in self.failures)


Sort = Literal["newest", "relevance", "reach"]
FacetName = Literal["keywords", "emerging", "events", "places", "policies", "departments", "sources", "authors",
                    "platforms", "sentiments"]
FACET_NAMES: tuple[FacetName, ...] = ("keywords", "emerging", "events", "places", "policies", "departments",
                                      "sources", "authors", "platforms", "sentiments")
# The kind of value each facet counts ("emerging" counts keywords, see `Index.facets`).
FACET_KINDS: dict[str, str] = {"keywords": "keyword", "events": "event", "places": "place", "policies": "policy",
                               "departments": "department", "sources": "source", "authors": "author",
                               "platforms": "platform", "sentiments": "sentiment"}


# `size` that asks `Index.facets` for every value of a facet.
COUNT_ALL = 10_000


class SearchQuery(BaseModel):
    """What to find: `text` in the query language of `search.query` (words, OR, "phrases",
    -exclusions, parentheses, field filters, since:/until:) ANDed with the structured filters below,
    which callers that build queries in code use. Every list filter matches any of its values.

    `sort`: newest first (posts of the same second in an order fixed by each backend), relevance
    (best match first, then newest) or reach (reposts + comments + likes, highest first, then
    newest). `after` continues a listing after the `SearchHit.cursor` of the last hit seen (keyset
    paging, any depth, all sorts); `offset` is for small page numbers only (Elasticsearch refuses
    offset + limit past 10,000).
    `now` is the moment relative times (`since:7d`) count back from (default: the current time).
    """

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    platforms: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    sentiments: list[SentimentLabel] = Field(default_factory=list)
    places: list[str] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    sort: Sort = "newest"
    limit: int = Field(default=20, ge=0, le=10_000)
    offset: int = Field(default=0, ge=0)
    after: str | None = None
    now: datetime | None = None

    def parsed(self) -> Query:
        """The whole query as one syntax tree: `text` parsed, the structured filters ANDed to it.
        Raises `QueryError` for malformed text."""
        parsed = parse_query(self.text, now=self.now)
        extra: list[Node] = []
        for name, values in (("platform", self.platforms), ("source", self.sources), ("author", self.authors),
                             ("sentiment", [s.value for s in self.sentiments]), ("place", self.places),
                             ("policy", self.policies), ("department", self.departments),
                             ("event", self.events)):
            if values:
                alternatives = tuple(Filter(cast(FieldName, name), v) for v in values)
                extra.append(alternatives[0] if len(alternatives) == 1 else Or(alternatives))
        if self.since or self.until:
            extra.append(TimeRange(self.since, self.until))
        if not extra:
            return parsed
        parts = (*((parsed.root,) if parsed.root else ()), *extra)
        flat: list[Node] = []
        for part in parts:
            flat.extend(part.children if isinstance(part, And) else (part,))
        root = flat[0] if len(flat) == 1 else And(tuple(flat))
        return Query(text=parsed.text, root=root, now=parsed.now)


class SnippetPart(BaseModel):
    """A piece of a snippet; `match` marks the words the query asked for."""

    text: str
    match: bool = False


class SearchHit(BaseModel):
    """One found post, with a short extract around the first match (both backends compute it
    the same way, see `search.snippet`) and the cursor to continue after it."""

    post: EnrichedPost
    snippet: list[SnippetPart]
    score: float | None = None
    cursor: str

    def marked(self, start: str = "【", end: str = "】") -> str:
        """The snippet as one string with each match between `start` and `end`."""
        return "".join(f"{start}{p.text}{end}" if p.match else p.text for p in self.snippet)


class SearchResult(BaseModel):
    """`total` counts every match; `hits` is one page; `results` are the same posts with their
    snippets and cursors (`hits[i] is results[i].post`)."""

    total: int
    hits: list[EnrichedPost]
    results: list[SearchHit] = Field(default_factory=list)

    @property
    def next_after(self) -> str | None:
        """The `SearchQuery.after` that continues this listing (None when the page was empty)."""
        return self.results[-1].cursor if self.results else None


class Bucket(BaseModel):
    """Matches in one hour or day (Asia/Shanghai): how many, and how many of each sentiment
    (`positive`, `neutral`, `negative`, and `unknown` for posts without one)."""

    start: datetime
    count: int
    sentiment: dict[str, int] = Field(default_factory=dict)


class FacetValue(BaseModel):
    value: str
    count: int


class EmergingValue(BaseModel):
    """A keyword used more on the last day than over the 7 days before it: `count` on the last
    day, `baseline` its mean per day over the previous 7, `ratio` = count / max(baseline, 1)."""

    value: str
    count: int
    baseline: float
    ratio: float


class Facets(BaseModel):
    """What `Index.facets` returns. `buckets` cover every hour/day from the first to the last
    match (empty ones included, count 0), oldest first. `values[name]` lists the top values of
    each facet asked for, most frequent first (ties by value); `emerging` is filled when
    "emerging" was asked for. `day` is the last day the emerging keywords compare."""

    total: int
    by: Interval
    buckets: list[Bucket] = Field(default_factory=list)
    values: dict[str, list[FacetValue]] = Field(default_factory=dict)
    emerging: list[EmergingValue] = Field(default_factory=list)
    day: datetime | None = None


STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
SENTIMENT_ORDER = ("positive", "neutral", "negative", "unknown")


def fill_buckets(mixes: dict[datetime, dict[str, int]], by: Interval) -> list[Bucket]:
    """Buckets from the first to the last start in `mixes` (start -> sentiment -> count), the empty
    ones included, oldest first. Asia/Shanghai has no daylight saving, so buckets are fixed steps."""
    if not mixes:
        return []
    moment, last = min(mixes), max(mixes)
    buckets = []
    while moment <= last:
        found = mixes.get(moment, {})
        mix = {label: found[label] for label in SENTIMENT_ORDER if found.get(label)}
        buckets.append(Bucket(start=moment, count=sum(mix.values()), sentiment=mix))
        moment += STEP[by]
    return buckets


def bad_cursor(after: str) -> QueryError:
    """A paging cursor that this index did not hand out (edited, or from the other backend)."""
    return QueryError(after, 0, "翻页标记无效，请从第一页重新搜索")


def body_text(post: EnrichedPost) -> str:
    """What full-text search looks in: the title and the (masked) text."""
    return f"{post.title or ''}\n{post.masked_text or post.text}"


def reach(post: EnrichedPost) -> int:
    """How far a post went: reposts + comments + likes (views are not counted by every platform)."""
    return post.metrics.reposts + post.metrics.comments + post.metrics.likes


EMERGING_MIN = 3  # times a keyword must occur on the last day to be called emerging
EMERGING_RATIO = 2.0  # and at least this many times its mean per day over the 7 days before


def emerging_day(query: Query) -> datetime:
    """Midnight (Asia/Shanghai) starting the day whose keywords `emerging` compares: the day of
    the query's `until` (exclusive), else of its `now`."""
    end = query.time_range().until or query.now
    last = (end - timedelta(microseconds=1)).astimezone(SHANGHAI)
    return last.replace(hour=0, minute=0, second=0, microsecond=0)


def rank_emerging(today: dict[str, int], before: dict[str, int], size: int) -> list[EmergingValue]:
    """Keywords of the last day against their mean per day over the 7 days before, highest ratio first."""
    found = []
    for value, count in today.items():
        baseline = before.get(value, 0) / 7
        ratio = count / max(baseline, 1.0)
        if count >= EMERGING_MIN and ratio >= EMERGING_RATIO:
            found.append(EmergingValue(value=value, count=count, baseline=round(baseline, 3), ratio=round(ratio, 3)))
    found.sort(key=lambda e: (-e.ratio, -e.count, e.value))
    return found[:size]


def without_time(query: Query) -> Query:
    """The query with its top-level since/until dropped (emerging keywords look at their own days)."""
    if isinstance(query.root, TimeRange):
        return Query(text=query.text, root=None, now=query.now)
    if isinstance(query.root, And):
        kept = tuple(c for c in query.root.children if not isinstance(c, TimeRange))
        root = None if not kept else kept[0] if len(kept) == 1 else And(kept)
        return Query(text=query.text, root=root, now=query.now)
    return query


class Index(abc.ABC):
    @abc.abstractmethod
    def upsert(self, posts: Iterable[EnrichedPost]) -> int:
        """Insert or replace by id; indexing the same post twice leaves one copy. Returns the count."""

    @abc.abstractmethod
    def get(self, post_id: str) -> EnrichedPost | None: ...

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """One page of matches in `query.sort` order, with snippets; `total` counts every match.
        Raises `QueryError` for malformed query text, `SearchBackendError` when the index fails."""

    @abc.abstractmethod
    def count(self, query: SearchQuery) -> int:
        """How many posts match (exact, however many)."""

    @abc.abstractmethod
    def scan(self, query: SearchQuery) -> Iterator[EnrichedPost]:
        """Every match, newest first (as `sort="newest"`), streamed in pages: keyset paging on SQLite,
        search_after on Elasticsearch, so nothing is capped at 10,000. `limit`, `offset` and
        `sort` are ignored; `after` starts after that cursor."""

    @abc.abstractmethod
    def facets(self, query: SearchQuery, names: Sequence[FacetName] = FACET_NAMES, by: Interval = "day",
               size: int = 10) -> Facets:
        """Trends for any query: matches per hour/day with their sentiment mix, and the top `size`
        values of each named facet (keywords, events, places, policies, departments, sources,
        authors, platforms, sentiments) among the matches. "emerging": keywords of the matches on
        the last day (the Shanghai day of `query.until`, else of now) against the 7 days before,
        whatever the query's own since."""

    def histogram(self, query: SearchQuery, interval: Interval = "hour") -> list[tuple[datetime, int]]:
        """Matches per hour or day (Asia/Shanghai buckets), oldest first, empty buckets left out."""
        return [(b.start, b.count) for b in self.facets(query, (), by=interval).buckets if b.count]

    def counts_by(self, field: Literal["platform", "source", "sentiment"], query: SearchQuery | None = None
                  ) -> dict[str, int]:
        """Matches per platform, source or sentiment (`unknown` for posts without one), most first."""
        names: dict[str, FacetName] = {"platform": "platforms", "source": "sources", "sentiment": "sentiments"}
        name = names[field]
        found = self.facets(query or SearchQuery(), (name,), size=COUNT_ALL)
        return {v.value: v.count for v in found.values[name]}

    @abc.abstractmethod
    def relink(self, links: Iterable[ReprintLink]) -> int:
        """Mark indexed posts as copies (`reprint_of`, extra 转载自) of an original found after them.
        Returns how many were updated; a post not indexed is left alone."""

    @abc.abstractmethod
    def upsert_events(self, events: Iterable[Event]) -> int: ...

    def writing(self) -> AbstractContextManager[None]:
        """A scope whose writes the index may apply together (the embedded index: one transaction, all or
        nothing); by default each write is applied when it is made."""
        return nullcontext()

    @abc.abstractmethod
    def prune(self, before: datetime, progress: Callable[[int], None] | None = None) -> int:
        """Delete every post that counts at a moment before `before` (its `when`, to the second, as
        since/until filter it), with its text, tags and its share of every count and facet.
        Returns how many posts were deleted; `progress` hears the count so far while it works."""

    @abc.abstractmethod
    def events(self, since: datetime | None = None, limit: int = 100) -> list[Event]:
        """Events, most recently seen first; merged-away events are left out."""

    @abc.abstractmethod
    def events_by_id(self, ids: Sequence[str]) -> list[Event]:
        """The events with these ids, in the order asked; merged-away and unknown ids are left out."""

    @abc.abstractmethod
    def event_count(self) -> int:
        """How many events `events` lists when nothing limits it (merged-away events left out)."""

    @abc.abstractmethod
    def record_health(self, runs: Iterable[CrawlHealth]) -> int:
        """Keep the latest crawl run of each source (a later run replaces an earlier one)."""

    @abc.abstractmethod
    def crawl_health(self) -> list[CrawlHealth]:
        """The latest crawl run of every source, by source name."""

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
