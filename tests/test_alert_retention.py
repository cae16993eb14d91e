"""The alert store's disk stays bounded: delivered messages leave the outbox after `delivery.sent_kept` (the audit
keeps which channels each change notified), on both stores, and the delivery lanes send on the alert stage's clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.channels import ChannelContext
from alerts.config import build_channels, parse_alert_config
from alerts.service import AlertService
from alerts.store import AlertStore
from alerts.testing import T0, make_post
from analysis.bursts import BurstTracker
from yuqing.config.errors import ConfigError

RULES = {
    "defaults": {"channels": ["local_file"]},
    "delivery": {"settle": "0s", "min_interval": "0s", "sent_kept": "2d"},
    "channels": [{"name": "local_file", "type": "file"}],
    "rules": [{"name": "拆迁", "type": "keyword_context", "options": {"terms": ["拆迁"], "context": ["上访"],
                                                                      "min_posts": 1}}],
}


def service_over(store: AlertStore, tmp_path: Path) -> AlertService:
    config = parse_alert_config(RULES)
    return AlertService(config, store, build_channels(config, ChannelContext(tmp_path, environ={})))


def fire(service: AlertService, place: str, now: datetime) -> None:
    service.process([make_post("拆迁户上访", places=[place], at=now)], now=now)


def test_delivered_messages_leave_the_outbox_after_sent_kept_and_the_audit_keeps_them(
        open_alert_store: Callable[[], AlertStore], tmp_path: Path):
    service = service_over(open_alert_store(), tmp_path)
    for day, place in enumerate(["东关村", "西关村"]):
        fire(service, place, T0 + timedelta(days=day))
        assert service.deliver_pending(T0 + timedelta(days=day)) == 1
    fire(service, "南关村", T0 + timedelta(days=2, hours=1))
    assert service.deliver_pending(T0 + timedelta(days=2, hours=1)) == 1  # the first went out 2 days 1 hour ago
    assert [item.message["alert"]["subject_id"] for item in service.store.outbox()] == ["西关村", "南关村"]
    first = next(alert for alert in service.store.alerts() if alert.subject_id == "东关村")
    assert [entry.details.get("notified") for entry in service.store.history(first.id)] == [["local_file"], None]


def test_sent_kept_shorter_than_min_interval_is_refused():
    """An alert's next message is spaced from the last one delivered: that one must still be there."""
    with pytest.raises(ConfigError, match="sent_kept"):
        parse_alert_config({**RULES, "delivery": {"min_interval": "10m", "sent_kept": "5m"}})
    assert parse_alert_config({}).delivery.sent_kept == timedelta(days=7)


def test_the_delivery_lanes_send_on_the_alert_stages_clock(tmp_path: Path, monkeypatch):
    """A bench that runs the stage on simulated days (bench.soak) sees its messages sent, and dropped, on them."""
    import workers.stages
    from alerts.store import SqliteAlertStore
    from workers.stages import AlertStage

    simulated = T0 - timedelta(days=30)
    monkeypatch.setattr(workers.stages, "now", lambda: simulated)
    service = service_over(SqliteAlertStore(tmp_path / "alerts.sqlite3"), tmp_path)
    stage = AlertStage(service, BurstTracker([]), log="log-1")
    try:
        fire(service, "东关村", simulated)
        stage.idle()  # starts the lanes
        deadline = time.monotonic() + 10
        while not any(item.sent_at for item in service.store.outbox()) and time.monotonic() < deadline:
            time.sleep(0.05)
        [item] = service.store.outbox()
        assert item.sent_at == simulated
    finally:
        stage.close()


def test_a_run_of_quiet_updates_is_one_audit_entry_between_the_entries_of_substance(
        open_alert_store: Callable[[], AlertStore], tmp_path: Path):
    """A busy incident updates its alert at every batch: the audit keeps each run of updates that notify nobody and
    leave the status as one entry (its count, first and last time, latest magnitude), and every other entry (the
    officer's, those that notify) as it was, in order."""
    service = service_over(open_alert_store(), tmp_path)  # cooldown 6h (the default): quiet in between
    minute = timedelta(minutes=1)
    for n in range(4):
        fire(service, "东关村", T0 + n * minute)
    [alert] = service.store.alerts()
    service.acknowledge(alert.id, "张敏", now=T0 + 5 * minute)
    for n in range(6, 9):
        fire(service, "东关村", T0 + n * minute)
    fire(service, "东关村", T0 + timedelta(hours=7))  # past the cooldown: the office is told again
    fire(service, "东关村", T0 + timedelta(hours=7) + minute)
    history = open_alert_store().history(alert.id)  # as another reader sees it
    assert [(h.actor, h.action, h.to_status, h.times, h.at, h.last_at, h.details.get("magnitude"))
            for h in history] == [
        ("yuqing", "fired", "fired", 1, T0, None, 1),
        ("yuqing", "updated", "fired", 3, T0 + minute, T0 + 3 * minute, 4),
        ("张敏", "acknowledged", "acknowledged", 1, T0 + 5 * minute, None, None),
        ("yuqing", "updated", "acknowledged", 3, T0 + 6 * minute, T0 + 8 * minute, 7),
        ("yuqing", "updated", "acknowledged", 1, T0 + timedelta(hours=7), None, 8),
        ("yuqing", "updated", "acknowledged", 1, T0 + timedelta(hours=7) + minute, None, 9)]
    assert history[4].details["notified"] == ["local_file"]
