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
from yuqing.schema import BOARD_ANSWERED, BOARD_PLACE, EnrichedPost

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
