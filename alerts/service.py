"""`AlertService`: the one object the alert worker and the CLI use.

`process` feeds a batch to the rules and stores grouped alerts with their notifications queued
in the outbox (one transaction each); `deliver_pending` sends what is due, with backoff and
per-channel rate limits; `check_deadlines` escalates; the workflow methods record what the press
office did. All state lives in the store, so several workers and officers can share it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from contextlib import suppress
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import groupby
from pathlib import Path

from alerts import workflow
from alerts.channels import Channel, ChannelContext, ChannelError, Notification, ReportMail
from alerts.config import AlertConfig, RuleSpec, build_channels, load_alert_config, rate_limit
from alerts.effect import ResponseEffect, measure_effect
from alerts.engine import AlertEngine, Outcome
from alerts.rules import Finding
from alerts.store import (
    OPEN_STATUSES,
    AlertSave,
    AlertStore,
    Change,
    FindingsMark,
    OutboxItem,
    StoreConflict,
    Stored,
    open_alert_store,
)
from search.base import Index
from yuqing.config import Settings
from yuqing.config.datafiles import load_policies
from yuqing.schema import Alert, BurstSignal, CrawlHealth, EnrichedPost, Policy, ResponseKind

log = logging.getLogger(__name__)

SYSTEM = "yuqing"
CONFLICT_RETRIES = 8
RATE_WINDOW = timedelta(minutes=1)
# Delivered messages past their retention (`delivery.sent_kept`) are dropped at most this often: each time is a
# scan of the outbox's delivered rows.
FORGET_SENT_EVERY = timedelta(hours=1)
# A group's latest alert, as this service last read or wrote it, is kept this long (of the clock `process` is
# given) after the group's last finding: a finding on a group seen lately costs no read and parse of the alert
# (a third of the alert worker's time). Anything else that changes the alert (an officer, a deadline, a delivery)
# raises its version, so the next write from here meets StoreConflict and reads the alert afresh.
GROUP_KEPT = timedelta(hours=1)


class _NothingToDo(Exception):
    """Internal: on a fresh read the deadline check found nothing to escalate."""


class AlertNotFound(LookupError):
    def __init__(self, alert_id: str) -> None:
        super().__init__(f"没有编号为 {alert_id} 的预警 (no such alert)")


# The kind a folded message takes: the first one an office gets about an alert is always "new alert".
_KIND_PRIORITY = ("fired", "level_raised", "deadline_missed", "deadline_warning", "updated")


def fold_messages(messages: list[dict]) -> dict:
    """Several queued notifications about one alert as one: the alert as it is now (the latest), the
    weightiest kind, and every distinct note."""
    kinds = [message["kind"] for message in messages]
    kind = min(kinds, key=lambda k: _KIND_PRIORITY.index(k) if k in _KIND_PRIORITY else len(_KIND_PRIORITY))
    notes = list(dict.fromkeys(message.get("note", "") for message in messages if message.get("note")))
    return {**messages[-1], "kind": kind, "note": "；".join(notes)}


class AlertService:
    """`rules_writer`: this service owns the rules' memory (the alert worker): it loads it, and `save_state`
    and `close` write it. Every other user (the CLI, reports) leaves it alone, so nothing it does can put an
    older memory back over the worker's."""

    def __init__(self, config: AlertConfig, store: AlertStore, channels: dict[str, Channel],
                 index: Index | None = None, policies: Iterable[Policy] = (), *, rules_writer: bool = True) -> None:
        self.config = config
        self.store = store
        self.channels = channels
        self.index = index
        self.rules_writer = rules_writer
        self.engine = AlertEngine(config, {policy.id: policy for policy in policies})
        if rules_writer:
            self.engine.keep_waiting_in(store)
            self.engine.restore(store.load_state())
        # group key -> (its latest alert as stored, or None: the group has none; the time of its last finding)
        self._groups: dict[str, tuple[Stored | None, datetime]] = {}
        self._groups_swept: datetime | None = None
        # Open alerts with a clock still running: id -> (when a deadline check will next find something, when it
        # fired; epoch seconds). Read from the store at the first check, then kept by this service's writes: others
        # only meet clocks (an officer's response), and a look then finds nothing to do.
        self._clocks: dict[str, tuple[float, float]] | None = None
        self._sent_forgotten_at: datetime | None = None  # when delivered messages were last dropped

    @classmethod
    def from_settings(cls, settings: Settings, rules_file: Path | None = None, index: Index | None = None, *,
                      rules_writer: bool = False, read_only: bool = False) -> AlertService:
        """A service over the configured store: the alert worker passes `rules_writer=True`; commands that
        only show alerts pass `read_only=True` (a view that cannot write anything)."""
        config = load_alert_config(rules_file or settings.rules_file)
        channels = build_channels(config, ChannelContext(data_dir=settings.data_dir))
        # The registry names each policy's document and 政策解读 in alerts; a fresh install may have none yet.
        policies = load_policies(settings.policies_file) if settings.policies_file.exists() else []
        return cls(config, open_alert_store(settings, read_only=read_only), channels, index, policies,
                   rules_writer=rules_writer and not read_only)

    # --- rules to alerts -------------------------------------------------------------------

    def _notifications(self, outcome: Outcome) -> list[tuple[str, dict]]:
        return [(channel, Notification(notice.kind, outcome.alert, notice.note).to_json())
                for notice in outcome.notices for channel in notice.channels]

    def process(self, posts: Iterable[EnrichedPost], signals: Iterable[BurstSignal] = (),
                health: Iterable[CrawlHealth] = (), now: datetime | None = None, mark: FindingsMark | None = None,
                stored_groups: Collection[str] = ()) -> list[Alert]:
        """Feed one batch to the rules and store what they found in one transaction; returns the alerts fired or
        updated (each once, latest state). The alert worker gives the batch's `mark` (its offsets), stored with the
        findings, and for a batch taken again after a kill, the groups whose findings of it were stored already
        (`stored_groups`): theirs are left out."""
        now = now or datetime.now().astimezone()
        findings = self.engine.evaluate(posts, signals, health, now)
        # Most findings come in runs about one group (an incident's rules and subjects): a run is one save.
        runs = [(key, list(run)) for key, run in groupby(findings, key=lambda found: self.engine.group_key(*found))
                if key not in stored_groups]
        changed = {alert.id: alert for alert in self._apply(runs, now, mark)}
        self._forget_quiet_groups(now)
        return list(changed.values())

    def _apply(self, runs: list[tuple[str, list[tuple[RuleSpec, Finding]]]], now: datetime,
               mark: FindingsMark | None = None) -> list[Alert]:
        """Merge each run of findings about one group into its alert, one after the other, and store the batch's
        changes in one transaction (as many audit entries and notifications as one transaction per run had: a
        transaction per run was half the alert worker's CPU), with the batch's `mark` naming the groups saved. On a
        conflict the batch is decided again, the group that met it read afresh; a group that keeps conflicting is
        given up after CONFLICT_RETRIES, the rest stored. Returns the alerts as each change left them."""
        conflicts: Counter[str] = Counter()
        while True:
            saves: list[tuple[str, AlertSave]] = []
            planned: dict[str, Stored] = {}  # the groups saved: each one's alert as the saves so far leave it
            for key, run in runs:
                if conflicts[key] >= CONFLICT_RETRIES:
                    continue
                existing = planned.get(key) or self._latest_in_group(key, now)
                save = self._merged(run, existing, now)
                if save is not None:
                    saves.append((key, save))
                    planned[key] = save.stored
            if not saves:
                return []
            try:
                self.store.save_alerts([save for _, save in saves], now,
                                      None if mark is None else replace(mark, groups=frozenset(planned)))
            except StoreConflict as conflict:
                # Someone else touched a group: it is read again and the batch re-decided (an unknown one: all are).
                keys = [conflict.group_key] if conflict.group_key in planned else list(planned)
                for key in keys:
                    self._groups.pop(key, None)
                    conflicts[key] += 1
                    if conflicts[key] == CONFLICT_RETRIES:
                        log.warning("gave up updating group %s after %d conflicts", key, CONFLICT_RETRIES)
                continue
            for key, stored in planned.items():
                self._groups[key] = (stored, now)
                self._schedule(stored.alert)
            return [changed for _, save in saves for changed, _ in save.changes]

    def _merged(self, run: list[tuple[RuleSpec, Finding]], existing: Stored | None, now: datetime) -> AlertSave | None:
        """A run of findings about one group merged into its latest alert, one after the other: the changes to save
        (None: nothing changed)."""
        alert = existing.alert if existing else None
        created = False
        changes: list[tuple[Alert, Change]] = []
        for spec, finding in run:
            outcome = self.engine.merge(spec, finding, alert, now)
            if outcome is None:
                continue
            # Only the first can open an alert: the others update it (the run's alert is open from then on).
            created = created or outcome.created
            notifications = self._notifications(outcome)
            changes.append((outcome.alert, Change(SYSTEM, outcome.action, {"magnitude": finding.magnitude},
                                                  notifications,
                                                  folds=outcome.action == "updated" and not notifications)))
            alert = outcome.alert
        if not changes:
            return None
        return AlertSave(None if created or existing is None else existing.version, changes)

    def _latest_in_group(self, key: str, now: datetime) -> Stored | None:
        """The group's open alert, else its most recent closed one: as last read or written here, else read."""
        kept = self._groups.get(key)
        latest = kept[0] if kept is not None else self.store.latest_in_group(key)
        self._groups[key] = (latest, now)
        return latest

    def _forget_quiet_groups(self, now: datetime) -> None:
        """Drop the groups without a finding for GROUP_KEPT, at most once per GROUP_KEPT."""
        if self._groups_swept is not None and now - self._groups_swept < GROUP_KEPT:
            return
        self._groups_swept = now
        # A copy first, made by `dict.copy` (no object made per entry, so no garbage collection, which may let
        # another thread run, in the middle): a delivery lane drops a group's copy (`_transition`) meanwhile, and
        # iterating the dict itself, or listing its items, then failed the batch and killed the worker.
        for key, (_, last) in self._groups.copy().items():
            if now - last >= GROUP_KEPT:
                self._groups.pop(key, None)

    def save_state(self) -> None:
        """Persist the rules' memory (the alert worker saves it with its checkpoints, see `workers.stages.AlertStage`)."""
        if not self.rules_writer:
            raise RuntimeError("only the alert worker's service writes the rules' memory")
        self.store.save_state(self.engine.snapshot(), self.engine.waiting_changes())
        self.engine.memory_saved()

    def check_deadlines(self, now: datetime | None = None) -> list[Alert]:
        """Escalate alerts whose clocks passed `warn_at` of their span or their due time (newest first). Only
        those whose time has come are read: the worker checks at every idle poll, and a city's open alerts are
        thousands (it read and parsed the newest 1,000 each time, and never looked at older ones)."""
        now = now or datetime.now().astimezone()
        if self._clocks is None:
            self._clocks = {}
            for alert in self.store.alerts(OPEN_STATUSES, limit=None):
                self._schedule(alert)
        due = sorted(((fired, alert_id) for alert_id, (at, fired) in self._clocks.copy().items()
                      if at <= now.timestamp()), reverse=True)  # a copy: a delivery lane may reschedule meanwhile
        escalated = []
        for _, alert_id in due:
            try:
                stored = self._transition(alert_id, lambda a: self._deadline_outcome(a, now), "escalated", SYSTEM,
                                          now, notify=True)
            except (_NothingToDo, AlertNotFound):
                fresh = self.store.get(alert_id)  # met or escalated elsewhere: its next look is later, or never
                if fresh is None:
                    self._clocks.pop(alert_id, None)
                else:
                    self._schedule(fresh.alert)
                continue
            escalated.append(stored.alert)
        return escalated

    def _schedule(self, alert: Alert) -> None:
        """Note when the alert's clocks next need a look (once the open alerts were read)."""
        if self._clocks is None:
            return
        at = self.engine.next_deadline_check(alert)
        if at is None:
            self._clocks.pop(alert.id, None)
        else:
            self._clocks[alert.id] = (at.timestamp(), alert.fired_at.timestamp())

    def _deadline_outcome(self, alert: Alert, now: datetime) -> Outcome:
        outcome = self.engine.check_deadlines(alert, now)
        if outcome is None:
            raise _NothingToDo
        return outcome

    # --- delivery --------------------------------------------------------------------------

    def _retry_at(self, attempts: int, now: datetime) -> datetime:
        delay = min(self.config.retry.first * (2 ** max(attempts - 1, 0)), self.config.retry.max)
        return now + delay

    def deliver_pending(self, now: datetime | None = None, limit: int = 200) -> int:
        """One round over every channel with due notifications, one channel after the other (the CLI and
        tests; the alert worker drains each channel in its own lane, see `alerts.delivery`). Returns how many
        messages were sent."""
        now = now or datetime.now().astimezone()
        channels = dict.fromkeys([*self.channels, *(item.channel for item in self.store.due(now, limit))])
        return sum(self.deliver_channel(name, now, limit) for name in channels)

    def deliver_channel(self, name: str, now: datetime | None = None, limit: int = 200,
                        stop: threading.Event | None = None, clock: Callable[[], datetime] | None = None) -> int:
        """Send this channel's due notifications: per alert, what is due is folded into one message (the
        latest state); an alert's first message waits the settle window after it fired, later ones keep
        `min_interval` apart. A failure stops the round for this channel (the rest wait for the next), and
        stays in the outbox with a later retry time. Once `stop` is set, the round ends after the message being
        sent: the rest are released, due at once for the next sender. `clock`: the time as each message is sent (a
        lane's; None: `now` all round). Returns how many messages were sent."""
        now = now or datetime.now().astimezone()
        channel = self.channels.get(name)
        # Held while a send may still be running (a request and its quick retries), then due again.
        held_for = timedelta(seconds=4 * (channel.options.timeout if channel is not None else 0.0) + 30)
        held_until = now + held_for
        items = self.store.claim(name, now, held_until, limit)
        if channel is None:
            for item in items:
                self.store.mark_failed(item.id, f"channel {name!r} is not defined in the rules file",
                                       now + self.config.retry.max)
            return 0
        per_minute = rate_limit(self.config, name)
        budget = None if per_minute is None else per_minute - self.store.sent_since(name, now - RATE_WINDOW)
        by_alert: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_alert.setdefault(item.alert_id, []).append(item)
        delivered = 0
        groups = list(by_alert.values())
        # What this round leaves untried is released only if still its own: a message whose claim lapsed meanwhile
        # was taken by another sender, which is sending it.
        for position, group in enumerate(groups):
            if stop is not None and stop.is_set():
                self.store.release([item.id for later in groups[position:] for item in later], now, held_until)
                break
            ids = [item.id for item in group]
            is_report = group[-1].message.get("kind") == ReportMail.KIND
            wait_until = None if is_report else self._not_before(name, group)
            if wait_until is not None and wait_until > now:
                self.store.release(ids, wait_until, held_until)
                continue
            if budget is not None and budget <= 0:
                self.store.release(ids, now, held_until)  # over the channel's rate: due again next round
                continue
            # The claim covers one send: the messages sent before this one may have outlasted it, and another
            # sender then takes them (a second lane, a standby taking over). Held afresh, or left to that sender.
            if not self.store.hold_claim(ids, held_until, (clock() if clock is not None else now) + held_for):
                log.info("delivery to %s: another sender took the messages about %s", name, group[-1].alert_id)
                continue
            try:
                # `deliver` turns every failure, a bug in rendering included, into a ChannelError with
                # the channel's secrets redacted: the log and the outbox never see a token.
                if is_report:  # the same report queued again is sent once, as last written
                    channel.deliver(ReportMail.from_json(group[-1].message))
                else:
                    channel.deliver(replace(Notification.from_json(fold_messages([item.message for item in group])),
                                            delivery=group[-1].id))
            except ChannelError as exc:
                log.warning("delivery to %s failed (attempt %d): %s", name, group[-1].attempts + 1, exc)
                retry_at = self._retry_at(group[-1].attempts + 1, now)
                self.store.mark_failed(group[-1].id, str(exc), retry_at)
                self.store.release(ids[:-1], retry_at)
                # A channel that just failed is not tried again this round: the others wait, untried.
                self.store.release([i for later in groups[position + 1:] for i in (x.id for x in later)], now,
                                   held_until)
                break
            self.store.mark_sent(group[-1].id, now, folded=ids[:-1])
            delivered += 1
            if budget is not None:
                budget -= 1
            if not is_report:
                self._mark_notified(group[-1].alert_id, now)
        if delivered:
            self._forget_sent(now)
        return delivered

    def _forget_sent(self, now: datetime) -> None:
        """Drop the messages delivered longer ago than `delivery.sent_kept`, at most every FORGET_SENT_EVERY (lanes
        in several threads may both do it now and then: the second finds nothing to drop)."""
        if self._sent_forgotten_at is None or abs(now - self._sent_forgotten_at) >= FORGET_SENT_EVERY:
            self._sent_forgotten_at = now
            self.store.forget_sent(now - self.config.delivery.sent_kept)

    def _not_before(self, channel: str, group: list[OutboxItem]) -> datetime | None:
        """The earliest time the next message about this alert may reach the channel."""
        last = self.store.last_sent(group[0].alert_id, channel)
        if last is not None:
            return last + self.config.delivery.min_interval
        fired_at = datetime.fromisoformat(group[-1].message["alert"]["fired_at"])
        return fired_at + self.config.delivery.settle

    def _mark_notified(self, alert_id: str, now: datetime) -> None:
        # Already past 'fired' (notified before, or acknowledged before the message arrived): nothing to do.
        with suppress(workflow.WorkflowError):
            self._transition(alert_id, lambda a: workflow.mark_notified(a, now), "notified", SYSTEM, now)

    # --- workflow --------------------------------------------------------------------------

    def _transition(self, alert_id: str, change: Callable[[Alert], Alert | Outcome], action: str, actor: str,
                    now: datetime, details: dict | None = None, notify: bool = False) -> Stored:
        """Read, change, compare-and-set; on a conflict read again so the change is judged on fresh state."""
        for _ in range(CONFLICT_RETRIES):
            stored = self.store.get(alert_id)
            if stored is None:
                raise AlertNotFound(alert_id)
            result = change(stored.alert)
            outcome = result if isinstance(result, Outcome) else Outcome(result)
            notifications = self._notifications(outcome) if notify else []
            try:
                changed = self.store.update(outcome.alert, stored.version,
                                            Change(actor, action, details or {}, notifications), now)
            except StoreConflict:
                continue
            # The copy `process` keeps is older now: dropped, it is read again at the group's next finding (this
            # may run in a delivery lane's thread: one atomic removal, and a stale copy would only meet a conflict).
            self._groups.pop(changed.alert.group_key, None)
            self._schedule(changed.alert)
            return changed
        raise StoreConflict(f"alert {alert_id} keeps changing; try again")

    def get(self, alert_id: str) -> Alert:
        stored = self.store.get(alert_id)
        if stored is None:
            raise AlertNotFound(alert_id)
        return stored.alert

    def open_alerts(self) -> list[Alert]:
        """The newest open alerts (the store's page of them)."""
        return self.store.alerts(OPEN_STATUSES)

    def open_count(self) -> int:
        """How many alerts are open: all of them, however many `open_alerts` lists."""
        return self.store.count(OPEN_STATUSES)

    def acknowledge(self, alert_id: str, who: str, now: datetime | None = None) -> Alert:
        now = now or datetime.now().astimezone()
        return self._transition(alert_id, lambda a: workflow.acknowledge(a, who, now), "acknowledged", who, now).alert

    def assign(self, alert_id: str, department: str, who: str, now: datetime | None = None) -> Alert:
        now = now or datetime.now().astimezone()
        return self._transition(alert_id, lambda a: workflow.assign(a, department, who, now), "assigned", who, now,
                                {"department": department}).alert

    def respond(self, alert_id: str, kind: ResponseKind, who: str, link: str | None = None, note: str | None = None,
                now: datetime | None = None) -> Alert:
        now = now or datetime.now().astimezone()
        return self._transition(
            alert_id, lambda a: workflow.respond(self.config, a, kind, who, now, link, note), "responded", who, now,
            {"kind": kind.value, "link": link, "note": note}).alert

    def close_alert(self, alert_id: str, who: str, reason: str | None = None, now: datetime | None = None) -> Alert:
        now = now or datetime.now().astimezone()
        return self._transition(alert_id, lambda a: workflow.close(a, who, now), "closed", who, now,
                                {"reason": reason}).alert

    def effect(self, alert_id: str, now: datetime | None = None) -> ResponseEffect | None:
        """Before/after figures of the alert's subject around its first response (needs the index)."""
        if self.index is None:
            return None
        return measure_effect(self.index, self.get(alert_id), now or datetime.now().astimezone())

    def close(self) -> None:
        """Save the rules' memory (its writer only) and release the store (the index belongs to whoever
        passed it in)."""
        try:
            if self.rules_writer:
                self.save_state()
        finally:
            self.store.close()
