"""The analyzer's memory in SQLite: events, recent posts' fingerprints, crawled policies.

Written in batches (the analyzer's `flush`), read once at start-up, so event ids, reprint links and
the policy registry survive a restart. `analysis.enrich.AnalyzerMemory` is the interface it fills.
Posts and events are kept while the analyzer's windows can still use them (`forget_before`), so the
file and the start-up read stay the size of one window, whatever the history.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from analysis.events import EventState, Fingerprint
from stores.sqlite import connect
from yuqing.schema import Policy

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
    """SQLite integers are signed 64-bit: store a 64-bit fingerprint as its two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


# Times are stored as ISO text with the offset they came with; the texts of one instant differ by less than
# two days (offsets run from -12:00 to +14:00), so a range read with this margin through the index, then
# compared as datetimes, is exact.
OFFSET_MARGIN = timedelta(days=2)


def _text_floor(when: datetime) -> str:
    """ISO text below the text of every time at or after `when`, whatever its offset, and above the text of
    none earlier than `when - OFFSET_MARGIN`."""
    return (when - OFFSET_MARGIN).replace(tzinfo=None).isoformat()


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
        posts: Iterable[tuple[str, datetime, str | None, str | None, Fingerprint | None]],
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
                [
                    (pid, at.isoformat(), event_id, reprint_of,
                     _signed(fp.value) if fp else None, fp.original if fp else None,
                     _signed(fp.lead) if fp and fp.lead is not None else None)
                    for pid, at, event_id, reprint_of, fp in posts
                ],
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

    def posts_since(self, since: datetime) -> list[tuple[str, datetime, str | None, str | None, Fingerprint | None]]:
        rows = []
        for pid, at, event_id, reprint_of, value, original, lead in self.db.execute(
            "SELECT id, at, event_id, reprint_of, fingerprint, original, lead FROM posts WHERE at >= ?",
            (_text_floor(since),),
        ):
            when = datetime.fromisoformat(at)
            if when < since:
                continue
            fingerprint = (
                Fingerprint(pid, _unsigned(value), when, original or pid, event_id,
                            _unsigned(lead) if lead is not None else None)
                if value is not None else None
            )
            rows.append((pid, when, event_id, reprint_of, fingerprint))
        return rows

    def forget_before(self, cutoff: datetime) -> None:
        """Delete posts and events older than `cutoff` (those within OFFSET_MARGIN of it stay a little longer)."""
        floor = _text_floor(cutoff)
        with self.db:
            self.db.execute("DELETE FROM posts WHERE at < ?", (floor,))
            self.db.execute("DELETE FROM events WHERE last_seen < ?", (floor,))

    def close(self) -> None:
        self.db.close()

