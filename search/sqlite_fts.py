"""Embedded index: SQLite FTS5 over jieba-segmented text.

FTS5's own tokenizers cannot split Chinese into words, so we store the text already segmented
(words separated by spaces) and segment queries the same way; each query word must match.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from analysis.segment import plain_words, search_terms
from search.base import Index, Interval, SearchBackendError, SearchQuery, SearchResult
from stores.sqlite import connect
from yuqing.schema import REPRINT_OF, SHANGHAI, CrawlHealth, EnrichedPost, Event, ReprintLink

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    platform TEXT NOT NULL, source TEXT NOT NULL, sentiment TEXT, event_id TEXT,
    ts REAL NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_ts ON posts (ts);
CREATE INDEX IF NOT EXISTS posts_event ON posts (event_id);
CREATE TABLE IF NOT EXISTS post_tags (
    rid INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value, rid)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5 (body, tokenize = 'unicode61');
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, last_seen REAL NOT NULL, merged INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS crawl_health (
    source TEXT PRIMARY KEY, finished REAL NOT NULL, doc TEXT NOT NULL
);
"""

_BUCKET = {"hour": "%Y-%m-%dT%H:00:00", "day": "%Y-%m-%dT00:00:00"}


def _fts_query(text: str) -> str:
    """Each word becomes a quoted FTS5 string, so user input can never be FTS syntax."""
    terms = [w for w in plain_words(text) if any(ch.isalnum() for ch in w)]
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)


class SqliteIndex(Index):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._conn = connect(self.path, autocommit=True, shared_between_threads=True)
            self._conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise SearchBackendError(f"cannot open the embedded index at {self.path}: {exc}") from exc

    def upsert(self, posts: Iterable[EnrichedPost]) -> int:
        count = 0
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for post in posts:
                old = conn.execute("SELECT rid FROM posts WHERE id=?", (post.id,)).fetchone()
                if old:
                    conn.execute("DELETE FROM posts_fts WHERE rowid=?", old)
                    conn.execute("DELETE FROM post_tags WHERE rid=?", old)
                    conn.execute("DELETE FROM posts WHERE rid=?", old)
                cur = conn.execute(
                    "INSERT INTO posts (id, platform, source, sentiment, event_id, ts, doc) VALUES (?,?,?,?,?,?,?)",
                    (post.id, post.platform.value, post.source,
                     post.sentiment.label.value if post.sentiment else None, post.event_id,
                     post.when.timestamp(), post.model_dump_json()),
                )
                rid = cur.lastrowid
                body = " ".join(search_terms(f"{post.title or ''}\n{post.masked_text or post.text}"))
                conn.execute("INSERT INTO posts_fts (rowid, body) VALUES (?, ?)", (rid, body))
                tags = [("place", p) for p in post.places] + [("policy", p.id) for p in post.policies]
                conn.executemany("INSERT OR IGNORE INTO post_tags VALUES (?, ?, ?)",
                                 [(rid, kind, value) for kind, value in tags])
                count += 1
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise SearchBackendError(f"cannot write to the embedded index {self.path}: {exc}") from exc
        return count

    def get(self, post_id: str) -> EnrichedPost | None:
        row = self._conn.execute("SELECT doc FROM posts WHERE id=?", (post_id,)).fetchone()
        return EnrichedPost.model_validate_json(row[0]) if row else None

    def _where(self, query: SearchQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if query.text and (match := _fts_query(query.text)):
            clauses.append("posts.rid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)")
            args.append(match)
        if query.since:
            clauses.append("posts.ts >= ?")
            args.append(query.since.timestamp())
        if query.until:
            clauses.append("posts.ts < ?")
            args.append(query.until.timestamp())
        for column, values in (("platform", query.platforms), ("source", query.sources),
                               ("sentiment", [s.value for s in query.sentiments]),
                               ("event_id", query.events)):
            if values:
                clauses.append(f"posts.{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        for kind, values in (("place", query.places), ("policy", query.policies)):
            if values:
                clauses.append(
                    f"posts.rid IN (SELECT rid FROM post_tags WHERE kind=? AND value IN ({','.join('?' * len(values))}))"
                )
                args.extend([kind, *values])
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def search(self, query: SearchQuery) -> SearchResult:
        where, args = self._where(query)
        total = self._conn.execute(f"SELECT COUNT(*) FROM posts{where}", args).fetchone()[0]
        rows = self._conn.execute(
            f"SELECT doc FROM posts{where} ORDER BY ts DESC, id LIMIT ? OFFSET ?",
            [*args, query.limit, query.offset],
        ).fetchall()
        return SearchResult(total=total, hits=[EnrichedPost.model_validate_json(r[0]) for r in rows])

    def histogram(self, query: SearchQuery, interval: Interval = "hour") -> list[tuple[datetime, int]]:
        where, args = self._where(query)
        buckets: dict[datetime, int] = {}
        for (ts,) in self._conn.execute(f"SELECT ts FROM posts{where}", args):
            local = datetime.fromtimestamp(ts, SHANGHAI)
            start = local.replace(minute=0, second=0, microsecond=0)
            if interval == "day":
                start = start.replace(hour=0)
            buckets[start] = buckets.get(start, 0) + 1
        return sorted(buckets.items())

    def counts_by(self, field: Literal["platform", "source", "sentiment"], query: SearchQuery | None = None
                  ) -> dict[str, int]:
        where, args = self._where(query or SearchQuery())
        rows = self._conn.execute(
            f"SELECT COALESCE({field}, 'unknown'), COUNT(*) FROM posts{where} GROUP BY 1 ORDER BY 2 DESC", args
        )
        return dict(rows.fetchall())

    def relink(self, links: Iterable[ReprintLink]) -> int:
        rows = [(link.reprint_of, link.reprint_of, link.post_id) for link in links]
        if not rows:
            return 0
        try:
            with self._conn:
                updated = self._conn.executemany(
                    f"UPDATE posts SET doc=json_set(doc, '$.reprint_of', ?, '$.extra.\"{REPRINT_OF}\"', ?) WHERE id=?",
                    rows)
        except sqlite3.Error as exc:
            raise SearchBackendError(f"cannot write to the embedded index {self.path}: {exc}") from exc
        return updated.rowcount

    def upsert_events(self, events: Iterable[Event]) -> int:
        events = list(events)
        rows = [(e.id, e.last_seen.timestamp(), int(e.merged_into is not None), e.model_dump_json())
                for e in events]
        try:
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)", rows)
                for event in events:
                    if event.merged_into:
                        self._retag(event.id, self._surviving(event.merged_into))
        except sqlite3.Error as exc:
            raise SearchBackendError(f"cannot write events to {self.path}: {exc}") from exc
        return len(rows)

    def _surviving(self, event_id: str) -> str:
        """The event that `event_id` ended up in, following merges recorded so far."""
        seen = {event_id}
        while True:
            row = self._conn.execute("SELECT json_extract(doc, '$.merged_into') FROM events WHERE id=? AND merged=1",
                                     (event_id,)).fetchone()
            if row is None or row[0] in seen:
                return event_id
            event_id = row[0]
            seen.add(event_id)

    def _retag(self, merged: str, into: str) -> None:
        """Posts indexed under a merged-away event belong to the event it was merged into."""
        self._conn.execute("UPDATE posts SET event_id=?, doc=json_set(doc, '$.event_id', ?) WHERE event_id=?",
                           (into, into, merged))

    def events(self, since: datetime | None = None, limit: int = 100) -> list[Event]:
        rows = self._conn.execute(
            "SELECT doc FROM events WHERE merged=0 AND last_seen >= ? ORDER BY last_seen DESC LIMIT ?",
            (since.timestamp() if since else 0, limit),
        )
        return [Event.model_validate_json(r[0]) for r in rows]

    def record_health(self, runs: Iterable[CrawlHealth]) -> int:
        rows = [(r.source, r.finished_at.timestamp(), r.model_dump_json()) for r in runs]
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT INTO crawl_health VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
                    "finished=excluded.finished, doc=excluded.doc WHERE excluded.finished >= finished",
                    rows,
                )
        except sqlite3.Error as exc:
            raise SearchBackendError(f"cannot write crawl health to {self.path}: {exc}") from exc
        return len(rows)

    def crawl_health(self) -> list[CrawlHealth]:
        rows = self._conn.execute("SELECT doc FROM crawl_health ORDER BY source")
        return [CrawlHealth.model_validate_json(r[0]) for r in rows]

    def close(self) -> None:
        self._conn.close()
