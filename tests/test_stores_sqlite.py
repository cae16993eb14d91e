"""One way to open SQLite, used by every store."""

from __future__ import annotations

import re
from pathlib import Path

from stores.sqlite import BUSY_TIMEOUT_SECONDS, connect

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
