"""The one way a store opens SQLite.

Every store runs in write-ahead-log mode (readers never block the writer), waits up to
`BUSY_TIMEOUT_SECONDS` for another process's write lock instead of failing at once, and enforces
foreign keys. `synchronous=NORMAL` skips the fsync per commit: a process crash loses nothing
committed, a power cut may lose the last commits (a store whose loss costs more asks for FULL).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

BUSY_TIMEOUT_SECONDS = 30.0
# Bytes of write-ahead log after which a commit copies it into the database: a checkpoint, with an fsync of the log
# and one of the database, which the committing process waits for. SQLite's default of 1000 pages is 4 MB at 4 KiB
# pages: in bench.throughput part 2 (8,000 posts) the index stage waited 1.6 s in 86 fsyncs of the index, the
# events stage 0.44 s in 26 of the analysis state; at 16 MB, 0.45 s in 26 and 0.17 s in 8 (strace, load 12), and
# the run took 8 s instead of 15-18. The logs stay bounded by this (the embedded transport's 16 KiB pages had it).
WAL_CHECKPOINT_BYTES = 16 * 1024 * 1024
# What a write-ahead log is cut back to once it has been copied into the database and starts again: one large
# transaction (a day's prune, a merge of the full-text index's segments) grows it far past the checkpoint size, and
# without a limit the file keeps that size for ever (in the 30-day soak at 100,000 posts a day, the analysis state's
# log grew 36 -> 87 MB on day 20 and stayed so). Above what the logs hold between checkpoints (23-53 MB there), so
# that ordinary commits do not truncate and grow the file again and again.
WAL_KEPT_BYTES = 64 * 1024 * 1024
Synchronous = Literal["OFF", "NORMAL", "FULL"]


def connect(
    path: Path | str,
    *,
    autocommit: bool = False,
    shared_between_threads: bool = False,
    synchronous: Synchronous = "NORMAL",
    read_only: bool = False,
    page_size: int | None = None,
) -> sqlite3.Connection:
    """Open (and create, with its folder) the database at `path`.

    `autocommit`: every statement commits unless the caller issues BEGIN itself; otherwise Python's
    sqlite3 opens a transaction before the first write and `with connection:` commits it.
    `shared_between_threads`: the caller serialises access itself (a lock, or one thread at a time).
    `read_only`: a view of an existing database that SQLite refuses to write through (for readers that must
    never put anything back); the database's journal mode is left as its writers set it.
    `page_size`: the page size of a database created now (one that exists keeps its own)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro" if read_only else path,
        uri=read_only,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None if autocommit else "DEFERRED",  # what Python's default "" means
        check_same_thread=not shared_between_threads,
    )
    if page_size is not None:  # before WAL mode is set: that writes the first page, which fixes the size
        conn.execute(f"PRAGMA page_size={int(page_size)}")
    if not read_only:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        (page,) = conn.execute("PRAGMA page_size").fetchone()
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection shared between threads: the write lock is
    taken at once, so a read-check-write cannot interleave with another writer; any error rolls back."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
