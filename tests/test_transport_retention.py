"""Retention of the embedded log: what every reader has committed and is old enough is freed, nothing else."""

import time

from transport.sqlite_log import SqliteTransport
from workers.runner import Stage, Worker, run_per_message

WEEK = 7 * 86400


def rows(transport, topic):
    return transport._conn.execute("SELECT COUNT(*) FROM messages WHERE topic=?", (topic,)).fetchone()[0]


def read_all(transport, group, topic):
    got = []
    with transport.consumer(group, [topic]) as consumer:
        for _ in range(20):
            batch = consumer.poll(1000, 0.02)
            if not batch:
                break
            got.extend(batch)
            consumer.commit(batch)
    return got


def test_prune_frees_only_what_every_group_committed_and_retention_allows(tmp_path):
    log = SqliteTransport(tmp_path / "log.sqlite3", partitions=1, retention_seconds=WEEK)
    log.publish_many("posts.raw", [(None, {"i": i}) for i in range(10)])
    assert len(read_all(log, "fast", "posts.raw")) == 10
    with log.consumer("slow", ["posts.raw"]) as slow:
        slow.commit(slow.poll(4, 0.05))  # the slow group is at offset 4

    assert log.prune() == 0, "a week has not passed"
    later = time.time() + WEEK + 1
    assert log.prune(now=later) == 4, "only what the slowest group committed"
    assert rows(log, "posts.raw") == 6

    assert len(read_all(log, "slow", "posts.raw")) == 6, "the slow group still gets the rest"
    assert log.prune(now=later) == 5, "everything but the newest message, which numbers the next"
    log.publish("posts.raw", {"i": 10})
    (stats,) = log.stats()
    assert stats.messages == 2, "what the log still holds: the kept newest and the new one"
    assert stats.lag == {"fast": 1, "slow": 1}
    (newest,) = read_all(log, "fast", "posts.raw")
    assert newest.offset == 10 and newest.value == {"i": 10}
    log.close()


def test_topics_nobody_reads_are_kept(tmp_path):
    log = SqliteTransport(tmp_path / "log.sqlite3", partitions=1, retention_seconds=0)
    log.publish_many("posts.raw.dlq", [(None, {"i": i}) for i in range(5)])
    assert log.prune(now=time.time() + 1) == 0
    assert rows(log, "posts.raw.dlq") == 5
    log.close()


def test_disk_stays_flat_when_messages_are_read_and_freed(tmp_path):
    path = tmp_path / "log.sqlite3"
    log = SqliteTransport(path, partitions=2, retention_seconds=0)
    body = "某小区停水三天，居民反映情况。" * 40
    sizes = []
    for round_ in range(6):
        log.publish_many("posts.raw", [(str(i), {"round": round_, "i": i, "text": body}) for i in range(500)])
        read_all(log, "analyze", "posts.raw")
        log.prune(now=time.time() + 1)
        log._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes.append(path.stat().st_size)
    # Freed pages are reused: after the first rounds the file no longer grows with the traffic.
    assert sizes[-1] <= sizes[1] * 1.1, sizes
    log.close()


class Passing(Stage):
    name = "test"
    topics = ("in",)

    def process(self, messages):
        return run_per_message(messages, lambda m: m.value)[1]


def test_workers_prune_as_they_go(tmp_path):
    log = SqliteTransport(tmp_path / "log.sqlite3", partitions=1, retention_seconds=0)
    log.publish_many("in", [(None, {"i": i}) for i in range(50)])
    time.sleep(0.01)  # every message is older than the (zero) retention
    outcomes = Worker(log, Passing(), poll_timeout=0.05).run(until_idle=True)
    assert outcomes["processed"] == 50
    assert outcomes["pruned"] == 49
    assert rows(log, "in") == 1
    log.close()


def test_a_group_that_joined_keeps_what_it_has_not_committed(tmp_path):
    """A group used to count for retention only once it had committed: one that had joined but not committed yet
    (a stage's first batch still running, an alert worker before its first checkpoint) lost its backlog."""
    log = SqliteTransport(tmp_path / "log.sqlite3", partitions=1, retention_seconds=0)
    log.publish_many("posts.raw", [(None, {"i": i}) for i in range(10)])
    assert len(read_all(log, "fast", "posts.raw")) == 10
    with log.consumer("late", ["posts.raw"]) as late:
        assert len(late.poll(3, 0.05)) == 3  # joined, nothing committed yet
        assert log.prune(now=time.time() + 1) == 0
        late.commit(late.poll(100, 0.05))
    assert log.prune(now=time.time() + 1) == 9, "once it has committed, all but the newest go"
    log.close()

