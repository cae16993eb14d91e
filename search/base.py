"""The index interface: upsert enriched posts and events, search with filters, count over time.

Two implementations: `search.sqlite_fts` (embedded default) and Elasticsearch (scale-out),
chosen by `settings.index`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from yuqing.errors import BackendUnavailable
from yuqing.schema import CrawlHealth, EnrichedPost, Event, ReprintLink, SentimentLabel

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


class SearchQuery(BaseModel):
    """Full-text query plus filters. Every list filter matches any of its values."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    platforms: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    sentiments: list[SentimentLabel] = Field(default_factory=list)
    places: list[str] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    limit: int = Field(default=20, ge=0, le=10_000)
    offset: int = Field(default=0, ge=0)


class SearchResult(BaseModel):
    total: int
    hits: list[EnrichedPost]


class Index(abc.ABC):
    @abc.abstractmethod
    def upsert(self, posts: Iterable[EnrichedPost]) -> int:
        """Insert or replace by id; indexing the same post twice leaves one copy. Returns the count."""

    @abc.abstractmethod
    def get(self, post_id: str) -> EnrichedPost | None: ...

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """Newest first; `total` counts every match, `hits` is one page."""

    @abc.abstractmethod
    def histogram(self, query: SearchQuery, interval: Interval = "hour") -> list[tuple[datetime, int]]:
        """Matches per hour or day (Asia/Shanghai buckets), oldest first, empty buckets left out."""

    @abc.abstractmethod
    def counts_by(self, field: Literal["platform", "source", "sentiment"], query: SearchQuery | None = None
                  ) -> dict[str, int]: ...

    @abc.abstractmethod
    def relink(self, links: Iterable[ReprintLink]) -> int:
        """Mark indexed posts as copies (`reprint_of`, extra 转载自) of an original found after them.
        Returns how many were updated; a post not indexed is left alone."""

    @abc.abstractmethod
    def upsert_events(self, events: Iterable[Event]) -> int: ...

    @abc.abstractmethod
    def events(self, since: datetime | None = None, limit: int = 100) -> list[Event]:
        """Events, most recently seen first; merged-away events are left out."""

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
