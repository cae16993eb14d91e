"""The rules' memory has one writer (the alert worker), is stored as JSON per rule, and commands that only
show alerts open a read-only view that can never write anything back."""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.service import OPEN_STATUSES, AlertService
from alerts.store import Change, SqliteAlertStore, StoreError
from alerts.testing import T0, make_post, make_signal
from tests.sqlite_plans import full_scans, plans_of
from yuqing.cli.commands import alerts as alerts_command
from yuqing.cli.commands import status as status_command
from yuqing.config import load_settings
from yuqing.schema import BOARD_ANSWERED, Alert, AlertStatus


@pytest.fixture(params=["embedded", "postgres"])
def settings(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The settings the commands read from the environment: the embedded store, or a set-up PostgreSQL."""
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    for name in ("YUQING_CONFIG", "YUQING_RULES_FILE", "YUQING_TRANSPORT", "YUQING_SEARCH_BACKEND", "YUQING_STATE"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "postgres":
        from stores import postgres

        database = request.getfixturevalue("postgres_settings")
        postgres.setup(database)
        monkeypatch.setenv("YUQING_STATE", "postgres")
        monkeypatch.setenv("YUQING_POSTGRES__URL", database.url)
        monkeypatch.setenv("YUQING_POSTGRES__PASSWORD", database.password.get_secret_value())
    return load_settings()


def run(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="yuqing")
    parser.add_argument("--config")
    module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def stored_memory(settings) -> list[tuple[str, object, object]]:
    """The rules' memory as stored, with when each entry was written, read past the store."""
    if settings.state == "postgres":
        from stores import postgres

        with postgres.connect(settings.postgres) as db:
            return sorted(db.execute("SELECT key, state, saved_at FROM alert_rule_memory").fetchall())
    with sqlite3.connect(settings.data_dir / "alerts.sqlite3") as db:
        return sorted(db.execute("SELECT key, blob, saved_at FROM rule_state"))


def worker_with_memory(settings) -> AlertService:
    worker = AlertService.from_settings(settings, rules_writer=True)
    worker.process([make_post("路灯坏了三天", platform="board", policies=["P-heat"], at=T0,
                              extra={BOARD_ANSWERED: False})],
                   [make_signal("P-heat", label="城区供暖管理办法", count=150, negative=100)], now=T0)
    worker.save_state()
    return worker


def test_rule_memory_is_json_per_rule_and_comes_back_after_a_restart(settings):
    worker_with_memory(settings).close()
    rows = stored_memory(settings)
    assert len(rows) > 2 and all(isinstance(blob, str) for _, blob, _ in rows)
    memory = {key: json.loads(blob) for key, blob, _ in rows}  # JSON, not pickle
    assert any(key.startswith("rule:") for key in memory) and "links" in memory
    again = AlertService.from_settings(settings, rules_writer=True)
    [alert] = again.process([], now=T0 + timedelta(days=6))  # the remembered message is now overdue
    assert "留言积压未回复" in alert.evidence["rules"]
    again.close()


def test_read_only_commands_never_write_the_rules_memory(settings, capsys):
    worker = worker_with_memory(settings)
    before = stored_memory(settings)
    assert run(alerts_command, ["alerts", "list"]) == 0
    [alert] = worker.store.alerts()
    assert run(alerts_command, ["alerts", "show", alert.id]) == 0
    assert run(status_command, ["status"]) == 0
    assert stored_memory(settings) == before  # not even rewritten with the same content
    worker.close()


def test_a_reader_opened_earlier_cannot_put_old_memory_back(settings):
    worker = worker_with_memory(settings)
    reader = AlertService.from_settings(settings)  # e.g. `alerts ack`: writes alerts, never the memory
    worker.process([make_post("路灯还是坏的", platform="board", policies=["P-heat"], at=T0 + timedelta(hours=1),
                              extra={BOARD_ANSWERED: False})], now=T0 + timedelta(hours=1))
    worker.save_state()
    newer = stored_memory(settings)
    reader.close()
    assert stored_memory(settings) == newer
    worker.close()


def test_a_read_only_view_refuses_to_write(settings):
    worker_with_memory(settings).close()
    view = AlertService.from_settings(settings, read_only=True)
    [alert] = view.store.alerts()
    with pytest.raises(StoreError):
        view.acknowledge(alert.id, "王科长")
    view.close()


def test_every_rules_memory_survives_the_round_trip_through_json(settings):
    from alerts.engine import AlertEngine
    from alerts.service import load_alert_config
    from yuqing.schema import GOV_DOC_NUMBER, GOV_IS_INTERPRETATION

    config = load_alert_config(settings.rules_file)
    engine = AlertEngine(config)
    posts = [make_post(f"拆迁户上访维权{n}", sentiment="negative", policies=["P-heat"], places=["牡丹区"],
                       event="E-1", platform=platform, followers=10**6, at=T0 + timedelta(minutes=n))
             for n, platform in enumerate(["weibo", "news", "forum", "board"])]
    posts.append(make_post("关于印发城区供暖管理办法的通知", platform="gov", policies=["P-heat"],
                           extra={GOV_DOC_NUMBER: "菏政办字〔2026〕3号"}, at=T0))
    posts.append(make_post("解读", platform="gov", policies=["P-other"], extra={GOV_IS_INTERPRETATION: True}, at=T0))
    engine.evaluate(posts, [], [], T0 + timedelta(hours=1))
    saved = engine.snapshot()
    assert sum(len(json.loads(text)) > 0 for text in saved.values()) >= 5  # windows, waiting messages, links
    restored = AlertEngine(config)
    restored.restore(saved)
    assert restored.snapshot() == saved



def test_status_counts_every_open_alert_not_only_the_page_it_lists(settings):
    """A city's open alerts are thousands: the count is theirs, the list (a page, newest first) the newest 1,000."""
    store = AlertService.from_settings(settings).store
    for n in range(1_002):
        fired = T0 + timedelta(minutes=n)
        store.insert(Alert(id=f"a{n}", rule="r", rule_type="burst", group_key=f"g{n}", title=f"第{n}条",
                           fired_at=fired, updated_at=fired), Change("system", "fired"), fired)
    closed = Alert(id="done", rule="r", rule_type="burst", group_key="g-done", title="已处理", fired_at=T0,
                   updated_at=T0, status=AlertStatus.CLOSED)
    store.insert(closed, Change("王科长", "closed"), T0)
    store.close()
    status = status_command.collect(settings)
    assert status["counts"]["open_alerts"] == 1_002
    listed = [alert["id"] for alert in status["open_alerts"]]
    assert listed == [f"a{n}" for n in range(1_001, 1, -1)]


def test_the_open_alerts_and_their_count_are_read_without_a_look_at_the_closed_ones(tmp_path: Path):
    """Alerts closed over months are most of the store: the open ones, newest first, and their count come from an
    index (the embedded store; PostgreSQL's alerts_by_time serves the list)."""
    store = SqliteAlertStore(tmp_path / "alerts.sqlite3")
    for n, status in enumerate([AlertStatus.CLOSED] * 5 + [AlertStatus.FIRED, AlertStatus.ASSIGNED]):
        fired = T0 + timedelta(minutes=n)
        store.insert(Alert(id=f"a{n}", rule="r", rule_type="burst", group_key=f"g{n}", title="标题", status=status,
                           fired_at=fired, updated_at=fired), Change("system", "fired"), fired)
    plans = plans_of(store._conn, lambda: (store.alerts(OPEN_STATUSES), store.count(OPEN_STATUSES)))
    assert len(plans) == 2 and not full_scans(plans, "alerts"), plans
    assert [a.id for a in store.alerts(OPEN_STATUSES)] == ["a6", "a5"] and store.count(OPEN_STATUSES) == 2
    assert store.count([AlertStatus.CLOSED]) == 5 and store.count() == 7 and store.count([AlertStatus.FIRED]) == 1
    assert [a.id for a in store.alerts([AlertStatus.CLOSED], limit=2)] == ["a4", "a3"]
    store.close()
