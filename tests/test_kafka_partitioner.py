"""Where a keyed record goes: a bundle to the partition Kafka's default partitioner (the Java client's, librdkafka's
murmur2_random) gives its keys, as every record published alone does, so records written before and
after keep each key's order."""

import random

import confluent_kafka
import pytest

from tests.kafka_broker import make_transport, unique
from transport.kafka import murmur2, partitions_for_keys

# Kafka's own test vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java), signed as in Java.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def keys() -> list[bytes]:
    generator = random.Random(16)
    made = [bytes(generator.randrange(256) for _ in range(generator.randrange(0, 80))) for _ in range(3000)]
    made += [f"weibo:{generator.getrandbits(80):020x}".encode() for _ in range(3000)]
    return made + ["事件:上海".encode()] + list(JAVA_MURMUR2)


def test_murmur2_is_the_java_clients():
    assert murmur2(list(JAVA_MURMUR2)) == [signed & 0xFFFFFFFF for signed in JAVA_MURMUR2.values()]
    assert murmur2([]) == []


def java_murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2`, line by line, in Python's integers cut to 32 bits."""
    multiplier, mask = 0x5BD1E995, 0xFFFFFFFF
    length = len(data)
    hashed = 0x9747B28C ^ length
    for start in range(0, length - length % 4, 4):
        word = int.from_bytes(data[start:start + 4], "little")
        word = (word * multiplier) & mask
        word ^= word >> 24
        word = (word * multiplier) & mask
        hashed = ((hashed * multiplier) & mask) ^ word
    if length % 4:
        hashed = ((hashed ^ int.from_bytes(data[length - length % 4:], "little")) * multiplier) & mask
    hashed = ((hashed ^ (hashed >> 13)) * multiplier) & mask
    return hashed ^ (hashed >> 15)


def test_keys_hashed_together_hash_as_each_alone():
    """Keys of every length (none, one to three bytes beyond a word, ids of one length) mixed in one call: each
    hashes as Kafka's function hashes it alone."""
    mixed = keys()
    random.Random(7).shuffle(mixed)
    assert murmur2(mixed) == [java_murmur2(key) for key in mixed]


@pytest.mark.kafka
def test_every_key_goes_where_the_producers_partitioner_puts_it(broker):
    """Keys of every length (bytes of any value, ids, Chinese text, the Java vectors): the partition each record
    was written to by the transport's producer (librdkafka's murmur2_random), from its delivery report, is the one
    partitions_for_keys gives."""
    kafka = make_transport(broker.bootstrap)
    landed: dict[tuple[str, bytes], int] = {}

    def delivered(error: confluent_kafka.KafkaError | None, record: confluent_kafka.Message) -> None:
        assert error is None, error
        landed[record.topic(), record.key()] = record.partition()

    counts = {"one": 1, "three": 3, "four": 4, "twelve": 12}
    try:
        for topic, count in counts.items():
            kafka.admin.create_topics([confluent_kafka.admin.NewTopic(kafka.full_name(topic), count)])[
                kafka.full_name(topic)].result()
        producer = confluent_kafka.Producer({**kafka.producer_config(), "delivery.report.only.error": False})
        for topic in counts:
            for key in keys():
                producer.produce(kafka.full_name(topic), b"{}", key, on_delivery=delivered)
                producer.poll(0)
        assert producer.flush(30) == 0
        for topic, count in counts.items():
            expected = dict(zip(keys(), partitions_for_keys(keys(), set(range(count))), strict=True))
            for key in keys():
                assert landed[kafka.full_name(topic), key] == expected[key], (topic, key)
    finally:
        kafka.close()


@pytest.mark.kafka
def test_the_producer_puts_a_keyed_record_where_a_bundle_of_its_key_goes(broker):
    """Records published alone go where the producer's partitioner (librdkafka's) puts them, bundles where
    partitions_for_keys says: the two must agree, or a key's messages would be split between partitions."""
    kafka = make_transport(broker.bootstrap, partitions=12)
    try:
        sent = [f"weibo:{n:020x}" for n in range(0, 6000, 37)] + ["事件:上海"]
        for key in sent:
            kafka.publish("posts.raw", {"key": key}, key=key)
        kafka.flush()
        with kafka.consumer(unique("g"), ["posts.raw"]) as consumer:
            landed: dict[str, int] = {}
            for _ in range(60):
                batch = consumer.poll(1000, 0.5)
                landed.update((message.key, message.partition) for message in batch if message.key)
                consumer.commit(batch)
                if len(landed) == len(sent):
                    break
        assert landed == dict(zip(sent, partitions_for_keys([key.encode("utf-8") for key in sent], set(range(12))),
                                  strict=True))
    finally:
        kafka.close()
