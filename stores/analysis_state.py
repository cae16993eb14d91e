"""The analyzer's memory: events, recent posts' fingerprints and threads, crawled policies. In SQLite
(`AnalysisStateStore`, embedded) or the PostgreSQL state database (`PostgresAnalysisState`, scale-out: a standby
takes over from it).

Written in batches (the analyzer's `flush`), so event ids, reprint links and the policy registry survive a
restart; read back by indexed lookups when a post needs what the analyzer no longer holds (an older event, the
fingerprints sharing a key with the post's, the event of the thread it answers), and at start-up only for the
events joined last. `analysis.enrich.AnalyzerMemory` is the interface it fills. Posts and events are kept while
the analyzer's windows can still use them (`forget_before`), so the store stays the size of one window, whatever
the history.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import orjson

from analysis.events import KEY_PAIRS, EventState, Fingerprint, fingerprint_keys, in_shared_zone
from stores import postgres
from stores.fingerprint_map import FingerprintMap
from stores.sqlite import connect
from yuqing.config.settings import PostgresSettings
from yuqing.schema import Policy

if TYPE_CHECKING:  # the analyzer's module: not loaded only to name the row type
    from analysis.enrich import AssignedPost

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, last_seen TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY, at TEXT NOT NULL, event_id TEXT, reprint_of TEXT,
    fingerprint INTEGER, original TEXT, lead INTEGER, thread INTEGER
);
CREATE INDEX IF NOT EXISTS posts_at ON posts (at);
CREATE INDEX IF NOT EXISTS events_last_seen ON events (last_seen);
CREATE TABLE IF NOT EXISTS policies (id TEXT PRIMARY KEY, policy TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS saves (
    id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL
);
"""
# Read back by the analyzer: a thread's first post, the copies of an original, and the fingerprints sharing a
# key with a post's (analysis.events.fingerprint_keys: two within 3 bits share one of ten pairs of blocks of
# bits). PostgreSQL finds the keys in expression indexes (migration 0009); the SQLite file in memory
# (stores.fingerprint_map: its indexes of them cost most of a save once the window held a few days).
FINGERPRINT_COLUMNS = ("fingerprint", "lead")


def key_of(column: str, pair: int) -> str:
    """SQL of a fingerprint column's key of KEY_PAIRS[pair], as `fingerprint_keys` computes it (`>>` keeps the
    sign, the masks keep the blocks)."""
    (low_shift, low_width), (high_shift, high_width) = KEY_PAIRS[pair]
    return (f"((({column} >> {low_shift}) & {(1 << low_width) - 1})"
            f" | ((({column} >> {high_shift}) & {(1 << high_width) - 1}) << {low_width}))")


# `copies_of` reads only copies: an original (its own `original`: three in four of the posts with a fingerprint on
# bench.soak's stream) has no entry to keep up in the index of copies.
SQLITE_LOOKUP_INDEXES = """
CREATE INDEX IF NOT EXISTS posts_thread ON posts (thread) WHERE thread IS NOT NULL;
CREATE INDEX IF NOT EXISTS posts_copies ON posts (original) WHERE original != id;
"""
# Indexes of state written before: of every post's original, of the keys (now held in memory), and before them of
# 16-bit bands.
SQLITE_FORMER_INDEXES = [
    "posts_original",
    *(f"posts_{column}_key{pair}" for column in FINGERPRINT_COLUMNS for pair in range(len(KEY_PAIRS))),
    *(f"posts_{column}_band{band}" for column in FINGERPRINT_COLUMNS for band in range(4)),
]
FINGERPRINT_ROW = "id, at, event_id, fingerprint, original, lead"


def _keyed(any_of: str) -> str:
    """The WHERE clause of PostgreSQL's `fingerprints_keyed`: a term for each partial index (migration 0009), the
    keys asked of its pair one list parameter matched by `any_of`, so the text is the same however many keys a batch
    asks."""
    return " OR ".join(f"({column} IS NOT NULL AND {key_of(column, pair)} {any_of})"
                       for column in FINGERPRINT_COLUMNS for pair in range(len(KEY_PAIRS)))


def _by_pair(keys: Sequence[tuple[int, int]]) -> list[list[int]]:
    """The keys asked of each pair, in the order of KEY_PAIRS."""
    by_pair: list[set[int]] = [set() for _ in KEY_PAIRS]
    for pair, key in keys:
        by_pair[pair].add(key)
    return [sorted(keys_of_pair) for keys_of_pair in by_pair]


def _signed(value: int) -> int:
    """SQLite integers (and PostgreSQL bigints) are signed 64-bit: store a 64-bit fingerprint as its two's
    complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


# A batch's thread keys are hashed to be read (`threads`), then again to be saved with its posts.
@functools.lru_cache(maxsize=2048)
def _thread_key(key: str) -> int:
    """A thread key (a page's address) as a signed 64-bit hash: a small index, and among a week's few million
    keys a collision is a one in a million million chance."""
    return _signed(int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little"))


# Times are stored as ISO text with the offset they came with; the texts of one instant differ by less than
# two days (offsets run from -12:00 to +14:00), so a range read with this margin through the index, then
# compared as datetimes, is exact.
OFFSET_MARGIN = timedelta(days=2)


def _time(text: str) -> datetime:
    """A time as stored, as the analyzer compares it (`in_shared_zone`)."""
    return in_shared_zone(datetime.fromisoformat(text))


def _text_floor(when: datetime) -> str:
    """ISO text below the text of every time at or after `when`, whatever its offset, and above the text of
    none earlier than `when - OFFSET_MARGIN`."""
    return (when - OFFSET_MARGIN).replace(tzinfo=None).isoformat()


def _stored_post(post: AssignedPost) -> tuple:
    """A post's row: (id, at, event_id, reprint_of, fingerprint, original, lead, thread)."""
    pid, at, event_id, reprint_of, fp, thread = post
    return (pid, at, event_id, reprint_of, _signed(fp.value) if fp else None, fp.original if fp else None,
            _signed(fp.lead) if fp and fp.lead is not None else None, _thread_key(thread) if thread else None)


def _fingerprint(pid: str, when: datetime, event_id: str | None, value: int | None, original: str | None,
                 lead: int | None) -> Fingerprint | None:
    if value is None:
        return None
    return Fingerprint(pid, _unsigned(value), in_shared_zone(when), original or pid, event_id,
                       _unsigned(lead) if lead is not None else None)


def _first_in_window(rows: Iterable[tuple[str, datetime]], since: datetime | None) -> tuple[str, datetime] | None:
    return next(((event_id, when) for event_id, when in rows if since is None or when >= since), None)


def _threads_found(keys: Sequence[str], by_id: dict[str, tuple[str, datetime]],
                   first_by_hash: dict[int, tuple[str, datetime]], since: datetime | None) -> dict[str, tuple[str, datetime]]:
    """`thread` of each key from a batch's rows: the post with the key as its id decides alone (in the window or
    not), else the first post of the thread in the window."""
    found = {}
    for key in keys:
        answer = _first_in_window([by_id[key]], since) if key in by_id else first_by_hash.get(_thread_key(key))
        if answer is not None:
            found[key] = answer
    return found


# A post saved again (its reprint link changed) keeps its row and its place in the order posts were saved, so a
# thread's first post stays first; a re-save without a thread key keeps the one it had.
UPSERT_POST = (
    "INSERT INTO {table} (id, at, event_id, reprint_of, fingerprint, original, lead, thread) VALUES ({values}) "
    "ON CONFLICT (id) DO UPDATE SET at = excluded.at, event_id = excluded.event_id, reprint_of = excluded.reprint_of, "
    "fingerprint = excluded.fingerprint, original = excluded.original, lead = excluded.lead, "
    "thread = COALESCE(excluded.thread, {table}.thread)"
)


# An event's state read as the UTF-8 bytes stored, for orjson to decode: as text, each would be decoded into a str
# first, then encoded again by orjson (a start reads 10,000 of them).
STATE_BYTES = "CAST(state AS BLOB)"


def _event_text(event: EventState) -> str:
    """An event's state as stored: JSON written by orjson, a fraction of the json module's CPU (every save
    writes each event that took a post since the last one)."""
    return orjson.dumps(event.to_json()).decode()


class _FingerprintLookups:
    """The fingerprint lookups both stores answer alike, written once over the driver's parameter marker; each
    store reads the rows (`_fingerprints`)."""

    MARK: str  # how the driver marks a query parameter
    ANY_OF: str  # how it matches any of a list of keys given as one parameter (`_listed`)
    ANY_ID_OF: str  # the same for a list of post ids

    def _fingerprints(self, where: str, params: Sequence[object]) -> list[Fingerprint]:
        raise NotImplementedError

    @staticmethod
    def _listed(values: Sequence[int] | Sequence[str]) -> object:
        raise NotImplementedError

    def fingerprint(self, post_id: str) -> Fingerprint | None:
        return next(iter(self._fingerprints(f"id = {self.MARK}", (post_id,))), None)

    def copies_of(self, post_id: str) -> list[Fingerprint]:
        # `original != id` as the SQLite index of copies is written, so that its planner reads through it.
        return self._fingerprints(f"original = {self.MARK} AND original != id", (post_id,))

    def fingerprints_of(self, post_ids: Sequence[str]) -> dict[str, Fingerprint]:
        """`fingerprint` of many posts in a few reads: post id -> fingerprint, for those that have one."""
        return {fp.post_id: fp for fp in self._fingerprints(f"id {self.ANY_ID_OF}", (self._listed(post_ids),))}


class AnalysisStateStore(_FingerprintLookups):
    MARK = "?"
    # One statement text whatever the list's length: SQLite keeps the last 128 statements it prepared, and one with a
    # batch's thousands of parameters written into its text holds near a megabyte (with a new text each batch, 130
    # batches grew a process from 55 to 151 MB).
    ANY_OF = ANY_ID_OF = "IN (SELECT value FROM json_each(?))"

    @staticmethod
    def _listed(values: Sequence[int] | Sequence[str]) -> str:
        return orjson.dumps(values).decode()

    def __init__(self, path: Path) -> None:
        self.db = connect(path)
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(posts)")}
        with self.db:  # state written before first paragraphs were fingerprinted, or threads kept
            for column in sorted({"lead", "thread"} - columns):
                self.db.execute(f"ALTER TABLE posts ADD COLUMN {column} INTEGER")
        self.db.executescript(SQLITE_LOOKUP_INDEXES)
        self.db.executescript("".join(f"DROP INDEX IF EXISTS {index};" for index in SQLITE_FORMER_INDEXES))
        # Built at the first key lookup, from the table; again when another process has saved since this one last
        # did (a standby taking over), as this one's map does not hold what that one wrote.
        self._keys: FingerprintMap | None = None
        self._keys_as_of = 0  # the count of saves the map holds the rows of
        # The last cutoff whose rows the map forgot (`_rows_out_of_window`), as stored text; None: none since it was built.
        self._keys_forgotten_to: str | None = None

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
            # Updated in place: a replaced row is deleted and written anew under a new row id, at the table's end,
            # and the space it had is left free in its page (most of a batch's events took a post before).
            self.db.executemany(
                "INSERT INTO events VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, "
                "state = excluded.state",
                [(e.id, e.last_seen.isoformat(), _event_text(e)) for e in events],
            )
            rows = [(pid, at.isoformat(), *rest) for pid, at, *rest in map(_stored_post, posts)]
            self.db.executemany(UPSERT_POST.format(table="posts", values=", ".join("?" * 8)), rows)
            self.db.executemany(
                "INSERT OR REPLACE INTO policies VALUES (?, ?)",
                [(p.id, p.model_dump_json()) for p in policies],
            )
            count = int(self.db.execute("SELECT count FROM saves").fetchone()[0])
            fingerprinted = [row for row in rows if row[4] is not None] if self._keys is not None else []
            row_ids = dict(self.db.execute(f"SELECT id, rowid FROM posts WHERE id {self.ANY_OF}",
                                           (self._listed([row[0] for row in fingerprinted]),))) if fingerprinted else {}
        if self._keys is not None:
            if count != self._keys_as_of + 1:  # another process saved in between: its rows are not in the map
                self._keys = None
            else:
                self._key_rows(self._keys, [(row_ids[row[0]], row[4], row[6]) for row in fingerprinted])
                self._keys_as_of = count
        return count

    @staticmethod
    def _key_rows(keys: FingerprintMap, rows: Sequence[tuple[int, int, int | None]]) -> None:
        """Put (row id, fingerprint, lead) of posts, as stored, in the map."""
        keys.add(0, [row_id for row_id, _, _ in rows], [value for _, value, _ in rows])
        leads = [(row_id, lead) for row_id, _, lead in rows if lead is not None]
        keys.add(1, [row_id for row_id, _ in leads], [lead for _, lead in leads])

    def _key_map(self) -> FingerprintMap:
        """The map of the posts' keys, as of the last save."""
        saves = self.saves()  # read before the rows: a save in between makes the next lookup build it again
        if self._keys is None or saves != self._keys_as_of:
            self._keys = FingerprintMap([self._stored_keys(column) for column in FINGERPRINT_COLUMNS])
            self._keys_as_of = saves
            self._keys_forgotten_to = None
        return self._keys

    def _stored_keys(self, column: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(row ids, values) of the column's fingerprints stored."""
        rows = self.db.execute(f"SELECT rowid, {column} FROM posts WHERE {column} IS NOT NULL")
        stored = np.fromiter(chain.from_iterable(rows), dtype=np.int64).reshape(-1, 2)
        return stored[:, 0].copy(), stored[:, 1].copy()

    def fingerprints_keyed(
        self, value_keys: Sequence[tuple[int, int]], lead_keys: Sequence[tuple[int, int]]
    ) -> list[Fingerprint]:
        """Fingerprints whose value's key of pair p is k for one (p, k) of `value_keys`, or whose first
        paragraph's is for one of `lead_keys`: the rows the map names, read back and checked (it may name a row
        deleted or rewritten since)."""
        if not value_keys and not lead_keys:
            return []
        keys = self._key_map()
        row_ids = keys.rows_keyed(0, value_keys) | keys.rows_keyed(1, lead_keys)
        asked_of_values, asked_of_leads = set(value_keys), set(lead_keys)
        return [fp for fp in self._fingerprints(f"rowid {self.ANY_OF}", (self._listed(sorted(row_ids)),))
                if not asked_of_values.isdisjoint(fingerprint_keys(fp.value))
                or (fp.lead is not None and not asked_of_leads.isdisjoint(fingerprint_keys(fp.lead)))]

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

    def latest_events(self, limit: int) -> list[EventState]:
        """The `limit` events seen last, the last first."""
        rows = self.db.execute(f"SELECT {STATE_BYTES} FROM events ORDER BY last_seen DESC LIMIT ?", (limit,))
        return [EventState.from_json(orjson.loads(state)) for state, in rows]

    def event(self, event_id: str) -> EventState | None:
        row = self.db.execute(f"SELECT {STATE_BYTES} FROM events WHERE id = ?", (event_id,)).fetchone()
        return EventState.from_json(orjson.loads(row[0])) if row else None

    def assigned(self, post_id: str) -> tuple[str | None, str | None, datetime] | None:
        """(event id, reprint_of, when) of a post analysed before, or None."""
        row = self.db.execute("SELECT event_id, reprint_of, at FROM posts WHERE id = ?", (post_id,)).fetchone()
        return (row[0], row[1], _time(row[2])) if row else None

    def assigned_many(self, post_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None, datetime]]:
        """`assigned` of many posts in a few reads: post id -> (event id, reprint_of, when), for those analysed before."""
        return {pid: (event_id, reprint_of, _time(at)) for pid, event_id, reprint_of, at in self.db.execute(
            f"SELECT id, event_id, reprint_of, at FROM posts WHERE id {self.ANY_OF}", (self._listed(post_ids),))}

    def _fingerprints(self, where: str, params: Sequence[object]) -> list[Fingerprint]:
        rows = self.db.execute(f"SELECT {FINGERPRINT_ROW} FROM posts WHERE {where}", params)
        found = (_fingerprint(pid, datetime.fromisoformat(at), *rest) for pid, at, *rest in rows)
        return [fp for fp in found if fp is not None]

    def thread(self, key: str, since: datetime | None) -> tuple[str, datetime] | None:
        """(event id, when) of the post with this id, else of the first saved post of this thread, at or after
        `since`."""
        row = self.db.execute("SELECT event_id, at FROM posts WHERE id = ? AND event_id IS NOT NULL", (key,)).fetchone()
        rows = [row] if row else self.db.execute(  # read lazily: the first in the window ends it
            "SELECT event_id, at FROM posts WHERE thread = ? AND event_id IS NOT NULL ORDER BY rowid", (_thread_key(key),))
        return _first_in_window(((event_id, _time(at)) for event_id, at in rows), since)

    def threads(self, keys: Sequence[str], since: datetime | None) -> dict[str, tuple[str, datetime]]:
        """`thread` of many keys in a few reads: key -> (event id, when), for those with an answer."""
        by_id: dict[str, tuple[str, datetime]] = {}
        first_by_hash: dict[int, tuple[str, datetime]] = {}
        for key, event_id, at in self.db.execute(
                f"SELECT id, event_id, at FROM posts WHERE id {self.ANY_OF} AND event_id IS NOT NULL", (self._listed(keys),)):
            by_id[key] = (event_id, _time(at))
        hashes = [_thread_key(key) for key in keys if key not in by_id]
        rows = self.db.execute(f"SELECT thread, event_id, at FROM posts WHERE thread {self.ANY_OF}"
                               " AND event_id IS NOT NULL ORDER BY rowid", (self._listed(hashes),))
        for thread, event_id, at in rows:
            when = _time(at)
            if thread not in first_by_hash and (since is None or when >= since):
                first_by_hash[thread] = (event_id, when)
        return _threads_found(keys, by_id, first_by_hash, since)

    def forget_before(self, cutoff: datetime) -> None:
        """Delete posts and events older than `cutoff` (those within OFFSET_MARGIN of it stay a little longer)."""
        floor = _text_floor(cutoff)
        with self.db:
            deleted = self.db.execute("DELETE FROM posts WHERE at < ? RETURNING rowid", (floor,)).fetchall()
            self.db.execute("DELETE FROM events WHERE last_seen < ?", (floor,))
        if self._keys is not None:
            self._keys.forget(row_id for row_id, in deleted)
            self._keys.forget(self._rows_out_of_window(cutoff))
            self._keys_forgotten_to = cutoff.isoformat()

    def _rows_out_of_window(self, cutoff: datetime) -> list[int]:
        """Row ids of the fingerprinted posts written at the cutoff's offset (texts of one offset sort as their
        instants) older than it, since the last cutoff the map forgot. The file keeps them OFFSET_MARGIN longer, but
        no lookup takes a fingerprint older than the window (`ReprintDetector` drops them): their keys in memory
        made it grow two days after the window was full (9 days of keys for a 7-day window)."""
        exact = cutoff.isoformat()
        suffix = exact.removeprefix(cutoff.replace(tzinfo=None).isoformat())  # "+08:00"; "" for a naive time
        if not suffix:
            return []
        since, floor = self._keys_forgotten_to, _text_floor(cutoff)
        if since is None or not since.endswith(suffix) or since < floor:
            since = floor  # all since the map was built: what is older was deleted
        rows = self.db.execute("SELECT rowid FROM posts WHERE at >= ? AND at < ? AND substr(at, ?) = ? "
                               "AND (fingerprint IS NOT NULL OR lead IS NOT NULL)", (since, exact, -len(suffix), suffix))
        return [row_id for row_id, in rows]

    def close(self) -> None:
        self.db.close()



class PostgresAnalysisState(_FingerprintLookups):
    """The analyzer's memory in tables `analysis_*` (migrations 0005, 0007-0009), the same contract as the SQLite file: the
    active analyzer writes it batch by batch, a standby that takes over reads the window it needs at start."""

    MARK = "%s"
    ANY_OF = "= ANY(%s::bigint[])"
    ANY_ID_OF = "= ANY(%s)"

    @staticmethod
    def _listed(values: Sequence[int] | Sequence[str]) -> object:
        return list(values)

    SCHEMA_VERSION = 9  # 0005 made the tables, 0007 the save count, 0008 and 0009 what the analyzer reads back by

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
                [(e.id, e.last_seen, _event_text(e)) for e in events])
            cursor.executemany(UPSERT_POST.format(table="analysis_posts", values=", ".join(["%s"] * 8)),
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

    def latest_events(self, limit: int) -> list[EventState]:
        """The `limit` events seen last, the last first."""
        return [EventState.from_json(orjson.loads(text)) for text, in self._db.rows(
            "SELECT state FROM analysis_events ORDER BY last_seen DESC LIMIT %s", (limit,))]

    def event(self, event_id: str) -> EventState | None:
        rows = self._db.rows("SELECT state FROM analysis_events WHERE id = %s", (event_id,))
        return EventState.from_json(orjson.loads(rows[0][0])) if rows else None

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

    def fingerprints_keyed(
        self, value_keys: Sequence[tuple[int, int]], lead_keys: Sequence[tuple[int, int]]
    ) -> list[Fingerprint]:
        """Fingerprints whose value's key of pair p is k for one (p, k) of `value_keys`, or whose first
        paragraph's is for one of `lead_keys`."""
        if not value_keys and not lead_keys:
            return []
        asked = [*_by_pair(value_keys), *_by_pair(lead_keys)]  # in the order of _keyed's terms
        return self._fingerprints(_keyed(self.ANY_OF), [self._listed(keys) for keys in asked])

    def _fingerprints(self, where: str, params: Sequence[object]) -> list[Fingerprint]:
        rows = self._db.rows(f"SELECT {FINGERPRINT_ROW} FROM analysis_posts WHERE {where}", params)
        return [fp for fp in (_fingerprint(*row) for row in rows) if fp is not None]

    def thread(self, key: str, since: datetime | None) -> tuple[str, datetime] | None:
        """(event id, when) of the post with this id, else of the first saved post of this thread, at or after
        `since`."""
        rows = self._db.rows("SELECT event_id, at FROM analysis_posts WHERE id = %s AND event_id IS NOT NULL", (key,))
        if not rows:
            rows = self._db.rows(
                "SELECT event_id, at FROM analysis_posts WHERE thread = %s AND event_id IS NOT NULL"
                " AND (%s::timestamptz IS NULL OR at >= %s) ORDER BY saved LIMIT 1", (_thread_key(key), since, since))
        return _first_in_window(rows, since)

    def threads(self, keys: Sequence[str], since: datetime | None) -> dict[str, tuple[str, datetime]]:
        """`thread` of many keys in two reads: key -> (event id, when), for those with an answer."""
        if not keys:
            return {}
        by_id = {key: (event_id, at) for key, event_id, at in self._db.rows(
            "SELECT id, event_id, at FROM analysis_posts WHERE id = ANY(%s) AND event_id IS NOT NULL", (list(keys),))}
        hashes = [_thread_key(key) for key in keys if key not in by_id]
        first_by_hash = {thread: (event_id, at) for thread, event_id, at in self._db.rows(
            "SELECT DISTINCT ON (thread) thread, event_id, at FROM analysis_posts WHERE thread = ANY(%s)"
            " AND event_id IS NOT NULL AND (%s::timestamptz IS NULL OR at >= %s) ORDER BY thread, saved",
            (hashes, since, since))}
        return _threads_found(keys, by_id, first_by_hash, since)

    def forget_before(self, cutoff: datetime) -> None:
        """Delete posts and events older than `cutoff`."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM analysis_posts WHERE at < %s", (cutoff,))
            conn.execute("DELETE FROM analysis_events WHERE last_seen < %s", (cutoff,))

    def close(self) -> None:
        self._db.close()
