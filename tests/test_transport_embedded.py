"""What only the embedded log has (the guarantees both transports give are in tests/test_transport_contract.py)."""


import pytest

from transport.sqlite_log import SqliteTransport


@pytest.fixture
def log(tmp_path):
    transport = SqliteTransport(tmp_path / "log.sqlite3", partitions=4, session_timeout=1.0)
    yield transport
    transport.close()


def fill(transport, n, topic="posts.raw"):
    transport.publish_many(topic, [(f"k{i}", {"i": i}) for i in range(n)])


def test_member_that_lost_a_partition_cannot_move_its_offset(log):
    fill(log, 10)
    old = log.consumer("g", ["posts.raw"], member="old")
    batch = old.poll(100, 0.1)
    log._conn.execute("DELETE FROM leases")  # as if its session had expired and another took over
    old.commit(batch)
    (stats,) = log.stats()
    assert stats.lag.get("g", 10) == 10
    old.close()


def test_messages_read_from_the_log_are_those_their_class_makes_of_the_rows(log):
    """Messages are made of the log's rows without Message.__init__: each field set, as __init__ sets them."""
    from transport.base import Message

    log.publish("posts.raw", {"i": 1}, key="a", headers={"trace": "t1"})
    log.publish("posts.raw", {"i": 2})
    consumer = log.consumer("g", ["posts.raw"])
    for message in [*log.read("posts.raw"), *consumer.poll(100, 0.1)]:
        made = Message(message.topic, message.partition, message.offset, message.data, message.key,
                       dict(message.headers), message.timestamp)
        assert message == made and vars(message) == vars(made)
        assert message.value["i"] in (1, 2)  # the cached value, kept in the message's own dict
    consumer.close()


def test_a_group_that_has_not_joined_yet_lags_by_the_whole_log(log):
    fill(log, 12)
    stats = {s.topic: s for s in log.stats(expected={"yuqing-analyze": ["posts.raw"], "yuqing-index": ["events"]})}
    assert stats["posts.raw"].lag == {"yuqing-analyze": 12}  # nobody joined: all 12 wait, not 0
    assert stats["posts.raw"].messages == 12
    assert "events" not in stats or stats["events"].lag == {"yuqing-index": 0}


def test_a_new_log_has_pages_that_hold_a_post_and_an_old_log_keeps_its_own(tmp_path) -> None:
    import sqlite3

    from transport.sqlite_log import PAGE_SIZE

    post = {"text": "市民反映小区停水三天无人处理" * 60}  # ~2.5 KB: spilled into an overflow page of its own with 4 KiB pages
    fresh = SqliteTransport(tmp_path / "new.sqlite3")
    fresh.publish("posts.raw", post, key="a")
    assert fresh._conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    assert fresh.read("posts.raw")[0].value == post
    fresh.close()
    sqlite3.connect(tmp_path / "old.sqlite3").execute("CREATE TABLE before_the_change (x)").connection.close()
    old = SqliteTransport(tmp_path / "old.sqlite3")
    old.publish("posts.raw", post, key="a")
    assert old._conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert old.read("posts.raw")[0].value == post
    old.close()


def test_a_settled_member_polls_without_the_write_lock_and_rebalances_when_the_group_changes(tmp_path) -> None:
    """Every poll used to renew the member's heartbeat and leases in a write transaction, which appends and commits
    of the other stages waited for; it does so only when the group changed or a third of the session is over."""
    import sqlite3
    import time

    from transport.sqlite_log import SqliteTransport

    log = SqliteTransport(tmp_path / "log.sqlite3", partitions=4, session_timeout=30.0)
    fill(log, 40)
    first = log.consumer("g", ["posts.raw"], member="first")
    assert len(first.poll(10, 0.1)) == 10
    heartbeat = log._conn.execute("SELECT seen FROM members WHERE member='first'").fetchone()
    writer = sqlite3.connect(log.path, timeout=0.5, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of an append
    started = time.monotonic()
    assert len(first.poll(10, 0.1)) == 10  # without waiting for the write lock (30 s)
    assert time.monotonic() - started < 5
    writer.execute("ROLLBACK")
    assert log._conn.execute("SELECT seen FROM members WHERE member='first'").fetchone() == heartbeat
    second = log.consumer("g", ["posts.raw"], member="second")
    second.poll(10, 0.1)  # joins: the first gives back half its partitions at its next poll, the second takes them
    first.poll(10, 0.1)
    second.poll(10, 0.1)
    held = dict(log._conn.execute("SELECT member, COUNT(*) FROM leases GROUP BY member").fetchall())
    assert held == {"first": 2, "second": 2}
    first.close()
    second.close()
    log.close()


def test_an_idle_poll_wakes_for_a_message_and_keeps_its_heartbeat_while_it_waits(tmp_path) -> None:
    """An idle poll sleeps until another connection commits: it must still renew its membership every third of the
    session (or the group would count it dead and hand its partitions on), and see what is published meanwhile."""
    import threading
    import time

    from transport.sqlite_log import SqliteTransport

    log = SqliteTransport(tmp_path / "log.sqlite3", partitions=1, session_timeout=0.6)
    consumer = log.consumer("g", ["posts.raw"], member="waiting")
    began = time.time()
    assert consumer.poll(10, 1.5) == []
    (seen,) = log._conn.execute("SELECT seen FROM members WHERE member='waiting'").fetchone()
    assert seen >= began + 1.0, "renewed while it waited, not only when the poll began"
    publisher = SqliteTransport(log.path, partitions=1)
    later = threading.Timer(0.2, lambda: fill(publisher, 1))
    later.start()
    started = time.monotonic()
    [message] = consumer.poll(10, 30.0)
    assert message.value == {"i": 0}
    assert time.monotonic() - started < 15, "woken by the publication, not by the end of its 30 s"
    later.join()
    consumer.close()
    publisher.close()
    log.close()


def test_a_waiting_member_is_woken_by_a_publish_to_its_partitions_not_by_its_next_look(tmp_path, monkeypatch) -> None:
    """The stage after another starts on its batch when it is published, not up to WAKE_INTERVAL_MAX later: here
    the looks are 20 s apart, and the member is woken at once by the publish to the partition it holds. A publish
    to a partition no one waits on, or to a member that is gone, wakes no one and does not fail."""
    import threading
    import time

    import transport.sqlite_log as sqlite_log

    monkeypatch.setattr(sqlite_log, "WAKE_INTERVAL_MIN", 20.0)
    monkeypatch.setattr(sqlite_log, "WAKE_INTERVAL_MAX", 20.0)
    log = SqliteTransport(tmp_path / "log.sqlite3", partitions=1, session_timeout=120.0)
    # A member whose process died: its lease is still there, its socket is not.
    log._conn.execute("INSERT INTO leases VALUES ('other', 'events', 0, 'gone', ?)", (time.time() + 100,))
    consumer = log.consumer("g", ["posts.raw"], member="waiting")
    assert consumer.poll(10, 0.0) == []  # joined: it holds the partition
    publisher = SqliteTransport(log.path, partitions=1)
    later = threading.Timer(0.3, lambda: (fill(publisher, 1, topic="events"), fill(publisher, 1)))
    later.start()
    started = time.monotonic()
    [message] = consumer.poll(10, 60.0)
    assert message.value == {"i": 0} and message.topic == "posts.raw"
    assert time.monotonic() - started < 15, "woken by the publish, not by its next look 20 s on"
    later.join()
    consumer.close()
    publisher.close()
    log.close()


def test_what_is_published_together_reaches_the_consumers_in_one_commit_as_the_block_ends(tmp_path) -> None:
    """A worker's batch (the events stage's posts, re-links and events) is appended in one transaction: the stage
    after it never sees part of it, and is woken once. Publishes of an inner block wait for the outer one; those of
    another thread go at once."""
    import threading

    log = SqliteTransport(tmp_path / "log.sqlite3", partitions=1)
    reader = SqliteTransport(log.path, partitions=1)
    consumer = reader.consumer("g", ["posts.enriched", "events"])
    assert consumer.poll(10, 0.0) == []
    statements: list[str] = []
    log._conn.set_trace_callback(statements.append)
    woken: list[list[str]] = []
    real_wake = log._wake
    log._wake = lambda members: (woken.append(sorted(members)), real_wake(members))  # type: ignore[method-assign]
    with log.published_together():
        log.publish_many("posts.enriched", [("a", {"n": 1}), ("b", {"n": 2})])
        with log.published_together():
            log.publish("events", {"n": 3}, key="e")
        log.publish_many("posts.enriched", [("a", {"n": 4})])
        elsewhere = threading.Thread(target=lambda: log.publish("posts.raw", {"n": 0}, key="x"))
        elsewhere.start()
        elsewhere.join()
        # Another thread's publish went at once; the block's wait.
        assert [(s.topic, s.messages) for s in reader.stats() if s.messages] == [("posts.raw", 1)]
        assert consumer.poll(10, 0.0) == []
    batch = consumer.poll(10, 0.0)
    assert sorted((m.topic, m.value["n"]) for m in batch) == [("events", 3), ("posts.enriched", 1),
                                                               ("posts.enriched", 2), ("posts.enriched", 4)]
    assert [m.value["n"] for m in batch if m.topic == "posts.enriched"] == [1, 2, 4]  # in the order published
    assert statements.count("COMMIT") == 2  # the other thread's append, then the block's
    assert woken[-1] == [consumer.member]
    consumer.close()
    reader.close()
    log.close()


def test_what_a_failing_block_published_is_not_appended(log) -> None:
    with pytest.raises(RuntimeError), log.published_together():
        log.publish_many("posts.enriched", [("a", {"n": 1})])
        raise RuntimeError("the batch failed")
    assert log.stats() == []
    log.publish("posts.enriched", {"n": 2}, key="a")  # and what comes after goes as before
    assert [m.value for m in log.read("posts.enriched")] == [{"n": 2}]
