"""The Kafka transport against a real broker (tansu): what only Kafka has (the guarantees both
transports give are in tests/test_transport_contract.py).

Each test gets fresh topics (a unique topic prefix) and its own consumer groups on one broker
started for the session (tests/conftest.py). Group joins are the slow part (1-2 s each on tansu).
"""

import contextlib
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import confluent_kafka
import pytest

from bench.transport import other_threads_cpu
from tests.kafka_broker import TansuBroker, free_port, make_transport, unique
from transport import (
    ANNOTATED_POSTS,
    ENRICHED_POSTS,
    EVENTS,
    RAW_POSTS,
    TransportError,
    dead_letter,
    open_transport,
)
from transport.kafka import UNDECODABLE_HEADER, KafkaTransport, encode
from workers.runner import PoisonMessage, Stage, Worker, run_per_message
from yuqing.config import load_settings
from yuqing.config.settings import KafkaSettings

pytestmark = pytest.mark.kafka


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


def test_the_producer_waits_for_every_replica_and_is_idempotent(kafka):
    kafka.publish("t", {"i": 1}, key="a")
    kafka.flush()
    config = kafka.producer_config()
    assert config["acks"] == "all" and config["enable.idempotence"] is True


def test_the_producer_rests_after_a_stage_quarantines_a_message(kafka):
    """kafka-python 3.0.12's producer, the one before, looped without pause once it met a topic created after it
    started (a dead-letter topic, after a quarantine): a third of a core, for good. Whichever client produces, a
    producer with nothing to send must rest."""
    kafka.publish_many(ANNOTATED_POSTS, [("a", {"i": 1})])
    kafka.publish(dead_letter(RAW_POSTS), {"raw_base64": ""}, key="b")
    kafka.flush()
    before, started = other_threads_cpu(os.getpid()), time.monotonic()
    time.sleep(1.0)
    spent = (other_threads_cpu(os.getpid()) - before) / (time.monotonic() - started)
    assert spent < 0.1, f"the idle producer's threads took {spent:.0%} of a core"


def test_a_batch_published_together_waits_for_one_acknowledgement_as_it_ends(kafka, group, monkeypatch):
    """The events stage writes three topics a batch: one flush for the batch, when its block ends (before its worker
    commits), not one per `publish_many`; outside a block each `publish_many` still returns flushed."""
    flushes = []
    flush = kafka.flush
    monkeypatch.setattr(kafka, "flush", lambda: (flushes.append(len(flushes)), flush()))
    with kafka.published_together():
        kafka.publish_many(ENRICHED_POSTS, [(f"p{n}", {"post": n}) for n in range(30)])
        with kafka.published_together():  # nested: the outer block flushes
            kafka.publish_many(EVENTS, [(f"e{n}", {"event": n}) for n in range(10)])
        kafka.publish(dead_letter(ENRICHED_POSTS), {"raw_base64": ""}, key="p0")
        assert flushes == []
    assert len(flushes) == 1
    consumer = kafka.consumer(group, [ENRICHED_POSTS, EVENTS, dead_letter(ENRICHED_POSTS)])
    try:
        assert len(drain(consumer, 41)) == 41
    finally:
        consumer.close()
    flushes.clear()
    kafka.publish_many(EVENTS, [("e0", {"event": 0})])
    assert len(flushes) == 1


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


def test_a_worker_with_the_default_settings_holds_its_partitions_after_its_first_poll(broker, group):
    """The first poll waits at most one session timeout for the join (tansu holds a forming group for half of
    it) and comes back with the member holding every partition and the messages waiting there."""
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap, partitions=4, topic_prefix=unique("t") + ".")
    transport = KafkaTransport(settings, join_timeout=settings.session_timeout)
    try:
        fill(transport, 12)
        with transport.consumer(group, ["posts.raw"]) as consumer:
            assert len(consumer.poll(100, 0.5)) > 0
            assert consumer.assigned() == {("posts.raw", partition) for partition in range(4)}
    finally:
        transport.close()


def test_undecodable_record_goes_to_dead_letter_and_does_not_block(kafka, group):
    kafka.publish("posts.raw", {"i": 1}, key="same")
    kafka.producer.produce(kafka.full_name("posts.raw"), b"\xff not json", b"same")
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


def test_a_record_that_only_looks_like_an_object_goes_to_dead_letter_from_the_worker(kafka, group):
    """The consumer looks at a value's ends only (the stage parses it once, validating it); what is not JSON inside
    fails that validation and the worker quarantines it with pydantic's reason, its bytes in base64."""
    from yuqing.schema import CrawlHealth

    class HealthStage(Stage):
        name = f"health-{uuid.uuid4().hex[:6]}"
        topics = ("crawl.health",)

        def process(self, messages):
            return run_per_message(messages, lambda m: CrawlHealth.model_validate_json(m.data))[1]

    kafka.producer.produce(kafka.full_name("crawl.health"), b'{"source": "a", \xff}', b"a")
    kafka.flush()
    outcomes = Worker(kafka, HealthStage(), poll_timeout=1.0).run(until_idle=True, idle_polls=3)
    assert outcomes["quarantined"] == 1
    with kafka.consumer(group, ["crawl.health.dlq"]) as consumer:
        (quarantined,) = drain(consumer, 1)
    assert quarantined.value == {"raw_base64": "eyJzb3VyY2UiOiAiYSIsIP99"}
    assert "Invalid JSON" in quarantined.headers["yuqing-error"]


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


def test_stats_count_a_topic_created_by_another_client_since_the_last_look(kafka, broker):
    """`yuqing status` keeps one offsets reader: a topic a worker creates later must be counted, not crash it."""
    fill(kafka, 3)
    assert stats_of(kafka)["posts.raw"].messages == 3
    other = make_transport(broker.bootstrap)
    other.prefix = kafka.prefix  # the same deployment, another process
    try:
        # A topic of one record per message (the events topic holds bundles: transport/kafka.py's BUNDLED_TOPICS).
        other.publish_many("crawl.health", [("s1", {"source": "s1"}), ("s2", {"source": "s2"})])
    finally:
        other.close()
    stats = stats_of(kafka)
    assert stats["crawl.health"].messages == 2 and stats["posts.raw"].messages == 3


def test_stats_count_topics_another_client_created_together_since_the_last_look(kafka, broker):
    """A worker's producer creates every topic a stage may publish to when it starts, most of them left empty. The
    offsets reader learnt the new topics for one look at a time (a metadata refresh while it listed the offsets
    asked for the topics of the look before only, and the partitions of the others went missing: a KeyError)."""
    crawler, worker = make_transport(broker.bootstrap), make_transport(broker.bootstrap)
    crawler.prefix = worker.prefix = kafka.prefix  # the same deployment, other processes
    try:
        crawler.ensure_topics(["posts.raw"])
        fill(crawler, 3)
        assert stats_of(kafka)["posts.raw"].messages == 3
        worker.ensure_topics(["crawl.health", "events", "posts.raw.dlq"])
        worker.publish("crawl.health", {"source": "s"}, key="s")
        worker.flush()
        for _ in range(3):
            stats = stats_of(kafka)
            assert stats["crawl.health"].messages == 1 and stats["posts.raw"].messages == 3
    finally:
        crawler.close()
        worker.close()


class ReadsRecorded:
    """An offsets reader that records which partitions each look assigns it, to read their ends."""

    def __init__(self, reader):
        self.reader = reader
        self.assigned = []

    def assign(self, partitions):
        self.assigned.append({(tp.topic, tp.partition) for tp in partitions})
        self.reader.assign(partitions)

    def __getattr__(self, name):
        return getattr(self.reader, name)


def test_a_look_reads_again_only_the_ends_of_partitions_appended_to_since(kafka):
    """A partition's end is read from its last record (tansu's ListOffsets gives its last batch's base + 1), which
    cost the broker most of a look (the bench's watcher looks twice a second): a partition nothing was appended to
    since a look read its end is not read again, and one appended to is, batches of several records included."""
    fill(kafka, 9)  # batches of several records a partition: ListOffsets alone counts fewer
    fill(kafka, 3, "crawl.health")
    assert stats_of(kafka)["posts.raw"].messages == 9
    recorded = kafka._offsets_reader = ReadsRecorded(kafka._offsets_reader)
    stats = stats_of(kafka)
    assert stats["posts.raw"].messages == 9 and stats["crawl.health"].messages == 3
    assert recorded.assigned == []
    fill(kafka, 6)
    stats = stats_of(kafka)
    assert stats["posts.raw"].messages == 15 and stats["crawl.health"].messages == 3
    assert {topic for topic, _ in recorded.assigned[0]} == {kafka.full_name("posts.raw")}


def test_a_refused_session_timeout_names_the_settings_to_change():
    """Kafka refuses session timeouts under its group.min.session.timeout.ms (6 s unless lowered)."""
    transport = KafkaTransport(KafkaSettings(bootstrap_servers="127.0.0.1:1", session_timeout=4.0))
    refused = pytest.raises(TransportError, match=r"4 s: lower its group.min.session.timeout.ms or raise kafka.session")
    with refused, transport.broker_errors("join consumer group g"):
        raise confluent_kafka.KafkaException(confluent_kafka.KafkaError(
            confluent_kafka.KafkaError.INVALID_SESSION_TIMEOUT, "session timeout 4000 out of range"))


def test_values_are_written_as_the_json_module_would_write_them():
    """UTF-8 text, keys that are not strings as strings, datetimes and other objects as their str()."""
    value = {"text": "政务公开", "n": 1, "share": 0.5, 7: "seven", "at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
             "nothing": None, "path": Path("/tmp/x")}
    assert json.loads(encode(value)) == json.loads(json.dumps(value, ensure_ascii=False, default=str))
    assert "政务公开".encode() in encode(value)


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
    assert config["bootstrap.servers"] == "k1:9092, k2:9092"
    assert config["sasl.password"] == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.masked())


def test_a_group_prefix_gives_a_deployment_consumer_groups_of_its_own(broker):
    """Two deployments on one cluster (different topic prefixes) each run a stage named "index": with a group
    prefix each has a group of its own on the broker, and `stats` reports its lag under the stage's name."""
    prefix = unique("deployment") + "."
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap, partitions=2, topic_prefix=prefix,
                             group_prefix=prefix)
    transport = KafkaTransport(settings, join_timeout=settings.session_timeout * 5)
    try:
        fill(transport, 6)
        with transport.consumer("index", ["posts.raw"]) as consumer:
            consumer.commit(drain(consumer, 6)[:6])
        listed = transport.admin.list_consumer_groups(request_timeout=10).result().valid
        assert prefix + "index" in {group.group_id for group in listed}
        stats = {s.topic: s for s in transport.stats(expected={"index": ["posts.raw"]})}
        assert stats["posts.raw"].lag == {"index": 0}
    finally:
        transport.close()


def test_the_identity_names_the_cluster_and_the_prefix(kafka, broker):
    """The alert worker keeps its offsets under this name: the cluster's own id (tansu's is tansu_cluster), whatever
    address a worker reaches it by."""
    assert kafka.identity() == f"kafka:tansu_cluster:{kafka.prefix}"
    other = make_transport(broker.bootstrap.replace("127.0.0.1", "localhost"))
    other.prefix = kafka.prefix
    try:
        assert other.identity() == kafka.identity()
    finally:
        other.close()


def test_fetches_are_held_briefly_only_where_a_stage_waits_on_another():
    """tansu hands over a record published during a held fetch up to about half the hold later: between the stages
    the hold is short; the stage the crawls feed (and a reader of dead letters) keeps the longer, cheaper one."""
    from transport.kafka import FETCH_MAX_WAIT_MS, HAND_OFF_FETCH_MAX_WAIT_MS
    from workers.stages import stage_groups

    transport = KafkaTransport(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    held = {group: transport.consumer_config(group, "c", topics)["fetch.wait.max.ms"]
            for group, topics in stage_groups().items()}
    assert held == {"yuqing-enrich": FETCH_MAX_WAIT_MS, "yuqing-events": HAND_OFF_FETCH_MAX_WAIT_MS,
                    "yuqing-index": HAND_OFF_FETCH_MAX_WAIT_MS, "yuqing-alert": HAND_OFF_FETCH_MAX_WAIT_MS}
    assert transport.consumer_config("replay", "c", [dead_letter(ANNOTATED_POSTS)])["fetch.wait.max.ms"] == \
        FETCH_MAX_WAIT_MS
    assert HAND_OFF_FETCH_MAX_WAIT_MS < FETCH_MAX_WAIT_MS
