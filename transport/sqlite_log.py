"""Embedded transport: a durable log in one SQLite file (WAL mode), shared by processes.

Like Kafka, a topic has partitions chosen by key hash; a consumer group keeps one committed
offset per partition, and its live members share the partitions through expiring leases. A
member that dies stops renewing its leases; after `session_timeout` another member takes its
partitions over and resumes from the committed offset, so uncommitted work is delivered again.
"""

from __future__ import annotations

import hashlib
import math
import os
import select
import socket
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import orjson

from stores.sqlite import connect
from transport.base import (
    Consumer,
    Message,
    TopicStats,
    Transport,
    TransportError,
    Value,
    encode,
    partitions_of,
)
from yuqing.frozen import frozen_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key TEXT, value TEXT NOT NULL, headers TEXT NOT NULL, ts REAL NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, committed INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
);
CREATE TABLE IF NOT EXISTS members (
    grp TEXT NOT NULL, member TEXT NOT NULL, seen REAL NOT NULL, PRIMARY KEY (grp, member)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    member TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (grp, topic, partition)
);
"""


def partition_for(key: str | None, partitions: int) -> int:
    """Stable across processes (unlike hash()): the same key always lands in the same partition."""
    if key is None:
        return 0
    return zlib.crc32(key.encode("utf-8")) % partitions


# The page size of a new log. A message lives in the leaves of the (topic, partition, offset) b-tree, where a row
# longer than about a quarter of a page spills into an overflow page of its own; with SQLite's default of 4 KiB
# that is every post longer than ~1 KB (most of them, as annotated or enriched). With 16 KiB pages a row of up to
# ~4 KB stays in its leaf: on a bench.soak stream the log took 2.8 KB per message instead of 4.2 KB, and appending
# one 7 us of CPU instead of 13 (a log created before keeps its pages).
PAGE_SIZE = 16384
# A message's value read as the UTF-8 bytes of its JSON, as stored: not decoded into a str that a stage would only
# encode again to validate it.
VALUE_BYTES = "CAST(value AS BLOB)"
# The headers of almost every message: written and read without a JSON round trip.
NO_HEADERS = "{}"


def _headers(text: str) -> dict[str, str]:
    return {} if text == NO_HEADERS else orjson.loads(text)


def _message(topic: str, partition: int, offset: int, data: bytes, key: str | None, headers: str,
             timestamp: float) -> Message:
    """The message of a row of the log: made for every message a stage reads (`frozen_of`)."""
    return frozen_of(Message, {"topic": topic, "partition": partition, "offset": offset, "data": data, "key": key,
                               "headers": _headers(headers), "timestamp": timestamp, "part": 0})


# Rows deleted per transaction while pruning, so appends never wait long behind a prune.
PRUNE_CHUNK = 5000
# Seconds an idle consumer sleeps between two looks at the log's change counter: from the first, doubling up to the
# second. An idle worker spends about 0.5 % of a core looking so (0.2 % when it slept up to 250 ms between fetches).
# Where it can be woken (`wake_addresses`), a publish wakes it at once, and the looks are what it falls back on.
WAKE_INTERVAL_MIN = 0.001
WAKE_INTERVAL_MAX = 0.02


def wake_addresses(log: Path) -> str:
    """How the members waiting for messages of the log at `log` are woken: each on a datagram socket in Linux's
    abstract namespace (no file to clean up after a killed worker), at this prefix followed by its name. A publisher
    sends one byte there after each commit of messages to the partitions the member holds: without it, the stage
    after another noticed a batch only at its next look, up to WAKE_INTERVAL_MAX later, while a core could stand
    idle."""
    return f"\0yuqing-{hashlib.sha1(str(log.resolve()).encode(), usedforsecurity=False).hexdigest()[:16]}-"


def _wake_socket(address: str) -> socket.socket | None:
    """A member's socket to be woken through, or None where there is none (not Linux): it looks, as before."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except (AttributeError, OSError):
        return None
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


# A message to append: its key, value and headers.
Outgoing = tuple[str | None, Value, dict[str, str]]


class SqliteTransport(Transport):
    publishes_together = True

    def __init__(self, path: Path, partitions: int = 4, session_timeout: float = 10.0,
                 retention_seconds: float = 7 * 86400) -> None:
        self.path = Path(path)
        self.partitions = partitions
        self.session_timeout = session_timeout
        self.retention_seconds = retention_seconds
        try:
            self._conn = connect(self.path, autocommit=True, shared_between_threads=True, page_size=PAGE_SIZE)
            self._conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise TransportError(f"cannot open the embedded log at {self.path}: {exc}") from exc
        self.wake_addresses = wake_addresses(self.path)
        self._waker: socket.socket | None = None  # sends the wake-ups, made for the first
        self._held = threading.local()  # per thread: what `published_together` holds, while it does

    def publish(self, topic: str, value: Value, key: str | None = None,
                headers: dict[str, str] | None = None) -> None:
        self._append(topic, [(key, value, headers or {})])

    def publish_many(self, topic: str, values: Iterable[tuple[str | None, Value]]) -> int:
        batch: list[Outgoing] = [(key, value, {}) for key, value in values]
        self._append(topic, batch)
        return len(batch)

    @contextmanager
    def published_together(self) -> Iterator[None]:
        """What this thread publishes within is held, and appended in one transaction as the block ends: the stage
        after a worker's sees its batch's output whole, at once (the events stage publishes posts, re-links and
        events: three commits, each a wake-up of the index stage, which lingered for the rest), and a batch that
        fails publishes nothing. Within another such block, the outer one appends."""
        if getattr(self._held, "appends", None) is not None:
            yield
            return
        held: list[tuple[str, list[Outgoing]]] = []
        self._held.appends = held
        try:
            yield
        finally:
            self._held.appends = None
        self._append_all(held)

    def _append(self, topic: str, batch: list[Outgoing]) -> None:
        held = getattr(self._held, "appends", None)
        if held is not None:
            held.append((topic, batch))
        else:
            self._append_all([(topic, batch)])

    def _append_all(self, appends: list[tuple[str, list[Outgoing]]]) -> None:
        """Append each topic's messages in one transaction, then wake the members that hold their partitions."""
        appends = [(topic, batch) for topic, batch in appends if batch]
        if not appends:
            return
        now = time.time()
        try:
            # Encoded before the write lock is taken: other processes wait only for the inserts. Values are
            # inserted as bytes and stored as TEXT (the CAST in the INSERT), so the log stays readable JSON.
            encoded = [(topic, [(key, encode(value), NO_HEADERS if not headers else encode(headers).decode())
                                for key, value, headers in batch]) for topic, batch in appends]
            with _immediate(self._conn) as conn:
                next_offsets: dict[tuple[str, int], int] = {}
                rows = []
                for topic, messages in encoded:
                    partitions = partitions_of(topic, self.partitions)
                    for key, value_text, headers_text in messages:
                        place = (topic, partition_for(key, partitions))
                        if place not in next_offsets:
                            row = conn.execute(
                                "SELECT COALESCE(MAX(offset) + 1, 0) FROM messages WHERE topic=? AND partition=?",
                                place).fetchone()
                            next_offsets[place] = row[0]
                        rows.append((*place, next_offsets[place], key, value_text, headers_text, now))
                        next_offsets[place] += 1
                conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, CAST(? AS TEXT), ?, ?)", rows)
                holders: set[str] = set()
                for topic in dict.fromkeys(topic for topic, _ in next_offsets):
                    parts = [part for written, part in next_offsets if written == topic]
                    holders.update(member for (member,) in conn.execute(
                        f"SELECT DISTINCT member FROM leases WHERE topic=? AND partition IN ({', '.join('?' * len(parts))})",
                        (topic, *parts)))
        except sqlite3.Error as exc:
            raise TransportError(f"cannot append to {', '.join(t for t, _ in appends)} in {self.path}: {exc}") from exc
        self._wake(holders)

    def _wake(self, members: Iterable[str]) -> None:
        """Wake these members if they wait (`wake_addresses`); one that is gone, or has a wake-up pending, is left."""
        if not members:
            return
        if self._waker is None:
            try:
                self._waker = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            except (AttributeError, OSError):
                return
            self._waker.setblocking(False)
        for member in members:
            # No such socket (a member that ended), or its queue of wake-ups is full: nothing to wake.
            with suppress(OSError):
                self._waker.sendto(b"!", self.wake_addresses + member)

    def identity(self) -> str:
        """A random id given to the log file when it is created."""
        try:
            with _immediate(self._conn) as conn:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('log_id', ?)", (uuid.uuid4().hex,))
                return str(conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()[0])
        except sqlite3.Error as exc:
            raise TransportError(f"cannot read the identity of {self.path}: {exc}") from exc

    def consumer(self, group: str, topics: Iterable[str], member: str | None = None) -> SqliteConsumer:
        return SqliteConsumer(self, group, list(topics), member)

    def read(self, topic: str, limit: int = 100) -> list[Message]:
        try:
            rows = self._conn.execute(
                f"SELECT partition, offset, key, {VALUE_BYTES}, headers, ts FROM messages WHERE topic=? "
                "ORDER BY ts, partition, offset LIMIT ?", (topic, limit)).fetchall()
        except sqlite3.Error as exc:
            raise TransportError(f"cannot read {topic} from {self.path}: {exc}") from exc
        return [_message(topic, part, offset, value, key, headers, ts) for part, offset, key, value, headers, ts in rows]

    def _topics(self) -> list[str]:
        """Every topic with messages, one index probe per topic (a skip-scan, not a scan of the log)."""
        rows = self._conn.execute(
            "WITH RECURSIVE t(name) AS (SELECT MIN(topic) FROM messages UNION ALL "
            "SELECT (SELECT MIN(topic) FROM messages WHERE topic > t.name) FROM t WHERE t.name IS NOT NULL) "
            "SELECT name FROM t WHERE name IS NOT NULL").fetchall()
        return [row[0] for row in rows]

    def _bounds(self, topic: str) -> dict[int, tuple[int, int]]:
        """Per partition with messages: (first offset, next offset)."""
        bounds = {}
        for part in range(partitions_of(topic, self.partitions)):
            where = "FROM messages WHERE topic=? AND partition=?"
            (first,) = self._conn.execute(f"SELECT MIN(offset) {where}", (topic, part)).fetchone()
            if first is not None:
                (last,) = self._conn.execute(f"SELECT MAX(offset) {where}", (topic, part)).fetchone()
                bounds[part] = (first, last + 1)
        return bounds

    def _committed(self) -> dict[str, dict[str, dict[int, int]]]:
        """Per topic, per group that has committed on it: the committed offset of each partition."""
        committed: dict[str, dict[str, dict[int, int]]] = {}
        for grp, topic, part, offset in self._conn.execute("SELECT grp, topic, partition, committed FROM offsets"):
            committed.setdefault(topic, {}).setdefault(grp, {})[part] = offset
        return committed

    def stats(self, expected: Mapping[str, Iterable[str]] | None = None) -> list[TopicStats]:
        try:
            committed = self._committed()
            for grp, topics in (expected or {}).items():
                for topic in topics:
                    committed.setdefault(topic, {}).setdefault(grp, {})
            result = []
            for topic in sorted(set(self._topics()) | set(committed)):
                bounds = self._bounds(topic)
                lag = {grp: sum(end - max(parts.get(part, first), first) for part, (first, end) in bounds.items())
                       for grp, parts in committed.get(topic, {}).items()}
                result.append(TopicStats(topic, sum(end - first for first, end in bounds.values()), lag))
        except sqlite3.Error as exc:
            raise TransportError(f"cannot read the offsets of {self.path}: {exc}") from exc
        return result

    def prune(self, now: float | None = None) -> int:
        """Delete messages older than the retention that every group reading their topic has committed.

        A group counts from the moment its first member joined the topic (it holds what it has not read from
        then). The newest message of a partition always stays: the next offset is counted from it. Topics no
        group has read (dead letters) are kept whole.
        """
        cutoff = (time.time() if now is None else now) - self.retention_seconds
        conn = self._conn
        freed = 0
        try:
            committed = self._committed()
            # The partitions' ends by index probes, not by a scan of every message the log holds.
            ends = [(topic, part, end) for topic in self._topics() if topic in committed
                    for part, (_first, end) in self._bounds(topic).items()]
            for topic, part, end in ends:
                groups = committed[topic]
                floor = min(min(parts.get(part, 0) for parts in groups.values()), end - 1)
                while True:
                    with _immediate(conn):
                        deleted = conn.execute(
                            "DELETE FROM messages WHERE topic=? AND partition=? AND offset IN ("
                            " SELECT offset FROM messages WHERE topic=? AND partition=? AND offset<? AND ts<?"
                            " ORDER BY offset LIMIT ?)",
                            (topic, part, topic, part, floor, cutoff, PRUNE_CHUNK),
                        ).rowcount
                    freed += deleted
                    if deleted < PRUNE_CHUNK:
                        break
        except sqlite3.Error as exc:
            raise TransportError(f"cannot prune the embedded log {self.path}: {exc}") from exc
        return freed

    def close(self) -> None:
        if self._waker is not None:
            self._waker.close()
        self._conn.close()


class _immediate:
    """BEGIN IMMEDIATE ... COMMIT: one writer at a time, waiting on the busy timeout."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class SqliteConsumer(Consumer):
    def __init__(self, transport: SqliteTransport, group: str, topics: list[str], member: str | None) -> None:
        self.transport = transport
        self.group = group
        self.topics = topics
        self.member = member or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._conn = connect(transport.path, autocommit=True, shared_between_threads=True)
        self._wake = _wake_socket(transport.wake_addresses + self.member)
        self._positions: dict[tuple[str, int], int] = {}
        self._owned: set[tuple[str, int]] = set()
        # What the last rebalance found: when, how many members were live, the share each holds.
        self._rebalanced_at = -math.inf
        self._live = 0
        self._share = 0

    def _settled(self, now: float) -> bool:
        """Whether the last rebalance still holds, read without taking the write lock: this member's heartbeat
        and leases were renewed less than a third of the session timeout ago, it holds its share, and the group
        has as many live members (one that joins, leaves or dies changes the count: then all rebalance)."""
        timeout = self.transport.session_timeout
        if now - self._rebalanced_at >= timeout / 3 or len(self._owned) < self._share:
            return False
        (live,) = self._conn.execute("SELECT COUNT(*) FROM members WHERE grp=? AND seen >= ?",
                                     (self.group, now - timeout)).fetchone()
        return bool(live == self._live)

    def _rebalance(self) -> None:
        """Heartbeat, then hold a fair share of partitions: ceil(partitions / live members). Done when the last
        one no longer holds (`_settled`), not at every poll: each is a write transaction, which the stages'
        appends and commits would wait for."""
        now = time.time()
        if self._settled(now):
            return
        timeout = self.transport.session_timeout
        with _immediate(self._conn) as conn:
            conn.execute("INSERT OR REPLACE INTO members VALUES (?, ?, ?)", (self.group, self.member, now))
            conn.execute("DELETE FROM members WHERE grp=? AND seen < ?", (self.group, now - timeout))
            live = conn.execute("SELECT COUNT(*) FROM members WHERE grp=?", (self.group,)).fetchone()[0]
            all_parts = [(t, p) for t in self.topics for p in range(partitions_of(t, self.transport.partitions))]
            share = math.ceil(len(all_parts) / max(live, 1))
            leases = {
                (t, p): (m, exp)
                for t, p, m, exp in conn.execute(
                    "SELECT topic, partition, member, expires FROM leases WHERE grp=?", (self.group,)
                )
            }
            mine = [tp for tp in all_parts if leases.get(tp, ("", 0))[0] == self.member]
            for tp in mine[share:]:  # give back what is above our share so newcomers get work
                conn.execute("DELETE FROM leases WHERE grp=? AND topic=? AND partition=?", (self.group, *tp))
            mine = mine[:share]
            for tp in all_parts:
                if len(mine) >= share:
                    break
                holder = leases.get(tp)
                if tp not in mine and (holder is None or holder[1] < now):
                    mine.append(tp)
            for tp in mine:
                conn.execute(
                    "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                    (self.group, *tp, self.member, now + timeout),
                )
            owned = set(mine)
            for tp in owned - self._owned:  # newly assigned: start from the committed offset
                row = conn.execute(
                    "SELECT committed FROM offsets WHERE grp=? AND topic=? AND partition=?", (self.group, *tp)
                ).fetchone()
                if row is None:  # the group's first member here: what it has not read yet is kept for it (prune)
                    conn.execute("INSERT INTO offsets VALUES (?, ?, ?, 0)", (self.group, *tp))
                self._positions[tp] = row[0] if row else 0
            for tp in self._owned - owned:
                self._positions.pop(tp, None)
            self._owned = owned
            self._rebalanced_at, self._live, self._share = now, live, share

    def poll(self, max_messages: int = 100, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                # Read before the fetch: a commit made while the fetch runs moves it, and is not waited through.
                version = self._log_version()
                self._rebalance()
                batch = self._fetch(max_messages)
                if batch or time.monotonic() >= deadline:
                    return batch
                self._wait_for_change(version, deadline)
            except sqlite3.Error as exc:
                raise TransportError(f"embedded log {self.transport.path}: {exc}") from exc

    def _log_version(self) -> int:
        """A number that changes whenever another connection commits to the log (SQLite's data_version)."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _wait_for_change(self, version: int, deadline: float) -> None:
        """Sleep until another connection commits to the log, the deadline passes, or the heartbeat is due.

        A publish to a partition this member holds wakes it at once (`wake_addresses`). Besides, it looks: a look
        costs one read of the log's change counter, not a query of the messages, so an idle consumer can look
        often; it sees any commit within WAKE_INTERVAL_MAX (it slept up to 250 ms between fetches before, which
        left the stages downstream of a new backlog idle)."""
        until_heartbeat = self._rebalanced_at + self.transport.session_timeout / 3 - time.time()
        until = min(deadline, time.monotonic() + until_heartbeat)
        delay = WAKE_INTERVAL_MIN
        while (left := until - time.monotonic()) > 0:
            if self._wake is None:
                time.sleep(min(delay, left))
            elif select.select([self._wake], [], [], min(delay, left))[0]:
                self._drain_wake_ups()
            if self._log_version() != version:
                return
            delay = min(delay * 2, WAKE_INTERVAL_MAX)

    def _drain_wake_ups(self) -> None:
        """Read the wake-ups that came (those sent while this member worked too): one look answers them all."""
        assert self._wake is not None
        while True:
            try:
                self._wake.recv(64)
            except BlockingIOError:
                return

    def _fetch(self, max_messages: int) -> list[Message]:
        batch: list[Message] = []
        for (topic, part) in sorted(self._owned):
            if len(batch) >= max_messages:
                break
            rows = self._conn.execute(
                f"SELECT offset, key, {VALUE_BYTES}, headers, ts FROM messages "
                "WHERE topic=? AND partition=? AND offset>=? ORDER BY offset LIMIT ?",
                (topic, part, self._positions[(topic, part)], max_messages - len(batch)),
            ).fetchall()
            batch.extend(_message(topic, part, offset, value, key, headers, ts) for offset, key, value, headers, ts in rows)
            if rows:
                self._positions[(topic, part)] = rows[-1][0] + 1
        return batch

    def commit(self, messages: Iterable[Message]) -> None:
        upto: dict[tuple[str, int], int] = {}
        for msg in messages:
            tp = (msg.topic, msg.partition)
            upto[tp] = max(upto.get(tp, 0), msg.offset + 1)
        if not upto:
            return
        try:
            with _immediate(self._conn) as conn:
                for (topic, part), offset in upto.items():
                    # A member that lost the partition in a rebalance must not move its offset back.
                    held = conn.execute(
                        "SELECT 1 FROM leases WHERE grp=? AND topic=? AND partition=? AND member=?",
                        (self.group, topic, part, self.member),
                    ).fetchone()
                    if held:
                        conn.execute(
                            "INSERT INTO offsets VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, partition) "
                            "DO UPDATE SET committed=MAX(committed, excluded.committed)",
                            (self.group, topic, part, offset),
                        )
        except sqlite3.Error as exc:
            raise TransportError(f"cannot commit offsets in {self.transport.path}: {exc}") from exc

    def close(self) -> None:
        """Leave the group cleanly so the others take our partitions at once."""
        try:
            with _immediate(self._conn) as conn:
                conn.execute("DELETE FROM leases WHERE grp=? AND member=?", (self.group, self.member))
                conn.execute("DELETE FROM members WHERE grp=? AND member=?", (self.group, self.member))
        finally:
            if self._wake is not None:
                self._wake.close()
            self._conn.close()
