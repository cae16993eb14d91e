"""Readers of the alert store (the daily report) look through `AlertQueries` and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.queries import AlertQueries
from alerts.service import AlertService, open_alert_store
from alerts.testing import T0, make_signal
from reports.inputs import read_alerts
from search.sqlite_fts import SqliteIndex
from yuqing.config import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("YUQING_CONFIG", raising=False)
    monkeypatch.delenv("YUQING_RULES_FILE", raising=False)
    return load_settings(data_dir=tmp_path / "var")


def test_the_daily_report_leaves_the_rules_memory_alone(settings: Settings) -> None:
    """Issue 9 item 3: the report built an AlertService, whose close() wrote its own (older) copy
    of the rules' memory over the alert worker's."""
    store = open_alert_store(settings)
    store.save_state({"worker": '{"memory": "the alert worker\u2019s latest"}'})
    store.close()
    index = SqliteIndex(settings.path("index.sqlite3"))
    try:
        alerts, effects = read_alerts(settings, index)
    finally:
        index.close()
    assert (alerts, effects) == ([], {})
    store = open_alert_store(settings)
    try:
        assert store.load_state() == {"worker": '{"memory": "the alert worker\u2019s latest"}'}
    finally:
        store.close()


def test_queries_read_what_the_worker_stored(settings: Settings) -> None:
    service = AlertService.from_settings(settings)
    [fired] = service.process([], [make_signal("P-heat", label="城区供暖管理办法", count=150, negative=100)], now=T0)
    service.close()
    state = open_alert_store(settings).load_state()
    queries = AlertQueries.from_settings(settings)
    try:
        assert [a.id for a in queries.alerts()] == [fired.id]
        got = queries.get(fired.id)
        assert got is not None and got.level == fired.level
        assert queries.get("no-such-alert") is None
        assert [entry.action for entry in queries.history(fired.id)] == ["fired"]
        assert queries.effect(fired) is None  # no index handed in
    finally:
        queries.close()
    assert open_alert_store(settings).load_state() == state
