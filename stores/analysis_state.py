"""The analyzer's memory in SQLite: events, recent posts' fingerprints and threads, crawled policies.

Written in batches (the analyzer's `flush`), so event ids, reprint links and the policy registry survive
a restart; read back by indexed lookups when a post needs what the analyzer no longer holds (an older
event, a fingerprint sharing a band with the post's, the event of the thread it answers), and at start-up
only for the events joined last. `analysis.enrich.AnalyzerMemory` is the interface it fills. Posts and
events are kept while the analyzer's windows can still use them (`forget_before`), so the file stays the
size of one window, whatever the history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from analysis.events import BANDS, FINGERPRINT_BITS, EventState, Fingerprint
from stores.sqlite import connect
from yuqing.schema import Policy

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, last_seen TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY, at TEXT NOT NULL, event_id TEXT, reprint_of TEXT,
    fingerprint INTEGER, original TEXT, lead INTEGER, thread INTEGER
);
CREATE INDEX IF NOT EXISTS posts_at ON posts (at);
CREATE INDEX IF NOT EXISTS events_last_seen ON events (last_seen);
CREATE TABLE IF NOT EXISTS policies (id TEXT PRIMARY KEY, policy TEXT NOT NULL);
"""
# Read back by the analyzer: a thread's first post, the copies of an original, and the fingerprints sharing a
# band (see analysis.events: two within 3 bits agree on at least one of four 16-bit bands) with a post's.
BAND_WIDTH = FINGERPRINT_BITS // BANDS


def _band(column: str, band: int) -> str:
    return f"(({column} >> {band * BAND_WIDTH}) & {(1 << BAND_WIDTH) - 1})"


LOOKUP_INDEXES = "\n".join([
    "CREATE INDEX IF NOT EXISTS posts_thread ON posts (thread) WHERE thread IS NOT NULL;",
    "CREATE INDEX IF NOT EXISTS posts_original ON posts (original) WHERE original IS NOT NULL;",
    *(f"CREATE INDEX IF NOT EXISTS posts_{column}_band{band} ON posts ({_band(column, band)});"
      for column in ("fingerprint", "lead") for band in range(BANDS)),
])
FINGERPRINT_COLUMNS = "id, at, event_id, fingerprint, original, lead"


def _signed(value: int) -> int:
    """SQLite integers are signed 64-bit: store a 64-bit fingerprint as its two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def _thread_key(key: str) -> int:
    """A thread key (a page's address, a post id) as a signed 64-bit hash: a small index, and at a week's
    few million keys a collision is a one in a million million chance."""
    return _signed(int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little"))


def _fingerprint(row: tuple[str, str, str | None, int | None, str | None, int | None]) -> Fingerprint | None:
    pid, at, event_id, value, original, lead = row
    if value is None:
        return None
    return Fingerprint(pid, _unsigned(value), datetime.fromisoformat(at), original or pid, event_id,
                       _unsigned(lead) if lead is not None else None)


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
        with self.db:  # state written before first paragraphs were fingerprinted, or threads kept
            for column in {"lead", "thread"} - columns:
                self.db.execute(f"ALTER TABLE posts ADD COLUMN {column} INTEGER")
        self.db.executescript(LOOKUP_INDEXES)

    def save(
        self,
        events: Iterable[EventState],
        posts: Iterable[tuple[str, datetime, str | None, str | None, Fingerprint | None, str | None]],
        policies: Iterable[Policy],
    ) -> None:
        """Write changed events, newly analysed posts (id, when, event id, reprint_of, fingerprint, thread
        key) and new policies in one transaction."""
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO events VALUES (?, ?, ?)",
                [(e.id, e.last_seen.isoformat(), json.dumps(e.to_json(), ensure_ascii=False)) for e in events],
            )
            # A post saved again (its reprint link changed) keeps its row, so a thread's first post stays first.
            self.db.executemany(
                "INSERT INTO posts (id, at, event_id, reprint_of, fingerprint, original, lead, thread)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at,"
                " event_id = excluded.event_id, reprint_of = excluded.reprint_of, fingerprint = excluded.fingerprint,"
                " original = excluded.original, lead = excluded.lead, thread = COALESCE(excluded.thread, thread)",
                [
                    (pid, at.isoformat(), event_id, reprint_of,
                     _signed(fp.value) if fp else None, fp.original if fp else None,
                     _signed(fp.lead) if fp and fp.lead is not None else None,
                     _thread_key(thread) if thread else None)
                    for pid, at, event_id, reprint_of, fp, thread in posts
                ],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO policies VALUES (?, ?)",
                [(p.id, p.model_dump_json()) for p in policies],
            )

    def policies(self) -> list[Policy]:
        return [Policy.model_validate_json(row[0]) for row in self.db.execute("SELECT policy FROM policies")]

    def newest(self) -> datetime | None:
        row = self.db.execute("SELECT MAX(last_seen) FROM events").fetchone()
        if not row or not row[0]:
            return None
        latest = datetime.fromisoformat(row[0])
        rows = self.db.execute("SELECT last_seen FROM events WHERE last_seen >= ?", (_text_floor(latest),))
        return max(datetime.fromisoformat(at) for at, in rows)

    def latest_events(self, limit: int) -> list[EventState]:
        """The `limit` events seen last, the last first."""
        rows = self.db.execute("SELECT state FROM events ORDER BY last_seen DESC LIMIT ?", (limit,))
        return [EventState.from_json(json.loads(row[0])) for row in rows]

    def event(self, event_id: str) -> EventState | None:
        row = self.db.execute("SELECT state FROM events WHERE id = ?", (event_id,)).fetchone()
        return EventState.from_json(json.loads(row[0])) if row else None

    def assigned(self, post_id: str) -> tuple[str | None, str | None, datetime] | None:
        """(event id, reprint_of, when) of a post analysed before, or None."""
        row = self.db.execute("SELECT event_id, reprint_of, at FROM posts WHERE id = ?", (post_id,)).fetchone()
        return (row[0], row[1], datetime.fromisoformat(row[2])) if row else None

    def fingerprint(self, post_id: str) -> Fingerprint | None:
        row = self.db.execute(f"SELECT {FINGERPRINT_COLUMNS} FROM posts WHERE id = ?", (post_id,)).fetchone()
        return _fingerprint(row) if row else None

    def fingerprints_banded(
        self, value_bands: Sequence[tuple[int, int]], lead_bands: Sequence[tuple[int, int]]
    ) -> list[Fingerprint]:
        """Fingerprints whose value has band b equal to v for one (b, v) of `value_bands`, or whose first
        paragraph's has one of `lead_bands`: each term one index lookup."""
        terms = [(_band(column, band), value) for column, bands in (("fingerprint", value_bands), ("lead", lead_bands))
                 for band, value in bands]
        if not terms:
            return []
        where = " OR ".join(f"{expression} = ?" for expression, _ in terms)
        rows = self.db.execute(f"SELECT {FINGERPRINT_COLUMNS} FROM posts WHERE {where}", [v for _, v in terms])
        return [fp for fp in map(_fingerprint, rows) if fp is not None]

    def copies_of(self, post_id: str) -> list[Fingerprint]:
        rows = self.db.execute(f"SELECT {FINGERPRINT_COLUMNS} FROM posts WHERE original = ? AND id != ?",
                               (post_id, post_id))
        return [fp for fp in map(_fingerprint, rows) if fp is not None]

    def thread(self, key: str, since: datetime | None) -> tuple[str, datetime] | None:
        """(event id, when) of the post with this id, else of the first post of this thread, seen at or
        after `since`."""
        row = self.db.execute("SELECT event_id, at FROM posts WHERE id = ? AND event_id IS NOT NULL", (key,)).fetchone()
        rows = [row] if row else self.db.execute(
            "SELECT event_id, at FROM posts WHERE thread = ? AND event_id IS NOT NULL ORDER BY rowid",
            (_thread_key(key),))
        for event_id, at in rows:  # lazily: the first in the window ends the read
            when = datetime.fromisoformat(at)
            if since is None or when >= since:
                return event_id, when
        return None

    def forget_before(self, cutoff: datetime) -> None:
        """Delete posts and events older than `cutoff` (those within OFFSET_MARGIN of it stay a little longer)."""
        floor = _text_floor(cutoff)
        with self.db:
            self.db.execute("DELETE FROM posts WHERE at < ?", (floor,))
            self.db.execute("DELETE FROM events WHERE last_seen < ?", (floor,))

    def close(self) -> None:
        self.db.close()

