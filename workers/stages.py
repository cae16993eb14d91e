"""The three stages after the crawl: analyze (raw → enriched + events), index, alert.

Each stage adapts messages to the schema and hands them to the package that does the work
(`analysis`, `search`, `alerts`); none of them knows which transport or index is configured.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from search.base import BulkWriteError, Index
from transport.base import CRAWL_HEALTH, ENRICHED_POSTS, EVENTS, RAW_POSTS, Message, Transport
from workers.runner import BatchResult, Stage, run_per_message
from yuqing.config import Settings
from yuqing.schema import CrawlHealth, EnrichedPost, Event, Post, ReprintLink, aware, now

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
        return self.analyzer.enrich(Post.model_validate(message.value))

    def process(self, messages: list[Message]) -> BatchResult:
        # Crawl order is not publication order: a batch is analysed oldest first, so what arrives
        # together (a whole crawl, in the demo) makes the same events in whatever order it was crawled.
        order = sorted(range(len(messages)), key=lambda i: _publication_key(messages[i]))
        enriched, in_order = run_per_message([messages[i] for i in order], self._enrich)
        result = BatchResult(failed={order[i]: e for i, e in in_order.failed.items()},
                             poison={order[i]: e for i, e in in_order.poison.items()})
        self.transport.publish_many(ENRICHED_POSTS, [(p.id, p.model_dump(mode="json")) for p in enriched])
        # Copies analysed before their original arrived: keyed by the copy's id, so each update follows
        # the copy itself on its partition.
        relinked = self.analyzer.take_relinked()
        self.transport.publish_many(ENRICHED_POSTS, [(link.post_id, link.model_dump(mode="json")) for link in relinked])
        events = self.analyzer.changed_events()
        self.transport.publish_many(EVENTS, [(e.id, e.model_dump(mode="json")) for e in events])
        return result

    def close(self) -> None:
        self.analyzer.close()


def _publication_key(message: Message) -> tuple[str, str]:
    """When a raw post was published (else fetched), as UTC text that sorts in time order; a value
    that is no post sorts last and fails in `_enrich` as before."""
    value = message.value if isinstance(message.value, dict) else {}
    for name in ("published_at", "fetched_at"):
        try:
            moment = datetime.fromisoformat(str(value.get(name)))
        except ValueError:
            continue
        return aware(moment).astimezone(UTC).isoformat(), str(value.get("id") or value.get("url") or "")
    return "~", ""


def _decode(message: Message) -> EnrichedPost | ReprintLink | Event | CrawlHealth:
    if message.topic == EVENTS:
        return Event.model_validate(message.value)
    if message.topic == CRAWL_HEALTH:
        return CrawlHealth.model_validate(message.value)
    if isinstance(message.value, dict) and "post_id" in message.value:
        return ReprintLink.model_validate(message.value)  # a copy re-linked to an original that arrived after it
    return EnrichedPost.model_validate(message.value)


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
        self.index.relink(item for item in decoded if isinstance(item, ReprintLink))
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
            self.bursts.name_event(event.id, event.headline)
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
        from workers.build import ANALYSIS_STATE_FILE, analyzer_from_settings

        return AnalyzeStage(transport, analyzer_from_settings(settings, settings.path(ANALYSIS_STATE_FILE)))
    if name == "index":
        from search import open_index

        return IndexStage(open_index(settings))
    if name == "alert":
        from alerts.service import AlertService
        from workers.build import burst_tracker_from_settings

        return AlertStage(AlertService.from_settings(settings), burst_tracker_from_settings(settings))
    raise ValueError(f"unknown stage {name!r}; expected one of {', '.join(STAGE_NAMES)}")
