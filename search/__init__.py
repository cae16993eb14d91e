"""The searchable store of enriched posts and events: SQLite FTS5 or Elasticsearch, by `settings.index`."""

from __future__ import annotations

from search.base import Index, SearchBackendError, SearchQuery, SearchResult
from yuqing.config import ConfigError, Settings

__all__ = ["Index", "SearchBackendError", "SearchQuery", "SearchResult", "open_index"]


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
