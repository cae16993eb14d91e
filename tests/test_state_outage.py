"""The PostgreSQL state database stopping or restarting under running stages is an outage, not a fault: each
store says so as `BackendUnavailable` (one line, where the database is, no password), a worker keeps its
batch and tries again, and once the server is back the same store objects carry on with nothing lost."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from alerts.config import parse_alert_config
from alerts.service import AlertService, open_alert_store
from alerts.store import Change
from alerts.testing import T0, make_post
from analysis.bursts import BurstTracker
from console.accounts import Role, open_accounts
from stores import postgres
from stores.state import open_analysis_state, open_burst_memory, open_seen_store
from tests.console_data import cheap_hashing
from transport import CRAWL_HEALTH, ENRICHED_POSTS, EVENTS
from transport.sqlite_log import SqliteTransport
from workers.runner import Worker
from workers.stages import AlertStage
from yuqing.config import load_settings
from yuqing.errors import BackendUnavailable
from yuqing.schema import SHANGHAI, Alert, AlertLevel, AlertStatus


@pytest.fixture
def settings(postgres_settings, tmp_path):
    postgres.setup(postgres_settings)
    return load_settings(None, data_dir=tmp_path, state="postgres", postgres=postgres_settings)


def an_alert(alert_id: str, group: str) -> Alert:
    return Alert(id=alert_id, group_key=group, rule="负面上升", rule_type="negative_surge", level=AlertLevel.LARGE,
                 status=AlertStatus.FIRED, title="供暖", fired_at=T0, updated_at=T0)


def test_every_store_says_backend_unavailable_while_the_server_is_down_and_carries_on_after(
        postgres_server, settings):
    alerts, seen = open_alert_store(settings), open_seen_store(settings)
    memory = open_analysis_state(settings, settings.path("analysis.sqlite3"))
    bursts = open_burst_memory(settings)
    with cheap_hashing():
        accounts = open_accounts(settings)
    alerts.insert(an_alert("A-1", "policy:P-heat"), Change("yuqing", "fired"), T0)
    seen.mark_fetched("s", "http://x.cn/a.html", now=1000.0)
    memory.save([], [("news:1", T0, None, None, None, None)], [])
    bursts.save([("keyword", "拖欠工资", {"label": "拖欠工资", "buckets": {}, "recent": []})])
    accounts.add("王科长", Role.OFFICER, "口令足够长的密码abc", actor="admin")

    postgres_server.halt()
    try:
        down = [lambda: alerts.get("A-1"), lambda: alerts.insert(an_alert("A-2", "policy:P-b"), Change("y", "f"), T0),
                lambda: seen.should_fetch("s", "http://x.cn/b.html"), lambda: memory.assigned("news:1"),
                lambda: bursts.load(), lambda: accounts.get("王科长")]
        for operation in down:
            with pytest.raises(BackendUnavailable) as error:
                operation()
            message = str(error.value)
            assert message.startswith(f"PostgreSQL 127.0.0.1:{postgres_server.port}/postgres: ")
            assert "\n" not in message and postgres_server.password not in message
    finally:
        postgres_server.resume()

    # The same objects, reconnected: what was written before the restart is all there, and writing goes on.
    assert alerts.get("A-1").version == 1 and alerts.get("A-2") is None  # the refused insert wrote nothing
    alerts.insert(an_alert("A-2", "policy:P-b"), Change("yuqing", "fired"), T0)
    assert not seen.should_fetch("s", "http://x.cn/a.html", now=1060.0)
    assert memory.assigned("news:1") == (None, None, T0)
    assert [kind for kind, _, _ in bursts.load()] == ["keyword"]
    assert accounts.get("王科长").role == Role.OFFICER
    for store in (alerts, seen, memory, bursts, accounts):
        store.close()


RULES = {"channels": [{"name": "local_file", "type": "file"}],
         "rules": [{"name": "跨平台扩散", "type": "cross_platform", "options": {"min_platforms": 3}}]}


def test_the_alert_worker_waits_out_a_restart_and_loses_nothing(postgres_server, settings, tmp_path):
    log = SqliteTransport(tmp_path / "transport.sqlite3")
    start = datetime.now(SHANGHAI) - timedelta(minutes=30)
    for n in range(12):
        post = make_post(f"化肥厂家属院停工{n}", event="E-1", platform=["weibo", "news", "forum"][n % 3],
                         at=start + timedelta(minutes=n))
        log.publish(ENRICHED_POSTS, post.model_dump(mode="json"), key="E-1")
    service = AlertService(parse_alert_config(RULES), open_alert_store(settings), {}, rules_writer=True)
    stage = AlertStage(service, BurstTracker([], min_count=1), deliver=False, log=log.identity(), checkpoint_every=0)
    worker = Worker(log, stage, batch_size=4, poll_timeout=0.05)

    postgres_server.halt()  # down before the first batch; back while the worker waits
    back = threading.Timer(1.5, postgres_server.resume)
    back.start()
    try:
        outcomes = worker.run(until_idle=True)
    finally:
        back.join()
    assert outcomes["backend_down"] >= 1 and outcomes["quarantined"] == 0  # it waited, and refused nothing
    assert log.consumer(stage.group, [ENRICHED_POSTS, EVENTS, CRAWL_HEALTH]).poll(100, 0.05) == []  # all committed
    # A worker started now finds every post counted once in the saved memory, and one alert for the incident.
    restarted = AlertStage(AlertService(parse_alert_config(RULES), open_alert_store(settings), {}, rules_writer=True),
                           BurstTracker([], min_count=1), deliver=False, log=log.identity(), checkpoint_every=0)
    signals = restarted.bursts.signals(datetime.now(SHANGHAI))
    assert max(s.count for s in signals if (s.subject_kind, s.subject_id) == ("event", "E-1")) == 12
    [alert] = restarted.service.store.alerts()  # the incident crossed 3 platforms: one alert, not one per retry
    assert alert.group_key == "event:E-1"
    restarted.close()
    log.close()


def test_a_faulty_statement_is_a_fault_not_an_outage(settings):
    """Retrying would never help it: it is raised as the database's own error, and the connection goes on."""
    import psycopg

    database = postgres.Database(settings.postgres, 1)
    with pytest.raises(psycopg.errors.UndefinedTable):
        database.rows("SELECT * FROM no_such_table")
    assert database.row("SELECT 1") == (1,)
    database.close()
