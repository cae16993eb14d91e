"""Topics between the stages: embedded SQLite log or Kafka, chosen by `settings.transport`."""

from __future__ import annotations

from transport.base import (
    ALL_TOPICS,
    ANNOTATED_POSTS,
    CRAWL_HEALTH,
    ENRICHED_POSTS,
    EVENTS,
    RAW_POSTS,
    Consumer,
    Message,
    TopicStats,
    Transport,
    TransportError,
    dead_letter,
)
from yuqing.config import ConfigError, Settings

__all__ = [
    "ALL_TOPICS", "ANNOTATED_POSTS", "CRAWL_HEALTH", "ENRICHED_POSTS", "EVENTS", "RAW_POSTS", "Consumer", "Message", "TopicStats",
    "Transport", "TransportError", "dead_letter", "open_transport",
]


def open_transport(settings: Settings) -> Transport:
    """The transport the settings ask for."""
    if settings.transport == "embedded":
        from transport.sqlite_log import SqliteTransport

        return SqliteTransport(settings.path("transport.sqlite3"),
                               retention_seconds=settings.embedded_log.retention_hours * 3600,
                               session_timeout=settings.embedded_log.session_timeout)
    if settings.transport == "kafka":
        from transport.kafka import KafkaTransport

        kafka = settings.kafka
        return KafkaTransport(kafka, session_timeout=kafka.session_timeout, heartbeat_interval=kafka.heartbeat_interval,
                              max_poll_interval=kafka.max_poll_interval, request_timeout=kafka.request_timeout)
    raise ConfigError(
        settings.config_file or "environment (YUQING_TRANSPORT)", "transport",
        f"transport {settings.transport!r} is not available; use 'embedded' or 'kafka'",
    )
