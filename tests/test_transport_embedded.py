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


def test_a_group_that_has_not_joined_yet_lags_by_the_whole_log(log):
    fill(log, 12)
    stats = {s.topic: s for s in log.stats(expected={"yuqing-analyze": ["posts.raw"], "yuqing-index": ["events"]})}
    assert stats["posts.raw"].lag == {"yuqing-analyze": 12}  # nobody joined: all 12 wait, not 0
    assert stats["posts.raw"].messages == 12
    assert "events" not in stats or stats["events"].lag == {"yuqing-index": 0}
