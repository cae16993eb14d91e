"""The loop every worker runs: poll a batch, process it, then commit. Stage code never sees the queue.

Each message ends in exactly one counted outcome:
- ``processed``: the stage handled it and produced its output;
- ``retried``: the stage failed on it; it is re-published with a retry count in its headers;
- ``quarantined``: it can never succeed (invalid, or out of retries); it goes to the dead-letter topic.
When the backend the stage writes to is down, nothing is committed: the batch waits and is polled again.
"""

from __future__ import annotations

import abc
import ctypes
import gc
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from transport.base import Consumer, Message, Transport, dead_letter, value_as_sent
from yuqing.errors import BackendUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

RETRY_HEADER = "yuqing-retries"
ERROR_HEADER = "yuqing-error"


class PoisonMessage(Exception):
    """Raised by a stage for a message that can never succeed: it is quarantined at once, and
    counted as ``refused:<reason>`` too when the stage names a reason."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


# Failures of the systems a stage writes to: the batch is kept and tried again later.
BACKEND_DOWN: tuple[type[Exception], ...] = (BackendUnavailable, ConnectionError, TimeoutError)


@dataclass
class BatchResult:
    """What a stage did with a batch: messages it could not handle, each with the reason."""

    failed: dict[int, Exception] = field(default_factory=dict)  # index in batch -> error
    poison: dict[int, Exception] = field(default_factory=dict)


def group_of(stage_name: str) -> str:
    """The consumer group of a stage: its workers share the work."""
    return f"yuqing-{stage_name}"


class Stage(abc.ABC):
    """One pipeline step: a consumer group over some topics, and what it does with a batch."""

    name: str
    topics: tuple[str, ...]

    @property
    def group(self) -> str:
        return group_of(self.name)

    @abc.abstractmethod
    def process(self, messages: list[Message]) -> BatchResult:
        """Handle a batch; report per-message failures; raise a BACKEND_DOWN error to retry the batch."""

    def idle(self) -> None:
        """Called when a poll returns nothing: time-driven work (deadlines, deliveries) goes here."""

    def committable(self, processed: list[Message]) -> list[Message]:
        """The messages that may be committed now: by default those just processed. A stage that keeps
        state holds them back until it saves that state together with their offsets (`checkpoint`)."""
        return processed

    def checkpoint(self) -> list[Message]:
        """Save what is held back and return the messages it covers (on a clean stop)."""
        return []

    def close(self) -> None:
        """Flush and persist state."""


def run_per_message(messages: list[Message], handle: Callable[[Message], R]) -> tuple[list[R], BatchResult]:
    """Call `handle` on each message, sorting its exceptions into poison and retryable failures.

    Backend failures propagate so the whole batch is retried; any other error is retried a bounded
    number of times by `Worker`, then quarantined.
    """
    return run_per_item(messages, enumerate(messages), handle)


def run_per_item(messages: list[Message], items: Iterable[tuple[int, T]], handle: Callable[[T], R],
                 result: BatchResult | None = None) -> tuple[list[R], BatchResult]:
    """As `run_per_message`, over what was read from the messages (each item with its message's position in the
    batch, in the order they are to be handled): failures go into `result` at that position."""
    outputs: list[R] = []
    result = BatchResult() if result is None else result
    for position, item in items:
        try:
            outputs.append(handle(item))
        except BACKEND_DOWN:
            raise
        except (PoisonMessage, ValidationError) as exc:
            result.poison[position] = exc
        except Exception as exc:  # any other failure is retried a bounded number of times
            message = messages[position]
            log.exception("stage failed on %s@%s:%s", message.topic, message.partition, message.offset)
            result.failed[position] = exc
    return outputs, result


def _close_quietly(consumer: Consumer | None) -> None:
    """Close a consumer whose backend may be gone; its uncommitted messages are redelivered anyway."""
    if consumer is not None:
        try:
            consumer.close()
        except BACKEND_DOWN as exc:
            log.warning("could not leave the consumer group cleanly: %s", exc)


# Objects allocated before Python's young-generation collection runs. A stage allocates thousands of objects per
# batch (the schema's models, the analysis's words) that die with the batch: with the default of 700 the collector
# runs many times per batch, and what is alive then is carried into the older generations, whose full collections
# walk the whole heap (models, tables, event memory: 5-10 % of a worker's CPU). Cycles are still collected, in
# fewer, bigger batches.
GC_YOUNG_THRESHOLD = 20_000


@contextmanager
def steady_heap() -> Iterator[None]:
    """While a long run goes on: what is loaded by now (models, tables, a stage's memory) frozen out of the cyclic
    collector's sight, and the young generation's threshold raised (`GC_YOUNG_THRESHOLD`); both restored after."""
    young, older, oldest = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), older, oldest)
    try:
        yield
    finally:
        gc.set_threshold(young, older, oldest)
        gc.unfreeze()


# glibc's mallopt parameter for the size from which a block is mapped apart from the heap.
_M_MMAP_THRESHOLD = -3
# From this size up, a block of a stage's process is mapped apart and given back to the system when freed: glibc's
# initial threshold, kept (see `map_large_blocks_apart`).
LARGE_BLOCK_BYTES = 128 * 1024


def map_large_blocks_apart() -> bool:
    """For a long-running stage: glibc's malloc maps every block of LARGE_BLOCK_BYTES and more apart from its heap,
    and unmaps it when freed. By default it raises that size to the largest block freed so far (up to 32 MiB), so
    that over the weeks the fingerprint map's runs, numpy's and SQLite's buffers and large lists come from the heap,
    which keeps its free space: in bench.soak at 100,000 posts a day the events stage's heap grew from 60 to 136 MB
    in 9 days, 44 MB of it free, and the stage's resident memory to 413 MB; with the size kept, the heap stayed at
    36-38 MB (12 MB free) and the stage at 379 MB. False where the C library has no such setting (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside: for a stage's batch, whose objects (models, words, rows) live until it is
    written and are then freed by their reference counts. Collected while the batch runs, they would be walked
    for nothing, and what is alive then carried into the older generations, whose full collections walk the whole
    memory (events, caches). The collector runs as usual after; a process that runs without it keeps it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# How often a worker lets the transport free what retention allows (a no-op on Kafka).
PRUNE_INTERVAL = 600.0
# Messages a worker takes at most in one poll. What a stage pays once per batch (its transaction on the index, the
# analyzer's save, the offsets' commit) shrinks with bigger ones: with 500 instead of 200 the index stage took about
# a tenth less CPU per post and the events stage a twentieth (bench.throughput part 2, compared alternately); a
# batch of 500 posts still passes through a stage in about 0.15 s.
BATCH_SIZE = 500
# What `yuqing worker` takes in its first poll after an empty one (and at its start) from the topic the crawls feed,
# doubled at each batch up to its batch size. The stages of `yuqing run` are idle when a crawl's posts arrive: with a
# first batch of BATCH_SIZE the events stage waited for enrich's first 500 posts, and the index stage for those 500
# through the events stage too, while a core stood idle (in bench.throughput part 2, on a loaded machine, the
# events stage's first commit came 0.8-1.9 s after the backlog, the index stage's 1.2-3.0 s; 0.3-0.5 s and 0.4-0.7 s
# with this). Not for the stages after it: they take what the stage before them wrote, and a smaller batch would
# only split it (a batch costs the events and the index stage about 10 ms of CPU: part 1 at 200 and 500 a batch).
FIRST_BATCH = 100
# What the stages reading the events stage's output take at most in one poll, and, where the transport publishes
# each of the events stage's batches in several pieces (Kafka: not `Transport.publishes_together`), how long they
# wait for the rest of one. The events stage writes about 1.5 messages per post it reads (the post, the events it
# changed, re-links), to three topics: the index stage, woken by the first, took each of its batches in two or three
# when the embedded log committed them apart (57 batches for 31 in bench.throughput part 2; 23 for 19 lingering),
# at about 10 ms of CPU each; it now commits them together, and a linger would only hold each batch back.
FOLLOWER_BATCH_SIZE = 2 * BATCH_SIZE
FOLLOWER_LINGER = 0.02


class Worker:
    """Runs one stage against a transport until stopped (or until idle, for batch jobs and tests)."""

    def __init__(self, transport: Transport, stage: Stage, *, batch_size: int = BATCH_SIZE,
                 first_batch: int | None = None, linger: float = 0.0, max_retries: int = 3, poll_timeout: float = 0.5,
                 backoff_max: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        """`first_batch`: take at most this many messages after an empty poll (and at the start), then twice as
        many at each batch up to `batch_size` (FIRST_BATCH explains why); None: `batch_size` at every poll.
        `linger`: once a poll has brought a batch that is not full, take what more comes for so many seconds
        (FOLLOWER_LINGER explains why)."""
        self.transport = transport
        self.stage = stage
        self.batch_size = batch_size
        self.first_batch = batch_size if first_batch is None else min(first_batch, batch_size)
        self.linger = linger
        self.max_retries = max_retries
        self.poll_timeout = poll_timeout
        self.backoff_max = backoff_max
        self.outcomes: Counter[str] = Counter()
        self._stopping = False
        self._clock = clock
        self._next_prune = clock()

    def stop(self, *_: object) -> None:
        self._stopping = True

    def run(self, *, until_idle: bool = False, idle_polls: int = 2) -> Counter[str]:
        """Process messages; with `until_idle`, return after `idle_polls` empty polls in a row."""
        if not until_idle:
            signal.signal(signal.SIGTERM, self.stop)
        consumer: Consumer | None = None
        empty = 0
        backoff = 0.5
        limit = self.first_batch
        try:
            while not self._stopping:
                try:
                    if consumer is None:
                        consumer = self.transport.consumer(self.stage.group, self.stage.topics)
                    batch = consumer.poll(limit, self.poll_timeout)
                    if batch and self.linger:
                        batch = self._gathered(consumer, batch, limit)
                    if not batch:
                        limit = self.first_batch
                        self.stage.idle()
                        consumer.commit(self.stage.committable([]))
                        empty += 1
                        if until_idle and empty >= idle_polls:
                            break
                        continue
                    empty = 0
                    limit = min(limit * 2, self.batch_size)
                    # The batch's output, retries and dead letters reach the next stage in one piece, before the
                    # batch is committed.
                    with self.transport.published_together():
                        self._settle(batch, self.stage.process(batch))
                    consumer.commit(self.stage.committable(batch))
                    backoff = 0.5
                    self._maybe_prune()
                except BACKEND_DOWN as exc:
                    # Keep the batch: a new consumer resumes from the committed offset.
                    log.warning("%s: backend unavailable (%s); retrying in %.1fs", self.stage.name, exc, backoff)
                    self.outcomes["backend_down"] += 1
                    _close_quietly(consumer)
                    consumer = None
                    time.sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max)
                    if until_idle and backoff >= self.backoff_max:
                        raise  # a batch job reports the outage instead of waiting forever
        finally:
            try:
                if consumer is not None:
                    consumer.commit(self.stage.checkpoint())
            except BACKEND_DOWN as exc:  # what it covers is delivered again and skipped by the stage
                log.warning("%s: could not commit on the way out: %s", self.stage.name, exc)
            finally:
                _close_quietly(consumer)
                self.stage.close()
        return self.outcomes

    def _gathered(self, consumer: Consumer, batch: list[Message], limit: int) -> list[Message]:
        """The batch, with what else comes within `linger` seconds while it has room."""
        deadline = time.monotonic() + self.linger
        while len(batch) < limit and (left := deadline - time.monotonic()) > 0:
            more = consumer.poll(limit - len(batch), left)
            if not more:
                break
            batch = batch + more
        return batch

    def _maybe_prune(self) -> None:
        if self._clock() < self._next_prune:
            return
        self._next_prune = self._clock() + PRUNE_INTERVAL
        freed = self.transport.prune()
        if freed:
            log.info("%s: freed %d messages past retention", self.stage.name, freed)
            self.outcomes["pruned"] += freed

    def _settle(self, batch: list[Message], result: BatchResult) -> None:
        for index, message in enumerate(batch):
            if index in result.poison:
                self._quarantine(message, result.poison[index])
            elif index in result.failed:
                retries = int(message.headers.get(RETRY_HEADER, "0")) + 1
                if retries > self.max_retries:
                    self._quarantine(message, result.failed[index])
                else:
                    headers = {**message.headers, RETRY_HEADER: str(retries), ERROR_HEADER: str(result.failed[index])}
                    self.transport.publish(message.topic, message.data, key=message.key, headers=headers)
                    self.outcomes["retried"] += 1
            else:
                self.outcomes["processed"] += 1

    def _quarantine(self, message: Message, error: Exception) -> None:
        headers = {**message.headers, ERROR_HEADER: f"{type(error).__name__}: {error}"[:2000]}
        self.transport.publish(dead_letter(message.topic), value_as_sent(message), key=message.key, headers=headers)
        log.warning("%s: quarantined %s@%s:%s: %s", self.stage.name, message.topic, message.partition,
                    message.offset, error)
        self.outcomes["quarantined"] += 1
        if isinstance(error, PoisonMessage) and error.reason:
            self.outcomes[f"refused:{error.reason}"] += 1
