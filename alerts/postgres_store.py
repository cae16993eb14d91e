"""The alert store in the PostgreSQL state database (`state: postgres`, migrations 0003 and 0004), shared by
every replica: the same contract as the embedded `SqliteAlertStore`.

Compare-and-set works as there: an update locks the alert's row (`FOR UPDATE`) and checks its version, and a
second open alert in a group is refused by a unique index. Senders claim the outbox with
`FOR UPDATE SKIP LOCKED`: two notifiers draining it at once each take rows the other has not, and a claimed row
is not due again before its claim runs out, so no message is sent twice. One writer holds the alert worker's
memory, checked under an advisory lock so two workers starting at once cannot both take it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import psycopg

from alerts.rules.unanswered_complaints import AboutOrder, Entry, Subject, WaitingMessage, micros
from alerts.store import (
    BURST_SUBJECTS_OF,
    BURST_SUBJECTS_ORDER,
    FINDINGS_KEY,
    OUTBOX_COLUMNS,
    WAITING_COLUMNS,
    AlertSave,
    AlertStore,
    AuditEntry,
    Change,
    FindingsMark,
    MemoryWriter,
    OutboxItem,
    StoreConflict,
    Stored,
    StoreError,
    WaitingChanges,
    WorkerMemory,
    audit_row,
    audit_values,
    burst_writes,
    epoch,
    fold_into_last_row,
    joined_subjects,
    outbox_row,
    outbox_values,
    refuse_live_holder,
    stored_row,
    waiting_entries,
    waiting_message,
    waiting_rows,
    write_saves,
)
from stores import postgres
from yuqing.config.settings import PostgresSettings
from yuqing.schema import Alert, AlertStatus

# pg_advisory_xact_lock key of the memory's writer: any constant the alert workers share.
_WRITER_LOCK = 0x7975_616C_6572  # "yualer"
BURST_SUBJECTS = BURST_SUBJECTS_OF.format(state="alert_burst_memory", days="alert_burst_days")


def _as_read(value: Any) -> Any:
    """A json column as psycopg reads it: parsed already."""
    return value


class PostgresAlertStore(AlertStore):
    """`read_only=True`: every transaction is read-only, for commands that only show alerts."""

    # 0004 made the tables, 0010 the burst subjects' columns, 0011 the waiting messages, 0013 the burst counts by day,
    # 0014 the waiting messages by arrival
    SCHEMA_VERSION = 14

    def __init__(self, settings: PostgresSettings, read_only: bool = False) -> None:
        self.read_only = read_only
        self._db = postgres.Database(settings, self.SCHEMA_VERSION, read_only=read_only)

    def _write(self) -> AbstractContextManager[psycopg.Connection]:
        if self.read_only:
            raise StoreError(f"the alert store in {postgres.describe(self._db.settings)} was opened read-only")
        return self._db.transaction()

    def get(self, alert_id: str) -> Stored | None:
        rows = self._db.rows("SELECT doc, version FROM alerts WHERE id = %s", (alert_id,))
        return stored_row(rows[0]) if rows else None

    def latest_in_group(self, group_key: str) -> Stored | None:
        rows = self._db.rows("SELECT doc, version FROM alerts WHERE group_key = %s "
                             "ORDER BY is_open DESC, fired_at DESC LIMIT 1", (group_key,))
        return stored_row(rows[0]) if rows else None

    @staticmethod
    def _record(conn: psycopg.Connection, alert: Alert, from_status: str | None, change: Change,
                now: datetime) -> None:
        if fold_into_last_row(conn.execute, "alert_audit", "%s", alert, from_status, change, now):
            return
        conn.execute("INSERT INTO alert_audit (alert_id, at, actor, action, from_status, to_status, details) "
                     "VALUES (%s, %s, %s, %s, %s, %s, %s)", audit_values(alert, from_status, change, now))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO alert_outbox (alert_id, channel, message, created_at, next_attempt_at) "
                "VALUES (%s, %s, %s, %s, %s)", outbox_values(alert, change, now))

    @staticmethod
    def _write_alert(conn: psycopg.Connection, first: AlertSave, last: AlertSave) -> str | None:
        """See `write_saves`."""
        alert, version = last.stored.alert, last.stored.version
        if first.expected_version is None:
            try:  # the whole transaction is rolled back on a conflict
                conn.execute(
                    "INSERT INTO alerts (id, group_key, is_open, status, fired_at, updated_at, version, doc) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (alert.id, alert.group_key, alert.status != AlertStatus.CLOSED, alert.status.value,
                     epoch(alert.fired_at), epoch(alert.updated_at), version, alert.model_dump_json()))
            except psycopg.errors.UniqueViolation as exc:  # a new alert, or one reopened, while its group has one open
                raise StoreConflict(f"group {alert.group_key} already has an open alert (or id {alert.id} exists)",
                                    alert.group_key) from exc
            return None
        row = conn.execute("SELECT status, version FROM alerts WHERE id = %s FOR UPDATE", (alert.id,)).fetchone()
        if row is None or row[1] != first.expected_version:
            raise StoreConflict(f"alert {alert.id} was changed by someone else; re-read it", alert.group_key)
        conn.execute("UPDATE alerts SET is_open = %s, status = %s, updated_at = %s, version = %s, doc = %s "
                     "WHERE id = %s", (alert.status != AlertStatus.CLOSED, alert.status.value, epoch(alert.updated_at),
                                       version, alert.model_dump_json(), alert.id))
        return str(row[0])

    def save_alerts(self, saves: Sequence[AlertSave], now: datetime, mark: FindingsMark | None = None) -> None:
        with self._write() as conn:
            write_saves(saves, lambda first, last: self._write_alert(conn, first, last),
                        lambda alert, from_status, change: self._record(conn, alert, from_status, change, now))
            if mark is not None:
                conn.execute("INSERT INTO alert_rule_memory (key, state) VALUES (%s, %s)", mark.row())

    def stored_findings(self, log: str) -> FindingsMark:
        return FindingsMark.merged(log, [text for (text,) in self._db.rows(
            "SELECT state FROM alert_rule_memory WHERE left(key, %s) = %s", (len(FINDINGS_KEY), FINDINGS_KEY))])

    def alerts(self, statuses: Iterable[AlertStatus] | None = None, limit: int | None = 1000) -> list[Alert]:
        # LIMIT NULL: no limit
        if statuses is None:
            rows = self._db.rows("SELECT doc, version FROM alerts ORDER BY fired_at DESC LIMIT %s", (limit,))
        else:
            rows = self._db.rows("SELECT doc, version FROM alerts WHERE status = ANY(%s) "
                                 "ORDER BY fired_at DESC LIMIT %s", ([s.value for s in statuses], limit))
        return [stored_row(row).alert for row in rows]

    def count(self, statuses: Iterable[AlertStatus] | None = None) -> int:
        if statuses is None:
            rows = self._db.rows("SELECT count(*) FROM alerts")
        else:
            rows = self._db.rows("SELECT count(*) FROM alerts WHERE status = ANY(%s)", ([s.value for s in statuses],))
        return int(rows[0][0])

    def history(self, alert_id: str) -> list[AuditEntry]:
        return [audit_row(row) for row in self._db.rows(
            "SELECT alert_id, at, actor, action, from_status, to_status, details FROM alert_audit "
            "WHERE alert_id = %s ORDER BY seq", (alert_id,))]

    def enqueue(self, key: str, channel: str, message: dict[str, Any], now: datetime) -> int:
        with self._write() as conn:
            row = conn.execute("INSERT INTO alert_outbox (alert_id, channel, message, created_at, next_attempt_at) "
                               "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                               (key, channel, json.dumps(message, ensure_ascii=False), epoch(now),
                                epoch(now))).fetchone()
        assert row is not None  # INSERT ... RETURNING always returns the row
        return int(row[0])

    def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        return [outbox_row(row) for row in self._db.rows(
            f"SELECT {OUTBOX_COLUMNS} FROM alert_outbox WHERE sent_at IS NULL AND next_attempt_at <= %s "
            "ORDER BY id LIMIT %s", (epoch(now), limit))]

    def claim(self, channel: str, now: datetime, until: datetime, limit: int = 100) -> list[OutboxItem]:
        # Rows another sender is claiming right now are skipped, not waited for: it is taking them.
        taken = ", ".join(f"taken.{column.strip()}" for column in OUTBOX_COLUMNS.split(","))
        with self._write() as conn:
            rows = conn.execute(
                f"WITH taken AS (SELECT {OUTBOX_COLUMNS} FROM alert_outbox WHERE sent_at IS NULL AND channel = %s "
                "AND next_attempt_at <= %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE alert_outbox SET next_attempt_at = %s FROM taken WHERE alert_outbox.id = taken.id "
                f"RETURNING {taken}", (channel, epoch(now), limit, epoch(until))).fetchall()
        return sorted((outbox_row(row) for row in rows), key=lambda item: item.id)

    def hold_claim(self, item_ids: Sequence[int], held_until: datetime, until: datetime) -> bool:
        with self._write() as conn:
            # Locked: a sender claiming meanwhile skips them; one that locked them first has taken them by the read.
            still_held = conn.execute("SELECT id FROM alert_outbox WHERE id = ANY(%s) AND sent_at IS NULL "
                                      "AND next_attempt_at = %s FOR UPDATE", (list(item_ids), epoch(held_until)))
            if len(still_held.fetchall()) != len(item_ids):
                return False
            conn.execute("UPDATE alert_outbox SET next_attempt_at = %s WHERE id = ANY(%s)",
                         (epoch(until), list(item_ids)))
        return True

    def release(self, item_ids: Sequence[int], at: datetime, held_until: datetime | None = None) -> None:
        if item_ids:
            held = None if held_until is None else epoch(held_until)
            with self._write() as conn:
                conn.execute("UPDATE alert_outbox SET next_attempt_at = %s WHERE id = ANY(%s) AND sent_at IS NULL "
                             "AND (%s::float8 IS NULL OR next_attempt_at = %s)", (epoch(at), list(item_ids), held, held))

    def mark_sent(self, item_id: int, now: datetime, folded: Sequence[int] = ()) -> None:
        with self._write() as conn:
            conn.execute("UPDATE alert_outbox SET sent_at = %s, attempts = attempts + 1, last_error = NULL "
                         "WHERE id = %s", (epoch(now), item_id))
            conn.execute("DELETE FROM alert_outbox WHERE id = ANY(%s) AND sent_at IS NULL", (list(folded),))

    def mark_failed(self, item_id: int, error: str, retry_at: datetime) -> None:
        with self._write() as conn:
            conn.execute("UPDATE alert_outbox SET attempts = attempts + 1, last_error = %s, next_attempt_at = %s "
                         "WHERE id = %s", (error[:1000], epoch(retry_at), item_id))

    def last_sent(self, alert_id: str, channel: str) -> datetime | None:
        [(sent,)] = self._db.rows("SELECT MAX(sent_at) FROM alert_outbox WHERE alert_id = %s AND channel = %s",
                                  (alert_id, channel))
        return None if sent is None else datetime.fromtimestamp(sent, UTC)

    def sent_since(self, channel: str, since: datetime) -> int:
        [(count,)] = self._db.rows("SELECT COUNT(*) FROM alert_outbox WHERE channel = %s AND sent_at >= %s",
                                   (channel, epoch(since)))
        return int(count)

    def outbox(self, alert_id: str | None = None, pending_only: bool = False) -> list[OutboxItem]:
        return [outbox_row(row) for row in self._db.rows(
            f"SELECT {OUTBOX_COLUMNS} FROM alert_outbox WHERE (%(alert)s::text IS NULL OR alert_id = %(alert)s) "
            "AND (NOT %(pending)s OR sent_at IS NULL) ORDER BY id", {"alert": alert_id, "pending": pending_only})]

    def forget_sent(self, before: datetime) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM alert_outbox WHERE sent_at IS NOT NULL AND sent_at < %s",
                                (epoch(before),)).rowcount

    @staticmethod
    def _replace_rules(conn: psycopg.Connection, states: Mapping[str, str | None],
                       waiting: Sequence[WaitingChanges]) -> None:
        conn.execute("DELETE FROM alert_waiting_messages WHERE rule IN "
                     "(SELECT key FROM alert_rule_memory WHERE NOT (key = ANY(%s)))", (list(states),))
        conn.execute("DELETE FROM alert_rule_memory WHERE NOT (key = ANY(%s))", (list(states),))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO alert_rule_memory (key, state, saved_at) VALUES (%s, %s, now()) "
                "ON CONFLICT (key) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at",
                [(key, text) for key, text in states.items() if text is not None])
            for rule in waiting:
                if rule.drop_saved:
                    cursor.execute("DELETE FROM alert_waiting_messages WHERE rule = %s", (rule.rule,))
                cursor.executemany("DELETE FROM alert_waiting_messages WHERE rule = %s AND post_id = %s",
                                   [(rule.rule, post_id) for post_id, message in rule.changes.items() if message is None])
                cursor.executemany(
                    "INSERT INTO alert_waiting_messages (rule, post_id, kind, subject_id, since_us, since, arrival) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (rule, post_id) DO UPDATE SET "
                    "kind = excluded.kind, subject_id = excluded.subject_id, since_us = excluded.since_us, "
                    "since = excluded.since, arrival = excluded.arrival", waiting_rows(rule))

    def save_state(self, states: Mapping[str, str | None], waiting: Sequence[WaitingChanges] = ()) -> None:
        with self._write() as conn:
            self._replace_rules(conn, states, waiting)

    def load_state(self) -> dict[str, str]:
        return dict(self._db.rows("SELECT key, state FROM alert_rule_memory"))

    @staticmethod
    def _hold(conn: psycopg.Connection, writer: MemoryWriter, until: datetime, now: datetime) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITER_LOCK,))
        row = conn.execute("SELECT host, pid, token, expires FROM alert_memory_writer WHERE id = 1").fetchone()
        refuse_live_holder(MemoryWriter(*row[:3]) if row else None, row[3] if row else 0.0, writer, now)
        conn.execute("INSERT INTO alert_memory_writer (id, host, pid, token, expires) VALUES (1, %s, %s, %s, %s) "
                     "ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
                     "token = excluded.token, expires = excluded.expires",
                     (writer.host, writer.pid, writer.token, epoch(until)))

    def memory_holder(self) -> MemoryWriter | None:
        rows = self._db.rows("SELECT host, pid, token FROM alert_memory_writer WHERE id = 1")
        return MemoryWriter(*rows[0]) if rows else None

    def hold_memory(self, writer: MemoryWriter, until: datetime, now: datetime) -> None:
        with self._write() as conn:
            self._hold(conn, writer, until, now)

    def save_memory(self, memory: WorkerMemory, writer: MemoryWriter | None = None,
                    until: datetime | None = None) -> None:
        with self._write() as conn, conn.cursor() as cursor:
            if writer is not None:
                now = datetime.now(UTC)
                self._hold(conn, writer, until or now, now)
            self._replace_rules(conn, memory.rules, memory.waiting)
            if memory.forgotten is None:
                cursor.execute("DELETE FROM alert_burst_days")
                cursor.execute("DELETE FROM alert_burst_memory")
            else:
                cursor.executemany("DELETE FROM alert_burst_days WHERE kind = %s AND id = %s", memory.forgotten)
                cursor.executemany("DELETE FROM alert_burst_memory WHERE kind = %s AND id = %s", memory.forgotten)
            if memory.forgotten_before is not None:
                cursor.execute("DELETE FROM alert_burst_days WHERE (kind, id) IN "
                               "(SELECT kind, id FROM alert_burst_memory WHERE last_bucket < %s)",
                               (memory.forgotten_before,))
                cursor.execute("DELETE FROM alert_burst_memory WHERE last_bucket < %s", (memory.forgotten_before,))
            (first,) = cursor.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM alert_burst_memory").fetchone() or (0,)
            for write in burst_writes(memory.bursts, first):
                key = write.row[:2]
                cursor.execute(
                    "INSERT INTO alert_burst_memory (kind, id, state, position, last_bucket, quiet) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, "
                    "last_bucket = excluded.last_bucket, quiet = excluded.quiet", write.row)
                if write.whole:
                    cursor.execute("DELETE FROM alert_burst_days WHERE kind = %s AND id = %s", key)
                cursor.executemany("INSERT INTO alert_burst_days (kind, id, day, counts) VALUES (%s, %s, %s, %s) "
                                   "ON CONFLICT (kind, id, day) DO UPDATE SET counts = excluded.counts",
                                   [(*key, day, counts) for day, counts in write.days if counts is not None])
                cursor.executemany("DELETE FROM alert_burst_days WHERE kind = %s AND id = %s AND day = %s",
                                   [(*key, day) for day, counts in write.days if counts is None])
            cursor.execute("DELETE FROM alert_memory_offsets WHERE log != %s", (memory.log,))
            cursor.executemany(
                "INSERT INTO alert_memory_offsets (log, topic, partition, next_offset) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (log, topic, partition) DO UPDATE "
                "SET next_offset = GREATEST(alert_memory_offsets.next_offset, excluded.next_offset)",
                [(memory.log, topic, part, offset) for (topic, part), offset in memory.offsets.items()])

    def load_memory(self, log: str, quiet_subjects: bool = True) -> WorkerMemory:
        with self._db.transaction() as conn:  # one snapshot: the rules, bursts and offsets of one save
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            rules = dict(conn.execute("SELECT key, state FROM alert_rule_memory").fetchall())
            bursts = joined_subjects(conn.execute(f"{BURST_SUBJECTS} WHERE %s OR NOT s.quiet {BURST_SUBJECTS_ORDER}",
                                                  (quiet_subjects,)), _as_read)
            offsets = conn.execute("SELECT topic, partition, next_offset FROM alert_memory_offsets WHERE log = %s",
                                   (log,)).fetchall()
        return WorkerMemory(rules, bursts,
                            {(topic, part): offset for topic, part, offset in offsets}, log)

    def saved_subjects(self, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str, dict[str, Any]]]:
        return joined_subjects(self._db.rows(
            f"{BURST_SUBJECTS} WHERE (s.kind, s.id) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
            "ORDER BY s.kind, s.id, d.day", ([kind for kind, _ in keys], [sid for _, sid in keys])), _as_read)

    def quiet_subjects_after(self, bucket: int) -> list[tuple[str, str, dict[str, Any]]]:
        return joined_subjects(self._db.rows(
            f"{BURST_SUBJECTS} WHERE s.quiet AND s.last_bucket > %s {BURST_SUBJECTS_ORDER}", (bucket,)), _as_read)

    def next_position(self) -> int:
        [(position,)] = self._db.rows("SELECT COALESCE(MAX(position) + 1, 0) FROM alert_burst_memory")
        return int(position)

    def saved_counts(self, key: tuple[str, str], days: Sequence[int]) -> dict[int, list[int]]:
        return dict(self._db.rows("SELECT day, counts FROM alert_burst_days WHERE kind = %s AND id = %s "
                                  "AND day = ANY(%s)", (*key, list(days))))

    def waiting_by_id(self, rule: str, post_ids: Collection[str]) -> list[WaitingMessage]:
        return [waiting_message(row) for row in self._db.rows(
            f"SELECT {WAITING_COLUMNS} FROM alert_waiting_messages WHERE rule = %s AND post_id = ANY(%s)",
            (rule, list(post_ids)))]

    def waiting_between(self, rule: str, start: datetime, end: datetime) -> list[WaitingMessage]:
        return [waiting_message(row) for row in self._db.rows(
            f"SELECT {WAITING_COLUMNS} FROM alert_waiting_messages WHERE rule = %s AND since_us >= %s "
            "AND since_us < %s", (rule, micros(start), micros(end)))]

    def waiting_about(self, rule: str, subject: Subject, order: AboutOrder = "oldest",
                      limit: int | None = None) -> list[Entry]:
        return self._db.rows(waiting_entries("alert_waiting_messages", "%s", order, limit), (rule, *subject))

    def close(self) -> None:
        self._db.close()
