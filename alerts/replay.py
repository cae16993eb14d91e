"""Dry runs: replay saved posts, burst signals and crawl-health records through the rules, in time
order, into a throw-away store, and report what would fire. Nothing is sent."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from alerts.config import AlertConfig
from alerts.service import AlertService
from alerts.store import OutboxItem, SqliteAlertStore
from yuqing.config.errors import ConfigError, from_validation_error
from yuqing.schema import Alert, BurstSignal, CrawlHealth, EnrichedPost, Policy

Item = EnrichedPost | BurstSignal | CrawlHealth


class SignalSource(Protocol):
    """What computes burst signals from posts (analysis.bursts.BurstTracker)."""

    def add(self, post: EnrichedPost) -> None: ...

    def signals(self, moment: datetime) -> list[BurstSignal]: ...


def item_time(item: Item) -> datetime:
    if isinstance(item, EnrichedPost):
        return item.when
    if isinstance(item, BurstSignal):
        return item.computed_at
    return item.finished_at


def parse_item(data: dict) -> Item:
    """A line is a burst signal if it names a subject kind, a crawl record if it has a run's start, else a post."""
    if "subject_kind" in data:
        return BurstSignal.model_validate(data)
    if "started_at" in data and "items" in data:
        return CrawlHealth.model_validate(data)
    return EnrichedPost.model_validate(data)


def read_items(path: Path) -> list[Item]:
    """Items of a JSON-lines file; a bad line is a ConfigError naming the line."""
    items: list[Item] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise ConfigError(path, "", "file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", "file is not UTF-8 text") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(path, f"line {number}", f"not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise ConfigError(path, f"line {number}", "expected a JSON object (a post, signal or crawl record)")
        try:
            items.append(parse_item(data))
        except ValidationError as exc:
            raise from_validation_error(path, exc, prefix=f"line {number}") from exc
    return items


@dataclass(frozen=True)
class ReplayResult:
    alerts: list[Alert]
    notifications: list[OutboxItem]
    items: int
    start: datetime | None
    end: datetime | None


def replay(config: AlertConfig, items: Iterable[Item], now: datetime | None = None,
           signal_source: SignalSource | None = None, policies: Iterable[Policy] = (),
           step: timedelta = timedelta(minutes=10)) -> ReplayResult:
    """Feed the items in time order, in batches spanning at most `step`, each processed at its last
    item's time; then one last tick at `now` (if later), so overdue checks see the end of the data."""
    ordered = sorted(items, key=item_time)
    # It remembers nothing between runs: the rules keep what they need in memory.
    service = AlertService(config, SqliteAlertStore(Path(":memory:")), channels={}, policies=policies,
                           rules_writer=False)
    batch: list[Item] = []

    def flush(moment: datetime) -> None:
        posts = [i for i in batch if isinstance(i, EnrichedPost)]
        signals = [i for i in batch if isinstance(i, BurstSignal)]
        if signal_source is not None:
            for post in posts:
                signal_source.add(post)
            signals += signal_source.signals(moment)
        service.process(posts, signals, [i for i in batch if isinstance(i, CrawlHealth)], moment)
        batch.clear()

    for item in ordered:
        if batch and item_time(item) - item_time(batch[0]) > step:
            flush(item_time(batch[-1]))
        batch.append(item)
    if batch:
        flush(item_time(batch[-1]))
    end = item_time(ordered[-1]) if ordered else None
    if now is not None and (end is None or now > end):
        service.process([], [], [], now)
    result = ReplayResult(service.store.alerts(), service.store.outbox(), len(ordered),
                          item_time(ordered[0]) if ordered else None, end)
    service.close()
    return result
