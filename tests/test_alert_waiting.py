"""The unanswered-board rule's waiting messages kept in the alert store (embedded and PostgreSQL alike), saved with
the worker's memory and offsets: its findings are those of the rule that keeps them in memory, through checkpoints,
restarts, crashes that lose what came after the last checkpoint, and a clock set back."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import orjson
import pytest

from alerts.rules.unanswered_complaints import (
    UnansweredComplaintsOptions,
    UnansweredComplaintsRule,
    WaitingMessage,
)
from alerts.store import AlertStore, RuleWaiting, WaitingChanges, WorkerMemory
from alerts.testing import T0, make_post
from stores import postgres
from yuqing.schema import BOARD_ANSWERED, BOARD_CATEGORY, BOARD_PLACE, EnrichedPost

KEY = "rule:留言未回复:0123456789ab"
LOG = "log-a"
OPTIONS = UnansweredComplaintsOptions(max_days=5, pile_up=40, group_by="place", forget_after_days=20)
PLACES = ["东关村", "西城", "南湖", "北岗", "开发区", "牡丹区"]


@pytest.fixture(params=["embedded", "postgres"])
def alert_store(request, tmp_path):
    if request.param == "embedded":
        from alerts.store import SqliteAlertStore

        store: AlertStore = SqliteAlertStore(tmp_path / "alerts.sqlite3")
    else:
        from alerts.postgres_store import PostgresAlertStore

        database = request.getfixturevalue("postgres_settings")
        postgres.setup(database)
        store = PostgresAlertStore(database)
    yield store
    store.close()


def board(post_id: str, place: str, when: datetime, answered: bool) -> EnrichedPost:
    return make_post("留言", platform="board", at=when, post_id=post_id,
                     extra={BOARD_ANSWERED: answered, BOARD_PLACE: place})


def stored_rule(store: AlertStore) -> UnansweredComplaintsRule:
    """A rule keeping its messages in the store, from the memory saved there (as the alert worker starts)."""
    rule = UnansweredComplaintsRule(OPTIONS)
    rule.keep_waiting_in(RuleWaiting(store, KEY))
    saved = store.load_memory(LOG).rules
    if KEY in saved:
        rule.recall(orjson.loads(saved[KEY]))
    return rule


def checkpoint(store: AlertStore, rule: UnansweredComplaintsRule, offset: int) -> None:
    memory = rule.memory()
    assert "waiting" not in memory  # the messages are saved apart, only those that changed
    store.save_memory(WorkerMemory({KEY: orjson.dumps(memory).decode()}, [], {("posts", 0): offset}, LOG,
                                   waiting=[WaitingChanges(KEY, *rule.waiting_changes())]))
    rule.waiting_saved()
    assert rule.waiting_changes() == ({}, False)


def test_waiting_messages_kept_in_the_store_give_the_findings_of_those_kept_in_memory(alert_store):
    """Six boards over forty days (a message every half hour, 40 % answered on first sight, revisits of older
    messages answered or not), ticked every three hours, the clock once set back a week; a checkpoint every
    other tick, a clean restart every eight days and a crash every eleven (what came after the last checkpoint is
    fed again to both rules, the one in memory restarted from its own memory of that checkpoint)."""
    rng = random.Random(11)
    in_memory = UnansweredComplaintsRule(OPTIONS)
    in_store = stored_rule(alert_store)
    checkpointed = orjson.dumps(in_memory.memory())
    since_checkpoint: list[tuple[list[EnrichedPost], datetime]] = []
    seen: list[tuple[str, str, datetime]] = []
    batch: list[EnrichedPost] = []
    findings = 0
    for step in range(40 * 48):
        now = T0 + timedelta(minutes=30 * step)
        if seen and rng.random() < 0.3:
            post_id, place, when = rng.choice(seen)
            answered = rng.random() < 0.5
        else:
            post_id, place, when, answered = f"board:{step}", rng.choice(PLACES), now, rng.random() < 0.4
            seen.append((post_id, place, when))
        batch.append(board(post_id, place, when, answered))
        if step % 6 != 5:
            continue
        tick = now - timedelta(days=7) if step == 20 * 48 + 5 else now  # the clock set back, once
        since_checkpoint.append((batch, tick))
        in_store.take_back(batch, tick)
        for post in batch:
            assert in_memory.on_post(post) == in_store.on_post(post) == []
        expected = in_memory.on_tick(tick)
        assert in_store.on_tick(tick) == expected
        findings += len(expected)
        batch = []
        if step % 12 == 11:
            checkpoint(alert_store, in_store, step)
            checkpointed, since_checkpoint = orjson.dumps(in_memory.memory()), []
        if step % (8 * 48) == 8 * 48 - 1:  # a clean restart, from the last checkpoint
            in_store = stored_rule(alert_store)
        elif step % (11 * 48) == 11 * 48 - 1:  # a crash: what came after the last checkpoint comes again
            in_store = stored_rule(alert_store)
            in_memory = UnansweredComplaintsRule(OPTIONS)
            in_memory.recall(orjson.loads(checkpointed))
            for posts, moment in since_checkpoint:
                in_store.take_back(posts, moment)
                for post in posts:
                    in_memory.on_post(post)
                    in_store.on_post(post)
                assert in_store.on_tick(moment) == in_memory.on_tick(moment)
    assert findings > 100
    checkpoint(alert_store, in_store, 40 * 48)
    saved = {m.post_id: m for m in RuleWaiting(alert_store, KEY).waiting_between(T0 - timedelta(days=1),
                                                                                    T0 + timedelta(days=41))}
    kept = orjson.loads(orjson.dumps(in_memory.memory()))["waiting"]
    assert {post_id: [list(m.subject), m.since.isoformat()] for post_id, m in saved.items()} == \
        {post_id: entry[:2] for post_id, entry in kept.items()}
    assert alert_store.load_memory(LOG).offsets == {("posts", 0): 40 * 48}


def test_a_rule_that_starts_afresh_drops_what_the_store_kept_under_its_key(alert_store):
    """A rule whose memory is gone (or unreadable) must not count messages saved with that memory."""
    old = WaitingMessage("board:old", ("place", "西城"), T0, 0)
    alert_store.save_memory(WorkerMemory({KEY: "not the rule's memory"}, [], {}, LOG,
                                         waiting=[WaitingChanges(KEY, {"board:old": old})]))
    assert RuleWaiting(alert_store, KEY).waiting_by_id(["board:old"]) == [old]
    rule = UnansweredComplaintsRule(OPTIONS)
    rule.keep_waiting_in(RuleWaiting(alert_store, KEY))  # nothing recalled
    rule.on_post(board("board:old", "西城", T0, answered=True))  # not waiting, as far as this rule knows
    rule.on_post(board("board:new", "西城", T0 + timedelta(days=1), answered=False))
    [finding] = rule.on_tick(T0 + timedelta(days=7))
    assert finding.post_ids == ("board:new",)
    checkpoint(alert_store, rule, 1)
    assert [entry[2] for entry in RuleWaiting(alert_store, KEY).waiting_about(("place", "西城"))] == ["board:new"]


def test_the_messages_of_a_rule_no_longer_in_the_rules_file_are_dropped(alert_store):
    message = WaitingMessage("board:1", ("place", "西城"), T0, 0)
    alert_store.save_state({KEY: "{}"}, [WaitingChanges(KEY, {"board:1": message})])
    assert RuleWaiting(alert_store, KEY).waiting_by_id(["board:1"]) == [message]
    alert_store.save_state({"rule:another:0123456789ab": "{}"})
    assert RuleWaiting(alert_store, KEY).waiting_by_id(["board:1"]) == []


class CountingArchive:
    """The rule's messages in the store, counting the rows its reads bring back: all of them, and those of the
    subjects' lists."""

    def __init__(self, store: AlertStore) -> None:
        self.kept = RuleWaiting(store, KEY)
        self.rows = self.list_rows = 0

    def waiting_by_id(self, post_ids):
        found = self.kept.waiting_by_id(post_ids)
        self.rows += len(found)
        return found

    def waiting_between(self, start, end):
        found = self.kept.waiting_between(start, end)
        self.rows += len(found)
        return found

    def waiting_about(self, subject, order="oldest", limit=None):
        found = self.kept.waiting_about(subject, order, limit)
        self.rows += len(found)
        self.list_rows += len(found)
        return found


BATCHES = 48


def rows_read(store: AlertStore, days: int) -> tuple[int, int, int]:
    """A rule holding `days` of unanswered messages on every board (twelve a day each, in the store), then fed two
    days of hourly batches (a new message on every board, a tick that reports every board, a checkpoint every other
    batch): the rows it read from the store after the first two batches (all, and of the subjects' lists), and how
    many messages its findings named."""
    rule = UnansweredComplaintsRule(OPTIONS.model_copy(update={"pile_up": 1, "forget_after_days": days + 10}))
    archive = CountingArchive(store)
    rule.keep_waiting_in(archive)
    start = T0 - timedelta(days=days)
    for number in range(days * 12 * len(PLACES)):
        when = start + timedelta(hours=2 * (number // len(PLACES)))
        rule.on_post(board(f"board:old{number}", PLACES[number % len(PLACES)], when, answered=False))
    rule.on_tick(T0)
    checkpoint(store, rule, 0)
    named = 0
    for number in range(BATCHES):
        now = T0 + timedelta(hours=number + 1)
        batch = [board(f"board:new{number}-{place}", place, now, answered=False) for place in PLACES]
        rule.take_back(batch, now)
        for post in batch:
            rule.on_post(post)
        if number == 2:
            archive.rows = archive.list_rows = 0  # the first batches read each board's list once
        findings = rule.on_tick(now)
        assert len(findings) == len(PLACES)
        named += sum(len(finding.post_ids) for finding in findings)
        if number % 2:
            checkpoint(store, rule, number)
    return archive.rows, archive.list_rows, named


def test_a_tick_reads_from_the_store_what_changed_not_the_month_that_waits(tmp_path):
    """Every board reported at every tick names all its waiting messages; the rows read from the store for that
    follow the batch (its new messages, those that turned overdue), not the days of messages waiting."""
    from alerts.store import SqliteAlertStore

    stores = {days: SqliteAlertStore(tmp_path / f"{days}.sqlite3") for days in (2, 20)}
    (_, short_list_rows, short_named), (long_rows, long_list_rows, long_named) = (
        rows_read(store, days) for days, store in stores.items())
    for store in stores.values():
        store.close()
    assert long_named > 5 * short_named  # the findings name many times the messages...
    assert long_list_rows == short_list_rows  # ...without reading the boards' lists again
    assert long_rows / (BATCHES - 3) < long_named / BATCHES / 20  # a batch reads a small part of what it names


def test_the_lists_read_from_the_store_are_held_for_the_subjects_of_the_last_tick_only(tmp_path):
    """A new message every hour on one board in turn, each board reported when it gets one: after a tick the rule
    holds the lists read from the store (a month of messages each) of the boards that tick reported, not those of
    every board it ever reported (they made the worker grow with the month that waits)."""
    from alerts.store import SqliteAlertStore

    store = SqliteAlertStore(tmp_path / "alerts.sqlite3")
    rule = UnansweredComplaintsRule(OPTIONS.model_copy(update={"pile_up": 1}))
    rule.keep_waiting_in(RuleWaiting(store, KEY))
    for number in range(4 * len(PLACES)):
        now = T0 + timedelta(hours=number)
        place = PLACES[number % len(PLACES)]
        batch = [board(f"board:{number}", place, now, answered=False)]
        rule.take_back(batch, now)
        rule.on_post(batch[0])
        assert [finding.subject_id for finding in rule.on_tick(now)] == [place]
        checkpoint(store, rule, number)
        if number:  # (the first tick finds the store holding none of this rule's messages: it reads no list)
            assert list(rule._waiting._newest) == [("place", place)]
    store.close()


def test_findings_name_the_newest_and_what_the_links_know_and_alerts_stay_those_of_all(tmp_path):
    """Two boards holding 2,600 unanswered messages (more than a finding names), two new ones on each every two hours
    for thirty days, old ones revisited (now linking a policy) or answered; the engine keeps them in the store,
    checkpoints every third batch and restarts from the store on day 15. Its findings name at most the newest
    NAMED_NEWEST and the messages its policy links know, and it holds at most HELD_NEWEST of a subject read from the
    store; its findings' subjects (resolved by the links: a board of old messages revisited becomes the policy's),
    titles and order, and its alerts' posts, are those of an engine whose findings name every waiting message."""
    from alerts.config import parse_alert_config
    from alerts.engine import AlertEngine
    from alerts.rules.unanswered_complaints import HELD_NEWEST, NAMED_NEWEST
    from alerts.store import SqliteAlertStore

    config = parse_alert_config({"rules": [{"name": "留言未回复", "type": "unanswered_complaints", "options": {
        "max_days": 5, "pile_up": 1, "group_by": "place", "forget_after_days": 30, "categories": ["城建"]}}]})
    store = SqliteAlertStore(tmp_path / "alerts.sqlite3")

    def started() -> AlertEngine:
        engine = AlertEngine(config)
        engine.keep_waiting_in(store)
        engine.restore(store.load_memory(LOG).rules)
        return engine

    kept, naming_all = started(), AlertEngine(config)
    [(_, rule_naming_all)] = naming_all._waiting_rules
    rule_naming_all._seen = None  # it names every waiting message, as findings did before
    places, rng = PLACES[:2], random.Random(7)
    start = T0 - timedelta(days=20)
    old = [board(f"board:old{n}", places[n % 2], start + timedelta(minutes=rng.randrange(20 * 24 * 60)), False)
           for n in range(2600)]
    batches = [old] + [[board(f"board:{day}-{hour}-{n}", place, T0 + timedelta(days=day, hours=hour), False)
                        for place in places for n in range(2)] for day in range(30) for hour in range(0, 24, 2)]
    for post in (post for batch in batches for post in batch):
        post.extra[BOARD_CATEGORY] = "城建"
    alerts: dict[str, tuple] = {}
    resolved = named_fewer = 0  # findings resolved to the policy by the links; naming fewer than all
    for number, batch in enumerate(batches):
        now = max(post.when for post in batch)
        if number:
            for post in rng.sample(old, 10):  # revisited: unanswered (now linking a policy, maybe filed elsewhere),
                linking = rng.random() < 0.8  # or answered
                category = rng.choice(["城建", "其他"]) if linking else "城建"
                batch.append(post.model_copy(update={"policies": make_post(policies=["P-old"]).policies, "extra": {
                    **post.extra, BOARD_ANSWERED: not linking, BOARD_CATEGORY: category}}))
        if number == 15 * 12:
            kept = started()
        kept.take_back(batch, now)
        found, expected = kept.evaluate(batch, [], [], now), naming_all.evaluate(batch, [], [], now)
        [(_, rule)] = kept._waiting_rules
        held = rule._seen or {}
        for (spec, finding), (_, reference) in zip(found, expected, strict=True):
            assert (finding.subject_kind, finding.subject_id, finding.title, finding.summary, finding.evidence) == (
                reference.subject_kind, reference.subject_id, reference.title, reference.summary, reference.evidence)
            seen = len(held.get(("place", reference.evidence.get("via", f"place:{finding.subject_id}")[6:]), {}))
            assert len(finding.post_ids) <= NAMED_NEWEST + seen
            resolved += finding.subject_kind == "policy"
            named_fewer += len(finding.post_ids) < len(reference.post_ids)
            key = kept.group_key(spec, finding)
            existing, existing_reference = alerts.get(key, (None, None))
            outcome = kept.merge(spec, finding, existing, now)
            outcome_reference = naming_all.merge(spec, reference, existing_reference, now)
            assert outcome is not None and outcome_reference is not None
            assert outcome.alert.post_ids == outcome_reference.alert.post_ids
            alerts[key] = (outcome.alert, outcome_reference.alert)
        assert all(len(newest.entries) <= HELD_NEWEST for newest in rule._waiting._newest.values())
        if number % 3 == 2:  # (the last batch before the restart among them)
            store.save_memory(WorkerMemory(kept.snapshot(), [], {("posts", 0): number}, LOG,
                                           waiting=kept.waiting_changes()))
            kept.memory_saved()
    assert resolved and named_fewer
    store.close()
