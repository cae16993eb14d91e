"""The transport contract: the embedded log and Kafka (a real tansu broker) give the stages the same
guarantees: a key keeps its partition and order, a group shares the work, other groups read
everything, a restart resumes at the committed offset, whatever was not committed is delivered
again (after a clean close or a crash), and stats report counts and lag.

Backend-only behaviour lives beside: tests/test_transport_embedded.py, tests/test_transport_kafka.py.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kafka_broker import FAST_GROUPS, make_transport, unique
from transport.base import Consumer, Message, Transport
from transport.kafka import KafkaTransport
from transport.sqlite_log import SqliteTransport
from yuqing.config.settings import KafkaSettings

EMBEDDED_SESSION = 1.0


@dataclass
class Backend:
    name: str
    transport: Transport
    poll_wait: float  # how long one poll may wait: a Kafka poll also waits for the group join
    session_timeout: float

    def child_spec(self) -> tuple[str, str, str]:
        """What a child process needs to open the same log (a path, or a broker and topic prefix)."""
        if isinstance(self.transport, KafkaTransport):
            return ("kafka", self.transport.settings.bootstrap_servers, self.transport.prefix)
        assert isinstance(self.transport, SqliteTransport)
        return ("embedded", str(self.transport.path), "")


def _open(spec: tuple[str, str, str]) -> Transport:
    kind, where, prefix = spec
    if kind == "kafka":
        return KafkaTransport(KafkaSettings(bootstrap_servers=where, partitions=4, topic_prefix=prefix), **FAST_GROUPS)
    return SqliteTransport(Path(where), partitions=4, session_timeout=EMBEDDED_SESSION)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "kafka":
        transport: Transport = make_transport(request.getfixturevalue("broker").bootstrap)
        chosen = Backend("kafka", transport, poll_wait=0.5, session_timeout=KafkaSettings().session_timeout)
    else:
        transport = SqliteTransport(tmp_path / "log.sqlite3", partitions=4, session_timeout=EMBEDDED_SESSION)
        chosen = Backend("embedded", transport, poll_wait=0.05, session_timeout=EMBEDDED_SESSION)
    yield chosen
    transport.close()


@pytest.fixture
def group() -> str:
    """A consumer group of this test alone: on Kafka, groups outlive tests on the session's broker."""
    return unique("g")


def fill(transport: Transport, n: int, topic: str = "posts.raw") -> None:
    transport.publish_many(topic, [(f"k{i}", {"i": i}) for i in range(n)])
    transport.flush()


def drain(backend: Backend, consumer: Consumer, expected: int, limit: float = 30.0) -> list[Message]:
    """Poll and commit until `expected` messages arrived (or `limit` seconds passed)."""
    seen: list[Message] = []
    deadline = time.monotonic() + limit
    while len(seen) < expected and time.monotonic() < deadline:
        batch = consumer.poll(1000, backend.poll_wait)
        seen.extend(batch)
        consumer.commit(batch)
    return seen


def test_same_key_same_partition_and_order(backend: Backend, group: str) -> None:
    transport = backend.transport
    for i in range(10):
        transport.publish("t", {"i": i, "text": "政务公开"}, key="same", headers={"source": "测试"})
    fill(transport, 20, topic="t")
    with transport.consumer(group, ["t"]) as consumer:
        got = drain(backend, consumer, 30)
    same = [m for m in got if m.key == "same"]
    assert [m.value["i"] for m in same] == list(range(10))
    assert len({m.partition for m in same}) == 1
    assert same[0].value["text"] == "政务公开" and same[0].headers == {"source": "测试"}
    assert same[0].topic == "t", "stage code sees topic names without a prefix"
    assert len({m.partition for m in got}) > 1, "other keys spread over the partitions"


def _settle(backend: Backend, members: list[Consumer]) -> None:
    """Let the group give every member partitions before anyone takes work."""
    if isinstance(backend.transport, KafkaTransport):
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assigned = [m.assigned() for m in members]  # type: ignore[attr-defined]
            if all(assigned) and len(set().union(*assigned)) == 4:
                return
            for member in members:
                member.poll(0, 0.2)
        return
    # The embedded log rebalances on poll: each member announces itself, then the first gives back
    # what is above its share now that the other is alive.
    for member in [*members, members[0]]:
        member.poll(0, 0.01)


def test_two_consumers_in_one_group_share_the_work(backend: Backend, group: str) -> None:
    fill(backend.transport, 200)
    members = [backend.transport.consumer(group, ["posts.raw"], member=name) for name in ("a", "b")]
    got: dict[str, list[Message]] = {"a": [], "b": []}
    try:
        _settle(backend, members)
        deadline = time.monotonic() + 40
        while sum(map(len, got.values())) < 200 and time.monotonic() < deadline:
            for member, name in zip(members, got, strict=True):
                batch = member.poll(1000, backend.poll_wait)
                got[name].extend(batch)
                member.commit(batch)
    finally:
        for member in members:
            member.close()
    ids_a, ids_b = ({m.value["i"] for m in got[name]} for name in ("a", "b"))
    assert ids_a and ids_b, "both members got work"
    assert ids_a.isdisjoint(ids_b)
    assert ids_a | ids_b == set(range(200))


def test_other_group_reads_everything_independently(backend: Backend, group: str) -> None:
    fill(backend.transport, 30)
    transport = backend.transport
    with transport.consumer(group + "-1", ["posts.raw"]) as one, transport.consumer(group + "-2", ["posts.raw"]) as two:
        assert sorted(m.value["i"] for m in drain(backend, one, 30)) == list(range(30))
        assert sorted(m.value["i"] for m in drain(backend, two, 30)) == list(range(30))


def test_restart_resumes_from_committed_offset(backend: Backend, group: str) -> None:
    transport = backend.transport
    fill(transport, 50)
    with transport.consumer(group, ["posts.raw"]) as first:
        batch = first.poll(20, 1.0)
        assert 1 < len(batch) <= 20
        done = batch[: len(batch) // 2]  # processed; the rest of the batch was not
        first.commit(done)
        committed = {m.value["i"] for m in done}
    transport.publish_many("posts.raw", [(f"n{i}", {"i": 100 + i}) for i in range(5)])
    transport.flush()
    with transport.consumer(group, ["posts.raw"]) as second:
        rest = {m.value["i"] for m in drain(backend, second, 55 - len(committed))}
    assert committed.isdisjoint(rest)
    assert committed | rest == set(range(50)) | {100 + i for i in range(5)}


def test_what_a_closed_member_did_not_commit_is_delivered_again(backend: Backend, group: str) -> None:
    transport = backend.transport
    fill(transport, 40)
    doomed = transport.consumer(group, ["posts.raw"], member="doomed")
    got: list[Message] = []
    deadline = time.monotonic() + 30
    while len(got) < 40 and time.monotonic() < deadline:
        got.extend(doomed.poll(1000, backend.poll_wait))
    assert len(got) == 40
    doomed.close()  # gone without committing anything
    with transport.consumer(group, ["posts.raw"], member="heir") as heir:
        again = drain(backend, heir, 40)
    assert sorted(m.value["i"] for m in again) == list(range(40))


def _die_holding_partitions(spec: tuple[str, str, str], group: str, received: object) -> None:
    consumer = _open(spec).consumer(group, ["posts.raw"], member="doomed")
    received.value = len(consumer.poll(1000, 5.0))  # type: ignore[attr-defined]
    os._exit(1)  # no commit, no goodbye: the others only learn from the missed heartbeats


def test_a_crashed_members_partitions_go_to_another_after_the_session_timeout(backend: Backend, group: str) -> None:
    fill(backend.transport, 40)
    context = mp.get_context("spawn")
    received = context.Value("i", 0)
    proc = context.Process(target=_die_holding_partitions, args=(backend.child_spec(), group, received))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 1 and received.value > 0
    started = time.monotonic()
    with backend.transport.consumer(group, ["posts.raw"], member="heir") as heir:
        again = drain(backend, heir, 40)
    assert sorted(m.value["i"] for m in again) == list(range(40))
    assert time.monotonic() - started < backend.session_timeout + 15


def test_stats_report_counts_and_lag(backend: Backend, group: str) -> None:
    fill(backend.transport, 12)
    with backend.transport.consumer(group, ["posts.raw"]) as consumer:
        # On Kafka the first poll also waits for the group join; it returns as soon as it has messages, and a
        # loaded machine may take longer than a tenth of a second to fetch them after the join.
        batch = consumer.poll(5, 5.0)
        assert 0 < len(batch) <= 5
        consumer.commit(batch)
    stats = {s.topic: s for s in backend.transport.stats()}
    assert set(stats) == {"posts.raw"}
    assert stats["posts.raw"].messages == 12
    assert stats["posts.raw"].lag == {group: 12 - len(batch)}
