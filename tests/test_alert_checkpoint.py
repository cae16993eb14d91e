"""The alert worker's memory (rules, burst counts) is saved with the offsets it includes, before those are
committed: killed at any moment it loses nothing, and a redelivered message is never counted twice."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.config import parse_alert_config
from alerts.service import AlertService
from alerts.store import AlertStore, MemoryTaken, MemoryWriter, WorkerMemory
from alerts.testing import make_post
from analysis.bursts import BurstTracker
from transport import CRAWL_HEALTH, ENRICHED_POSTS, EVENTS
from transport.sqlite_log import SqliteTransport
from workers.stages import AlertStage, HalfAppliedBatch
from yuqing.errors import BackendUnavailable
from yuqing.schema import SHANGHAI

RULES = {"channels": [{"name": "local_file", "type": "file"}],
         "rules": [{"name": "跨平台扩散", "type": "cross_platform", "options": {"min_platforms": 3}}]}
TOPICS = [ENRICHED_POSTS, EVENTS, CRAWL_HEALTH]


def start_worker(open_store: Callable[[], AlertStore], log: SqliteTransport) -> AlertStage:
    """A fresh alert worker process: everything it knows comes from the store."""
    config = parse_alert_config(RULES)
    service = AlertService(config, open_store(), {}, rules_writer=True)
    return AlertStage(service, BurstTracker([], min_count=1), deliver=False, log=log.identity(), checkpoint_every=0)


def counted(stage: AlertStage) -> int:
    """Posts the burst counts hold for the incident's event."""
    signals = stage.bursts.signals(datetime.now(SHANGHAI))
    return max((s.count for s in signals if (s.subject_kind, s.subject_id) == ("event", "E-1")), default=0)


def writing_worker(open_store: Callable[[], AlertStore], log: SqliteTransport, writer: MemoryWriter,
                   service: AlertService | None = None) -> AlertStage:
    """An alert worker that writes the rules' memory as `writer` (with `service`, one built earlier)."""
    service = service or AlertService(parse_alert_config(RULES), open_store(), {}, rules_writer=True)
    return AlertStage(service, BurstTracker([]), deliver=False, log=log.identity(), writer=writer)


def dead_pid() -> int:
    """The pid of a process that has exited."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def test_a_kill_at_any_moment_loses_nothing_and_counts_nothing_twice(tmp_path: Path, open_alert_store):
    log = SqliteTransport(tmp_path / "transport.sqlite3")
    start = datetime.now(SHANGHAI) - timedelta(minutes=30)
    for n in range(12):
        post = make_post(f"化肥厂家属院停工{n}", event="E-1", platform=["weibo", "news", "forum"][n % 3],
                         at=start + timedelta(minutes=n))
        log.publish(ENRICHED_POSTS, post.model_dump(mode="json"), key="E-1")  # one partition, in order

    first = start_worker(open_alert_store, log)
    consumer = log.consumer("yuqing-alert", TOPICS)
    batch = consumer.poll(4, 0.2)
    first.process(batch)
    consumer.commit(first.committable(batch))  # checkpoint, then commit
    first.process(consumer.poll(4, 0.2))  # ... and killed before the next checkpoint
    consumer.close()  # its uncommitted messages go back to the group

    second = start_worker(open_alert_store, log)
    assert counted(second) == 4  # what the checkpoint held; the next 4 were never saved
    consumer = log.consumer("yuqing-alert", TOPICS)
    batch = consumer.poll(8, 0.2)
    assert len(batch) == 8  # the 4 lost with the kill come again, then 4 new
    second.process(batch)
    assert counted(second) == 12  # every post once
    second.checkpoint()  # saved ... and killed before the commit
    consumer.close()

    third = start_worker(open_alert_store, log)
    consumer = log.consumer("yuqing-alert", TOPICS)
    again = consumer.poll(100, 0.2)
    assert len(again) == 8  # delivered again: the commit never happened
    third.process(again)
    assert counted(third) == 12  # already in the memory: skipped, not counted twice
    consumer.commit(third.committable(again))
    consumer.close()
    [alert] = third.service.store.alerts()  # the incident crossed 3 platforms once: one alert
    assert alert.group_key == "event:E-1"
    log.close()



class Killed(BaseException):
    """The process dies here: nothing after it runs, and what it had not committed is rolled back."""


def test_a_kill_while_a_batch_is_stored_stores_none_of_it_and_the_restart_stores_each_finding_once(
        tmp_path: Path, open_alert_store, monkeypatch):
    log = SqliteTransport(tmp_path / "transport.sqlite3")
    start = datetime.now(SHANGHAI) - timedelta(minutes=30)
    for event in ("E-1", "E-2"):  # two incidents cross 3 platforms in one batch: two alerts
        for n, platform in enumerate(["weibo", "news", "forum"]):
            post = make_post(f"化肥厂家属院停工{event}{n}", event=event, platform=platform, at=start + timedelta(minutes=n))
            log.publish(ENRICHED_POSTS, post.model_dump(mode="json"), key="E-1")  # one partition, in order

    first = start_worker(open_alert_store, log)
    store = first.service.store
    record, recorded = store._record, set()

    def killed_at_the_second_alert(conn, alert, *rest):
        recorded.add(alert.id)
        if len(recorded) == 2:
            raise Killed
        record(conn, alert, *rest)

    monkeypatch.setattr(store, "_record", killed_at_the_second_alert)
    consumer = log.consumer("yuqing-alert", TOPICS)
    with pytest.raises(Killed):
        first.process(consumer.poll(6, 0.2))
    consumer.close()  # its uncommitted messages go back to the group
    assert open_alert_store().alerts() == []  # the batch's findings are stored together or not at all

    second = start_worker(open_alert_store, log)
    consumer = log.consumer("yuqing-alert", TOPICS)
    batch = consumer.poll(100, 0.2)
    second.process(batch)
    consumer.commit(second.committable(batch))
    alerts = second.service.store.alerts()
    assert sorted(alert.group_key for alert in alerts) == ["event:E-1", "event:E-2"]
    for alert in alerts:  # each finding once: fired, never updated by its own finding again
        assert alert.updates == 0
        assert [entry.action for entry in second.service.store.history(alert.id)] == ["fired"]
    log.close()


@pytest.mark.parametrize("with_the_next", [False, True], ids=["alone", "with-the-next"])
def test_a_kill_after_a_batch_is_stored_and_before_its_checkpoint_applies_none_of_its_findings_twice(
        tmp_path: Path, open_alert_store, monkeypatch, with_the_next: bool):
    """A batch's findings are stored at once, its offsets only with the next checkpoint: a worker killed in between is
    started again from the checkpoint before, and takes the batch again, alone or in one batch with the next message.
    Its findings, stored already, must not update their alerts a second time (an extra audit entry, a doubled update
    count, messages queued again); the next message's finding about the same alert is stored."""
    import workers.stages as stages

    start = datetime.now(SHANGHAI) - timedelta(minutes=30)
    monkeypatch.setattr(stages, "now", lambda: start + timedelta(minutes=20))  # the same clock with or without a kill
    posts = [make_post(f"化肥厂家属院停工{n}", event="E-1", platform=["weibo", "news", "forum"][n % 3],
                       at=start + timedelta(minutes=n)) for n in range(5)]

    def stored(store: AlertStore) -> list[tuple]:
        return [(alert.id, alert.updates, [(entry.action, entry.times) for entry in store.history(alert.id)],
                 len(store.outbox(alert.id))) for alert in store.alerts()]

    def one_round(stage: AlertStage, consumer, size: int, checkpoint: bool) -> None:
        batch = consumer.poll(size, 0.2)
        assert len(batch) == size
        stage.process(batch)
        if checkpoint:
            stage.checkpoint()
            consumer.commit(batch)

    expected_log = SqliteTransport(tmp_path / "expected.sqlite3")
    killed_log = SqliteTransport(tmp_path / "transport.sqlite3")
    for log in (expected_log, killed_log):
        for post in posts:
            log.publish(ENRICHED_POSTS, post.model_dump(mode="json"), key="E-1")  # one partition, in order

    # Without a kill: the incident fires with its first 3 posts, then each later batch updates it.
    from alerts.store import SqliteAlertStore

    unkilled = SqliteAlertStore(tmp_path / "unkilled.sqlite3")
    worker = start_worker(lambda: unkilled, expected_log)
    consumer = expected_log.consumer("yuqing-alert", TOPICS)
    for size in (3, 1, 1):
        one_round(worker, consumer, size, checkpoint=True)
    consumer.close()
    expected = stored(unkilled)
    assert [updates for _, updates, _, _ in expected] == [2]

    first = start_worker(open_alert_store, killed_log)
    consumer = killed_log.consumer("yuqing-alert", TOPICS)
    one_round(first, consumer, 3, checkpoint=True)
    one_round(first, consumer, 1, checkpoint=False)  # its findings stored ... and killed before the checkpoint
    consumer.close()
    second = start_worker(open_alert_store, killed_log)
    consumer = killed_log.consumer("yuqing-alert", TOPICS)
    if with_the_next:  # the killed batch again, its finding in the alert already, and a new message in one batch
        one_round(second, consumer, 2, checkpoint=True)
    else:
        one_round(second, consumer, 1, checkpoint=False)
        one_round(second, consumer, 1, checkpoint=True)
    consumer.close()
    assert stored(second.service.store) == expected
    unkilled.close()
    for log in (expected_log, killed_log):
        log.close()


def test_a_store_down_while_a_batch_is_stored_loses_none_of_its_findings(tmp_path: Path, open_alert_store,
                                                                           monkeypatch):
    """The runner keeps a worker whose backend is down and delivers the batch again. The alert worker had counted it
    already: going on, it would skip the batch and save that count, and the findings would be lost. It stops instead,
    and the one started again from its last checkpoint stores them."""
    log = SqliteTransport(tmp_path / "transport.sqlite3")
    start = datetime.now(SHANGHAI) - timedelta(minutes=30)
    for n, platform in enumerate(["weibo", "news", "forum"]):  # an incident crosses 3 platforms: one alert
        post = make_post(f"化肥厂家属院停工{n}", event="E-1", platform=platform, at=start + timedelta(minutes=n))
        log.publish(ENRICHED_POSTS, post.model_dump(mode="json"), key="E-1")

    def one_round(stage: AlertStage) -> None:
        """What the runner does with a batch; a stage that must stop has its last checkpoint committed on the way."""
        consumer = log.consumer("yuqing-alert", TOPICS)
        batch = consumer.poll(10, 0.2)
        try:
            stage.process(batch)
            consumer.commit(stage.committable(batch))
        except HalfAppliedBatch:
            consumer.commit(stage.checkpoint())
            raise
        finally:
            consumer.close()

    first = start_worker(open_alert_store, log)
    store = first.service.store
    record = store._record

    def down(*args):
        raise BackendUnavailable("the alert store is down")

    monkeypatch.setattr(store, "_record", down)
    with pytest.raises(Exception):  # noqa: B017 - whichever error: the runner keeps the worker on a store outage
        one_round(first)
    monkeypatch.setattr(store, "_record", record)  # the store is back; the same worker gets the batch again
    with pytest.raises(HalfAppliedBatch):
        one_round(first)
    assert store.alerts() == []

    one_round(start_worker(open_alert_store, log))
    assert [alert.group_key for alert in open_alert_store().alerts()] == ["event:E-1"]
    log.close()


def test_a_checkpoint_writes_the_burst_subjects_that_changed_and_a_restart_has_them_all(tmp_path: Path,
                                                                                       open_alert_store):
    """The memory of a city's 15 days (hundreds of thousands of events) is not rewritten every 2 seconds: a
    checkpoint saves the subjects its posts touched; a restarted worker still gets every subject back."""
    log = SqliteTransport(tmp_path / "transport.sqlite3")
    start = datetime.now(SHANGHAI) - timedelta(minutes=30)
    for n in range(200):
        log.publish(ENRICHED_POSTS, make_post(f"各不相干的事{n}", event=f"E-{n}", at=start).model_dump(mode="json"))
    log.publish(ENRICHED_POSTS, make_post("又一条", event="E-7", at=start + timedelta(minutes=1)).model_dump(mode="json"))
    first = start_worker(open_alert_store, log)
    written: list[int] = []
    save = first.service.store.save_memory

    def counted_save(memory: WorkerMemory, *args) -> None:
        records = list(memory.bursts)  # made as they are read (`BurstTracker.changes`): read once, then saved
        written.append(len(records))
        save(replace(memory, bursts=records), *args)

    first.service.store.save_memory = counted_save  # type: ignore[method-assign]
    consumer = log.consumer("yuqing-alert", TOPICS)
    for size in (200, 1):
        batch = consumer.poll(size, 0.2)
        first.process(batch)
        first.checkpoint()
        consumer.commit(batch)
    assert written == [200, 1]
    consumer.close()
    second = start_worker(open_alert_store, log)
    assert {s.subject_id: s.count for s in second.bursts.signals(datetime.now(SHANGHAI))} == \
        {f"E-{n}": 2 if n == 7 else 1 for n in range(200)}
    log.close()


def test_checkpoints_come_less_often_when_they_cost_more(tmp_path: Path, open_alert_store, monkeypatch):
    """The rules' memory is still saved whole: a checkpoint that took C seconds of CPU is followed by the next one
    no sooner than CHECKPOINT_SHARE * C later, so saving never takes over the worker."""
    import workers.stages as stages

    log = SqliteTransport(tmp_path / "transport.sqlite3")
    log.publish(ENRICHED_POSTS, make_post("一条", event="E-1").model_dump(mode="json"))
    worker = start_worker(open_alert_store, log)  # checkpoint_every=0: every batch, while checkpoints are cheap
    clock = [1000.0]
    monkeypatch.setattr(stages.time, "monotonic", lambda: clock[0])
    consumer = log.consumer("yuqing-alert", TOPICS)
    batch = consumer.poll(1, 0.2)
    worker.process(batch)
    worker._checkpoint_cost = 0.5  # as if the last checkpoint had taken half a second of CPU
    worker._checkpointed_at = clock[0]
    clock[0] += 4.9
    assert worker.committable(batch) == []
    clock[0] += 0.1
    assert worker.committable([]) == batch
    consumer.close()
    log.close()

def test_checkpoints_while_busy_take_their_share_of_the_workers_cpu_not_of_the_clock(tmp_path: Path,
                                                                                      open_alert_store, monkeypatch):
    """On a busy machine ten seconds of the clock may be one of the worker's CPU: a checkpoint that took half a
    second waits for five of the worker's CPU seconds while it works (they took half its CPU), and comes at the
    first empty poll."""
    import workers.stages as stages

    log = SqliteTransport(tmp_path / "transport.sqlite3")
    log.publish(ENRICHED_POSTS, make_post("一条", event="E-1").model_dump(mode="json"))
    worker = start_worker(open_alert_store, log)
    clock, cpu = [1000.0], [50.0]
    monkeypatch.setattr(stages.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(stages.time, "process_time", lambda: cpu[0])
    consumer = log.consumer("yuqing-alert", TOPICS)
    batch = consumer.poll(1, 0.2)
    worker.process(batch)
    worker._checkpoint_cost, worker._checkpointed_at, worker._checkpointed_cpu = 0.5, clock[0], cpu[0]
    clock[0] += 10
    cpu[0] += 1
    assert worker.committable(batch) == []  # busy: 1 s of CPU since the last
    cpu[0] += 4
    assert worker.committable([]) == batch
    worker._checkpoint_cost = 0.5  # (the frozen CPU clock measured that one as free)
    clock[0] += 10
    assert worker.committable(batch) == []  # busy again, and no CPU spent since
    assert worker.committable([]) == batch  # idle: saves whatever the CPU
    consumer.close()
    log.close()


def test_the_memory_has_one_writer_and_a_killed_one_is_replaced_at_once(tmp_path: Path, open_alert_store):
    log = SqliteTransport(tmp_path / "transport.sqlite3")

    def worker(writer: MemoryWriter) -> AlertStage:
        return writing_worker(open_alert_store, log, writer)

    host = socket.gethostname()
    gone = dead_pid()
    killed = worker(MemoryWriter(host, gone, "killed"))  # holds the memory ... and its process is gone
    assert killed.service.store.memory_holder() == MemoryWriter(host, gone, "killed")
    replacement = worker(MemoryWriter(host, os.getpid(), "replacement"))  # taken over at once, no lease wait
    assert replacement.service.store.memory_holder() == MemoryWriter(host, os.getpid(), "replacement")
    with pytest.raises(MemoryTaken, match=f"pid {os.getpid()}"):
        worker(MemoryWriter(host, os.getpid(), "second"))  # the replacement is alive: no second writer
    with pytest.raises(MemoryTaken):
        killed.checkpoint()  # (were it still running) its copy is stale: it must not write it back
    replacement.checkpoint()
    log.close()


def test_a_cleanly_stopped_writer_hands_over_at_once(tmp_path: Path, open_alert_store):
    log = SqliteTransport(tmp_path / "transport.sqlite3")

    def worker(writer: MemoryWriter) -> AlertStage:
        return writing_worker(open_alert_store, log, writer)

    worker(MemoryWriter("other-host", 1, "stopping")).close()  # on another host: no pid to look at
    worker(MemoryWriter("this-host", 2, "next")).close()  # not kept waiting for the 30 s lease
    log.close()


def test_a_standby_built_before_the_last_checkpoint_starts_from_that_checkpoint(tmp_path: Path, open_alert_store):
    log = SqliteTransport(tmp_path / "transport.sqlite3")
    host = socket.gethostname()
    active = writing_worker(open_alert_store, log, MemoryWriter(host, dead_pid(), "active"))
    # The standby builds its service (reading the rules' memory) while the active worker is still at work ...
    standby_service = AlertService(parse_alert_config(RULES), open_alert_store(), {}, rules_writer=True)
    moment = datetime.now(SHANGHAI)
    posts = [make_post("小区停水", platform=platform, event="E-1", at=moment - timedelta(minutes=n), post_id=f"p{n}")
             for n, platform in enumerate(("weibo", "news"))]
    active.service.process(posts, [], [], moment)
    active.checkpoint()  # ... which saves once more, then dies (its pid is gone): the standby takes the memory
    assert standby_service.engine.snapshot() != active.service.engine.snapshot()  # what it read is stale
    standby = writing_worker(open_alert_store, log, MemoryWriter(host, os.getpid(), "standby"), standby_service)
    assert standby.service.engine.snapshot() == active.service.engine.snapshot()
    log.close()


def test_a_checkpoint_writes_the_policy_links_of_the_current_generation_and_a_restart_has_them_all(
        tmp_path: Path, open_alert_store):
    """The learnt policy links hold every post of the last two days (200,000 at a city's volume); only the current
    generation takes posts, so a checkpoint writes its posts, not the two days' (it wrote them all every time)."""
    import orjson

    from alerts.engine import LINKS_POSTS_KEY

    log = SqliteTransport(tmp_path / "transport.sqlite3")
    first = start_worker(open_alert_store, log)
    written: list[int] = []
    save = first.service.store.save_memory

    def counted_save(memory: WorkerMemory, *args) -> None:
        written.append(sum(len(text) for text in memory.rules.values() if text is not None))
        save(memory, *args)

    first.service.store.save_memory = counted_save  # type: ignore[method-assign]
    start = datetime(2026, 12, 1, tzinfo=SHANGHAI)
    for hour in range(72):  # three days, a batch an hour, a checkpoint after each
        moment = start + timedelta(hours=hour)
        posts = [make_post(f"各不相干的事{hour}-{n}", policies=["P-heat"] if n % 3 == 0 else [], post_id=f"p{hour}-{n}",
                           at=moment) for n in range(30)]
        first.service.process(posts, [], [], moment)
        first.checkpoint()
    links = orjson.dumps(first.service.engine.links.to_json())
    assert len(links) > 48 * 30 * 15  # two days of posts held
    assert max(written[48:]) < len(links) / 4  # a checkpoint: the current generation's 6 hours and small things
    saved_apart = [key for key in first.service.store.load_state() if key.startswith(LINKS_POSTS_KEY)]
    assert len(saved_apart) == len(first.service.engine.links.to_json()["generations"])  # the dropped ones deleted
    second = start_worker(open_alert_store, log)
    assert orjson.dumps(second.service.engine.links.to_json()) == links
    log.close()
