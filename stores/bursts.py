"""The burst tracker's counts in SQLite: one row per subject, its buckets as JSON, replaced whole."""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from analysis.bursts import SubjectRecord
from stores.sqlite import connect

SCHEMA = "CREATE TABLE IF NOT EXISTS subjects (kind TEXT, id TEXT, state TEXT, PRIMARY KEY (kind, id))"


class BurstStore:
    """`analysis.bursts.BurstMemory` in a file; each call opens and closes it (a save a minute)."""

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
            return [(kind, sid, json.loads(state)) for kind, sid, state in db.execute("SELECT kind, id, state FROM subjects")]
