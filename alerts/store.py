"""Durable alert state: alerts, their audit log, and the outbox of notifications, behind one interface.

Changes are compare-and-set on a version number, so two officers acknowledging at once cannot
both win, and a change to an alert commits together with its audit entry and the notifications
it causes (a transactional outbox: nothing is half-done after a crash). The embedded store is one
SQLite file in WAL mode that several processes share; a scale-out store needs the same operations
from a database all replicas reach.
"""

from __future__ import annotations

import abc
import json
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import orjson

from alerts.rules.unanswered_complaints import AboutOrder, Entry, Subject, WaitingMessage, micros
from analysis.bursts import every_day_of
from stores.sqlite import connect, write_transaction
from yuqing.schema import Alert, AlertStatus

if TYPE_CHECKING:
    from yuqing.config import Settings

OPEN_STATUSES = tuple(s for s in AlertStatus if s != AlertStatus.CLOSED)


class StoreError(ConnectionError):
    """The store cannot be opened or refused an operation. A ConnectionError, so the worker treats it
    as a backend that is down: it keeps the batch uncommitted and tries again later."""


class StoreConflict(StoreError):
    """Someone changed the alert (or opened the group) first; re-read and decide again. `group_key`: the group
    whose alert met the conflict, when known."""

    def __init__(self, message: str, group_key: str | None = None) -> None:
        super().__init__(message)
        self.group_key = group_key


@dataclass(frozen=True)
class Stored:
    alert: Alert
    version: int


@dataclass(frozen=True)
class AlertSave:
    """A run of changes to one alert (each with the alert as it left it), saved together: every change's audit entry
    and notifications, in order, and the alert as the last left it. `expected_version` None: the alert is new; else
    the version it replaces."""

    expected_version: int | None
    changes: Sequence[tuple[Alert, Change]]

    @property
    def stored(self) -> Stored:
        """The alert as this save leaves it stored: one version per change."""
        return Stored(self.changes[-1][0], (self.expected_version or 0) + len(self.changes))


@dataclass(frozen=True)
class AuditEntry:
    """One change, or a run of quiet updates (`Change.folds`): then `at` is the first, `last_at` the last, and
    `times` how many."""

    alert_id: str
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    details: dict[str, Any] = field(default_factory=dict)
    times: int = 1
    last_at: datetime | None = None


@dataclass(frozen=True)
class OutboxItem:
    id: int
    alert_id: str
    channel: str
    message: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None


class MemoryTaken(RuntimeError):
    """Another live alert worker writes the rules' memory. Not an outage to wait out inside the loop: this
    worker's copy is stale once the other has written, so it stops (a supervisor starts it again later)."""


@dataclass(frozen=True)
class MemoryWriter:
    """The alert worker that writes the memory. A writer on this host whose process is gone (kill -9) is
    known dead at once; one on another host holds its lease until it runs out."""

    host: str
    pid: int
    token: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _gone(writer: MemoryWriter) -> bool:
    if writer.host != socket.gethostname():
        return False
    try:
        os.kill(writer.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def refuse_live_holder(holder: MemoryWriter | None, expires: float, writer: MemoryWriter, now: datetime) -> None:
    """MemoryTaken unless `writer` may write the memory: nobody else holds it, or the holder's lease ran out
    or its process is gone."""
    if holder is not None and holder.token != writer.token and expires > now.timestamp() and not _gone(holder):
        raise MemoryTaken(f"另一个预警进程正在写规则记忆 (the rules' memory is written by {holder})")


@dataclass(frozen=True)
class WaitingChanges:
    """What changed in one rule's waiting messages since they were last saved (see `UnansweredComplaintsRule`): per
    post, its message, or None when it no longer waits. `drop_saved`: the rule's saved messages are dropped first
    (it started afresh)."""

    rule: str  # the rule's memory key (`AlertEngine`)
    changes: Mapping[str, WaitingMessage | None]
    drop_saved: bool = False


@dataclass(frozen=True)
class WorkerMemory:
    """Everything the alert worker remembers, saved in one transaction: the rules' memory (JSON text per
    entry; None: the entry as saved before, unchanged since), the burst counts, and per (topic, partition) the next offset they include, so that after a kill a
    redelivered message below it is skipped instead of counted twice."""

    rules: Mapping[str, str | None] = field(default_factory=dict)
    bursts: Iterable[tuple[str, str, dict[str, Any]]] = ()
    offsets: Mapping[tuple[str, int], int] = field(default_factory=dict)
    log: str = ""  # the transport the offsets are of (`Transport.identity()`)
    # None: `bursts` are all the subjects, replacing those saved. Else `bursts` are only the subjects changed since
    # the last save (new ones in the order they were made, after those saved) and these (kind, id) were forgotten:
    # a checkpoint then costs what changed, not the hundreds of thousands of subjects a city's 15 days hold.
    forgotten: Sequence[tuple[str, str]] | None = None
    # The subjects whose last bucket is before this one are forgotten too: past the horizon, whether the worker
    # held them or let them wait in the store (`BurstTracker.forgotten_before`).
    forgotten_before: int | None = None
    # The unanswered-board rules' waiting messages that changed: they wait in the store, not in the worker.
    waiting: Sequence[WaitingChanges] = ()


# The marks of stored findings are kept in the rules' memory's table under keys of their own (this and a unique part):
# a save of the memory drops every key it does not write, so the checkpoint that includes their batches drops them.
FINDINGS_KEY = "findings.stored@"


@dataclass(frozen=True)
class FindingsMark:
    """Stored with a batch's findings, in their transaction, until the next checkpoint of the worker's memory (which
    then includes the batch): the next offset of each (topic, partition) of `log` the batch took, and the alert groups
    its findings changed. A worker killed in between starts again from the checkpoint before and takes the batch again:
    the mark tells it which messages' findings were stored, and about which groups, so it does not store them twice
    (`workers.stages.AlertStage`). Read back (`stored_findings`), it is all of those stored since the checkpoint."""

    log: str
    offsets: Mapping[tuple[str, int], int] = field(default_factory=dict)
    groups: frozenset[str] = frozenset()

    def includes(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the findings of this message's batch were stored."""
        return offset < self.offsets.get((topic, partition), 0)

    def row(self) -> tuple[str, str]:
        """Its row in the rules' memory (key, JSON text), on either store."""
        return f"{FINDINGS_KEY}{uuid.uuid4().hex}", orjson.dumps({
            "log": self.log, "offsets": [[topic, partition, offset] for (topic, partition), offset in self.offsets.items()],
            "groups": sorted(self.groups)}).decode()

    @classmethod
    def merged(cls, log: str, texts: Iterable[str]) -> FindingsMark:
        """The marks of several batches (the JSON texts of their rows) of this log as one: the furthest offset of each
        partition, every group."""
        offsets: dict[tuple[str, int], int] = {}
        groups: set[str] = set()
        for mark in map(orjson.loads, texts):
            if mark["log"] != log:
                continue
            for topic, partition, offset in mark["offsets"]:
                offsets[topic, partition] = max(offset, offsets.get((topic, partition), 0))
            groups.update(mark["groups"])
        return cls(log, offsets, frozenset(groups))


@dataclass(frozen=True)
class Change:
    """What is written with an alert: who did what, and the notifications (channel, message) it causes.

    `folds`: a quiet update (it notifies nobody and leaves the status as it was), folded into the alert's last audit
    entry when that is one too, by the same actor: a busy incident updates its alert at every batch for days (nine
    in ten audit rows were these), and its audit keeps one entry per run of them, with their count, first and last
    time and latest details, between the entries of substance (those that notify or change the status, and every
    officer's action)."""

    actor: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)
    notifications: Sequence[tuple[str, dict[str, Any]]] = ()
    folds: bool = False


def audit_values(alert: Alert, from_status: str | None, change: Change, now: datetime) -> tuple[object, ...]:
    """The audit row of a change (alert_id, at, actor, action, from_status, to_status, details), on either store.
    Its details name the channels the change notified: kept after the delivered messages themselves are dropped
    from the outbox."""
    details = change.details
    if change.notifications:
        details = {**details, "notified": [channel for channel, _ in change.notifications]}
    return (alert.id, epoch(now), change.actor, change.action, from_status, alert.status.value,
            json.dumps(details, ensure_ascii=False, default=str))


# The alert's last audit row, as `folded_details` reads it (either store; `{table}` is its audit table).
LAST_AUDIT_ROW = "SELECT seq, actor, action, from_status, to_status, details FROM {table} WHERE alert_id = {mark} " \
                 "ORDER BY seq DESC LIMIT 1"


def fold_into_last_row(execute: Callable[[str, Sequence[Any]], Any], table: str, mark: str, alert: Alert,
                       from_status: str | None, change: Change, now: datetime) -> bool:
    """Fold `change` into the alert's last audit row when `folded_details` allows it (either store: `execute` is its
    connection's, `table` its audit table, `mark` its parameter mark); False: the change takes a row of its own."""
    last = execute(LAST_AUDIT_ROW.format(table=table, mark=mark), (alert.id,)).fetchone() if change.folds else None
    folded = folded_details(last, alert, from_status, change, now)
    if folded is None:
        return False
    assert last is not None
    execute(f"UPDATE {table} SET details = {mark} WHERE seq = {mark}", (folded, last[0]))
    return True


def folded_details(last: tuple | None, alert: Alert, from_status: str | None, change: Change,
                   now: datetime) -> str | None:
    """The details of the alert's last audit row (seq, actor, action, from_status, to_status, details) with `change`
    folded in, when it folds and that row is a quiet update by the same actor too; None: the change takes a row of
    its own. The folded row keeps its time (the run's first), and counts the run (`times`) to its last (`last_at`)."""
    if not change.folds or change.notifications or from_status != alert.status.value or last is None:
        return None
    _, actor, action, before, after, text = last
    details = json.loads(text)
    if (actor, action, before, after) != (change.actor, change.action, from_status, from_status) or "notified" in details:
        return None
    return json.dumps({**details, **change.details, "times": details.get("times", 1) + 1, "last_at": epoch(now)},
                      ensure_ascii=False, default=str)


def burst_rows(records: Iterable[tuple[str, str, dict[str, Any]]],
               first: int) -> Iterator[tuple[str, str, str, int, int | None, bool]]:
    """Burst subjects' rows on either store (kind, id, state as JSON, position, last bucket, quiet): the columns
    beside the JSON find and order the subjects without reading it (see `analysis.bursts.BurstArchive`). A record
    without a position of its own takes the next from `first` on (after every subject saved). On a row that exists
    only the state, last bucket and quietness are written: a subject keeps its position (forgotten, it is deleted
    first, and made again it is new)."""
    # orjson: a place's record holds a bucket per 5 minutes of 15 days, written whenever it changed (a checkpoint's
    # main cost with the json module). One row at a time, as the records come (see `BurstTracker.changes`).
    return ((kind, sid, orjson.dumps(data).decode(), data.get("position", first + n), last_bucket_of(data),
             not data["recent"]) for n, (kind, sid, data) in enumerate(records))


@dataclass(frozen=True)
class BurstWrite:
    """What a checkpoint writes of one burst subject, on either store: its row (kind, id, state as JSON, position,
    last bucket, quiet) and the counts of the days that changed (day, counts as JSON; None: the day has none left).
    `whole`: the state holds the record whole, as given, and the subject has no days saved apart."""

    row: tuple[str, str, str, int, int | None, bool]
    days: list[tuple[int, str | None]]
    whole: bool


def burst_writes(records: Iterable[tuple[str, str, dict[str, Any]]], first: int) -> Iterator[BurstWrite]:
    """The writes of these burst records, one at a time as the records come: a record of the tracker's `changes`
    holds the days that changed, which are written apart from the rest of it (a checkpoint wrote a busy place's 15
    days whenever it changed); another is written whole, as given (see `burst_rows`)."""
    for n, (kind, sid, data) in enumerate(records):
        if "days" not in data:
            yield BurstWrite(next(burst_rows([(kind, sid, data)], first + n)), [], whole=True)
            continue
        state = {key: value for key, value in data.items() if key not in ("days", "last_bucket")}
        days = [(int(day), orjson.dumps(counts).decode() if counts else None) for day, counts in data["days"].items()]
        yield BurstWrite((kind, sid, orjson.dumps(state).decode(), data.get("position", first + n), data["last_bucket"],
                          not data["recent"]), days, whole=False)


def joined_subjects(rows: Iterable[tuple[str, str, Any, Any]],
                    parse: Callable[[Any], Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Burst records, on either store, from rows (kind, id, state, one of its days' counts or None) that give each
    subject's days together and in order: each record with its days' counts joined, flat, as the tracker saved it
    (one saved before the counts were kept by day has them in its state, and no days). `parse` reads a JSON column
    as the store gives it."""
    records = []
    for (kind, sid), rows_of_one in groupby(rows, key=itemgetter(0, 1)):
        days = list(rows_of_one)
        data = parse(days[0][2])
        if "counts" not in data and "buckets" not in data:
            data["counts"] = [number for *_, counts in days if counts is not None for number in parse(counts)]
        records.append((kind, sid, data))
    return records


def last_bucket_of(data: dict[str, Any]) -> int | None:
    """A burst record's last bucket (None: it has none)."""
    if "counts" in data:
        return data["counts"][-3] if data["counts"] else None
    return max(map(int, data["buckets"]), default=None)  # saved before the counts were kept flat


WAITING_COLUMNS = "post_id, kind, subject_id, since, arrival"
# A subject's messages (`Entry`) in one of the orders of `AboutOrder`, each read from an index alone.
WAITING_ORDERS: dict[AboutOrder, str] = {"oldest": "since_us, arrival", "newest": "since_us DESC, arrival DESC",
                                         "arrival": "arrival"}


def waiting_entries(table: str, mark: str, order: AboutOrder, limit: int | None) -> str:
    """The query of a subject's messages in this order, the first `limit` (None: all), on either store."""
    return f"SELECT since_us, arrival, post_id FROM {table} WHERE rule = {mark} AND kind = {mark} " \
           f"AND subject_id = {mark} ORDER BY {WAITING_ORDERS[order]}" + ("" if limit is None else f" LIMIT {limit:d}")


def waiting_rows(rule: WaitingChanges) -> list[tuple[str, str, str, str, int, str, int]]:
    """The rows of a rule's waiting messages (rule, post_id, kind, subject_id, since_us, since, arrival) on either
    store: `since` as the rule held it (ISO 8601 with its offset: the findings show it in that zone), `since_us` the
    same moment in microseconds since the epoch, exactly, to find a stretch of time by."""
    return [(rule.rule, post_id, *message.subject, micros(message.since),
             message.since.isoformat(), message.arrival)
            for post_id, message in rule.changes.items() if message is not None]


def waiting_message(row: tuple) -> WaitingMessage:
    """A row of WAITING_COLUMNS as the rule held it."""
    post_id, kind, subject_id, since, arrival = row
    return WaitingMessage(post_id, (kind, subject_id), datetime.fromisoformat(since), arrival)


def write_saves(saves: Sequence[AlertSave], write_alert: Callable[[AlertSave, AlertSave], str | None],
                record: Callable[[Alert, str | None, Change], None]) -> None:
    """`AlertStore.save_alerts`'s writes, in its transaction, on either store: each alert's row once, at its first save
    in the list, as its last save there leaves it (`write_alert(first, last)`: checks the first's expected version,
    writes the last's alert and version and returns the status it had, None for a new one; the alert's JSON, up to
    500 post ids, is most of the cost of a write and a busy incident's alert meets several rules' findings in a
    batch), then every change's audit entry and notifications in the order given (`record(alert, from_status,
    change)`)."""
    last_of = {save.changes[0][0].id: save for save in saves}
    # Each alert's status and version as the saves so far leave them.
    written: dict[str, tuple[str | None, int]] = {}
    for save in saves:
        alert_id = save.changes[0][0].id
        if alert_id in written:
            from_status, version = written[alert_id]
            if save.expected_version != version:
                raise StoreConflict(f"alert {alert_id} saved twice from version {version}", save.stored.alert.group_key)
        else:
            from_status = write_alert(save, last_of[alert_id])
        for changed, change in save.changes:
            record(changed, from_status, change)
            from_status = changed.status.value
        written[alert_id] = (from_status, save.stored.version)


def outbox_values(alert: Alert, change: Change, now: datetime) -> list[tuple[object, ...]]:
    """The outbox rows of a change's notifications (alert_id, channel, message, created_at, next_attempt_at)."""
    return [(alert.id, channel, json.dumps(message, ensure_ascii=False), epoch(now), epoch(now))
            for channel, message in change.notifications]


class AlertStore(abc.ABC):
    @abc.abstractmethod
    def get(self, alert_id: str) -> Stored | None: ...

    @abc.abstractmethod
    def latest_in_group(self, group_key: str) -> Stored | None:
        """The group's open alert, else its most recent closed one."""

    @abc.abstractmethod
    def save_alerts(self, saves: Sequence[AlertSave], now: datetime, mark: FindingsMark | None = None) -> None:
        """Runs of changes to alerts (a batch's findings), in order, in one transaction: all of them or, on any
        failure, none. A new alert (`expected_version` None) meets StoreConflict when its group already has an open
        alert; another replaces the stored alert if nobody changed it since that version (else StoreConflict), which
        then counts one version per change. A later save may follow an earlier one of the same alert in the list
        (its expected version is the one the earlier leaves). The alert worker's batches come with their `mark`,
        kept until its next `save_memory`."""

    @abc.abstractmethod
    def stored_findings(self, log: str) -> FindingsMark:
        """The marks of the findings stored since the alert worker's memory was last saved, of this log, as one."""

    def insert(self, alert: Alert, change: Change, now: datetime) -> Stored:
        """Add a new alert; StoreConflict when the group already has an open alert."""
        save = AlertSave(None, [(alert, change)])
        self.save_alerts([save], now)
        return save.stored

    def update(self, alert: Alert, expected_version: int, change: Change, now: datetime) -> Stored:
        """Replace the alert if nobody changed it since `expected_version`; else StoreConflict."""
        save = AlertSave(expected_version, [(alert, change)])
        self.save_alerts([save], now)
        return save.stored

    @abc.abstractmethod
    def alerts(self, statuses: Iterable[AlertStatus] | None = None, limit: int | None = 1000) -> list[Alert]:
        """Alerts, newest first, optionally only those in the given statuses; `limit=None`: all of them."""

    @abc.abstractmethod
    def count(self, statuses: Iterable[AlertStatus] | None = None) -> int:
        """How many alerts there are (in the given statuses): all of them, where `alerts` lists a page."""

    @abc.abstractmethod
    def history(self, alert_id: str) -> list[AuditEntry]: ...

    @abc.abstractmethod
    def enqueue(self, key: str, channel: str, message: dict[str, Any], now: datetime) -> int:
        """Queue a message about no alert (a report to send); `key` names what it is about. Returns its id."""

    @abc.abstractmethod
    def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Unsent notifications whose next attempt is due, oldest first."""

    @abc.abstractmethod
    def claim(self, channel: str, now: datetime, until: datetime, limit: int = 100) -> list[OutboxItem]:
        """Take this channel's due notifications (oldest first) for one sender: they are not due again
        before `until` unless marked or released, so two senders never hold the same one."""

    @abc.abstractmethod
    def hold_claim(self, item_ids: Sequence[int], held_until: datetime, until: datetime) -> bool:
        """Right before sending them: the sender that claimed these notifications until `held_until` holds them on
        until `until`, all of them or none. False when any was taken by another sender since (its claim lapsed while
        this one sent others first) or is sent: that sender has them."""

    @abc.abstractmethod
    def release(self, item_ids: Sequence[int], at: datetime, held_until: datetime | None = None) -> None:
        """Claimed notifications that were not tried: due again at `at` (attempts unchanged). With `held_until`, only
        those still claimed until then: another sender has taken those whose claim lapsed."""

    @abc.abstractmethod
    def mark_sent(self, item_id: int, now: datetime, folded: Sequence[int] = ()) -> None:
        """`item_id` was delivered; `folded` notifications were delivered with it in one message (dropped)."""

    @abc.abstractmethod
    def mark_failed(self, item_id: int, error: str, retry_at: datetime) -> None: ...

    @abc.abstractmethod
    def last_sent(self, alert_id: str, channel: str) -> datetime | None:
        """When a notification about this alert last reached this channel."""

    @abc.abstractmethod
    def sent_since(self, channel: str, since: datetime) -> int:
        """Notifications this channel delivered since `since` (for rate limits shared by all replicas)."""

    @abc.abstractmethod
    def outbox(self, alert_id: str | None = None, pending_only: bool = False) -> list[OutboxItem]: ...

    @abc.abstractmethod
    def forget_sent(self, before: datetime) -> int:
        """Drop notifications delivered before `before` (the audit keeps which channels were notified)."""

    @abc.abstractmethod
    def save_state(self, states: Mapping[str, str | None], waiting: Sequence[WaitingChanges] = ()) -> None:
        """Keep the rules' memory (JSON text per entry: windows, figures; None: the entry as saved, unchanged since)
        and their waiting messages' changes so a restarted worker goes on where it was; entries not in `states` (and
        their waiting messages) are dropped.
        Only the alert worker writes it."""

    @abc.abstractmethod
    def load_state(self) -> dict[str, str]: ...

    @abc.abstractmethod
    def hold_memory(self, writer: MemoryWriter, until: datetime, now: datetime) -> None:
        """Become (or stay) the one writer of the alert worker's memory until `until`; MemoryTaken when another
        writer holds it and is alive."""

    @abc.abstractmethod
    def memory_holder(self) -> MemoryWriter | None:
        """The alert worker that last held the memory (alive or not): the active one, while it lives."""

    @abc.abstractmethod
    def save_memory(self, memory: WorkerMemory, writer: MemoryWriter | None = None,
                    until: datetime | None = None) -> None:
        """Replace the alert worker's memory (rules, bursts) and advance its offsets, all at once; with a
        `writer`, only while it holds the memory (its hold renewed until `until`), else MemoryTaken."""

    @abc.abstractmethod
    def load_memory(self, log: str, quiet_subjects: bool = True) -> WorkerMemory:
        """The alert worker's memory, with the offsets it saved for this log (none for another log); without
        `quiet_subjects`, the burst subjects that are not quiet only (the others wait: `BurstArchive`, below)."""

    # The burst subjects as saved: `analysis.bursts.BurstArchive`.
    @abc.abstractmethod
    def saved_subjects(self, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str, dict[str, Any]]]: ...

    @abc.abstractmethod
    def quiet_subjects_after(self, bucket: int) -> list[tuple[str, str, dict[str, Any]]]: ...

    @abc.abstractmethod
    def next_position(self) -> int: ...

    @abc.abstractmethod
    def saved_counts(self, key: tuple[str, str], days: Sequence[int]) -> dict[int, list[int]]: ...

    # A rule's waiting messages as saved (`WaitingArchive`, through `RuleWaiting`).
    @abc.abstractmethod
    def waiting_by_id(self, rule: str, post_ids: Collection[str]) -> list[WaitingMessage]: ...

    @abc.abstractmethod
    def waiting_between(self, rule: str, start: datetime, end: datetime) -> list[WaitingMessage]: ...

    @abc.abstractmethod
    def waiting_about(self, rule: str, subject: Subject, order: AboutOrder = "oldest",
                      limit: int | None = None) -> list[Entry]: ...

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class RuleWaiting:
    """One rule's waiting messages in the store, as the rule reads them (`WaitingArchive`)."""

    store: AlertStore
    rule: str

    def waiting_by_id(self, post_ids: Collection[str]) -> list[WaitingMessage]:
        return self.store.waiting_by_id(self.rule, post_ids)

    def waiting_between(self, start: datetime, end: datetime) -> list[WaitingMessage]:
        return self.store.waiting_between(self.rule, start, end)

    def waiting_about(self, subject: Subject, order: AboutOrder = "oldest", limit: int | None = None) -> list[Entry]:
        return self.store.waiting_about(self.rule, subject, order, limit)


SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, group_key TEXT NOT NULL, is_open INTEGER NOT NULL, status TEXT NOT NULL,
    fired_at REAL NOT NULL, updated_at REAL NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_alert_per_group ON alerts (group_key) WHERE is_open = 1;
CREATE INDEX IF NOT EXISTS alerts_by_group ON alerts (group_key, fired_at);
-- The open (or closed) alerts newest first, and their count, without reading the alerts of months past.
CREATE INDEX IF NOT EXISTS alerts_by_openness ON alerts (is_open, fired_at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, at REAL NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL, details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_alert ON audit (alert_id, seq);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, channel TEXT NOT NULL, message TEXT NOT NULL,
    created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    sent_at REAL, last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (sent_at, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (channel, sent_at);
CREATE INDEX IF NOT EXISTS outbox_by_alert ON outbox (alert_id, channel);
-- The rules' memory, JSON per rule (format 3 on; a BLOB row is an older pickle and is never read).
CREATE TABLE IF NOT EXISTS rule_state (key TEXT PRIMARY KEY, blob BLOB NOT NULL, saved_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS memory_writer (id INTEGER PRIMARY KEY CHECK (id = 1), host TEXT NOT NULL,
                                          pid INTEGER NOT NULL, token TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS burst_state (kind TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL,
                                        position INTEGER, last_bucket INTEGER, quiet INTEGER,
                                        PRIMARY KEY (kind, id));
-- The unanswered-board rules' waiting messages (a month of a city's boards), saved with the rules' memory.
CREATE TABLE IF NOT EXISTS waiting_messages (rule TEXT NOT NULL, post_id TEXT NOT NULL, kind TEXT NOT NULL,
                                             subject_id TEXT NOT NULL, since_us INTEGER NOT NULL, since TEXT NOT NULL,
                                             arrival INTEGER NOT NULL, PRIMARY KEY (rule, post_id));
CREATE INDEX IF NOT EXISTS waiting_messages_by_since ON waiting_messages (rule, since_us);
-- A subject's messages in time order (its oldest, its newest), and by arrival (its first), from the indexes alone.
CREATE INDEX IF NOT EXISTS waiting_messages_by_subject ON waiting_messages (rule, kind, subject_id, since_us, arrival,
                                                                           post_id);
CREATE INDEX IF NOT EXISTS waiting_messages_by_arrival ON waiting_messages (rule, kind, subject_id, arrival, since_us,
                                                                           post_id);
-- Offsets belong to one log (transport.identity()): a new log starts at offset 0 again.
CREATE TABLE IF NOT EXISTS memory_offsets (log TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
                                           next_offset INTEGER NOT NULL, PRIMARY KEY (log, topic, partition));
"""


# The burst subjects with their days' counts (`joined_subjects`), on either store (`{state}`, `{days}`: its tables).
BURST_SUBJECTS_OF = "SELECT s.kind, s.id, s.state, d.counts FROM {state} s LEFT JOIN {days} d ON d.kind = s.kind " \
                    "AND d.id = s.id"
BURST_SUBJECTS = BURST_SUBJECTS_OF.format(state="burst_state", days="burst_days")
# Each subject's days together, in order; the subjects in the order they were made.
BURST_SUBJECTS_ORDER = "ORDER BY s.position, s.kind, s.id, d.day"


def epoch(value: datetime) -> float:
    return value.timestamp()


@overload
def _dt(value: float) -> datetime: ...
@overload
def _dt(value: None) -> None: ...
def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def stored_row(row: tuple) -> Stored:
    """(doc, version) as stored."""
    return Stored(Alert.model_validate_json(row[0]), row[1])


OUTBOX_COLUMNS = "id, alert_id, channel, message, created_at, attempts, next_attempt_at, sent_at, last_error"


def outbox_row(row: tuple) -> OutboxItem:
    """A row of OUTBOX_COLUMNS, times in epoch seconds."""
    return OutboxItem(row[0], row[1], row[2], json.loads(row[3]), _dt(row[4]), row[5], _dt(row[6]),
                      _dt(row[7]), row[8])


def audit_row(row: tuple) -> AuditEntry:
    """(alert_id, at, actor, action, from_status, to_status, details) as stored (a folded run's count and last time
    in its details)."""
    details = json.loads(row[6])
    times, last_at = details.pop("times", 1), details.pop("last_at", None)
    return AuditEntry(row[0], _dt(row[1]), row[2], row[3], row[4], row[5], details, times,
                      _dt(last_at) if last_at is not None else None)


def _in_statuses(statuses: Iterable[AlertStatus] | None) -> tuple[str, list[object]]:
    """The condition (and its parameters) of alerts in `statuses` (None: any). All the open ones, or the closed
    ones, by `is_open`, which `alerts_by_openness` finds: the open alerts, newest first, are then read without a
    look at the closed ones that pile up over months."""
    if statuses is None:
        return "1", []
    wanted = sorted({status.value for status in statuses})
    if wanted == sorted(status.value for status in AlertStatus if status != AlertStatus.CLOSED):
        return "is_open = 1", []
    if wanted == [AlertStatus.CLOSED.value]:
        return "is_open = 0", []
    return f"status IN ({','.join('?' * len(wanted))})", list(wanted)


class SqliteAlertStore(AlertStore):
    """The embedded store. `read_only=True` opens a view that cannot write (SQLite refuses), for commands
    that only show alerts: they can never put old state back over what the worker wrote."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        try:
            if read_only and not self.path.exists():
                SqliteAlertStore(self.path).close()  # a fresh installation: an empty store to look at
            self._conn = connect(self.path, autocommit=True, shared_between_threads=True, read_only=read_only)
            if not read_only:
                self._conn.executescript(SCHEMA)
                self._add_burst_columns()
                self._keep_burst_days_apart()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the alert store at {self.path}: {exc}") from exc

    def _add_burst_columns(self) -> None:
        """A store written before the burst subjects had their columns gets them, filled from their JSON, and each
        subject its position (the order they were saved in), in its JSON too: the tracker reads it there."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(burst_state)")}
        if "position" not in columns:
            with self._write() as conn:
                for column in ("position INTEGER", "last_bucket INTEGER", "quiet INTEGER"):
                    conn.execute(f"ALTER TABLE burst_state ADD COLUMN {column}")
                records = [(kind, sid, {**json.loads(state), "position": rowid}) for rowid, kind, sid, state
                           in conn.execute("SELECT rowid, kind, id, state FROM burst_state ORDER BY rowid")]
                conn.executemany(
                    "UPDATE burst_state SET state = ?, position = ?, last_bucket = ?, quiet = ? WHERE kind = ? AND id = ?",
                    [(*row[2:], *row[:2]) for row in burst_rows(records, 0)])
        self._conn.execute("CREATE INDEX IF NOT EXISTS burst_state_by_last ON burst_state (last_bucket)")
        # Every checkpoint asks for the next position: without an index that read every row and, the position being
        # stored after the JSON, every overflow page of a 15-day place's counts (it grew with the horizon).
        self._conn.execute("CREATE INDEX IF NOT EXISTS burst_state_by_position ON burst_state (position)")

    def _keep_burst_days_apart(self) -> None:
        """The burst subjects' counts by day, in `burst_days` (a city's busy places have 15 days of them): a checkpoint
        writes the days that changed. A store written before it had the table gets it, with the counts its subjects'
        JSON held (those saved before the counts were kept flat keep theirs: the tracker writes them whole)."""
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'burst_days'").fetchone():
            return
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'burst_days'").fetchone():
                return  # another process made it first
            conn.execute("CREATE TABLE burst_days (kind TEXT NOT NULL, id TEXT NOT NULL, day INTEGER NOT NULL, "
                         "counts TEXT NOT NULL, PRIMARY KEY (kind, id, day))")
            saved = conn.execute("SELECT kind, id, state, position FROM burst_state WHERE state LIKE '%\"counts\"%'")
            for kind, sid, state, position in saved.fetchall():
                data = orjson.loads(state)
                if "counts" in data:
                    self._write_burst_subject(conn, next(burst_writes([(kind, sid, every_day_of(data, position))], 0)))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that takes the write lock at once, so a read-check-write cannot interleave."""
        if self.read_only:
            raise StoreError(f"the alert store at {self.path} was opened read-only")
        with write_transaction(self._conn, self._lock) as conn:
            yield conn

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def get(self, alert_id: str) -> Stored | None:
        rows = self._read("SELECT doc, version FROM alerts WHERE id = ?", (alert_id,))
        return stored_row(rows[0]) if rows else None

    def latest_in_group(self, group_key: str) -> Stored | None:
        rows = self._read("SELECT doc, version FROM alerts WHERE group_key = ? "
                          "ORDER BY is_open DESC, fired_at DESC LIMIT 1", (group_key,))
        return stored_row(rows[0]) if rows else None

    def _record(self, conn: sqlite3.Connection, alert: Alert, from_status: str | None, change: Change,
                now: datetime) -> None:
        if fold_into_last_row(conn.execute, "audit", "?", alert, from_status, change, now):
            return
        conn.execute("INSERT INTO audit (alert_id, at, actor, action, from_status, to_status, details) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", audit_values(alert, from_status, change, now))
        conn.executemany(
            "INSERT INTO outbox (alert_id, channel, message, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
            outbox_values(alert, change, now))

    def _write_alert(self, conn: sqlite3.Connection, first: AlertSave, last: AlertSave) -> str | None:
        """See `write_saves`."""
        alert, version = last.stored.alert, last.stored.version
        try:
            if first.expected_version is None:
                conn.execute(
                    "INSERT INTO alerts (id, group_key, is_open, status, fired_at, updated_at, version, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (alert.id, alert.group_key, int(alert.status != AlertStatus.CLOSED), alert.status.value,
                     epoch(alert.fired_at), epoch(alert.updated_at), version, alert.model_dump_json()))
                return None
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(f"group {alert.group_key} already has an open alert (or id {alert.id} exists)",
                                alert.group_key) from exc
        row = conn.execute("SELECT status, version FROM alerts WHERE id = ?", (alert.id,)).fetchone()
        if row is None or row[1] != first.expected_version:
            raise StoreConflict(f"alert {alert.id} was changed by someone else; re-read it", alert.group_key)
        conn.execute("UPDATE alerts SET is_open = ?, status = ?, updated_at = ?, version = ?, doc = ? WHERE id = ?",
                     (int(alert.status != AlertStatus.CLOSED), alert.status.value, epoch(alert.updated_at), version,
                      alert.model_dump_json(), alert.id))
        return str(row[0])

    def save_alerts(self, saves: Sequence[AlertSave], now: datetime, mark: FindingsMark | None = None) -> None:
        try:
            with self._write() as conn:
                write_saves(saves, lambda first, last: self._write_alert(conn, first, last),
                            lambda alert, from_status, change: self._record(conn, alert, from_status, change, now))
                if mark is not None:
                    conn.execute("INSERT INTO rule_state (key, blob, saved_at) VALUES (?, ?, ?)",
                                 (*mark.row(), now.timestamp()))
        except sqlite3.Error as exc:
            raise StoreError(f"alert store write failed: {exc}") from exc

    def stored_findings(self, log: str) -> FindingsMark:
        return FindingsMark.merged(log, [text for (text,) in self._read(
            "SELECT blob FROM rule_state WHERE substr(key, 1, ?) = ?", (len(FINDINGS_KEY), FINDINGS_KEY))])

    def alerts(self, statuses: Iterable[AlertStatus] | None = None, limit: int | None = 1000) -> list[Alert]:
        where, params = _in_statuses(statuses)
        rows = self._read(f"SELECT doc, version FROM alerts WHERE {where} ORDER BY fired_at DESC LIMIT ?",
                          [*params, -1 if limit is None else limit])  # SQLite: -1, no limit
        return [stored_row(row).alert for row in rows]

    def count(self, statuses: Iterable[AlertStatus] | None = None) -> int:
        where, params = _in_statuses(statuses)
        return int(self._read(f"SELECT count(*) FROM alerts WHERE {where}", params)[0][0])

    def history(self, alert_id: str) -> list[AuditEntry]:
        rows = self._read("SELECT alert_id, at, actor, action, from_status, to_status, details FROM audit "
                          "WHERE alert_id = ? ORDER BY seq", (alert_id,))
        return [audit_row(row) for row in rows]

    def enqueue(self, key: str, channel: str, message: dict[str, Any], now: datetime) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO outbox (alert_id, channel, message, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
                (key, channel, json.dumps(message, ensure_ascii=False), epoch(now), epoch(now)))
            return int(cursor.lastrowid or 0)

    def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        rows = self._read(f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ? "
                          "ORDER BY id LIMIT ?", (epoch(now), limit))
        return [outbox_row(row) for row in rows]

    def claim(self, channel: str, now: datetime, until: datetime, limit: int = 100) -> list[OutboxItem]:
        # Most rounds find nothing due: a read first, so idle lanes never take the write lock.
        if not self._read("SELECT 1 FROM outbox WHERE sent_at IS NULL AND channel = ? AND next_attempt_at <= ? "
                          "LIMIT 1", (channel, epoch(now))):
            return []
        with self._write() as conn:
            rows = conn.execute(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE sent_at IS NULL AND channel = ? "
                "AND next_attempt_at <= ? ORDER BY id LIMIT ?", (channel, epoch(now), limit)).fetchall()
            conn.executemany("UPDATE outbox SET next_attempt_at = ? WHERE id = ?",
                             [(epoch(until), row[0]) for row in rows])
        return [outbox_row(row) for row in rows]

    def hold_claim(self, item_ids: Sequence[int], held_until: datetime, until: datetime) -> bool:
        marks = ",".join("?" * len(item_ids))
        with self._write() as conn:
            (still_held,) = conn.execute(f"SELECT count(*) FROM outbox WHERE id IN ({marks}) AND sent_at IS NULL "
                                         "AND next_attempt_at = ?", (*item_ids, epoch(held_until))).fetchone()
            if still_held != len(item_ids):
                return False
            conn.execute(f"UPDATE outbox SET next_attempt_at = ? WHERE id IN ({marks})", (epoch(until), *item_ids))
        return True

    def release(self, item_ids: Sequence[int], at: datetime, held_until: datetime | None = None) -> None:
        if item_ids:
            with self._write() as conn:
                conn.executemany("UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND sent_at IS NULL "
                                 "AND (? IS NULL OR next_attempt_at = ?)",
                                 [(epoch(at), item_id, *[None if held_until is None else epoch(held_until)] * 2)
                                  for item_id in item_ids])

    def mark_sent(self, item_id: int, now: datetime, folded: Sequence[int] = ()) -> None:
        with self._write() as conn:
            conn.execute("UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                         (epoch(now), item_id))
            conn.executemany("DELETE FROM outbox WHERE id = ? AND sent_at IS NULL", [(i,) for i in folded])

    def last_sent(self, alert_id: str, channel: str) -> datetime | None:
        return _dt(self._read("SELECT MAX(sent_at) FROM outbox WHERE alert_id = ? AND channel = ?",
                              (alert_id, channel))[0][0])

    def mark_failed(self, item_id: int, error: str, retry_at: datetime) -> None:
        with self._write() as conn:
            conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                         "WHERE id = ?", (error[:1000], epoch(retry_at), item_id))

    def sent_since(self, channel: str, since: datetime) -> int:
        return self._read("SELECT COUNT(*) FROM outbox WHERE channel = ? AND sent_at >= ?",
                          (channel, epoch(since)))[0][0]

    def outbox(self, alert_id: str | None = None, pending_only: bool = False) -> list[OutboxItem]:
        clauses, params = [], []
        if alert_id is not None:
            clauses.append("alert_id = ?")
            params.append(alert_id)
        if pending_only:
            clauses.append("sent_at IS NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(f"SELECT {OUTBOX_COLUMNS} FROM outbox {where} ORDER BY id", params)
        return [outbox_row(row) for row in rows]

    def forget_sent(self, before: datetime) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
                                (epoch(before),)).rowcount

    @staticmethod
    def _replace_rules(conn: sqlite3.Connection, states: Mapping[str, str | None],
                       waiting: Sequence[WaitingChanges]) -> None:
        kept = f"key NOT IN ({','.join('?' * len(states))})"
        dropped = conn.execute(f"SELECT key FROM rule_state WHERE {kept}", list(states)).fetchall()
        conn.executemany("DELETE FROM waiting_messages WHERE rule = ?", dropped)
        conn.execute(f"DELETE FROM rule_state WHERE {kept}", list(states))
        conn.executemany("INSERT OR REPLACE INTO rule_state (key, blob, saved_at) VALUES (?, ?, ?)",
                         [(key, text, datetime.now(UTC).timestamp()) for key, text in states.items() if text is not None])
        for rule in waiting:
            if rule.drop_saved:
                conn.execute("DELETE FROM waiting_messages WHERE rule = ?", (rule.rule,))
            conn.executemany("DELETE FROM waiting_messages WHERE rule = ? AND post_id = ?",
                             [(rule.rule, post_id) for post_id, message in rule.changes.items() if message is None])
            conn.executemany("INSERT OR REPLACE INTO waiting_messages (rule, post_id, kind, subject_id, since_us, since, "
                             "arrival) VALUES (?, ?, ?, ?, ?, ?, ?)", waiting_rows(rule))

    def save_state(self, states: Mapping[str, str | None], waiting: Sequence[WaitingChanges] = ()) -> None:
        with self._write() as conn:
            self._replace_rules(conn, states, waiting)

    def load_state(self) -> dict[str, str]:
        return {key: text for key, text in self._read("SELECT key, blob FROM rule_state") if isinstance(text, str)}

    @staticmethod
    def _hold(conn: sqlite3.Connection, writer: MemoryWriter, until: datetime, now: datetime) -> None:
        row = conn.execute("SELECT host, pid, token, expires FROM memory_writer WHERE id = 1").fetchone()
        refuse_live_holder(MemoryWriter(*row[:3]) if row else None, row[3] if row else 0.0, writer, now)
        conn.execute("INSERT OR REPLACE INTO memory_writer (id, host, pid, token, expires) VALUES (1, ?, ?, ?, ?)",
                     (writer.host, writer.pid, writer.token, epoch(until)))

    def hold_memory(self, writer: MemoryWriter, until: datetime, now: datetime) -> None:
        with self._write() as conn:
            self._hold(conn, writer, until, now)

    def memory_holder(self) -> MemoryWriter | None:
        rows = self._read("SELECT host, pid, token FROM memory_writer WHERE id = 1")
        return MemoryWriter(*rows[0]) if rows else None

    def save_memory(self, memory: WorkerMemory, writer: MemoryWriter | None = None,
                    until: datetime | None = None) -> None:
        with self._write() as conn:
            if writer is not None:
                now = datetime.now(UTC)
                self._hold(conn, writer, until or now, now)
            self._replace_rules(conn, memory.rules, memory.waiting)
            if memory.forgotten is None:
                conn.execute("DELETE FROM burst_days")
                conn.execute("DELETE FROM burst_state")
            else:
                conn.executemany("DELETE FROM burst_days WHERE kind = ? AND id = ?", memory.forgotten)
                conn.executemany("DELETE FROM burst_state WHERE kind = ? AND id = ?", memory.forgotten)
            if memory.forgotten_before is not None:
                conn.execute("DELETE FROM burst_days WHERE (kind, id) IN "
                             "(SELECT kind, id FROM burst_state WHERE last_bucket < ?)", (memory.forgotten_before,))
                conn.execute("DELETE FROM burst_state WHERE last_bucket < ?", (memory.forgotten_before,))
            (first,) = conn.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM burst_state").fetchone()
            for write in burst_writes(memory.bursts, first):
                self._write_burst_subject(conn, write)
            conn.execute("DELETE FROM memory_offsets WHERE log != ?", (memory.log,))
            conn.executemany(
                "INSERT INTO memory_offsets (log, topic, partition, next_offset) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (log, topic, partition) DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
                [(memory.log, topic, part, offset) for (topic, part), offset in memory.offsets.items()])

    @staticmethod
    def _write_burst_subject(conn: sqlite3.Connection, write: BurstWrite) -> None:
        conn.execute("INSERT INTO burst_state (kind, id, state, position, last_bucket, quiet) VALUES (?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, last_bucket = excluded.last_bucket, "
                     "quiet = excluded.quiet", write.row)
        key = write.row[:2]
        if write.whole:
            conn.execute("DELETE FROM burst_days WHERE kind = ? AND id = ?", key)
        for day, counts in write.days:  # a day or two
            if counts is None:
                conn.execute("DELETE FROM burst_days WHERE kind = ? AND id = ? AND day = ?", (*key, day))
            else:
                conn.execute("INSERT OR REPLACE INTO burst_days (kind, id, day, counts) VALUES (?, ?, ?, ?)",
                             (*key, day, counts))

    @staticmethod
    def _bursts(rows: Iterable[tuple]) -> list[tuple[str, str, dict[str, Any]]]:
        return joined_subjects(rows, orjson.loads)

    def load_memory(self, log: str, quiet_subjects: bool = True) -> WorkerMemory:
        bursts = self._bursts(self._read(f"{BURST_SUBJECTS} WHERE ? OR NOT s.quiet {BURST_SUBJECTS_ORDER}",
                                         (quiet_subjects,)))
        offsets = {(topic, part): offset for topic, part, offset in
                   self._read("SELECT topic, partition, next_offset FROM memory_offsets WHERE log = ?", (log,))}
        return WorkerMemory(self.load_state(), bursts, offsets, log)

    def saved_subjects(self, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            return self._bursts(row for key in keys for row in self._conn.execute(
                f"{BURST_SUBJECTS} WHERE s.kind = ? AND s.id = ? ORDER BY d.day", key))

    def quiet_subjects_after(self, bucket: int) -> list[tuple[str, str, dict[str, Any]]]:
        return self._bursts(self._read(f"{BURST_SUBJECTS} WHERE s.quiet AND s.last_bucket > ? {BURST_SUBJECTS_ORDER}",
                                       (bucket,)))

    def next_position(self) -> int:
        return self._read("SELECT COALESCE(MAX(position) + 1, 0) FROM burst_state")[0][0]

    def saved_counts(self, key: tuple[str, str], days: Sequence[int]) -> dict[int, list[int]]:
        with self._lock:
            return {day: orjson.loads(counts) for day in days for (counts,) in self._conn.execute(
                "SELECT counts FROM burst_days WHERE kind = ? AND id = ? AND day = ?", (*key, day))}

    def waiting_by_id(self, rule: str, post_ids: Collection[str]) -> list[WaitingMessage]:
        ids = list(post_ids)
        rows: list[tuple] = []
        with self._lock:
            for start in range(0, len(ids), 500):  # well under SQLite's limit of parameters
                chunk = ids[start:start + 500]
                rows += self._conn.execute(f"SELECT {WAITING_COLUMNS} FROM waiting_messages WHERE rule = ? "
                                           f"AND post_id IN ({','.join('?' * len(chunk))})", [rule, *chunk])
        return [waiting_message(row) for row in rows]

    def waiting_between(self, rule: str, start: datetime, end: datetime) -> list[WaitingMessage]:
        return [waiting_message(row) for row in self._read(
            f"SELECT {WAITING_COLUMNS} FROM waiting_messages WHERE rule = ? AND since_us >= ? AND since_us < ?",
            (rule, micros(start), micros(end)))]

    def waiting_about(self, rule: str, subject: Subject, order: AboutOrder = "oldest",
                      limit: int | None = None) -> list[Entry]:
        return self._read(waiting_entries("waiting_messages", "?", order, limit), (rule, *subject))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_alert_store(settings: Settings, read_only: bool = False) -> AlertStore:
    """The store `state` in the settings asks for: the shared state database (`postgres`), or the embedded
    <data_dir>/alerts.sqlite3."""
    if settings.state == "postgres":
        from alerts.postgres_store import PostgresAlertStore

        return PostgresAlertStore(settings.postgres, read_only=read_only)
    return SqliteAlertStore(settings.data_dir / "alerts.sqlite3", read_only=read_only)
