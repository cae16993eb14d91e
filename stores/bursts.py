"""The burst tracker's counts (`analysis.bursts.BurstMemory`): one row per subject, its buckets as JSON,
replaced whole. In a SQLite file (embedded) or the PostgreSQL state database (scale-out)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from psycopg.types.json import Json

from analysis.bursts import SubjectRecord
from stores import postgres
from stores.sqlite import connect
from yuqing.config.settings import PostgresSettings

SCHEMA = "CREATE TABLE IF NOT EXISTS subjects (kind TEXT, id TEXT, state TEXT, PRIMARY KEY (kind, id))"


class SqliteBurstStore:
    """`analysis.bursts.BurstMemory` in a file; each call opens and closes it (a save a minute). Subjects are
    loaded in the order they were saved, the order the tracker reports their signals in."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, subjects: Iterable[SubjectRecord]) -> None:
        with closing(connect(self.path)) as db, db:
            db.execute(SCHEMA)
            db.execute("DELETE FROM subjects")
            db.executemany(
                "INSERT INTO subjects VALUES (?, ?, ?)",
                [(kind, sid, json.dumps(data, ensure_ascii=False)) for kind, sid, data in subjects],
            )

    def load(self) -> list[SubjectRecord]:
        if not self.path.exists():
            return []
        with closing(connect(self.path)) as db:
            db.execute(SCHEMA)
            return [(kind, sid, json.loads(state)) for kind, sid, state in db.execute("SELECT kind, id, state FROM subjects ORDER BY rowid")]


class PostgresBurstStore:
    """`analysis.bursts.BurstMemory` in table `burst_subjects` (migration 0002)."""

    SCHEMA_VERSION = 2

    def __init__(self, settings: PostgresSettings) -> None:
        self._db = postgres.Database(settings, self.SCHEMA_VERSION)

    def save(self, subjects: Iterable[SubjectRecord]) -> None:
        with self._db.transaction() as db, db.cursor() as cursor:
            cursor.execute("DELETE FROM burst_subjects")
            cursor.executemany("INSERT INTO burst_subjects (kind, id, position, state) VALUES (%s, %s, %s, %s)",
                               [(kind, sid, position, Json(data))
                                for position, (kind, sid, data) in enumerate(subjects)])

    def load(self) -> list[SubjectRecord]:
        rows = self._db.rows("SELECT kind, id, state FROM burst_subjects ORDER BY position")
        return [(kind, sid, state) for kind, sid, state in rows]

    def close(self) -> None:
        self._db.close()
