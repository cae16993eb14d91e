"""The stages after the crawl: enrich (raw → annotated), events (annotated → enriched + events), index, alert.

Each stage adapts messages to the schema and hands them to the package that does the work
(`analysis`, `search`, `alerts`); none of them knows which transport or index is configured.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from alerts.store import FindingsMark, MemoryTaken, MemoryWriter, WorkerMemory
from analysis.events import in_shared_zone
from search.base import BulkWriteError, Index, SearchBackendError, SearchRefused
from transport.base import (
    ANNOTATED_POSTS,
    CRAWL_HEALTH,
    ENRICHED_POSTS,
    EVENTS,
    RAW_POSTS,
    Message,
    Transport,
)
from workers.runner import (
    BatchResult,
    PoisonMessage,
    Stage,
    collector_paused,
    group_of,
    run_per_item,
    run_per_message,
)
from yuqing.config import Settings
from yuqing.schema import CrawlHealth, EnrichedPost, Event, Policy, Post, RefusedPost, ReprintLink, now

if TYPE_CHECKING:
    from alerts.service import AlertService
    from analysis.bursts import BurstTracker
    from analysis.enrich import Analyzer, Enricher, PendingAnnotation

STAGE_NAMES = ("enrich", "events", "index", "alert")
# Stages that keep state: one active worker, the others stand by (see EventsStage and AlertStage).
STATEFUL_STAGES = ("events", "alert")
POLICY_REFRESH = 30.0  # seconds between an enrich worker's reads of the crawled policies
# Seconds a writer's hold on the memory lasts unless renewed (by a checkpoint, or while idle); a writer killed
# on this host is known dead at once, one on another host after this.
WRITER_LEASE = 30.0
CHECKPOINT_EVERY = 2.0  # seconds between saves of the alert worker's memory (its messages are committed then)...
CHECKPOINT_SHARE = 10  # ...or this many times the CPU time the last save took, if longer
PRUNE_EVERY = 3600.0  # seconds between two deletions of the posts past the index's retention

log = logging.getLogger(__name__)

D = TypeVar("D")


class EnrichStage(Stage):
    """Raw posts → annotated posts: masking, sentiment, keywords, places, policy links (the expensive part). It
    remembers nothing of other posts, so it scales with the raw topic's partitions: start as many as there are.

    Its one piece of shared knowledge, the policy documents crawled so far, is read from the analysis state
    (written by the events stage) at start and every `policy_refresh` seconds; a document this worker enriches
    itself is known to it at once."""

    name = "enrich"
    topics = (RAW_POSTS,)

    def __init__(self, transport: Transport, enricher: Enricher,
                 policies: Callable[[], list[Policy]] | None = None, policy_refresh: float = POLICY_REFRESH) -> None:
        self.transport = transport
        self.enricher = enricher
        self.policies = policies
        self.policy_refresh = policy_refresh
        self._refreshed_at = time.monotonic()

    def _start(self, post: Post) -> PendingAnnotation:
        try:
            return self.enricher.start(post)
        except RefusedPost as exc:
            raise PoisonMessage(str(exc), reason=exc.reason) from exc

    def process(self, messages: list[Message]) -> BatchResult:
        with collector_paused():
            return self._process(messages)

    def _process(self, messages: list[Message]) -> BatchResult:
        if self.policies is not None and time.monotonic() - self._refreshed_at >= self.policy_refresh:
            self.enricher.learn_policies(self.policies())
            self._refreshed_at = time.monotonic()
        posts, result = _decoded_oldest_first(messages, lambda message: Post.model_validate_json(message.data),
                                              lambda post: post)
        # Crawl order is not publication order: a batch is analysed oldest first, so what arrives
        # together (a whole crawl, in the demo) makes the same events in whatever order it was crawled.
        started, _ = run_per_item(messages, posts, self._start, result)
        # Finished together: the sentiment model looks up the character bigrams of a whole batch at once.
        annotated = self.enricher.finish(started)
        self.transport.publish_many(ANNOTATED_POSTS, [(a.post.id, a.to_json()) for a in annotated])
        return result


class EventsStage(Stage):
    """Annotated posts → enriched posts with their reprint links and events. It keeps the memory of events, so
    one worker is active: the annotated topic has one partition, which the group gives to one member; the
    others stand by. The memory is saved (in the analysis state) before anything is published or committed,
    so a standby given the partition carries on from it (`Analyzer.catch_up`): what the dead worker had not
    committed is delivered again and keeps the event it was given."""

    name = "events"
    topics = (ANNOTATED_POSTS,)

    def __init__(self, transport: Transport, analyzer: Analyzer) -> None:
        self.transport = transport
        self.analyzer = analyzer

    def process(self, messages: list[Message]) -> BatchResult:
        with collector_paused():
            return self._process(messages)

    def _process(self, messages: list[Message]) -> BatchResult:
        from analysis.enrich import Annotated

        self.analyzer.catch_up()
        # Several enrich workers interleave their batches: oldest first again.
        annotated, result = _decoded_oldest_first(messages, lambda message: Annotated.from_json(message.data),
                                                  lambda annotated: annotated.post)
        # What the memory's store knows of the batch's posts (redeliveries, re-crawls, the posts they may copy, the
        # threads they are in), read at once.
        self.analyzer.recall([a for _, a in annotated])
        enriched, _ = run_per_item(messages, annotated, self.analyzer.assign, result)
        # Saved first (changed_events writes the memory), then published: a standby never publishes an event
        # that the memory it starts from does not hold.
        events = self.analyzer.changed_events()
        self.transport.publish_many(ENRICHED_POSTS, [(p.id, p.to_json()) for p in enriched])
        # Copies analysed before their original arrived: keyed by the copy's id, so each update follows
        # the copy itself on its partition.
        relinked = self.analyzer.take_relinked()
        self.transport.publish_many(ENRICHED_POSTS, [(link.post_id, link.to_json()) for link in relinked])
        self.transport.publish_many(EVENTS, [(e.id, e.to_json()) for e in events])
        return result

    def close(self) -> None:
        self.analyzer.close()


def _decoded_oldest_first(messages: list[Message], decode: Callable[[Message], D],
                          post_of: Callable[[D], Post]) -> tuple[list[tuple[int, D]], BatchResult]:
    """The messages' values (`decode`: a value that is not one is the result's poison), each with its message's
    position in the batch, in the order their posts (`post_of` a value) were published, else fetched."""
    decoded, result = run_per_message(messages, decode)
    valid = [position for position in range(len(messages))
             if position not in result.poison and position not in result.failed]
    return sorted(zip(valid, decoded, strict=True), key=lambda item: _publication_key(post_of(item[1]))), result


def _publication_key(post: Post) -> tuple[datetime, str]:
    """When a post was published (else fetched), and its id for posts of the same moment: a time order, since
    the times are aware (a post's are). In one tzinfo object per offset, so they compare fast (`in_shared_zone`)."""
    return in_shared_zone(post.when), post.id


# How a re-link's JSON starts, as the events stage writes it (its first field; a post has no such field): told apart
# from a post without decoding the value twice.
REPRINT_LINK_START = b'{"post_id":'


def _decode(message: Message) -> EnrichedPost | ReprintLink | Event | CrawlHealth:
    if message.topic == EVENTS:
        return Event.model_validate_json(message.data)
    if message.topic == CRAWL_HEALTH:
        return CrawlHealth.model_validate_json(message.data)
    if message.data.startswith(REPRINT_LINK_START):
        return ReprintLink.model_validate_json(message.data)  # a copy re-linked to an original that arrived after it
    return EnrichedPost.from_json(message.data)


class IndexStage(Stage):
    """Writes what the events stage found to the index; with a `retention`, also deletes the posts
    published longer ago than that, at start and every `prune_every` seconds."""

    name = "index"
    topics = (ENRICHED_POSTS, EVENTS, CRAWL_HEALTH)

    def __init__(self, index: Index, retention: timedelta | None = None, prune_every: float = PRUNE_EVERY) -> None:
        self.index = index
        self.retention = retention
        self.prune_every = prune_every
        self._pruned_at: float | None = None

    def _prune(self) -> None:
        if self.retention is None:
            return
        if self._pruned_at is not None and time.monotonic() - self._pruned_at < self.prune_every:
            return
        self._pruned_at = time.monotonic()
        try:
            removed = self.index.prune(now() - self.retention)
        except SearchBackendError as exc:  # writing goes on; the next round deletes them
            log.warning("index: could not delete the posts past the retention: %s", exc)
            return
        if removed:
            log.info("index: deleted %d posts older than %s", removed, self.retention)

    def idle(self) -> None:
        self._prune()

    def process(self, messages: list[Message]) -> BatchResult:
        self._prune()
        with collector_paused():
            return self._process(messages)

    def _process(self, messages: list[Message]) -> BatchResult:
        decoded, result = run_per_message(messages, _decode)
        # Later versions of one event in the batch win: keep the last by id.
        events = {item.id: item for item in decoded if isinstance(item, Event)}
        posts = [item for item in decoded if isinstance(item, EnrichedPost)]
        links = [item for item in decoded if isinstance(item, ReprintLink)]
        health = [item for item in decoded if isinstance(item, CrawlHealth)]
        with self.index.writing():  # the embedded index commits the batch once
            # Posts first: a copy and its re-link in one batch are written in that order.
            for items, write, id_field in ((posts, self.index.upsert, "id"), (links, self.index.relink, "post_id")):
                try:
                    self._write(items, write, messages, ENRICHED_POSTS, id_field, result)
                except BulkWriteError as exc:
                    if exc.retryable:
                        raise
                    # Documents the index refuses for good go to the dead-letter topic; the rest were written.
                    refused = set(exc.failed_ids)
                    for position, message in enumerate(messages):
                        if message.topic == ENRICHED_POSTS and message.value.get(id_field) in refused:
                            result.poison[position] = exc
            self._write(list(events.values()), self.index.upsert_events, messages, EVENTS, "id", result)
            self._write(health, self.index.record_health, messages, CRAWL_HEALTH, "source", result)
        return result

    @staticmethod
    def _write(items: Sequence[EnrichedPost | ReprintLink | Event | CrawlHealth], write: Callable[[Sequence], object],
               messages: list[Message], topic: str, id_field: str, result: BatchResult) -> None:
        """Write the items; when the index refuses the request for good, write them one by one so that
        only those it refuses go to the dead-letter topic, with the server's reason (writes are by id:
        writing one again is harmless)."""
        try:
            write(items)
        except SearchRefused:
            for item in items:
                try:
                    write([item])
                except SearchRefused as exc:
                    item_id = getattr(item, id_field)
                    for position, message in enumerate(messages):
                        if message.topic == topic and message.value.get(id_field) == item_id:
                            result.poison[position] = exc

    def close(self) -> None:
        self.index.close()


class HalfAppliedBatch(RuntimeError):
    """The alert worker failed in the middle of a batch: it must be started again (the supervisor does) from its
    last checkpoint."""


class AlertStage(Stage):
    """Feeds the rules; notifications are sent by the service's delivery lanes, apart from this loop, so a
    dead endpoint never holds up rule evaluation or a shutdown.

    The rules' memory and the burst counts are saved in one transaction with the next offset of every
    partition they include (a checkpoint, every `checkpoint_every` seconds and on a clean stop), and only
    then are those messages committed. Killed at any moment, the worker restarts from its last checkpoint:
    messages after it are delivered again and counted once; those it already includes (killed between the
    checkpoint and the commit) are skipped. A batch that fails once counted (its store down while its findings are
    stored) stops the worker the same way, with nothing saved since the last checkpoint."""

    name = "alert"
    topics = (ENRICHED_POSTS, EVENTS, CRAWL_HEALTH)

    def __init__(self, service: AlertService, bursts: BurstTracker, deliver: bool = True, log: str = "",
                 checkpoint_every: float = CHECKPOINT_EVERY, writer: MemoryWriter | None = None) -> None:
        from alerts.delivery import Dispatcher

        self.service = service
        self.bursts = bursts
        # The lanes send on the stage's clock (looked up at each send: bench.soak runs the stage on simulated days):
        # when a message goes out, and when it leaves the outbox, follow the clock the alerts are raised by.
        self.dispatcher = Dispatcher(service, clock=lambda: now()) if deliver else None
        self.log = log
        self.checkpoint_every = checkpoint_every
        # With a writer, this worker holds the memory (one writer; MemoryTaken while another live one does).
        self.writer = writer
        self._held_until = time.monotonic()
        self._hold()
        memory = service.store.load_memory(log, quiet_subjects=False)
        # The rules' part as of the hold too: the service read it when it was built, which may have been before
        # the writer this one replaces saved for the last time (a standby built just before the active one died).
        service.engine.restore(memory.rules)
        if memory.bursts:
            bursts.restore(memory.bursts)
        # The quiet burst subjects (most of a city's fortnight of events) wait in the store once a checkpoint has
        # saved them, and come back when posted again: the worker holds those of the last day, not of 15.
        bursts.keep_quiet_in(service.store)
        self._counted: dict[tuple[str, int], int] = dict(memory.offsets)  # next offset the memory includes
        # The findings stored since that memory was saved: a worker killed before its next checkpoint stored them.
        self._stored = service.store.stored_findings(log)
        self._half_applied = False  # a batch failed after it was counted: the memory must not be saved any more
        self._held: list[Message] = []
        self._checkpointed_at = time.monotonic()
        self._checkpoint_cost = 0.0  # CPU seconds the last checkpoint took
        self._checkpointed_cpu = time.process_time()  # the process's CPU time when it ended

    def process(self, messages: list[Message]) -> BatchResult:
        if self._half_applied:
            raise HalfAppliedBatch("alert: a batch failed after it was counted; start this worker again")
        counted, stored = self._counted, self._stored
        fresh = [position for position, m in enumerate(messages) if m.offset >= counted.get((m.topic, m.partition), 0)]
        # After a kill, the batches taken since the last checkpoint come again: those whose findings were stored are
        # taken on their own first, and the findings about the groups they changed are not stored a second time.
        again: list[int] = []
        rest: list[int] = []
        for position in fresh:
            message = messages[position]
            (again if stored.includes(message.topic, message.partition, message.offset) else rest).append(position)
        result = BatchResult()
        for positions, stored_groups in ((again, stored.groups), (rest, frozenset[str]())):
            if positions:
                self._take(messages, positions, result, stored_groups)
        self._start_delivery()
        return result

    def _take(self, messages: list[Message], positions: list[int], result: BatchResult,
              stored_groups: frozenset[str]) -> None:
        """Count these messages of the batch, feed them to the rules and store their findings (but those about
        `stored_groups`) with the offsets they bring the worker to; their failures go into `result`."""
        decoded, found = run_per_message([messages[position] for position in positions], _decode)
        result.failed.update({positions[i]: error for i, error in found.failed.items()})
        result.poison.update({positions[i]: error for i, error in found.poison.items()})
        posts = [item for item in decoded if isinstance(item, EnrichedPost)]
        health = [item for item in decoded if isinstance(item, CrawlHealth)]
        events = [item for item in decoded if isinstance(item, Event)]
        moment = now()
        # The quiet burst subjects the batch touches, back from the store before anything is counted: a store that
        # is down fails the batch here, and it comes again whole.
        self.bursts.take_back(posts, [event.id for event in events], moment)
        self.service.engine.take_back(posts, moment)  # the unanswered-board messages the batch meets, likewise
        counted = self._counted
        for position in positions:
            message = messages[position]
            key = (message.topic, message.partition)
            counted[key] = max(counted.get(key, 0), message.offset + 1)
        taken = {(messages[position].topic, messages[position].partition) for position in positions}
        mark = FindingsMark(self.log, {key: counted[key] for key in taken})
        try:
            for event in events:
                self.bursts.name_event(event.id, event.headline)
            for post in posts:
                self.bursts.add(post)
            self.service.process(posts, self.bursts.signals(moment), health, moment, mark, stored_groups)
        except Exception as exc:
            # The batch is counted and the rules have taken it, but its findings may not be stored: delivered again,
            # it would be skipped and they would be lost. Only a worker started again from its last checkpoint
            # (which this one must not overwrite now) takes the batch again whole.
            self._half_applied = True
            raise HalfAppliedBatch(f"alert: a batch failed after it was counted ({exc!r}); this worker stops so "
                                   "that one started again from its last checkpoint stores its findings") from exc

    def idle(self) -> None:
        moment: datetime = now()
        self.service.check_deadlines(moment)
        self._start_delivery()
        if time.monotonic() > self._held_until - WRITER_LEASE * 2 / 3:
            self._hold()  # idle for a while: keep the memory held

    def _hold(self) -> None:
        if self.writer is not None:
            moment = now()
            self.service.store.hold_memory(self.writer, moment + timedelta(seconds=WRITER_LEASE), moment)
            self._held_until = time.monotonic() + WRITER_LEASE

    def committable(self, processed: list[Message]) -> list[Message]:
        self._held += processed
        # The rules' memory is saved whole: as it grows, checkpoints come less often, so that they take at most
        # 1/CHECKPOINT_SHARE of the worker's time (the messages wait for their commit a little longer). Its CPU
        # time while it works: on a busy machine a second of the clock is a fraction of one of the worker's, and
        # saving took half of it. Once idle (an empty poll), it saves.
        every = max(self.checkpoint_every, CHECKPOINT_SHARE * self._checkpoint_cost)
        worked = time.process_time() - self._checkpointed_cpu
        if self._held and time.monotonic() - self._checkpointed_at >= every and (
                not processed or worked >= CHECKPOINT_SHARE * self._checkpoint_cost):
            return self.checkpoint()
        return []

    def checkpoint(self) -> list[Message]:
        if self._half_applied:
            return []  # the last checkpoint stands: the worker started after this one takes the batch again
        began = time.process_time()
        changed, forgotten = self.bursts.changes()  # the burst counts: only what changed since the last checkpoint
        engine = self.service.engine
        self.service.store.save_memory(
            WorkerMemory(engine.snapshot(), changed, dict(self._counted), self.log, forgotten,
                         self.bursts.forgotten_before(), engine.waiting_changes()),
            self.writer, now() + timedelta(seconds=WRITER_LEASE))
        self.bursts.changes_saved()
        engine.memory_saved()
        self._stored = FindingsMark(self.log)  # the memory includes their batches now
        self._checkpointed_cpu = time.process_time()
        self._checkpoint_cost = self._checkpointed_cpu - began
        self._checkpointed_at = time.monotonic()
        self._held_until = self._checkpointed_at + WRITER_LEASE
        held, self._held = self._held, []
        return held

    def _start_delivery(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.start()

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.writer is not None:  # let a successor on another host take over without waiting for the lease
            moment = now()
            with suppress(MemoryTaken):
                self.service.store.hold_memory(self.writer, moment, moment)
        self.service.store.close()  # the memory was saved by the last checkpoint


def stage_groups() -> dict[str, tuple[str, ...]]:
    """Each stage's consumer group and the topics it reads (for lag before a worker has joined)."""
    return {group_of(stage.name): stage.topics for stage in (EnrichStage, EventsStage, IndexStage, AlertStage)}


def build_stage(name: str, settings: Settings, transport: Transport) -> Stage:
    """The stage called `name`, with its dependencies built from the settings."""
    if name == "enrich":
        from workers.build import enricher_from_settings, stored_policies

        return EnrichStage(transport, enricher_from_settings(settings), lambda: stored_policies(settings))
    if name == "events":
        from workers.build import ANALYSIS_STATE_FILE, analyzer_from_settings

        return EventsStage(transport, analyzer_from_settings(settings, settings.path(ANALYSIS_STATE_FILE)))
    if name == "index":
        from search import open_index

        retention = timedelta(days=settings.index_retention_days) if settings.index_retention_days else None
        return IndexStage(open_index(settings), retention)
    if name == "alert":
        from alerts.service import AlertService
        from workers.build import burst_tracker_from_settings

        writer = MemoryWriter(socket.gethostname(), os.getpid(), uuid.uuid4().hex)
        return AlertStage(AlertService.from_settings(settings, rules_writer=True),
                          burst_tracker_from_settings(settings, own_memory=False), log=transport.identity(),
                          writer=writer)
    raise ValueError(f"unknown stage {name!r}; expected one of {', '.join(STAGE_NAMES)}")
