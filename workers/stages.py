"""The three stages after the crawl: analyze (raw → enriched + events), index, alert.

Each stage adapts messages to the schema and hands them to the package that does the work
(`analysis`, `search`, `alerts`); none of them knows which transport or index is configured.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from search.base import BulkWriteError, Index
from transport.base import CRAWL_HEALTH, ENRICHED_POSTS, EVENTS, RAW_POSTS, Message, Transport
from workers.runner import BatchResult, PoisonMessage, Stage, run_per_message
from yuqing.config import Settings
from yuqing.schema import CrawlHealth, EnrichedPost, Event, Post, RefusedPost, now

if TYPE_CHECKING:
    from alerts.service import AlertService
    from analysis.bursts import BurstTracker
    from analysis.enrich import Analyzer

STAGE_NAMES = ("analyze", "index", "alert")


class AnalyzeStage(Stage):
    name = "analyze"
    topics = (RAW_POSTS,)

    def __init__(self, transport: Transport, analyzer: Analyzer) -> None:
        self.transport = transport
        self.analyzer = analyzer

    def _enrich(self, message: Message) -> EnrichedPost:
        try:
            return self.analyzer.enrich(Post.model_validate(message.value))
        except RefusedPost as exc:
            raise PoisonMessage(str(exc), reason=exc.reason) from exc

    def process(self, messages: list[Message]) -> BatchResult:
        enriched, result = run_per_message(messages, self._enrich)
        self.transport.publish_many(ENRICHED_POSTS, [(p.id, p.model_dump(mode="json")) for p in enriched])
        events = self.analyzer.changed_events()
        self.transport.publish_many(EVENTS, [(e.id, e.model_dump(mode="json")) for e in events])
        return result

    def close(self) -> None:
        self.analyzer.close()


def _decode(message: Message) -> EnrichedPost | Event | CrawlHealth:
    model = {EVENTS: Event, CRAWL_HEALTH: CrawlHealth}.get(message.topic, EnrichedPost)
    return model.model_validate(message.value)


class IndexStage(Stage):
    name = "index"
    topics = (ENRICHED_POSTS, EVENTS, CRAWL_HEALTH)

    def __init__(self, index: Index) -> None:
        self.index = index

    def process(self, messages: list[Message]) -> BatchResult:
        decoded, result = run_per_message(messages, _decode)
        # Later versions of one event in the batch win: keep the last by id.
        events = {item.id: item for item in decoded if isinstance(item, Event)}
        try:
            self.index.upsert(item for item in decoded if isinstance(item, EnrichedPost))
        except BulkWriteError as exc:
            if exc.retryable:
                raise
            # Documents the index refuses for good go to the dead-letter topic; the rest were written.
            refused = set(exc.failed_ids)
            for position, message in enumerate(messages):
                if message.topic == ENRICHED_POSTS and message.value.get("id") in refused:
                    result.poison[position] = exc
        self.index.upsert_events(events.values())
        self.index.record_health(item for item in decoded if isinstance(item, CrawlHealth))
        return result

    def close(self) -> None:
        self.index.close()


class AlertStage(Stage):
    name = "alert"
    topics = (ENRICHED_POSTS, EVENTS, CRAWL_HEALTH)

    def __init__(self, service: AlertService, bursts: BurstTracker) -> None:
        self.service = service
        self.bursts = bursts

    def process(self, messages: list[Message]) -> BatchResult:
        decoded, result = run_per_message(messages, _decode)
        posts = [item for item in decoded if isinstance(item, EnrichedPost)]
        health = [item for item in decoded if isinstance(item, CrawlHealth)]
        for event in (item for item in decoded if isinstance(item, Event)):
            self.bursts.name_event(event.id, event.label)
        for post in posts:
            self.bursts.add(post)
        moment = now()
        self.service.process(posts, self.bursts.signals(moment), health, moment)
        self.service.deliver_pending(moment)
        return result

    def idle(self) -> None:
        moment: datetime = now()
        self.service.check_deadlines(moment)
        self.service.deliver_pending(moment)

    def close(self) -> None:
        self.bursts.close()
        self.service.close()


def build_stage(name: str, settings: Settings, transport: Transport) -> Stage:
    """The stage called `name`, with its dependencies built from the settings."""
    if name == "analyze":
        from analysis.enrich import Analyzer

        return AnalyzeStage(transport, Analyzer.from_settings(settings))
    if name == "index":
        from search import open_index

        return IndexStage(open_index(settings))
    if name == "alert":
        from alerts.service import AlertService
        from analysis.bursts import BurstTracker

        return AlertStage(AlertService.from_settings(settings), BurstTracker.from_settings(settings))
    raise ValueError(f"unknown stage {name!r}; expected one of {', '.join(STAGE_NAMES)}")
