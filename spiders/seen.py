"""The seen-store: what each source already fetched and published, so a re-crawl is incremental.

One SQLite file under settings.data_dir. Pages are keyed by canonical URL: a page seen before
is not fetched again, unless its kind revisits items (weibo, board: metrics and replies change)
and it was first seen within the revisit window. Published content is keyed by post id with a
content hash, so an unchanged revisit is not published twice. The store also counts each
source's consecutive silent runs for the crawl-health signal.
"""

from __future__ import annotations

import time
from pathlib import Path

from stores.sqlite import connect
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


class SeenStore:
    """Single-threaded (Scrapy's reactor thread); every write is committed at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Durable across a crash of the process; a power cut may forget the last pages, which are
        # then fetched once more: cheap, against an fsync per page in the crawl's only thread.
        self._db = connect(self.path, autocommit=True)
        self._db.executescript(_SCHEMA)

    def should_fetch(self, source: str, url: str, revisit_days: float | None = None,
                     now: float | None = None) -> bool:
        """True for a page never fetched, or one first seen less than `revisit_days` ago."""
        row = self._db.execute(
            "SELECT first_seen FROM pages WHERE source = ? AND url = ?", (source, canonical_url(url))
        ).fetchone()
        if row is None:
            return True
        if not revisit_days:
            return False
        return (now or time.time()) - row[0] < revisit_days * _DAY

    def mark_fetched(self, source: str, url: str, now: float | None = None) -> None:
        stamp = now or time.time()
        self._db.execute(
            "INSERT INTO pages (source, url, first_seen, last_fetched) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (source, url) DO UPDATE SET last_fetched = excluded.last_fetched",
            (source, canonical_url(url), stamp, stamp),
        )

    def is_new_content(self, source: str, post_id: str, content_hash: str) -> tuple[bool, bool]:
        """(never published before, published before with other content)."""
        row = self._db.execute(
            "SELECT content_hash FROM contents WHERE source = ? AND post_id = ?", (source, post_id)
        ).fetchone()
        if row is None:
            return True, False
        return False, row[0] != content_hash

    def same_text_elsewhere(self, source: str, post_id: str, text_hash: str) -> bool:
        """True when another post of `source` was published with this exact title and text."""
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
        """Record one run of `source` with `items` items; returns its consecutive silent runs."""
        row = self._db.execute("SELECT silent_runs FROM runs WHERE source = ?", (source,)).fetchone()
        silent = 0 if items else (row[0] if row else 0) + 1
        self._db.execute(
            "INSERT INTO runs (source, silent_runs, last_run) VALUES (?, ?, ?) "
            "ON CONFLICT (source) DO UPDATE SET silent_runs = excluded.silent_runs, last_run = excluded.last_run",
            (source, silent, now or time.time()),
        )
        return silent

    def first_note(self, source: str, key: str, value: str) -> str:
        """The value first noted under `key`, noting `value` if there is none yet. Kinds use it for
        facts fixed at first sight, e.g. a weibo's time, which the API later shows ever more coarsely."""
        self._db.execute("INSERT OR IGNORE INTO notes (source, key, value) VALUES (?, ?, ?)", (source, key, value))
        return self.note(source, key) or value

    def note(self, source: str, key: str) -> str | None:
        """The value noted under `key`, or None."""
        row = self._db.execute("SELECT value FROM notes WHERE source = ? AND key = ?", (source, key)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()
