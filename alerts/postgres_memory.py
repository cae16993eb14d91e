"""The alert worker's memory in the PostgreSQL state database (`state: postgres`, migration 0003).

The same contract as `AlertStore.save_memory` / `load_memory` of the embedded alert store: the rules' memory,
the burst counts and the next offset of every partition they include, replaced in one transaction, the offsets
never moved back, and only those of the log asked for given back. Kept in the shared database, a standby alert
worker on another machine starts from what the active one last saved.
"""

from __future__ import annotations

from contextlib import closing

from psycopg.types.json import Json

from alerts.store import WorkerMemory
from stores import postgres
from yuqing.config.settings import PostgresSettings


class PostgresWorkerMemory:
    SCHEMA_VERSION = 3

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings
        with closing(postgres.connect(settings)) as db:
            postgres.require_schema(db, settings, self.SCHEMA_VERSION)

    def save_memory(self, memory: WorkerMemory) -> None:
        """Replace the rules' memory and the burst counts and advance the offsets, all at once."""
        with closing(postgres.connect(self.settings)) as db, db.transaction(), db.cursor() as cursor:
            cursor.execute("DELETE FROM alert_rule_memory WHERE NOT (key = ANY(%s))", (list(memory.rules),))
            cursor.executemany(
                "INSERT INTO alert_rule_memory (key, state, saved_at) VALUES (%s, %s, now()) "
                "ON CONFLICT (key) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at",
                list(memory.rules.items()))
            cursor.execute("DELETE FROM alert_burst_memory")
            cursor.executemany(
                "INSERT INTO alert_burst_memory (kind, id, position, state) VALUES (%s, %s, %s, %s)",
                [(kind, sid, position, Json(data)) for position, (kind, sid, data) in enumerate(memory.bursts)])
            cursor.execute("DELETE FROM alert_memory_offsets WHERE log != %s", (memory.log,))
            cursor.executemany(
                "INSERT INTO alert_memory_offsets (log, topic, partition, next_offset) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (log, topic, partition) DO UPDATE "
                "SET next_offset = GREATEST(alert_memory_offsets.next_offset, excluded.next_offset)",
                [(memory.log, topic, part, offset) for (topic, part), offset in memory.offsets.items()])

    def load_memory(self, log: str) -> WorkerMemory:
        """The memory, with the offsets saved for `log` (none for another log)."""
        with closing(postgres.connect(self.settings)) as db, db.transaction():  # one consistent snapshot
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            rules: dict[str, str] = dict(db.execute("SELECT key, state FROM alert_rule_memory").fetchall())
            bursts = db.execute("SELECT kind, id, state FROM alert_burst_memory ORDER BY position").fetchall()
            offsets = db.execute("SELECT topic, partition, next_offset FROM alert_memory_offsets WHERE log = %s",
                                 (log,)).fetchall()
        return WorkerMemory(rules, [(kind, sid, state) for kind, sid, state in bursts],
                            {(topic, part): offset for topic, part, offset in offsets}, log)
