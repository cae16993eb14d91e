"""Bundles on Kafka: between the stages, `publish_many` packs the messages bound for one partition into one record
(transport/kafka.py). Against a real broker (tansu): the messages keep the partitions their keys choose and their
order, a poll delivers a bundle whole, a bundle's offset is committed only once all its messages are, and what
cannot be bundled or unbundled is neither lost nor blocks the partition.
"""

import json
import time

import orjson
import pytest

from tests.kafka_broker import make_transport, unique
from transport import ANNOTATED_POSTS, ENRICHED_POSTS, dead_letter
from transport.kafka import BUNDLE_HEADER, UNDECODABLE_HEADER, murmur2

pytestmark = pytest.mark.kafka


@pytest.fixture
def kafka(broker):
    transport = make_transport(broker.bootstrap)
    yield transport
    transport.close()


def drain(consumer, expected, batch=1000, limit=30.0):
    """Poll and commit until `expected` messages arrived (or `limit` seconds passed)."""
    seen = []
    deadline = time.monotonic() + limit
    while len(seen) < expected and time.monotonic() < deadline:
        got = consumer.poll(batch, 0.5)
        seen.extend(got)
        consumer.commit(got)
    return seen


def records_in(transport, topic):
    return next(s.messages for s in transport.stats() if s.topic == topic)


def lag_of(transport, topic, group):
    return next(s.lag.get(group) for s in transport.stats(expected={group: [topic]}) if s.topic == topic)


def test_a_bundled_topic_keeps_each_keys_partition_and_order(kafka):
    values = [(f"post-{n % 10}", {"key": f"post-{n % 10}", "n": n}) for n in range(200)]
    assert kafka.publish_many(ENRICHED_POSTS, values) == 200
    assert records_in(kafka, ENRICHED_POSTS) <= 4, "one record per partition, not one per message"
    with kafka.consumer(unique("g"), [ENRICHED_POSTS]) as consumer:
        got = drain(consumer, 200)
    assert sorted(m.value["n"] for m in got) == list(range(200))
    for message in got:
        assert message.key == message.value["key"]
        # The partition Kafka's default partitioner gives the key, as if each message were a record of its own.
        assert message.partition == (murmur2([message.key.encode()])[0] & 0x7FFFFFFF) % 4
    for key in {m.key for m in got}:
        mine = [m for m in got if m.key == key]
        assert [m.value["n"] for m in mine] == sorted(m.value["n"] for m in mine)
    assert len({(m.partition, m.offset, m.part) for m in got}) == 200


def test_a_poll_delivers_bundles_whole_and_keeps_the_rest_for_the_next(kafka):
    for start in (0, 50, 100):  # three bundles of 50 on the one partition of the annotated posts
        kafka.publish_many(ANNOTATED_POSTS, [(f"k{n}", {"n": n}) for n in range(start, start + 50)])
    assert records_in(kafka, ANNOTATED_POSTS) == 3
    with kafka.consumer(unique("g"), [ANNOTATED_POSTS]) as consumer:
        first = consumer.poll(60, 10.0)
        second = consumer.poll(10, 5.0)  # a bundle larger than the batch still comes, whole
        third = consumer.poll(200, 5.0)
    assert [m.value["n"] for m in first] == list(range(50))
    assert [m.value["n"] for m in second] == list(range(50, 100))
    assert [m.value["n"] for m in third] == list(range(100, 150))


def test_a_bundle_counts_as_committed_only_once_all_its_messages_are(kafka):
    group = unique("g")
    kafka.publish_many(ANNOTATED_POSTS, [(f"k{n}", {"n": n}) for n in range(10)])
    with kafka.consumer(group, [ANNOTATED_POSTS]) as consumer:
        got = consumer.poll(10, 10.0)
        assert len(got) == 10
        consumer.commit(got[:6])
    assert lag_of(kafka, ANNOTATED_POSTS, group) == 1, "four of its messages were not committed"
    with kafka.consumer(group, [ANNOTATED_POSTS]) as consumer:
        again = consumer.poll(10, 10.0)
        assert [m.value["n"] for m in again] == list(range(10)), "the bundle comes again whole"
        consumer.commit(again)
    assert lag_of(kafka, ANNOTATED_POSTS, group) == 0


def test_a_value_with_a_line_break_goes_as_a_record_of_its_own_in_its_place(kafka):
    pretty = json.dumps({"n": 1, "text": "two\nlines"}, indent=2).encode()  # a line break outside its strings
    kafka.publish_many(ANNOTATED_POSTS, [("a", {"n": 0}), ("a", pretty), ("a", {"n": 2}), ("a", {"n": 3})])
    assert records_in(kafka, ANNOTATED_POSTS) == 3, "the bundle before it, itself, the bundle after it"
    with kafka.consumer(unique("g"), [ANNOTATED_POSTS]) as consumer:
        got = drain(consumer, 4)
    assert [m.value["n"] for m in got] == [0, 1, 2, 3]
    assert got[1].data == pretty and got[1].value["text"] == "two\nlines"


def test_a_bundle_that_does_not_hold_what_its_header_says_goes_to_the_dead_letter_topic_whole(kafka):
    topic = kafka.full_name(ANNOTATED_POSTS)
    kafka.publish(ANNOTATED_POSTS, {"n": 0}, key="a")
    kafka.producer.produce(topic, b'{"n": 1}\n{"n": 2}', headers=[(BUNDLE_HEADER, orjson.dumps(["only-one"]))])
    kafka.publish(ANNOTATED_POSTS, {"n": 3}, key="a")
    kafka.flush()
    group = unique("g")
    with kafka.consumer(group, [ANNOTATED_POSTS]) as consumer:
        got = drain(consumer, 2)
    assert [m.value["n"] for m in got] == [0, 3]
    assert lag_of(kafka, ANNOTATED_POSTS, group) == 0, "the quarantined record's offset is committed too"
    with kafka.consumer(unique("g"), [dead_letter(ANNOTATED_POSTS)]) as consumer:
        (quarantined,) = drain(consumer, 1)
    assert quarantined.value == {"raw_base64": "eyJuIjogMX0KeyJuIjogMn0="}
    assert "a bundle of 2 values" in quarantined.headers[UNDECODABLE_HEADER]
    read = kafka.read(ANNOTATED_POSTS, 10)  # as `yuqing dlq` reads a topic: the broken bundle whole, as its bytes
    assert [m.value for m in read] == [{"n": 0}, {"raw_base64": "eyJuIjogMX0KeyJuIjogMn0="}, {"n": 3}]


def test_a_message_of_a_bundle_that_is_no_json_object_goes_to_the_dead_letter_topic_alone(kafka):
    topic = kafka.full_name(ENRICHED_POSTS)
    kafka.producer.produce(topic, b'{"n": 0}\nnot json\n{"n": 2}', partition=0,
                           headers=[(BUNDLE_HEADER, orjson.dumps(["a", "b", "c"]))])
    kafka.flush()
    with kafka.consumer(unique("g"), [ENRICHED_POSTS]) as consumer:
        got = drain(consumer, 2)
    assert [(m.key, m.value["n"]) for m in got] == [("a", 0), ("c", 2)]
    with kafka.consumer(unique("g"), [dead_letter(ENRICHED_POSTS)]) as consumer:
        (quarantined,) = drain(consumer, 1)
    assert quarantined.key == "b"
    assert "(message 1 of its bundle) is not a JSON object" in quarantined.headers[UNDECODABLE_HEADER]


def test_reading_a_bundled_topic_gives_its_messages(kafka):
    kafka.publish_many(ENRICHED_POSTS, [(f"k{n}", {"n": n}) for n in range(20)])
    assert sorted(m.value["n"] for m in kafka.read(ENRICHED_POSTS, 100)) == list(range(20))


class RevokedBetweenLooks:
    """A member's client whose second `consume` (the second look of one poll: the records the client already holds)
    is where its group's rebalance reaches it: `rebalance()` starts one (another member joins) and the call returns
    once the member's partitions were revoked (its `_on_revoke` dropped what it had set aside), as librdkafka serves
    a pending rebalance in whichever `consume` comes next."""

    def __init__(self, member, rebalance):
        self.member = member
        self.client = member._consumer
        self.rebalance = rebalance
        self.looks = 0

    def consume(self, num, timeout):
        self.looks += 1
        if self.looks != 2:
            return self.client.consume(num, timeout)
        self.rebalance()
        got = []
        deadline = time.monotonic() + 30
        while self.member._committed and time.monotonic() < deadline:  # emptied by the revoke
            got += self.client.consume(num, 0.2)
        assert not self.member._committed, "the rebalance never reached the member"
        return got

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_a_partition_revoked_during_a_poll_is_not_committed_past_the_bundles_it_set_aside(kafka):
    # Four records on the one partition: a bundle of 3, a message, a bundle of 3, a message.
    for values in ([0, 1, 2], [3], [4, 5, 6], [7]):
        kafka.publish_many(ANNOTATED_POSTS, [(f"k{n}", {"n": n}) for n in values])
    group = unique("g")
    members = [kafka.consumer(group, [ANNOTATED_POSTS], member="a")]
    first = members[0]
    delivered = []
    try:
        batch = first.poll(3, 10.0)  # the first bundle; the message and the second bundle wait, set aside
        assert [m.value["n"] for m in batch] == [0, 1, 2]
        first.commit(batch)
        delivered += batch
        first._consumer = RevokedBetweenLooks(
            first, lambda: members.append(kafka.consumer(group, [ANNOTATED_POSTS], member="b")))
        # The poll delivers the message; the second bundle does not fit; the first look brings the last message, and
        # the second look meets the rebalance a second member's join starts, which takes the partition (and what was
        # set aside of it) from the first member.
        batch = first.poll(3, 0.5)
        first._consumer = first._consumer.client
        delivered += batch
        first.commit(batch)
        # Both members go on as workers do (poll, commit what came) until every message was delivered or a minute
        # has passed.
        deadline = time.monotonic() + 60
        while len({m.value["n"] for m in delivered}) < 8 and time.monotonic() < deadline:
            for member in members:
                batch = member.poll(10, 0.5)
                delivered += batch
                member.commit(batch)
    finally:
        for member in members:
            member.close()
    assert sorted({m.value["n"] for m in delivered}) == list(range(8)), \
        "the second bundle was committed past without being delivered to either member"
