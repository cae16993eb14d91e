"""The analyzer's memory: events, recent posts' fingerprints, crawled policies. In SQLite (`AnalysisStateStore`,
embedded) or the PostgreSQL state database (`PostgresAnalysisState`, scale-out: a standby takes over from it).

Written in batches (the analyzer's `flush`), read once at start-up, so event ids, reprint links and
the policy registry survive a restart. `analysis.enrich.AnalyzerMemory` is the interface it fills.
Posts and events are kept while the analyzer's windows can still use them (`forget_before`), so the
file and the start-up read stay the size of one window, whatever the history.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.events import EventState, Fingerprint
from stores import postgres
from stores.sqlite import connect
from yuqing.config.settings import PostgresSettings
from yuqing.schema import Policy

if TYPE_CHECKING:  # the analyzer's module: not loaded only to name the row type
    from analysis.enrich import AssignedPost

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, last_seen TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY, at TEXT NOT NULL, event_id TEXT, reprint_of TEXT,
    fingerprint INTEGER, original TEXT, lead INTEGER
);
CREATE INDEX IF NOT EXISTS posts_at ON posts (at);
CREATE INDEX IF NOT EXISTS events_last_seen ON events (last_seen);
CREATE TABLE IF NOT EXISTS policies (id TEXT PRIMARY KEY, policy TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS saves (
    id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL
);
"""


def _signed(value: int) -> int:
    """SQLite integers (and PostgreSQL bigints) are signed 64-bit: store a 64-bit fingerprint as its two's
    complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


# Times are stored as ISO text with the offset they came with; the texts of one instant differ by less than
# two days (offsets run from -12:00 to +14:00), so a range read with this margin through the index, then
# compared as datetimes, is exact.
OFFSET_MARGIN = timedelta(days=2)
LOOKUP_CHUNK = 500  # post ids per read of `assigned_many` (SQLite allows 32,766 parameters a statement)


def _text_floor(when: datetime) -> str:
    """ISO text below the text of every time at or after `when`, whatever its offset, and above the text of
    none earlier than `when - OFFSET_MARGIN`."""
    return (when - OFFSET_MARGIN).replace(tzinfo=None).isoformat()


def _stored_post(post: AssignedPost) -> tuple:
    """A post's row: (id, at, event_id, reprint_of, fingerprint, original, lead)."""
    pid, at, event_id, reprint_of, fp = post
    return (pid, at, event_id, reprint_of, _signed(fp.value) if fp else None, fp.original if fp else None,
            _signed(fp.lead) if fp and fp.lead is not None else None)


def _assigned_post(pid: str, when: datetime, event_id: str | None, reprint_of: str | None, value: int | None,
                   original: str | None, lead: int | None) -> AssignedPost:
    fingerprint = (Fingerprint(pid, _unsigned(value), when, original or pid, event_id,
                               _unsigned(lead) if lead is not None else None)
                   if value is not None else None)
    return pid, when, event_id, reprint_of, fingerprint


class AnalysisStateStore:
    def __init__(self, path: Path) -> None:
        self.db = connect(path)
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(posts)")}
        if "lead" not in columns:  # state written before first paragraphs were fingerprinted
            with self.db:
                self.db.execute("ALTER TABLE posts ADD COLUMN lead INTEGER")

    def save(
        self,
        events: Iterable[EventState],
        posts: Iterable[AssignedPost],
        policies: Iterable[Policy],
    ) -> int:
        """Write changed events, newly analysed posts and new policies in one transaction; returns the count
        of saves, this one included (and the process that made it is noted: the active events worker)."""
        with self.db:
            self.db.execute(
                "INSERT INTO saves VALUES (1, 1, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET count = count + 1, host = excluded.host, pid = excluded.pid", (socket.gethostname(), os.getpid()))
            self.db.executemany(
                "INSERT OR REPLACE INTO events VALUES (?, ?, ?)",
                [(e.id, e.last_seen.isoformat(), json.dumps(e.to_json(), ensure_ascii=False)) for e in events],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO posts (id, at, event_id, reprint_of, fingerprint, original, lead)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(pid, at.isoformat(), *rest) for pid, at, *rest in map(_stored_post, posts)],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO policies VALUES (?, ?)",
                [(p.id, p.model_dump_json()) for p in policies],
            )
            return int(self.db.execute("SELECT count FROM saves").fetchone()[0])

    def saves(self) -> int:
        row = self.db.execute("SELECT count FROM saves").fetchone()
        return int(row[0]) if row else 0

    def last_writer(self) -> tuple[str, int] | None:
        """(host, pid) of the process that saved last."""
        row = self.db.execute("SELECT host, pid FROM saves").fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def policies(self) -> list[Policy]:
        return [Policy.model_validate_json(row[0]) for row in self.db.execute("SELECT policy FROM policies")]

    def newest(self) -> datetime | None:
        row = self.db.execute("SELECT MAX(last_seen) FROM events").fetchone()
        if not row or not row[0]:
            return None
        latest = datetime.fromisoformat(row[0])
        rows = self.db.execute("SELECT last_seen FROM events WHERE last_seen >= ?", (_text_floor(latest),))
        return max(datetime.fromisoformat(at) for at, in rows)

    def events_since(self, since: datetime) -> list[EventState]:
        # Stored times may carry different UTC offsets, so they are compared as datetimes, not strings.
        rows = self.db.execute("SELECT state FROM events WHERE last_seen >= ?", (_text_floor(since),))
        states = [EventState.from_json(json.loads(row[0])) for row in rows]
        return [s for s in states if s.last_seen >= since]

    def assigned(self, post_id: str) -> tuple[str | None, str | None, datetime] | None:
        """(event id, reprint_of, when) of a post analysed before, or None."""
        row = self.db.execute("SELECT event_id, reprint_of, at FROM posts WHERE id = ?", (post_id,)).fetchone()
        return (row[0], row[1], datetime.fromisoformat(row[2])) if row else None

    def assigned_many(self, post_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None, datetime]]:
        """`assigned` of many posts in a few reads: post id -> (event id, reprint_of, when), for those analysed before."""
        found = {}
        for start in range(0, len(post_ids), LOOKUP_CHUNK):
            chunk = post_ids[start:start + LOOKUP_CHUNK]
            for pid, event_id, reprint_of, at in self.db.execute(
                    f"SELECT id, event_id, reprint_of, at FROM posts WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                found[pid] = (event_id, reprint_of, datetime.fromisoformat(at))
        return found

    def posts_since(self, since: datetime) -> list[AssignedPost]:
        rows = []
        for pid, at, *rest in self.db.execute(
            "SELECT id, at, event_id, reprint_of, fingerprint, original, lead FROM posts WHERE at >= ?",
            (_text_floor(since),),
        ):
            when = datetime.fromisoformat(at)
            if when >= since:
                rows.append(_assigned_post(pid, when, *rest))
        return rows

    def forget_before(self, cutoff: datetime) -> None:
        """Delete posts and events older than `cutoff` (those within OFFSET_MARGIN of it stay a little longer)."""
        floor = _text_floor(cutoff)
        with self.db:
            self.db.execute("DELETE FROM posts WHERE at < ?", (floor,))
            self.db.execute("DELETE FROM events WHERE last_seen < ?", (floor,))

    def close(self) -> None:
        self.db.close()



class PostgresAnalysisState:
    """The analyzer's memory in tables `analysis_*` (migrations 0005 and 0007), the same contract as the SQLite file: the
    active analyzer writes it batch by batch, a standby that takes over reads the window it needs at start."""

    SCHEMA_VERSION = 7

    def __init__(self, settings: PostgresSettings) -> None:
        self._db = postgres.Database(settings, self.SCHEMA_VERSION)

    def save(self, events: Iterable[EventState], posts: Iterable[AssignedPost], policies: Iterable[Policy]) -> int:
        """Write changed events, newly analysed posts and new policies in one transaction; returns the count of
        saves, this one included (and the process that made it is noted: the active events worker)."""
        with self._db.transaction() as conn, conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO analysis_saves VALUES (1, 1, %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET count = analysis_saves.count + 1, host = excluded.host, pid = excluded.pid RETURNING count",
                (socket.gethostname(), os.getpid()))
            row = cursor.fetchone()
            assert row is not None  # RETURNING gives the row written
            count = int(row[0])
            cursor.executemany(
                "INSERT INTO analysis_events (id, last_seen, state) VALUES (%s, %s, %s) ON CONFLICT (id) "
                "DO UPDATE SET last_seen = excluded.last_seen, state = excluded.state",
                [(e.id, e.last_seen, json.dumps(e.to_json(), ensure_ascii=False)) for e in events])
            cursor.executemany(
                "INSERT INTO analysis_posts (id, at, event_id, reprint_of, fingerprint, original, lead) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET at = excluded.at, "
                "event_id = excluded.event_id, reprint_of = excluded.reprint_of, "
                "fingerprint = excluded.fingerprint, original = excluded.original, lead = excluded.lead",
                [_stored_post(post) for post in posts])
            cursor.executemany(
                "INSERT INTO analysis_policies (id, policy) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET policy = excluded.policy",
                [(p.id, p.model_dump_json()) for p in policies])
        return count

    def saves(self) -> int:
        rows = self._db.rows("SELECT count FROM analysis_saves")
        return int(rows[0][0]) if rows else 0

    def last_writer(self) -> tuple[str, int] | None:
        """(host, pid) of the process that saved last."""
        rows = self._db.rows("SELECT host, pid FROM analysis_saves")
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def policies(self) -> list[Policy]:
        return [Policy.model_validate_json(text) for text, in self._db.rows("SELECT policy FROM analysis_policies")]

    def newest(self) -> datetime | None:
        [(latest,)] = self._db.rows("SELECT MAX(last_seen) FROM analysis_events")
        return latest

    def events_since(self, since: datetime) -> list[EventState]:
        return [EventState.from_json(json.loads(text)) for text, in self._db.rows(
            "SELECT state FROM analysis_events WHERE last_seen >= %s", (since,))]

    def assigned(self, post_id: str) -> tuple[str | None, str | None, datetime] | None:
        """(event id, reprint_of, when) of a post analysed before, or None."""
        rows = self._db.rows("SELECT event_id, reprint_of, at FROM analysis_posts WHERE id = %s", (post_id,))
        if not rows:
            return None
        event_id, reprint_of, when = rows[0]
        return event_id, reprint_of, when

    def assigned_many(self, post_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None, datetime]]:
        """`assigned` of many posts in one read: post id -> (event id, reprint_of, when), for those analysed before."""
        if not post_ids:
            return {}
        return {pid: (event_id, reprint_of, when) for pid, event_id, reprint_of, when in self._db.rows(
            "SELECT id, event_id, reprint_of, at FROM analysis_posts WHERE id = ANY(%s)", (list(post_ids),))}

    def posts_since(self, since: datetime) -> list[AssignedPost]:
        return [_assigned_post(*row) for row in self._db.rows(
            "SELECT id, at, event_id, reprint_of, fingerprint, original, lead FROM analysis_posts WHERE at >= %s",
            (since,))]

    def forget_before(self, cutoff: datetime) -> None:
        """Delete posts and events older than `cutoff`."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM analysis_posts WHERE at < %s", (cutoff,))
            conn.execute("DELETE FROM analysis_events WHERE last_seen < %s", (cutoff,))

    def close(self) -> None:
        self._db.close()
