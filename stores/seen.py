"""The seen-store: what each source already fetched and published, so a re-crawl is incremental.

`SeenStore` is the interface; `SqliteSeenStore` keeps it in one SQLite file under settings.data_dir
(embedded), `PostgresSeenStore` in the shared PostgreSQL database (scale-out: crawlers on several
machines see one another's pages). `stores.state.open_seen_store` picks one by the settings. Pages are keyed by canonical URL: a page seen before
is not fetched again, unless its kind revisits items (weibo, board: metrics and replies change)
and it was first seen within the revisit window. Published content is keyed by post id with a
content hash, so an unchanged revisit is not published twice. The store also counts each
source's consecutive silent runs for the crawl-health signal.
"""

from __future__ import annotations

import abc
import time
from pathlib import Path

from stores import postgres
from stores.sqlite import connect
from yuqing.config.settings import PostgresSettings
from yuqing.schema import canonical_url

_DAY = 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    source TEXT NOT NULL, url TEXT NOT NULL, first_seen REAL NOT NULL, last_fetched REAL NOT NULL,
    PRIMARY KEY (source, url));
CREATE TABLE IF NOT EXISTS contents (
    source TEXT NOT NULL, post_id TEXT NOT NULL, content_hash TEXT NOT NULL, published REAL NOT NULL,
    text_hash TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (source, post_id));
CREATE INDEX IF NOT EXISTS contents_text ON contents (source, text_hash);
CREATE TABLE IF NOT EXISTS runs (
    source TEXT PRIMARY KEY, silent_runs INTEGER NOT NULL, last_run REAL NOT NULL);
CREATE TABLE IF NOT EXISTS notes (
    source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (source, key));
"""


class SeenStore(abc.ABC):
    """Used from one thread (Scrapy's reactor thread); every write is committed at once."""

    @abc.abstractmethod
    def should_fetch(self, source: str, url: str, revisit_days: float | None = None,
                     now: float | None = None) -> bool:
        """True for a page never fetched, or one first seen less than `revisit_days` ago."""

    @abc.abstractmethod
    def mark_fetched(self, source: str, url: str, now: float | None = None) -> None: ...

    @abc.abstractmethod
    def is_new_content(self, source: str, post_id: str, content_hash: str) -> tuple[bool, bool]:
        """(never published before, published before with other content)."""

    @abc.abstractmethod
    def same_text_elsewhere(self, source: str, post_id: str, text_hash: str) -> bool:
        """True when another post of `source` was published with this exact title and text."""

    @abc.abstractmethod
    def mark_published(self, source: str, post_id: str, content_hash: str, text_hash: str = "",
                       now: float | None = None) -> None: ...

    @abc.abstractmethod
    def record_run(self, source: str, items: int, now: float | None = None) -> int:
        """Record one run of `source` with `items` items; returns its consecutive silent runs."""

    @abc.abstractmethod
    def first_note(self, source: str, key: str, value: str) -> str:
        """The value first noted under `key`, noting `value` if there is none yet. Kinds use it for
        facts fixed at first sight, e.g. a weibo's time, which the API later shows ever more coarsely."""

    @abc.abstractmethod
    def note(self, source: str, key: str) -> str | None:
        """The value noted under `key`, or None."""

    @abc.abstractmethod
    def close(self) -> None: ...


def _fresh(first_seen: float, revisit_days: float | None, now: float | None) -> bool:
    """Whether a page first seen at `first_seen` is still within its kind's revisit window."""
    return bool(revisit_days) and (now or time.time()) - first_seen < (revisit_days or 0) * _DAY


class SqliteSeenStore(SeenStore):
    """The embedded seen-store: one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Durable across a crash of the process; a power cut may forget the last pages, which are
        # then fetched once more: cheap, against an fsync per page in the crawl's only thread.
        self._db = connect(self.path, autocommit=True)
        self._db.executescript(_SCHEMA)

    def should_fetch(self, source: str, url: str, revisit_days: float | None = None,
                     now: float | None = None) -> bool:
        row = self._db.execute(
            "SELECT first_seen FROM pages WHERE source = ? AND url = ?", (source, canonical_url(url))
        ).fetchone()
        return row is None or _fresh(row[0], revisit_days, now)

    def mark_fetched(self, source: str, url: str, now: float | None = None) -> None:
        stamp = now or time.time()
        self._db.execute(
            "INSERT INTO pages (source, url, first_seen, last_fetched) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (source, url) DO UPDATE SET last_fetched = excluded.last_fetched",
            (source, canonical_url(url), stamp, stamp),
        )

    def is_new_content(self, source: str, post_id: str, content_hash: str) -> tuple[bool, bool]:
        row = self._db.execute(
            "SELECT content_hash FROM contents WHERE source = ? AND post_id = ?", (source, post_id)
        ).fetchone()
        if row is None:
            return True, False
        return False, row[0] != content_hash

    def same_text_elsewhere(self, source: str, post_id: str, text_hash: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM contents WHERE source = ? AND text_hash = ? AND post_id != ? LIMIT 1",
            (source, text_hash, post_id),
        ).fetchone()
        return row is not None

    def mark_published(self, source: str, post_id: str, content_hash: str, text_hash: str = "",
                       now: float | None = None) -> None:
        self._db.execute(
            "INSERT INTO contents (source, post_id, content_hash, published, text_hash) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (source, post_id) DO UPDATE SET content_hash = excluded.content_hash, "
            "published = excluded.published, text_hash = excluded.text_hash",
            (source, post_id, content_hash, now or time.time(), text_hash),
        )

    def record_run(self, source: str, items: int, now: float | None = None) -> int:
        # One statement: two crawlers recording runs of a source at once both count.
        row = self._db.execute(
            "INSERT INTO runs (source, silent_runs, last_run) VALUES (:source, :first, :now) "
            "ON CONFLICT (source) DO UPDATE SET last_run = excluded.last_run, silent_runs = "
            "CASE WHEN :items > 0 THEN 0 ELSE runs.silent_runs + 1 END RETURNING silent_runs",
            {"source": source, "first": 0 if items else 1, "items": items, "now": now or time.time()},
        ).fetchone()
        return int(row[0])

    def first_note(self, source: str, key: str, value: str) -> str:
        self._db.execute("INSERT OR IGNORE INTO notes (source, key, value) VALUES (?, ?, ?)", (source, key, value))
        return self.note(source, key) or value

    def note(self, source: str, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM notes WHERE source = ? AND key = ?", (source, key)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()


class PostgresSeenStore(SeenStore):
    """The shared seen-store: tables `seen_*` of the PostgreSQL state database (migration 0001)."""

    SCHEMA_VERSION = 1

    def __init__(self, settings: PostgresSettings) -> None:
        # Each statement its own transaction, like the SQLite store: a page marked is marked for every crawler.
        self._db = postgres.Database(settings, self.SCHEMA_VERSION)

    def should_fetch(self, source: str, url: str, revisit_days: float | None = None,
                     now: float | None = None) -> bool:
        row = self._db.row(
            "SELECT first_seen FROM seen_pages WHERE source = %s AND url = %s", (source, canonical_url(url))
        )
        return row is None or _fresh(row[0], revisit_days, now)

    def mark_fetched(self, source: str, url: str, now: float | None = None) -> None:
        stamp = now or time.time()
        self._db.rows(
            "INSERT INTO seen_pages (source, url, first_seen, last_fetched) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (source, url) DO UPDATE SET last_fetched = excluded.last_fetched",
            (source, canonical_url(url), stamp, stamp),
        )

    def is_new_content(self, source: str, post_id: str, content_hash: str) -> tuple[bool, bool]:
        row = self._db.row(
            "SELECT content_hash FROM seen_contents WHERE source = %s AND post_id = %s", (source, post_id)
        )
        if row is None:
            return True, False
        return False, row[0] != content_hash

    def same_text_elsewhere(self, source: str, post_id: str, text_hash: str) -> bool:
        row = self._db.row(
            "SELECT 1 FROM seen_contents WHERE source = %s AND text_hash = %s AND post_id != %s LIMIT 1",
            (source, text_hash, post_id),
        )
        return row is not None

    def mark_published(self, source: str, post_id: str, content_hash: str, text_hash: str = "",
                       now: float | None = None) -> None:
        self._db.rows(
            "INSERT INTO seen_contents (source, post_id, content_hash, published, text_hash) "
            "VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (source, post_id) DO UPDATE SET content_hash = excluded.content_hash, "
            "published = excluded.published, text_hash = excluded.text_hash",
            (source, post_id, content_hash, now or time.time(), text_hash),
        )

    def record_run(self, source: str, items: int, now: float | None = None) -> int:
        # One statement: two crawlers recording runs of a source at once both count.
        row = self._db.row(
            "INSERT INTO seen_runs (source, silent_runs, last_run) VALUES (%(source)s, %(first)s, %(now)s) "
            "ON CONFLICT (source) DO UPDATE SET last_run = excluded.last_run, silent_runs = "
            "CASE WHEN %(items)s > 0 THEN 0 ELSE seen_runs.silent_runs + 1 END RETURNING silent_runs",
            {"source": source, "first": 0 if items else 1, "items": items, "now": now or time.time()},
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return int(row[0])

    def first_note(self, source: str, key: str, value: str) -> str:
        self._db.rows("INSERT INTO seen_notes (source, key, value) VALUES (%s, %s, %s) "
                      "ON CONFLICT (source, key) DO NOTHING", (source, key, value))
        return self.note(source, key) or value

    def note(self, source: str, key: str) -> str | None:
        row = self._db.row("SELECT value FROM seen_notes WHERE source = %s AND key = %s", (source, key))
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()
