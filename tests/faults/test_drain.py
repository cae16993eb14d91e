"""The fault runs' judgement waits until the workers are done: a message one stage has published but the next has not
seen yet is not done, whatever order the looks at the topics and the groups' offsets catch it in."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import pytest

import alerts.service
from tests.faults import harness
from transport.base import TopicStats


class NoOutbox:
    def outbox(self, pending_only: bool = False) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def test_a_message_between_two_stages_is_not_taken_for_drained(monkeypatch: pytest.MonkeyPatch) -> None:
    # The enrich stage has published its tenth post and committed the raw one after the look read the annotated
    # topic's end (nine) and before it read the groups' offsets: the raw topic is committed, and nothing lags.
    between = [TopicStats("posts.raw", 10, {"enrich": 0}), TopicStats("posts.annotated", 9, {"events": 0})]
    seen = [TopicStats("posts.raw", 10, {"enrich": 0}), TopicStats("posts.annotated", 10, {"events": 1})]
    done = [TopicStats("posts.raw", 10, {"enrich": 0}), TopicStats("posts.annotated", 10, {"events": 0})]
    looks = [between, seen, done, done]

    class Transport:
        def stats(self, expected: Any = None) -> list[TopicStats]:
            return looks.pop(0)

    @contextmanager
    def scripted(settings: Any) -> Any:
        yield Transport()

    monkeypatch.setattr(harness, "open_transport", scripted)
    monkeypatch.setattr(alerts.service, "open_alert_store", lambda settings, read_only=False: NoOutbox())
    drained = harness.Drained(settings=None)  # type: ignore[arg-type]
    # Done only once two looks in a row agree on every topic, with nothing lagging.
    assert [drained() for _ in range(4)] == [False, False, False, True]
