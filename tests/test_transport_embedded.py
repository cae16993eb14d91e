"""The embedded log behaves like a Kafka topic with consumer groups: shared work, resume, redelivery."""

import multiprocessing as mp

import pytest

from transport.sqlite_log import SqliteTransport, partition_for


@pytest.fixture
def log(tmp_path):
    transport = SqliteTransport(tmp_path / "log.sqlite3", partitions=4, session_timeout=1.0)
    yield transport
    transport.close()


def fill(transport, n, topic="posts.raw"):
    transport.publish_many(topic, [(f"k{i}", {"i": i}) for i in range(n)])


def drain(consumer, rounds=5):
    seen = []
    for _ in range(rounds):
        batch = consumer.poll(1000, 0.05)
        seen.extend(batch)
        consumer.commit(batch)
    return seen


def test_same_key_same_partition_and_order(log):
    for i in range(10):
        log.publish("t", {"i": i}, key="same")
    with log.consumer("g", ["t"]) as consumer:
        values = [m.value["i"] for m in consumer.poll(100, 0.1)]
    assert values == list(range(10))
    assert partition_for("same", 4) == partition_for("same", 4)


def test_two_consumers_in_one_group_share_the_work(log):
    fill(log, 200)
    a = log.consumer("g", ["posts.raw"], member="a")
    b = log.consumer("g", ["posts.raw"], member="b")
    a.poll(0, 0.01)
    b.poll(0, 0.01)
    a.poll(0, 0.01)  # a gives back what is above its share now that b is alive
    got_a = drain(a)
    got_b = drain(b)
    ids_a = {m.value["i"] for m in got_a}
    ids_b = {m.value["i"] for m in got_b}
    assert ids_a and ids_b, "both members got work"
    assert ids_a.isdisjoint(ids_b)
    assert ids_a | ids_b == set(range(200))
    a.close()
    b.close()


def test_other_group_reads_everything_independently(log):
    fill(log, 30)
    with log.consumer("g1", ["posts.raw"]) as one, log.consumer("g2", ["posts.raw"]) as two:
        assert len(drain(one)) == 30
        assert len(drain(two)) == 30


def test_restart_resumes_from_committed_offset(log):
    fill(log, 50)
    with log.consumer("g", ["posts.raw"]) as first:
        batch = first.poll(20, 0.1)
        first.commit(batch)
        committed = {m.value["i"] for m in batch}
    fill_more = [(f"n{i}", {"i": 100 + i}) for i in range(5)]
    log.publish_many("posts.raw", fill_more)
    with log.consumer("g", ["posts.raw"]) as second:
        rest = {m.value["i"] for m in drain(second)}
    assert committed.isdisjoint(rest)
    assert committed | rest == set(range(50)) | {100 + i for i in range(5)}


def _crash_before_commit(path):
    transport = SqliteTransport(path, partitions=4, session_timeout=1.0)
    consumer = transport.consumer("g", ["posts.raw"], member="doomed")
    assert consumer.poll(1000, 0.5)
    import os

    os._exit(1)  # die holding leases and without committing


def test_crash_before_commit_redelivers(log, tmp_path):
    fill(log, 40)
    proc = mp.get_context("spawn").Process(target=_crash_before_commit, args=(log.path,))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 1
    with log.consumer("g", ["posts.raw"], member="heir") as heir:
        got = []
        for _ in range(40):  # the dead member's leases expire after the session timeout
            got.extend(heir.poll(1000, 0.1))
            if len(got) >= 40:
                break
    assert sorted(m.value["i"] for m in got) == list(range(40))


def test_stats_report_counts_and_lag(log):
    fill(log, 12)
    with log.consumer("g", ["posts.raw"]) as consumer:
        batch = consumer.poll(5, 0.1)
        consumer.commit(batch)
    (stats,) = log.stats()
    assert stats.topic == "posts.raw" and stats.messages == 12
    assert stats.lag == {"g": 12 - len(batch)}


def test_member_that_lost_a_partition_cannot_move_its_offset(log):
    fill(log, 10)
    old = log.consumer("g", ["posts.raw"], member="old")
    batch = old.poll(100, 0.1)
    log._conn.execute("DELETE FROM leases")  # as if its session had expired and another took over
    old.commit(batch)
    (stats,) = log.stats()
    assert stats.lag.get("g", 10) == 10
    old.close()


def test_a_group_that_has_not_joined_yet_lags_by_the_whole_log(log):
    fill(log, 12)
    stats = {s.topic: s for s in log.stats(expected={"yuqing-analyze": ["posts.raw"], "yuqing-index": ["events"]})}
    assert stats["posts.raw"].lag == {"yuqing-analyze": 12}  # nobody joined: all 12 wait, not 0
    assert stats["posts.raw"].messages == 12
    assert "events" not in stats or stats["events"].lag == {"yuqing-index": 0}
