"""Kafka transport (scale-out): the `Transport` interface over confluent-kafka (librdkafka, in C): its producer, its
consumer groups, its admin client (topics, groups, offsets) and a consumer of no group for the statistics and `read`.

Topics are `settings.topic_prefix + name` and are created on first use with `settings.partitions`
partitions. Values are JSON, keys choose the partition (same key, same partition, same order), and
offsets are committed by hand: a consumer group stores an offset only when `commit` is given the
messages, and only after everything this transport published so far is acknowledged by the broker,
so a stage's output is durable before its input counts as done (at-least-once).

Workers scale by partitions: every member of a consumer group owns some partitions, so a topic with
N partitions keeps at most N members of one group busy; each group reads every message once.

Between the stages (`BUNDLED_TOPICS`), `publish_many` packs the messages bound for one partition into one Kafka
record, a bundle: a client spends time on every record it sends or fetches (kafka-python, the client before, tens of
microseconds of Python), and the broker works per record too. A bundle
keeps the guarantees of one record per message: its messages go to the partition their keys choose, in order; a
poll delivers a bundle whole; a consumer commits a bundle's offset only once every message in it is committed
(until then a crash delivers the whole bundle again, as it would the messages one by one). What changes is what
one offset counts: `stats` gives those topics' sizes and lags in records, each holding up to a batch of messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, cast

import confluent_kafka
import numpy
import orjson
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic, OffsetSpec

from transport.base import (
    ALL_TOPICS,
    ANNOTATED_POSTS,
    ENRICHED_POSTS,
    EVENTS,
    Consumer,
    Message,
    TopicStats,
    Transport,
    TransportError,
    Value,
    dead_letter,
    encode,
    partitions_of,
    undecodable_value,
    value_as_sent,
)
from yuqing.config.settings import KafkaSettings

log = logging.getLogger(__name__)

# Set on a record this consumer could not decode (not JSON, or not an object) when it is quarantined.
UNDECODABLE_HEADER = "yuqing-undecodable"
# Let the broker apply its default.replication.factor (CreateTopics v4+, Kafka 2.4+).
BROKER_DEFAULT_REPLICATION = -1
PRODUCER_LINGER_MS = 50
# How long the broker may hold a fetch that finds nothing new (Kafka's default is 500 ms). Kafka answers a held fetch
# as soon as records arrive, whatever the hold; tansu looks for them at points within the hold, and a record published
# while a fetch waits reached the member 1-123 ms later with 250 ms (median 42), 1-26 ms with 50 and 1-17 ms with 20
# (median 4.5). Between the stages (what they publish for each other: BUNDLED_TOPICS) that is a delay at every
# hand-off, during which the stage after waits idle: there fetches are held 100 ms, 1-55 ms late on tansu (median
# 14-17 against 5 with 20 ms, bench.transport at load 4). The price of a short hold is paid by the second, by every
# idle member's empty fetches: tansu spent 2.4 % of a core on one with 20 ms, 0.9-1.1 % with 100 (the member 0.7 % and
# 0.3-0.4 %). The stage the crawls feed has no stage before it to wait on, nor does a reader of dead letters: 250 ms.
FETCH_MAX_WAIT_MS = 250
HAND_OFF_FETCH_MAX_WAIT_MS = 100
# How long a poll waits at least for records after its member (re)joined its group (see `_give_up_at`).
FIRST_FETCH_SECONDS = 1.0
# What a consumer fetches ahead of the stage (librdkafka's default is 64 MiB): a few batches.
PREFETCH_KIB = 8 * 1024
# Commit failures that mean the group rebalanced and the partitions went to another member, which resumes from
# the last committed offset: the work is redelivered, not lost.
REBALANCED = frozenset({confluent_kafka.KafkaError.REBALANCE_IN_PROGRESS, confluent_kafka.KafkaError.ILLEGAL_GENERATION,
                        confluent_kafka.KafkaError.UNKNOWN_MEMBER_ID, confluent_kafka.KafkaError._ASSIGNMENT_LOST})
# What the stages publish to: their topics, and the dead-letter topics of those (a retry goes back to its own topic).
STAGE_TOPICS = (*ALL_TOPICS, *(dead_letter(topic) for topic in ALL_TOPICS))
# The topics a stage writes a batch to for the next (see the module's description): the posts, and the events (the
# events stage publishes an event again each time it changes, nearly one for every post). Not the raw posts, whose
# counts people read (`yuqing status`: how many posts wait), nor the dead letters (published one at a time).
BUNDLED_TOPICS = frozenset({ANNOTATED_POSTS, ENRICHED_POSTS, EVENTS})
# A bundle's one header: the keys of its messages (a JSON array, in order); its value is their values, each a JSON
# object written without a line break (as orjson and pydantic write them), joined by one. A value with a line break
# in it is published as a record of its own, in its place.
BUNDLE_HEADER = "yuqing-bundle"
BUNDLE_SEPARATOR = b"\n"
# A bundle is sent once its values reach this many bytes: it stays well under the producer's largest request (1 MiB
# by default), which refuses a larger record.
BUNDLE_BYTES = 256 * 1024


def partitions_for_keys(serialized_keys: list[bytes], partitions: set[int]) -> list[int]:
    """The partition of a topic with these `partitions` that Kafka's default partitioner (the Java client's,
    kafka-python's, librdkafka's `murmur2_random`) gives each record's key: a bundle goes where its keys would."""
    if len(partitions) == 1:
        return [next(iter(partitions))] * len(serialized_keys)
    ordered = sorted(partitions)
    return [ordered[(hashed & 0x7FFFFFFF) % len(ordered)] for hashed in murmur2(serialized_keys)]


MURMUR2_SEED = 0x9747B28C
MURMUR2_MULTIPLIER = numpy.uint32(0x5BD1E995)


def murmur2(keys: list[bytes]) -> list[int]:
    """MurmurHash2 of each key as Kafka's Java client computes it (`Utils.murmur2`), as unsigned 32-bit numbers. The
    keys of one length are hashed together, in numpy's 32-bit integers (whose products wrap around as Java's ints
    do): a key at a time in Python took 5-6 us of CPU, and the events stage publishes one and a half keys a post."""
    hashes = numpy.empty(len(keys), dtype=numpy.uint32)
    places_by_length: dict[int, list[int]] = defaultdict(list)
    for place, key in enumerate(keys):
        places_by_length[len(key)].append(place)
    for length, places in places_by_length.items():
        data = numpy.frombuffer(b"".join(keys[place] for place in places), dtype=numpy.uint8).reshape(len(places), -1)
        words = length >> 2
        hashed = numpy.full(len(places), MURMUR2_SEED ^ length, dtype=numpy.uint32)
        # The key's little-endian 32-bit words, a column each.
        for word in numpy.ascontiguousarray(data[:, :words * 4]).view("<u4").T:
            word = word * MURMUR2_MULTIPLIER
            word ^= word >> 24
            word *= MURMUR2_MULTIPLIER
            hashed *= MURMUR2_MULTIPLIER
            hashed ^= word
        if length & 3:  # the last one to three bytes, as a little-endian number
            tail = numpy.zeros(len(places), dtype=numpy.uint32)
            for byte in range(length & 3):
                tail |= data[:, words * 4 + byte].astype(numpy.uint32) << (8 * byte)
            hashed ^= tail
            hashed *= MURMUR2_MULTIPLIER
        hashed ^= hashed >> 13
        hashed *= MURMUR2_MULTIPLIER
        hashed ^= hashed >> 15
        hashes[places] = hashed
    return hashes.tolist()


class KafkaTransport(Transport):
    """Topics on a Kafka cluster. Clients connect lazily; broker failures raise `TransportError`.

    The timeouts are seconds; those not given come from the settings. Tests against a local broker
    shorten `max_poll_interval` so that rebalances finish in seconds (Kafka's group coordinator waits
    up to `max_poll_interval` for members to rejoin). A consumer's first poll waits up to
    `join_timeout` for its group join, so an empty poll means "nothing new", never "not a member yet".
    """

    def __init__(self, settings: KafkaSettings, *, client_id: str = "yuqing", session_timeout: float | None = None,
                 heartbeat_interval: float | None = None, max_poll_interval: float | None = None,
                 join_timeout: float = 60.0, connect_timeout: float = 10.0,
                 request_timeout: float | None = None) -> None:
        self.settings = settings
        self.prefix = settings.topic_prefix
        self.group_prefix = settings.group_prefix
        self.client_id = client_id
        self.session_timeout = session_timeout or settings.session_timeout
        self.heartbeat_interval = heartbeat_interval or settings.heartbeat_interval
        self.max_poll_interval = max_poll_interval or settings.max_poll_interval
        self.join_timeout = join_timeout
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout or settings.request_timeout
        self._producer: confluent_kafka.Producer | None = None
        self._partitions: dict[str, set[int]] = {}  # per (prefixed) topic written as bundles
        self._admin: AdminClient | None = None
        self._offsets_reader: confluent_kafka.Consumer | None = None
        # Per (prefixed topic, partition): the offset ListOffsets gave when the offsets reader last read its end, and
        # that end (see `_partition_bounds`).
        self._ends_read: dict[tuple[str, int], tuple[int, int]] = {}
        self._known_topics: set[str] = set()
        self._send_failures: list[Exception] = []
        self._flushing_later = threading.local()  # per thread: whether `published_together` flushes for it

    # -- connections ----------------------------------------------------------------------------

    @contextmanager
    def broker_errors(self, action: str) -> Iterator[None]:
        """Turn the clients' failures into `TransportError` naming the bootstrap servers."""
        try:
            yield
        except TransportError:
            raise
        except (confluent_kafka.KafkaException, BufferError) as exc:
            # BufferError: the producer's queue is full, the broker has not confirmed anything for a while.
            hint = ""
            if isinstance(exc, confluent_kafka.KafkaException) and \
                    error_code(exc) == confluent_kafka.KafkaError.INVALID_SESSION_TIMEOUT:
                hint = (f" (the broker refuses a session timeout of {self.session_timeout:g} s: lower its "
                        "group.min.session.timeout.ms or raise kafka.session_timeout)")
            raise TransportError(
                f"Kafka at {self.settings.bootstrap_servers}: cannot {action}: {type(exc).__name__}: {exc}{hint}"
            ) from exc

    def client_config(self, client_id: str | None = None) -> dict[str, Any]:
        """Connection settings of every client (librdkafka's names)."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.settings.bootstrap_servers,
            "client.id": client_id or self.client_id,
            "security.protocol": self.settings.security_protocol,
            "socket.connection.setup.timeout.ms": int(self.connect_timeout * 1000),
            "logger": log,
        }
        if self.settings.sasl_mechanism:
            config["sasl.mechanism"] = self.settings.sasl_mechanism
            config["sasl.username"] = self.settings.sasl_username
            if self.settings.sasl_password is not None:
                config["sasl.password"] = self.settings.sasl_password.get_secret_value()
        return config

    def producer_config(self) -> dict[str, Any]:
        """The producer's settings: the connection's, and how records are delivered."""
        return {
            **self.client_config(),
            "request.timeout.ms": int(self.request_timeout * 1000),
            # Written once each (retries cannot duplicate or reorder), confirmed by every in-sync replica.
            "enable.idempotence": True,
            "acks": "all",
            # A record that is not confirmed by then fails, and `flush` says so (the crawl spools it).
            "message.timeout.ms": int(max(self.request_timeout * 2, 1) * 1000),
            # Records collect into one batch per partition between flushes: every stage flushes before it commits
            # (and `publish_many` flushes), which sends at once whatever waits.
            "linger.ms": PRODUCER_LINGER_MS,
            # Kafka's default partitioner for a keyed record (murmur2, as the Java client and kafka-python): a key's
            # records stay on their partition, in order, whichever client wrote them.
            "partitioner": "murmur2_random",
            # Delivery reports only for records that failed: nothing to hand to Python for each one delivered.
            "delivery.report.only.error": True,
        }

    def consumer_config(self, group: str, client_id: str, topics: Iterable[str]) -> dict[str, Any]:
        """A group member's settings: offsets move only when the stage commits (`KafkaTopicConsumer.commit`), and
        fetches are held briefly where it waits on another stage (`HAND_OFF_FETCH_MAX_WAIT_MS`)."""
        return {
            **self.client_config(client_id),
            "group.id": self.group_prefix + group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": int(self.session_timeout * 1000),
            "heartbeat.interval.ms": int(self.heartbeat_interval * 1000),
            "max.poll.interval.ms": int(self.max_poll_interval * 1000),
            "fetch.wait.max.ms": HAND_OFF_FETCH_MAX_WAIT_MS if BUNDLED_TOPICS.intersection(topics) else FETCH_MAX_WAIT_MS,
            "queued.max.messages.kbytes": PREFETCH_KIB,
        }

    @property
    def producer(self) -> confluent_kafka.Producer:
        """Connects in the background: a broker that cannot be reached shows in `flush`, which fails."""
        if self._producer is None:
            # Every topic a stage may publish to exists first: a record for a topic the broker does not know
            # would wait in the producer until its delivery timeout.
            self.ensure_topics(STAGE_TOPICS)
            with self.broker_errors("create the producer"):
                self._producer = confluent_kafka.Producer(self.producer_config())
        return self._producer

    @property
    def admin(self) -> AdminClient:
        """Connects in the background: a broker that cannot be reached shows in the first request, which fails."""
        if self._admin is None:
            with self.broker_errors("create the admin client"):
                self._admin = AdminClient(self.client_config())
        return self._admin

    def _cluster(self) -> ClusterMetadata:
        """The cluster's metadata: its id, its topics and their partitions."""
        return self.admin.list_topics(timeout=self.request_timeout)

    def identity(self) -> str:
        """The cluster's id and the topic prefix."""
        with self.broker_errors("describe the cluster"):
            cluster_id = self._cluster().cluster_id
        return f"kafka:{cluster_id or self.settings.bootstrap_servers}:{self.prefix}"

    def full_name(self, topic: str) -> str:
        return self.prefix + topic

    def short_name(self, full_topic: str) -> str:
        return full_topic[len(self.prefix):] if full_topic.startswith(self.prefix) else full_topic

    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the (unprefixed) topics that do not exist yet; creating an existing one is fine."""
        for topic in topics:
            if topic in self._known_topics:
                continue
            name = self.full_name(topic)
            partitions = partitions_of(topic, self.settings.partitions)
            with self.broker_errors(f"create topic {name}"):
                created = self.admin.create_topics(
                    [NewTopic(name, partitions, BROKER_DEFAULT_REPLICATION,
                              config={"retention.ms": str(int(self.settings.retention_hours * 3_600_000))})],
                    request_timeout=self.request_timeout,
                )[name]
                try:
                    created.result()
                    log.info("created Kafka topic %s with %d partitions", name, partitions)
                except confluent_kafka.KafkaException as exc:
                    if error_code(exc) != confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                        raise
            self._known_topics.add(topic)

    # -- producing ------------------------------------------------------------------------------

    def publish(self, topic: str, value: Value, key: str | None = None,
                headers: dict[str, str] | None = None) -> None:
        self.ensure_topics([topic])
        record_headers = [(name, text.encode("utf-8")) for name, text in (headers or {}).items()]
        with self.broker_errors(f"publish to {self.full_name(topic)}"):
            self._send(self.full_name(topic), key, value, record_headers)

    def publish_many(self, topic: str, values: Iterable[tuple[str | None, Value]]) -> int:
        """As `Transport.publish_many` (flushed when it returns, or as `published_together` ends), with the checks done
        once for the batch."""
        self.ensure_topics([topic])
        name = self.full_name(topic)
        count = 0
        with self.broker_errors(f"publish to {name}"):
            if topic in BUNDLED_TOPICS:
                count = self._send_bundled(name, values)
            else:
                for key, value in values:
                    self._send(name, key, value, [])
                    count += 1
        if not self._flushes_later():
            self.flush()
        return count

    def _flushes_later(self) -> bool:
        return getattr(self._flushing_later, "active", False)

    @contextmanager
    def published_together(self) -> Iterator[None]:
        """What is published within is handed to the producer as it comes (Kafka cannot take it back: a batch that fails
        half way may have sent part of its output, which its redelivery sends again) and flushed once, as the block
        ends, instead of at each `publish_many`: a worker's batch waits for one acknowledgement, not one per topic it
        writes (the events stage writes three), its output goes to the broker together, and all of it is confirmed
        before the batch is committed."""
        if self._flushes_later():  # an enclosing block flushes
            yield
            return
        self._flushing_later.active = True
        try:
            yield
        finally:
            self._flushing_later.active = False
        self.flush()

    def _send_bundled(self, full_topic: str, values: Iterable[tuple[str | None, Value]]) -> int:
        """Send the values as bundles, one per partition (more when it outgrows `BUNDLE_BYTES`), each value in the
        partition its key chooses; a value without a key, or with a line break in it, goes as a record of its own."""
        values = list(values)
        keyed = [key.encode("utf-8") for key, _ in values if key is not None]
        partitions = iter(partitions_for_keys(keyed, self._partitions_of(full_topic)))  # in the keyed values' order
        waiting: dict[int, list[tuple[str, bytes]]] = defaultdict(list)  # per partition: the bundle being filled
        sizes: dict[int, int] = defaultdict(int)
        for key, value in values:
            data = encode(value)
            if key is None:
                self._send(full_topic, None, data, [])  # no key, no order to keep: the default partitioner's
                continue
            partition = next(partitions)
            if BUNDLE_SEPARATOR in data:
                self._send_bundle(full_topic, partition, waiting.pop(partition, []))  # what came before it first
                sizes[partition] = 0
                self._send(full_topic, key, data, [])
                continue
            waiting[partition].append((key, data))
            sizes[partition] += len(data)
            if sizes[partition] >= BUNDLE_BYTES:
                self._send_bundle(full_topic, partition, waiting.pop(partition))
                sizes[partition] = 0
        for partition, bundle in waiting.items():
            self._send_bundle(full_topic, partition, bundle)
        return len(values)

    def _send_bundle(self, full_topic: str, partition: int, bundle: list[tuple[str, bytes]]) -> None:
        if len(bundle) == 1:  # a record as any other (the key chooses the same partition)
            key, data = bundle[0]
            self._send(full_topic, key, data, [])
        elif bundle:
            keys = orjson.dumps([key for key, _ in bundle])
            self._send(full_topic, None, BUNDLE_SEPARATOR.join(data for _, data in bundle), [(BUNDLE_HEADER, keys)],
                       partition=partition)

    def _partitions_of(self, full_topic: str) -> set[int]:
        """The topic's partitions, asked of the broker once (a topic's partitions are only ever added to, by hand;
        a worker started since then splits its keys over the new count, as Kafka's clients do)."""
        partitions = self._partitions.get(full_topic)
        if partitions is None:
            described = self.producer.list_topics(full_topic, timeout=self.request_timeout).topics[full_topic]
            if described.error is not None:
                raise confluent_kafka.KafkaException(described.error)
            partitions = self._partitions[full_topic] = set(described.partitions)
        return partitions

    def _send(self, full_topic: str, key: str | None, value: Value,
              headers: list[tuple[str, bytes]], partition: int | None = None) -> None:
        options: dict[str, Any] = {"on_delivery": self._delivered}
        if headers:
            options["headers"] = headers
        if partition is not None:
            options["partition"] = partition
        self.producer.produce(full_topic, encode(value), key.encode("utf-8") if key is not None else None, **options)

    def _delivered(self, error: confluent_kafka.KafkaError | None, _record: object) -> None:
        """Called from `flush` for each record that failed (only those: `delivery.report.only.error`)."""
        if error is not None:
            self._send_failures.append(confluent_kafka.KafkaException(error))

    def flush(self) -> None:
        """Wait until the broker acknowledged (acks=all) everything published; raise if any was refused."""
        if self._producer is None:
            return
        waiting = self._producer.flush(self.request_timeout * 2)
        if waiting:
            raise TransportError(f"Kafka at {self.settings.bootstrap_servers}: {waiting} message(s) were not "
                                 f"confirmed within {self.request_timeout * 2:g} s")
        if self._send_failures:
            failures, self._send_failures = self._send_failures, []
            first = failures[0]
            raise TransportError(
                f"Kafka at {self.settings.bootstrap_servers}: {len(failures)} message(s) were not delivered; "
                f"first error: {type(first).__name__}: {first}"
            )

    # -- consuming ------------------------------------------------------------------------------

    def consumer(self, group: str, topics: Iterable[str], member: str | None = None) -> KafkaTopicConsumer:
        topics = list(topics)
        self.ensure_topics(topics)
        return KafkaTopicConsumer(self, group, topics, member)

    def read(self, topic: str, limit: int = 100) -> list[Message]:
        """Partitions assigned by hand (no group): from each partition's start up to its end when asked."""
        name = self.full_name(topic)
        with self.broker_errors(f"read {name}"):
            described = self._cluster().topics.get(name)
            if described is None:
                return []
            places = [(name, partition) for partition in described.partitions]
            starts, ends = self._partition_bounds(places)
            reader = self._reader("reader")
            try:
                reader.assign([confluent_kafka.TopicPartition(topic_, part, starts[topic_, part])
                               for topic_, part in places])
                waiting = {place for place in places if ends[place] > starts[place]}
                messages: list[Message] = []
                deadline = time.monotonic() + self.request_timeout
                while waiting and len(messages) < limit and time.monotonic() < deadline:
                    for fetched in arrived(reader, limit - len(messages), 0.5):
                        if (error := fetched.error()) is not None:
                            report(error, "reader")
                            continue
                        record = Record(fetched)
                        if record.offset + 1 >= ends[record.place]:
                            waiting.discard(record.place)
                        try:
                            held = messages_of(record, topic)
                        except ValueError:  # a broken bundle: shown whole, as its bytes
                            held = [Message(topic, record.partition, record.offset, record.value or b"",
                                            timestamp=record.timestamp / 1000.0)]
                        messages.extend(replace(message, data=encode(value_as_sent(message))) for message in held)
            finally:
                reader.close()
        return sorted(messages, key=lambda m: (m.timestamp, m.partition, m.offset))[:limit]

    def _reader(self, role: str) -> confluent_kafka.Consumer:
        """A consumer of partitions assigned by hand: it joins no group and commits nothing (librdkafka wants a
        group id all the same). It waits for records it knows are there: its fetches are held briefly."""
        return confluent_kafka.Consumer({**self.client_config(f"{self.client_id}-{role}"),
                                         "group.id": f"{self.group_prefix}yuqing-{role}",
                                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                                         "fetch.wait.max.ms": HAND_OFF_FETCH_MAX_WAIT_MS})

    # -- statistics -----------------------------------------------------------------------------

    def stats(self, expected: Mapping[str, Iterable[str]] | None = None) -> list[TopicStats]:
        waiting_for = {self.full_name(topic): [grp for grp, topics in (expected or {}).items() if topic in topics]
                       for topic in {t for topics in (expected or {}).values() for t in topics}}
        with self.broker_errors("read topic statistics"):
            described = self._cluster().topics
            names = sorted(t for t in described if t.startswith(self.prefix))
            if not names:
                return []
            places = [(name, partition) for name in names for partition in sorted(described[name].partitions)]
            starts, ends = self._partition_bounds(places)
            listed = self.admin.list_consumer_groups(request_timeout=self.request_timeout).result().valid
            # One group a request: librdkafka's ListConsumerGroupOffsets takes no more.
            committed = {
                group[len(self.group_prefix):]: self._committed_offsets(group)
                for group in sorted(g.group_id for g in listed if g.group_id.startswith(self.group_prefix))
            }
        result = []
        for name in names:
            parts = [place for place in places if place[0] == name]
            lag: dict[str, int] = {}
            for group, offsets in committed.items():
                mine = {place: offset for place, offset in offsets.items() if place[0] == name}
                if mine:
                    lag[group] = sum(max(ends[place] - mine.get(place, starts[place]), 0) for place in parts)
            for group in waiting_for.get(name, []):  # not joined yet: it will start at the beginning
                lag.setdefault(group, sum(ends[place] - starts[place] for place in parts))
            if not lag and not any(ends[place] for place in parts):
                continue  # never written to and read by no group (a dead-letter topic made in advance)
            messages = sum(ends[place] - starts[place] for place in parts)
            result.append(TopicStats(self.short_name(name), messages, lag))
        return result

    def _committed_offsets(self, group: str) -> dict[tuple[str, int], int]:
        """The offsets `group` committed, per (prefixed topic, partition)."""
        asked = confluent_kafka.ConsumerGroupTopicPartitions(group)
        answer = self.admin.list_consumer_group_offsets([asked], request_timeout=self.request_timeout)[group].result()
        return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions or () if tp.offset >= 0}

    def _partition_bounds(self, places: list[tuple[str, int]]) -> tuple[dict[tuple[str, int], int],
                                                                         dict[tuple[str, int], int]]:
        """First and next offsets per (prefixed topic, partition).

        The end offset is the high watermark of a fetch at the last record, not only ListOffsets:
        some brokers (tansu 0.6) answer ListOffsets(latest) with the last *batch's* base offset + 1.
        """
        starts = self._listed_offsets(places, OffsetSpec.earliest())
        listed = self._listed_offsets(places, OffsetSpec.latest())
        ends = dict(listed)
        # A partition whose listed offset has not moved since a look read its end has had nothing appended (a batch
        # appended moves it, on tansu too): its end is the one read then. Reading it again cost the broker most of a
        # look (tansu sends the partition's last batch whole: 11-12 ms of its CPU for 13 partitions of a bench run).
        unread = []
        for place in places:
            read_before = self._ends_read.get(place)
            if read_before is not None and read_before[0] == listed[place]:
                ends[place] = read_before[1]
            elif listed[place] > starts[place]:
                unread.append(place)
        if not unread:
            return starts, ends
        if self._offsets_reader is None:
            self._offsets_reader = self._reader("offsets-reader")
        reader = self._offsets_reader
        reader.assign([confluent_kafka.TopicPartition(topic, partition, ends[topic, partition] - 1)
                       for topic, partition in unread])
        waiting = set(unread)
        deadline = time.monotonic() + self.request_timeout
        try:
            while waiting and (left := deadline - time.monotonic()) > 0:
                for fetched in arrived(reader, 1000, left):
                    if (error := fetched.error()) is not None:
                        report(error, "offsets reader")
                        continue
                    place = (cast(str, fetched.topic()), cast(int, fetched.partition()))
                    if place in waiting:
                        # Read once a record of this assignment came: the fetch that brought it set the mark.
                        _, high = reader.get_watermark_offsets(confluent_kafka.TopicPartition(*place), cached=True)
                        ends[place] = max(ends[place], high)
                        self._ends_read[place] = (listed[place], ends[place])
                        waiting.discard(place)
        finally:
            reader.unassign()
        return starts, ends

    def _listed_offsets(self, places: list[tuple[str, int]], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        """The broker's offsets of one kind (ListOffsets) for the partitions, in one request."""
        asked = {confluent_kafka.TopicPartition(topic, partition): spec for topic, partition in places}
        answers = self.admin.list_offsets(asked, request_timeout=self.request_timeout)
        return {(tp.topic, tp.partition): answer.result().offset for tp, answer in answers.items()}

    def close(self) -> None:
        """Flush, then release the clients. What the producer still holds after a failed flush is dropped, not
        waited for again: a caller that needed those messages learnt from the flush that they were not
        confirmed (the crawl spools them)."""
        try:
            self.flush()
        finally:
            if self._producer is not None:
                self._producer.purge()
                self._producer.flush(0)  # serves the purged records' reports, which nobody reads any more
                self._send_failures.clear()
            if self._offsets_reader is not None:
                self._offsets_reader.close()
            self._ends_read.clear()
            # The admin client has no close: its threads end with the last reference to it.
            self._producer = self._offsets_reader = self._admin = None


class KafkaTopicConsumer(Consumer):
    """One member of a Kafka consumer group; offsets move only in `commit`.

    Records that are not a JSON object cannot become a `Message`: they are published to the topic's
    dead-letter topic (raw bytes in base64) and counted as handled, so their offsets are committed
    along with the messages around them instead of blocking the partition.
    """

    def __init__(self, transport: KafkaTransport, group: str, topics: list[str], member: str | None) -> None:
        self.transport = transport
        self.group = group
        self.topics = topics
        client_id = f"{transport.client_id}-{member}" if member else transport.client_id
        with transport.broker_errors(f"join consumer group {group}"):
            self._consumer = confluent_kafka.Consumer(transport.consumer_config(group, client_id, topics))
            self._consumer.subscribe([transport.full_name(t) for t in topics], on_assign=self._on_assign,
                                     on_revoke=self._on_revoke, on_lost=self._on_lost)
        # Per (topic, partition): the (offset, part) of each message delivered and not yet committed, the offset
        # after the last record delivered or quarantined, and the offset last committed (or resumed from).
        self._outstanding: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self._delivered_to: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._short_names: dict[str, str] = {}  # a record's (prefixed) topic, as the stages name it
        # Records fetched and not yet delivered: those of a bundled topic beyond what the batch had room for.
        self._fetched: deque[Record] = deque()
        self._join_deadline = time.monotonic() + transport.join_timeout
        # Set on every (re)join, even when no partition came our way (the group's callbacks run in `poll`).
        self.joined_at: float | None = None

    def _on_assign(self, _consumer: object, partitions: list[confluent_kafka.TopicPartition]) -> None:
        # Newly assigned partitions start from the group's committed offset; nothing to prepare.
        log.info("joined group %s with %d partition(s)", self.group, len(partitions))
        self.joined_at = time.monotonic()

    def _on_revoke(self, _consumer: object, partitions: list[confluent_kafka.TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        for tp in gone:
            self._outstanding.pop(tp, None)
            self._delivered_to.pop(tp, None)
            self._committed.pop(tp, None)
        # The partitions' next owner starts from their committed offsets: what was fetched here is not delivered.
        self._fetched = deque(record for record in self._fetched if record.place not in gone)

    def _on_lost(self, consumer: object, partitions: list[confluent_kafka.TopicPartition]) -> None:
        log.warning("group %s: this member lost its partitions (its session expired)", self.group)
        self._on_revoke(consumer, partitions)

    def assigned(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs the group currently gives this member."""
        with self.transport.broker_errors(f"read the assignment in group {self.group}"):
            return {(self.transport.short_name(tp.topic), tp.partition) for tp in self._consumer.assignment()}

    def poll(self, max_messages: int = 100, timeout: float = 1.0) -> list[Message]:
        """Up to `max_messages` messages; `max_messages=0` only keeps the membership alive.

        Until this member has joined its group, the wait is extended up to the transport's `join_timeout`;
        after a (re)join the full `timeout` applies again, since fetching only starts then.
        """
        deadline = time.monotonic() + timeout
        batch: list[Message] = []
        with self.transport.broker_errors(f"poll for group {self.group}"):
            while True:
                if max_messages >= 1:
                    self._deliver_fetched(batch, max_messages)
                give_up = self._give_up_at(deadline, timeout) if max_messages >= 1 else deadline
                # In slices of at most `timeout`: a join completed in the call does not end it. Once the batch holds
                # something, only what the client has at hand is added to it. Called on every poll, full batch or
                # not: it is what keeps the member in its group (max.poll.interval.ms).
                wait = max(0.0 if batch else min(give_up - time.monotonic(), timeout), 0.0)
                if max_messages < 1:
                    self._hand_out_again(arrived(self._consumer, 1, wait))
                    return []
                self._fetch(max(max_messages - len(batch), 1), wait)
                self._deliver_fetched(batch, max_messages)
                if batch or time.monotonic() >= give_up:
                    return batch

    def _fetch(self, most: int, timeout: float) -> None:
        """Set aside up to `most` records for delivery, each look's (`looks`) before the next look is made. The client
        serves a rebalance in whichever look comes next, and its revoke (`_on_revoke`) drops what is set aside of the
        partitions it takes: a record held apart across it was delivered after it, and committed past the records it
        dropped, which the partition's next owner then never read (whole bundles were lost so when a kill or a join
        rebalanced a group)."""
        for records in looks(self._consumer, most, timeout):
            for record in records:
                error = record.error()
                if error is not None:
                    report(error, f"consumer in group {self.group}")
                    continue
                fetched = Record(record)
                # Delivery resumes at the group's committed offset: nothing before it needs a commit.
                self._committed.setdefault(fetched.place, fetched.offset)
                self._fetched.append(fetched)

    def _hand_out_again(self, records: list[confluent_kafka.Message]) -> None:
        """Nothing was asked for: each partition's first record of these is delivered next time."""
        firsts: dict[tuple[str, int], int] = {}
        for fetched in (Record(record) for record in records if record.error() is None):
            firsts.setdefault(fetched.place, fetched.offset)
        for (topic, partition), offset in firsts.items():
            self._consumer.seek(confluent_kafka.TopicPartition(topic, partition, offset))

    def _deliver_fetched(self, batch: list[Message], max_messages: int) -> None:
        """Move fetched records' messages into `batch`, oldest first, as long as each record fits whole (a first one
        always does); the others wait for the next poll."""
        fetched = self._fetched
        while fetched and len(batch) < max_messages:
            record = fetched[0]
            topic = self._short_names.get(record.topic)
            if topic is None:
                topic = self._short_names[record.topic] = self.transport.short_name(record.topic)
            try:
                messages = messages_of(record, topic)
            except ValueError as exc:  # a bundle that does not hold what its header says: quarantined whole
                self._quarantine(Message(topic, record.partition, record.offset, record.value or b""), str(exc))
                messages = []
            if batch and len(batch) + len(messages) > max_messages:
                return
            fetched.popleft()
            outstanding = self._outstanding.setdefault(record.place, [])
            for message in messages:
                problem = _plainly_no_object(message.data)
                if problem:
                    self._quarantine(message, f"not a JSON object: {problem}")
                else:
                    batch.append(message)
                    outstanding.append((message.offset, message.part))
            self._delivered_to[record.place] = record.offset + 1

    def _give_up_at(self, deadline: float, timeout: float) -> float:
        """The poll deadline, extended while the group join is pending and renewed after a (re)join, by at least
        `FIRST_FETCH_SECONDS`: after an assignment librdkafka asks the group's committed offsets before it fetches
        (a first poll of 0.5 s came back empty on a loaded machine with the records waiting)."""
        if self.joined_at is None:
            return max(deadline, self._join_deadline)
        return max(deadline, self.joined_at + max(timeout, FIRST_FETCH_SECONDS))

    def _quarantine(self, message: Message, problem: str) -> None:
        part = f" (message {message.part} of its bundle)" if message.part else ""
        reason = f"{message.topic}@{message.partition}:{message.offset}{part} is {problem}"
        log.warning("quarantining undecodable record %s", reason)
        self.transport.publish(dead_letter(message.topic), undecodable_value(message.data), key=message.key,
                               headers={**message.headers, UNDECODABLE_HEADER: reason[:2000]})

    def commit(self, messages: Iterable[Message]) -> None:
        last_positions: dict[tuple[str, int], tuple[int, int]] = {}
        for msg in messages:
            where, place = (msg.topic, msg.partition), (msg.offset, msg.part)
            if place > last_positions.get(where, (-1, 0)):
                last_positions[where] = place
        for (topic, partition), last in last_positions.items():
            tp = (self.transport.full_name(topic), partition)
            self._outstanding[tp] = [place for place in self._outstanding.get(tp, []) if place > last]
        # A partition may go as far as the record of its first delivered-but-uncommitted message: a bundle counts
        # as done only once all its messages are.
        offsets = {}
        for tp, delivered_to in self._delivered_to.items():
            pending = self._outstanding.get(tp)
            position = pending[0][0] if pending else delivered_to
            if position > self._committed[tp]:
                offsets[tp] = position
        if not offsets:
            return
        self.transport.flush()  # outputs first: an offset must never get ahead of what it produced
        try:
            results = self._consumer.commit(offsets=[confluent_kafka.TopicPartition(topic, partition, position)
                                                     for (topic, partition), position in offsets.items()],
                                            asynchronous=False)
            refused = [tp.error for tp in results or () if tp.error is not None]
            if refused:
                raise confluent_kafka.KafkaException(refused[0])
        except confluent_kafka.KafkaException as exc:
            if error_code(exc) in REBALANCED:
                # The group rebalanced and our partitions went to another member, which resumes from the last
                # committed offset: the work is redelivered, not lost.
                log.warning("group %s rebalanced before commit; messages will be redelivered: %s", self.group, exc)
                return
            with self.transport.broker_errors(f"commit offsets for group {self.group}"):
                raise
        self._committed.update(offsets)

    def close(self) -> None:
        """Leave the group without committing, so other members take our partitions at once."""
        with self.transport.broker_errors(f"leave consumer group {self.group}"):
            self._consumer.close()


class Record:
    """A record confluent-kafka fetched, with the fields `messages_of` reads."""

    __slots__ = ("topic", "partition", "offset", "key", "value", "headers", "timestamp", "place")

    def __init__(self, record: confluent_kafka.Message) -> None:
        # A fetched record has its topic, partition and offset (only an error event lacks them), and its headers
        # as a list of what was received (a dict only when given one to send).
        self.topic = cast(str, record.topic())
        self.partition = cast(int, record.partition())
        self.offset = cast(int, record.offset())
        self.key: bytes | None = record.key()
        self.value: bytes | None = record.value()
        self.headers = cast(list[tuple[str, bytes | None]], record.headers() or [])
        self.timestamp: int = record.timestamp()[1]
        self.place = (self.topic, self.partition)


def arrived(consumer: confluent_kafka.Consumer, most: int, timeout: float) -> list[confluent_kafka.Message]:
    """Up to `most` records: one waited for up to `timeout`, then those the client already holds."""
    return [record for records in looks(consumer, most, timeout) for record in records]


def looks(consumer: confluent_kafka.Consumer, most: int, timeout: float) -> Iterator[list[confluent_kafka.Message]]:
    """Up to `most` records in the client's calls that brought them: one waited for up to `timeout`, then, once the
    caller has taken that, those the client already holds. librdkafka's consume(n, timeout) returns only once n records
    are there or the timeout has passed, which would hold every poll of a stage with less than a batch waiting for the
    whole timeout (the client tried before did so)."""
    records = consumer.consume(1, timeout)
    yield records
    if records and most > 1:
        yield consumer.consume(most - 1, 0)


def report(error: confluent_kafka.KafkaError, client: str) -> None:
    """An error a consumer hands out in place of a record: raised when it ends the client (or its membership), else
    logged (the client retries by itself: a broker away for a moment, a leader moving)."""
    if error.fatal() or error.code() == confluent_kafka.KafkaError.INVALID_SESSION_TIMEOUT:
        raise confluent_kafka.KafkaException(error)
    log.warning("Kafka %s: %s", client, error)


def error_code(exc: confluent_kafka.KafkaException) -> int | None:
    """The librdkafka error code of a confluent-kafka exception (None when it carries a message only)."""
    error = exc.args[0] if exc.args else None
    return int(error.code()) if isinstance(error, confluent_kafka.KafkaError) else None


def messages_of(record: Record, topic: str) -> list[Message]:
    """The messages a fetched record holds: the record itself, or a bundle's (raises ValueError when a bundle's
    header does not name a key for each of its values)."""
    headers = {name: (raw or b"").decode("utf-8", "replace") for name, raw in record.headers} \
        if record.headers else {}
    timestamp = record.timestamp / 1000.0
    keys_json = headers.pop(BUNDLE_HEADER, None)
    if keys_json is None:
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        return [Message(topic, record.partition, record.offset, record.value or b"", key, headers, timestamp)]
    values = (record.value or b"").split(BUNDLE_SEPARATOR)
    try:
        keys = orjson.loads(keys_json)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"a bundle whose keys are unreadable ({exc})") from exc
    if not isinstance(keys, list) or len(keys) != len(values) or not all(isinstance(key, str) for key in keys):
        raise ValueError(f"a bundle of {len(values)} values whose header names no key for each: {keys_json[:80]!r}")
    return [Message(topic, record.partition, record.offset, data, key, dict(headers), timestamp, part)
            for part, (key, data) in enumerate(zip(keys, values, strict=True))]


def _plainly_no_object(data: bytes) -> str:
    """Why a record's value is plainly no JSON object ('' when it looks like one). Only its ends are looked at:
    decoding it here would parse every value twice, as the stage validates it from its JSON; a value that only
    looks like an object fails that validation and goes to the dead-letter topic from the worker, with the reason."""
    if data[:1] == b"{" and data[-1:] == b"}":
        return ""  # as every value the stages write: no copy without its blanks needed
    body = data.strip()
    if body[:1] != b"{" or body[-1:] != b"}":
        return f"expected a JSON object, got {body[:40]!r}"
    return ""
