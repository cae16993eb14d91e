"""The searchable store of enriched posts and events: SQLite FTS5 or Elasticsearch, by `settings.index`."""

from __future__ import annotations

from search.base import (
    FACET_NAMES,
    Bucket,
    EmergingValue,
    FacetName,
    Facets,
    FacetValue,
    Index,
    SearchBackendError,
    SearchHit,
    SearchQuery,
    SearchResult,
    Sort,
)
from search.query import Query, QueryError, parse_query
from yuqing.config import ConfigError, Settings

__all__ = ["FACET_NAMES", "Bucket", "EmergingValue", "FacetName", "FacetValue", "Facets", "Index", "Query",
           "QueryError", "SearchBackendError", "SearchHit", "SearchQuery", "SearchResult", "Sort", "open_index",
           "parse_query"]


def open_index(settings: Settings) -> Index:
    """The index the settings ask for."""
    if settings.index == "embedded":
        from search.sqlite_fts import SqliteIndex

        return SqliteIndex(settings.path("index.sqlite3"))
    if settings.index == "elasticsearch":
        from search.elastic import ElasticIndex

        return ElasticIndex(settings.elasticsearch)
    raise ConfigError(
        settings.config_file or "environment (YUQING_INDEX)", "index",
        f"index {settings.index!r} is unknown; use 'embedded' or 'elasticsearch'",
    )
