"""When notifications go out: a new alert group settles before the first message, and later changes reach
a channel at most once per minimum interval, folded into one message."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from alerts.channels import ChannelContext
from alerts.config import build_channels, parse_alert_config
from alerts.service import AlertService
from alerts.store import AlertStore
from alerts.testing import T0, make_post, make_signal

RULES = {
    "defaults": {"channels": ["duty"], "cooldown": "0s"},
    "channels": [{"name": "duty", "type": "file"}],
    "rules": [
        {"name": "负面上升", "type": "negative_surge", "levels": {"较大": 30}},
        {"name": "权威账号", "type": "influential_voice", "level": "较大"},
        {"name": "跨平台扩散", "type": "cross_platform", "options": {"min_platforms": 2}},
    ],
}


def make_service(open_store: Callable[[], AlertStore], tmp_path: Path, **delivery: str) -> AlertService:
    config = parse_alert_config({**RULES, **({"delivery": delivery} if delivery else {})})
    return AlertService(config, open_store(),
                        build_channels(config, ChannelContext(tmp_path)))


def sent(tmp_path: Path) -> list[dict]:
    path = tmp_path / "outbox" / "notifications.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def fresh_crawl(service: AlertService, start=T0) -> None:
    """What a first crawl of an incident brings within seconds: several rules about one policy."""
    service.process([], [make_signal("P-old", count=20, negative=12)], now=start)
    voice = make_post("寒心", sentiment="negative", policies=["P-old"], followers=10**6, at=start)
    service.process([voice], now=start + timedelta(seconds=3))
    service.process([], [make_signal("P-old", count=60, negative=40)], now=start + timedelta(seconds=6))


def test_a_fresh_crawl_sends_one_message_per_channel_after_the_settle_window(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path)  # defaults: settle 60 s
    fresh_crawl(service)
    assert len(service.store.outbox(pending_only=True)) >= 3
    assert service.deliver_pending(T0 + timedelta(seconds=10)) == 0  # still settling
    assert service.deliver_pending(T0 + timedelta(seconds=60)) == 1
    [message] = sent(tmp_path)
    assert message["kind"] == "fired"  # the office's first word about it is "new alert", at its latest state
    assert message["alert"]["level"] == "较大" and set(message["alert"]["evidence"]["rules"]) == {"负面上升", "权威账号"}
    assert service.store.outbox(pending_only=True) == []


def test_later_updates_keep_the_minimum_interval_and_are_folded(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path, settle="0s", min_interval="5m")
    service.process([], [make_signal("P-old", count=20, negative=12)], now=T0)
    assert service.deliver_pending(T0) == 1
    for minute in (1, 2, 3):  # a level rise and updates while the office already knows
        signal = make_signal("P-old", count=20 + 10 * minute, negative=12 + 10 * minute)
        service.process([make_post(f"负面{minute}", sentiment="negative", policies=["P-old"], followers=10**6,
                                   at=T0 + timedelta(minutes=minute))], [signal],
                        now=T0 + timedelta(minutes=minute))
        assert service.deliver_pending(T0 + timedelta(minutes=minute)) == 0
    assert service.deliver_pending(T0 + timedelta(minutes=5)) == 1
    first, second = sent(tmp_path)
    assert (first["kind"], second["kind"]) == ("fired", "level_raised")
    assert "级别由一般升为较大" in second["note"]
    assert service.store.outbox(pending_only=True) == []


def test_two_notifiers_draining_the_outbox_at_once_send_each_message_once(open_alert_store):
    """Two senders (their own connections, as on two machines) claim and send the same channel's outbox at
    once, in small batches: each notification is taken by exactly one of them (PostgreSQL: SKIP LOCKED)."""
    office = open_alert_store()
    queued = [office.enqueue(f"report-{n}", "duty", {"n": n}, T0) for n in range(300)]

    # Each sender holds its first batch until the other has taken one too: a store that kept one sender out
    # until the other had drained the outbox would leave them both waiting here.
    both_have_a_batch = threading.Barrier(2, timeout=30)

    def notifier(_: int) -> list[int]:
        store, taken = open_alert_store(), []
        while batch := store.claim("duty", T0, until=T0 + timedelta(minutes=5), limit=3):
            if not taken:
                both_have_a_batch.wait()
            for item in batch:
                store.mark_sent(item.id, T0)
                taken.append(item.id)
        return taken

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(notifier, range(2))
    assert sorted(first + second) == queued  # all sent, none twice
    assert first and second  # both drained at once
