"""The transport interface: named topics, consumer groups, committed offsets (at-least-once).

Stage code sees `Message`s, never a queue library: a message holds its value as the JSON the log keeps, which a
stage validates straight into its schema type (`Message.data`), or reads as a dict (`Message.value`). A stage
publishes dicts, or values it encoded itself (`bytes` of a JSON object: a schema type's serializer writes them
without building a dict first). Two implementations:
`transport.sqlite_log` (embedded default) and Kafka (scale-out), chosen by `settings.transport`.
"""

from __future__ import annotations

import abc
import base64
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from yuqing.errors import BackendUnavailable

# Topic names, defined once. A Kafka deployment prefixes them (settings.kafka.topic_prefix).
RAW_POSTS = "posts.raw"
# Posts enriched (masked, sentiment, keywords, places, policies) but not yet put into events: between the
# stateless enrich stage and the stateful events stage.
ANNOTATED_POSTS = "posts.annotated"
ENRICHED_POSTS = "posts.enriched"
EVENTS = "events"
CRAWL_HEALTH = "crawl.health"
DEAD_LETTER_SUFFIX = ".dlq"
ALL_TOPICS = (RAW_POSTS, ANNOTATED_POSTS, ENRICHED_POSTS, EVENTS, CRAWL_HEALTH)
# Topics read by a stage that keeps state: one partition, so that one member of the group holds it (the
# active one) and the others stand by until the group gives it to them.
SINGLE_PARTITION = frozenset({ANNOTATED_POSTS})


# What `json.dumps(value, ensure_ascii=False, default=str)` wrote, at a fraction of the CPU: UTF-8, keys that
# are not strings as strings, and anything else (datetimes too) as its str(). Both transports write values so.
ENCODE_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


# What `publish` takes: a JSON-able dict, or the JSON of an object already encoded (kept as it is).
Value = dict[str, Any] | bytes


def encode(value: Any) -> bytes:
    """A value's JSON: pre-encoded bytes as they are, anything else written with orjson."""
    if isinstance(value, bytes):
        return value
    return orjson.dumps(value, default=str, option=ENCODE_OPTIONS)


def undecodable_value(data: bytes) -> dict[str, str]:
    """A value that is no JSON object, as a dead-letter topic keeps it: its bytes in base64."""
    return {"raw_base64": base64.b64encode(data).decode("ascii")}


def value_as_sent(message: Message) -> Value:
    """The message's value as it came, for a dead-letter topic or a reader: its JSON, or its bytes in base64 when
    it is no JSON object (what `yuqing dlq` can show either way)."""
    try:
        message.value  # noqa: B018 (decoded only to check it; cached for whoever reads it next)
    except (ValueError, TypeError):
        return undecodable_value(message.data)
    return message.data


def partitions_of(topic: str, configured: int) -> int:
    """How many partitions `topic` (unprefixed) has: one for the stateful stages' input, else `configured`."""
    return 1 if topic in SINGLE_PARTITION else configured


def dead_letter(topic: str) -> str:
    """The quarantine topic for messages of `topic` that can never succeed."""
    return topic + DEAD_LETTER_SUFFIX


class TransportError(BackendUnavailable):
    """The transport is unreachable or refused an operation; callers keep their items and retry."""


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    # The value's JSON (an object), as the log holds it. Stages validate it into their schema types in one pass
    # (`Model.model_validate_json`) rather than through a dict; it is also what a retry or a dead letter re-publishes.
    data: bytes
    key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timestamp: float = 0.0
    # The message's place in its record when a record holds several (a Kafka bundle: `transport.kafka`), else 0:
    # messages of one record share its offset, and (offset, part) orders them in their partition.
    part: int = 0

    @cached_property
    def value(self) -> dict[str, Any]:
        """The value as a dict, decoded on first use (raises ValueError when `data` is not a JSON object)."""
        value = orjson.loads(self.data)
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        return value


@dataclass(frozen=True)
class TopicStats:
    topic: str
    messages: int
    # committed lag per consumer group: messages not yet committed by that group
    lag: dict[str, int]


class Consumer(abc.ABC):
    """A member of a consumer group. Offsets advance only when `commit` is called."""

    @abc.abstractmethod
    def poll(self, max_messages: int = 100, timeout: float = 1.0) -> list[Message]:
        """Up to `max_messages` new messages, waiting at most `timeout` seconds for the first. A record that holds
        several messages (a Kafka bundle) is delivered whole, even when it alone holds more than `max_messages`."""

    @abc.abstractmethod
    def commit(self, messages: Iterable[Message]) -> None:
        """Mark these messages (and all before them in their partitions) as processed."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport(abc.ABC):
    @abc.abstractmethod
    def publish(self, topic: str, value: Value, key: str | None = None,
                headers: dict[str, str] | None = None) -> None:
        """Append one message; messages with the same key keep their order."""

    def publish_many(self, topic: str, values: Iterable[tuple[str | None, Value]]) -> int:
        count = 0
        for key, value in values:
            self.publish(topic, value, key=key)
            count += 1
        self.flush()
        return count

    def flush(self) -> None:
        """Block until everything published so far is durable."""

    # Whether `published_together` holds what is published in it and appends it in one commit.
    publishes_together = False

    @contextmanager
    def published_together(self) -> Iterator[None]:
        """What this thread publishes within (a worker's batch: the stage's output, its retries and dead letters)
        reaches the consumers in one piece as the block ends, and not at all when it raises (the batch is delivered
        again and publishes again), where the transport can (`publishes_together`); elsewhere each publish goes as
        outside, and a transport may only wait until the block ends to confirm them all (`flush`: Kafka)."""
        yield

    @abc.abstractmethod
    def identity(self) -> str:
        """Names this log for good: offsets saved against it mean nothing in another (a new log starts at 0)."""

    @abc.abstractmethod
    def consumer(self, group: str, topics: Iterable[str], member: str | None = None) -> Consumer: ...

    @abc.abstractmethod
    def read(self, topic: str, limit: int = 100) -> list[Message]:
        """The oldest `limit` messages of a topic, outside any consumer group (nothing is committed): for
        looking at dead letters."""

    @abc.abstractmethod
    def stats(self, expected: Mapping[str, Iterable[str]] | None = None) -> list[TopicStats]:
        """Message counts and per-group lag for every topic that has messages or offsets, read from the
        partitions' first/next and committed offsets (never by reading messages).

        `expected` maps consumer groups to the topics they read: such a group gets a lag on each of its
        topics even before it has joined or committed anything (all of the topic is waiting then)."""

    def prune(self) -> int:
        """Free what retention allows and return how many messages went; a broker that applies
        its own retention (Kafka's `retention.ms`) has nothing to do here."""
        return 0

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
