"""One way to open SQLite, used by every store."""

from __future__ import annotations

import re
from pathlib import Path

from stores.sqlite import BUSY_TIMEOUT_SECONDS, WAL_CHECKPOINT_BYTES, WAL_KEPT_BYTES, connect

ROOT = Path(__file__).resolve().parent.parent


def test_connect_sets_the_pragmas_every_store_relies_on(tmp_path: Path) -> None:
    conn = connect(tmp_path / "deep" / "folder" / "x.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_SECONDS * 1000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()


def test_a_store_copies_its_write_ahead_log_back_only_once_it_holds_16_mb(tmp_path: Path) -> None:
    """Every checkpoint makes the committing process wait for two fsyncs: at SQLite's default of 1000 pages (4 MB at
    4 KiB pages) the index and events stages spent a large part of their time in them."""
    conn = connect(tmp_path / "x.sqlite3", autocommit=True)
    conn.execute("CREATE TABLE t (v BLOB)")
    for _ in range(60):  # about 6 MB, in commits of 100 KB
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    (page,) = conn.execute("PRAGMA page_size").fetchone()
    assert frames * page >= 6_000_000, "no checkpoint yet: the log holds every commit"
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] * page == WAL_CHECKPOINT_BYTES
    conn.close()


def test_a_log_grown_by_one_large_transaction_is_cut_back_once_copied(tmp_path: Path) -> None:
    """A transaction larger than WAL_KEPT_BYTES grows the write-ahead log past it; once copied into the database,
    the next commit starts the log again at most that size (before, the file kept its largest size for ever)."""
    path = tmp_path / "x.sqlite3"
    conn = connect(path, autocommit=True)
    conn.execute("CREATE TABLE t (v BLOB)")
    conn.execute("BEGIN")
    for _ in range(WAL_KEPT_BYTES // 1_000_000 + 16):
        conn.execute("INSERT INTO t VALUES (zeroblob(1000000))")
    conn.execute("COMMIT")
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > WAL_KEPT_BYTES
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    conn.execute("INSERT INTO t VALUES (zeroblob(1000))")  # a commit after the checkpoint starts the log again
    assert wal.stat().st_size <= WAL_KEPT_BYTES
    conn.close()


def test_autocommit_commits_each_statement_and_the_default_waits_for_the_block(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    auto, reader = connect(path, autocommit=True), connect(path)
    auto.execute("CREATE TABLE t (v INTEGER)")
    auto.execute("INSERT INTO t VALUES (1)")
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1
    writer = connect(path, synchronous="FULL")
    writer.execute("INSERT INTO t VALUES (2)")
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1  # not committed yet
    writer.commit()
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2
    for conn in (auto, reader, writer):
        conn.close()


def test_no_store_opens_sqlite_any_other_way() -> None:
    opened_directly = [
        str(path.relative_to(ROOT))
        for folder in ("yuqing", "stores", "spiders", "pipelines", "transport", "analysis", "workers", "search",
                       "alerts", "reports", "console")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\bsqlite3\.connect\(", path.read_text(encoding="utf-8"))
    ]
    assert opened_directly == ["stores/sqlite.py"]
