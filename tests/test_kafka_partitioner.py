"""The Kafka producer's partitioner: every keyed record lands where Kafka's default partitioner (the Java client's,
and kafka-python's) puts it, so records written before and after keep each key's order."""

import random

from kafka.partitioner import DefaultPartitioner
from kafka.partitioner import murmur2 as kafka_python_murmur2

from transport.kafka import KeyHashPartitioner, murmur2

# Kafka's own test vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java), signed as in Java.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


class Cluster:
    """What a partitioner is given: the producer's view of the topics' partitions."""

    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions

    def topics(self) -> set[str]:
        return set(self.partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(range(self.partitions[topic])) if topic in self.partitions else None

    def available_partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions_for_topic(topic)


def keys() -> list[bytes]:
    generator = random.Random(16)
    made = [bytes(generator.randrange(256) for _ in range(generator.randrange(0, 80))) for _ in range(3000)]
    made += [f"weibo:{generator.getrandbits(80):020x}".encode() for _ in range(3000)]
    return made + ["事件:上海".encode()] + list(JAVA_MURMUR2)


def test_murmur2_is_the_java_clients():
    for key, signed in JAVA_MURMUR2.items():
        assert murmur2(key) == signed & 0xFFFFFFFF, key


def test_murmur2_equals_kafka_pythons_for_keys_of_every_length():
    for key in keys():
        assert murmur2(key) == kafka_python_murmur2(key), key


def test_every_key_goes_to_the_default_partitioners_partition():
    cluster = Cluster({"one": 1, "three": 3, "four": 4, "twelve": 12})
    ours, default = KeyHashPartitioner(), DefaultPartitioner()
    for topic in cluster.partitions:
        for key in keys():
            assert ours.partition(topic, None, key, None, None, cluster) == \
                default.partition(topic, None, key, None, None, cluster), (topic, key)


def test_a_record_without_a_key_goes_to_some_partition_of_its_topic():
    cluster = Cluster({"four": 4})
    chosen = {KeyHashPartitioner().partition("four", None, None, None, None, cluster) for _ in range(200)}
    assert chosen <= {0, 1, 2, 3} and len(chosen) > 1
