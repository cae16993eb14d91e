"""The response workflow: transitions and their audit log, two officers acknowledging at once,
deadlines met by responses and escalated at 80 % and when missed, and the before/after effect."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.channels import ChannelContext
from alerts.config import build_channels, parse_alert_config
from alerts.effect import ResponseEffect, WindowFigures
from alerts.service import AlertNotFound, AlertService
from alerts.store import AlertStore
from alerts.testing import T0, make_post, make_signal
from alerts.workflow import WorkflowError
from search.sqlite_fts import SqliteIndex
from yuqing.schema import AlertLevel, AlertStatus, ResponseKind

RULES = {
    "defaults": {"channels": ["duty"], "escalate_to": ["leader"], "cooldown": "6h"},
    "channels": [{"name": "duty", "type": "file"}, {"name": "leader", "type": "file", "options": {"path": "x"}}],
    "rules": [{"name": "政策负面舆情上升", "type": "negative_surge", "level": "较大", "levels": {"重大": 50}}],
}


def make_service(open_store: Callable[[], AlertStore], tmp_path: Path,
                 index: SqliteIndex | None = None) -> AlertService:
    config = parse_alert_config(RULES)
    config.channels[1].options["path"] = str(tmp_path / "leader.jsonl")
    return AlertService(config, open_store(),
                        build_channels(config, ChannelContext(tmp_path)), index)


def fire(service: AlertService, negative: int = 20, at=T0, subject: str = "P-heat"):
    [alert] = service.process([], [make_signal(subject, count=2 * negative, negative=negative, at=at)], now=at)
    return alert


def test_full_workflow_with_audit_log(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path)
    alert = fire(service)
    assert alert.status == AlertStatus.FIRED and alert.level == AlertLevel.LARGE
    assert [d.name for d in alert.deadlines] == ["回应"]
    assert service.deliver_pending(T0) == 0  # a new alert settles for a minute before anyone is told
    assert service.deliver_pending(T0 + timedelta(minutes=1)) == 1
    assert service.get(alert.id).status == AlertStatus.NOTIFIED
    service.acknowledge(alert.id, "张敏", now=T0 + timedelta(minutes=3))
    service.assign(alert.id, "市住建局", "张敏", now=T0 + timedelta(minutes=5))
    responded = service.respond(alert.id, ResponseKind.INTERPRETATION, "李强", link="https://gov.example.cn/jd/9",
                                now=T0 + timedelta(hours=3))
    assert responded.status == AlertStatus.RESPONDED
    assert responded.deadlines[0].met_at == T0 + timedelta(hours=3)
    closed = service.close_alert(alert.id, "张敏", reason="舆情平息", now=T0 + timedelta(days=1))
    assert (closed.status, closed.closed_by, closed.acknowledged_by, closed.assigned_to) == (
        AlertStatus.CLOSED, "张敏", "张敏", "市住建局")
    assert [r.kind for r in closed.responses] == [ResponseKind.INTERPRETATION]
    history = service.store.history(alert.id)
    assert [(h.action, h.actor, h.from_status, h.to_status) for h in history] == [
        ("fired", "yuqing", None, "fired"),
        ("notified", "yuqing", "fired", "notified"),
        ("acknowledged", "张敏", "notified", "acknowledged"),
        ("assigned", "张敏", "acknowledged", "assigned"),
        ("responded", "李强", "assigned", "responded"),
        ("closed", "张敏", "responded", "closed"),
    ]
    assert history[4].details == {"kind": "政策解读", "link": "https://gov.example.cn/jd/9", "note": None}
    assert history[5].details == {"reason": "舆情平息"}


def test_transitions_that_make_no_sense_are_refused(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path)
    alert = fire(service)
    service.acknowledge(alert.id, "张敏", now=T0)
    with pytest.raises(WorkflowError, match="已由 张敏 于 2026-11-02 09:00:00 签收"):
        service.acknowledge(alert.id, "王伟", now=T0)
    with pytest.raises(WorkflowError, match="承办部门"):
        service.assign(alert.id, " ", "张敏")
    service.close_alert(alert.id, "张敏", now=T0)
    with pytest.raises(WorkflowError, match="已于 .* 由 张敏 办结"):
        service.respond(alert.id, ResponseKind.OTHER, "王伟")
    with pytest.raises(AlertNotFound):
        service.acknowledge("20991231-nothere", "王伟")


def read_then_wait(service: AlertService, barrier: threading.Barrier) -> None:
    """Make the officer's first read wait for the others' first reads: every one decides on the same
    state, the worst case of a race, instead of whoever happens to be scheduled first."""
    original = service.store.get
    calls = []

    def get(alert_id: str):
        stored = original(alert_id)
        calls.append(alert_id)
        if len(calls) == 1:
            barrier.wait(timeout=10)
        return stored

    service.store.get = get


def acknowledge_together(services: list[AlertService], alert_id: str) -> dict[str, str]:
    barrier = threading.Barrier(len(services))
    outcomes: dict[str, str] = {}

    def officer(service: AlertService, name: str) -> None:
        try:
            service.acknowledge(alert_id, name, now=T0)
            outcomes[name] = "won"
        except WorkflowError as exc:
            outcomes[name] = str(exc)

    for service in services:
        read_then_wait(service, barrier)
    threads = [threading.Thread(target=officer, args=(s, f"officer{n}")) for n, s in enumerate(services)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_officers_acknowledging_at_once_one_wins(tmp_path: Path, open_alert_store):
    first = make_service(open_alert_store, tmp_path)
    alert = fire(first)
    second = make_service(open_alert_store, tmp_path)  # another process: its own connection to the same store
    outcomes = acknowledge_together([first, second], alert.id)
    winners = [name for name, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1
    [loser] = set(outcomes) - set(winners)
    assert f"已由 {winners[0]} 于" in outcomes[loser]
    assert first.get(alert.id).acknowledged_by == winners[0]
    assert [h.action for h in first.store.history(alert.id)].count("acknowledged") == 1


def test_many_concurrent_acknowledgements_still_one_winner(tmp_path: Path, open_alert_store):
    services = [make_service(open_alert_store, tmp_path) for _ in range(6)]
    alert = fire(services[0])
    outcomes = acknowledge_together(services, alert.id)
    winners = [name for name, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1 and len(outcomes) == 6
    assert services[0].get(alert.id).acknowledged_by == winners[0]


def test_level_rise_starts_the_major_clocks_and_responses_meet_them(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path)
    alert = fire(service, negative=20)
    raised = fire(service, negative=80, at=T0 + timedelta(hours=1))
    assert raised.id == alert.id and raised.level == AlertLevel.MAJOR
    start = T0 + timedelta(hours=1)
    assert [(d.name, d.due_at) for d in raised.deadlines] == [
        ("发布权威信息", start + timedelta(hours=5)), ("新闻发布会", start + timedelta(hours=24))]
    after_info = service.respond(alert.id, ResponseKind.AUTHORITATIVE_INFO, "李强", now=start + timedelta(hours=2))
    assert [d.met_at is not None for d in after_info.deadlines] == [True, False]
    after_press = service.respond(alert.id, ResponseKind.PRESS_CONFERENCE, "李强", now=start + timedelta(hours=20))
    assert [d.met_at is not None for d in after_press.deadlines] == [True, True]


def test_deadline_escalates_at_80_percent_and_when_missed_once_each(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path)
    alert = fire(service, negative=80)  # 重大 at once: 5 h and 24 h clocks
    assert service.check_deadlines(T0 + timedelta(hours=3)) == []
    [warned] = service.check_deadlines(T0 + timedelta(hours=4))  # 80 % of 5 h
    assert warned.deadlines[0].warned_at == T0 + timedelta(hours=4)
    assert service.check_deadlines(T0 + timedelta(hours=4, minutes=30)) == []
    [missed] = service.check_deadlines(T0 + timedelta(hours=5, minutes=1))
    assert missed.deadlines[0].missed_at is not None and missed.deadlines[1].warned_at is None
    service.respond(alert.id, ResponseKind.PRESS_CONFERENCE, "李强", now=T0 + timedelta(hours=6))
    assert service.check_deadlines(T0 + timedelta(hours=30)) == []  # all met: no more escalation
    kinds = [(item.channel, item.message["kind"]) for item in service.store.outbox(alert.id)]
    assert kinds == [("duty", "fired"), ("leader", "deadline_warning"), ("duty", "deadline_warning"),
                     ("leader", "deadline_missed"), ("duty", "deadline_missed")]
    assert "剩余1.0小时" in service.store.outbox(alert.id)[1].message["note"]


def test_deadlines_of_every_open_alert_are_checked_however_many_are_open(tmp_path: Path, open_alert_store):
    """A city's volume opens more than a thousand alerts a day: the check looked at the newest 1,000 open ones only
    (and read and parsed them all at every idle poll), so older clocks never warned. An officer's response met
    elsewhere, or a check made by another process, leaves nothing for the worker to do, and it does nothing."""
    worker = make_service(open_alert_store, tmp_path)
    officer = make_service(open_alert_store, tmp_path)
    first = fire(worker, negative=80, subject="P-first")  # 重大: 5 h and 24 h clocks
    assert worker.check_deadlines(T0 + timedelta(minutes=1)) == []
    signals = [make_signal(f"P-{n}", count=160, negative=80, at=T0 + timedelta(minutes=2)) for n in range(1_000)]
    assert len(worker.process([], signals, now=T0 + timedelta(minutes=2))) == 1_000
    second = fire(worker, negative=80, at=T0 + timedelta(minutes=3), subject="P-second")
    officer.respond(second.id, ResponseKind.PRESS_CONFERENCE, "李强", now=T0 + timedelta(hours=1))
    warned = worker.check_deadlines(T0 + timedelta(hours=4, minutes=3))  # 80 % of 5 h, for every one of them
    assert len(warned) == 1_001 and warned[-1].id == first.id  # newest first, the oldest last
    assert second.id not in {alert.id for alert in warned}
    assert worker.check_deadlines(T0 + timedelta(hours=4, minutes=30)) == []


def test_closed_alert_is_not_escalated_and_the_group_reopens_only_after_the_cooldown(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path)
    alert = fire(service)
    service.close_alert(alert.id, "张敏", now=T0 + timedelta(hours=1))
    assert service.check_deadlines(T0 + timedelta(days=5)) == []
    assert service.process([], [make_signal("P-heat", count=40, negative=20)], now=T0 + timedelta(hours=2)) == []
    [again] = service.process([], [make_signal("P-heat", count=40, negative=20)], now=T0 + timedelta(hours=8))
    assert again.id != alert.id and again.status == AlertStatus.FIRED


def test_findings_on_a_group_read_its_alert_once_and_still_see_what_an_officer_did(tmp_path: Path,
                                                                                  open_alert_store, monkeypatch):
    """The worker keeps each group's latest alert as it wrote it (a read and parse of the alert per finding was a
    third of its time); an officer's change, made elsewhere, raises the version and is read at the next write."""
    worker = make_service(open_alert_store, tmp_path)
    officer = make_service(open_alert_store, tmp_path)
    reads: list[str] = []
    read = worker.store.latest_in_group
    monkeypatch.setattr(worker.store, "latest_in_group", lambda key: reads.append(key) or read(key))
    alert = fire(worker)
    for minutes in (10, 20, 30):
        [same] = worker.process([], [make_signal("P-heat", count=40, negative=20)], now=T0 + timedelta(minutes=minutes))
        assert same.id == alert.id and same.updates == minutes // 10
    assert reads == ["policy:P-heat"]  # once, when the group was new
    officer.acknowledge(alert.id, "张敏", now=T0 + timedelta(minutes=35))
    [same] = worker.process([], [make_signal("P-heat", count=40, negative=20)], now=T0 + timedelta(minutes=40))
    assert same.status == AlertStatus.ACKNOWLEDGED and same.acknowledged_by == "张敏" and same.updates == 4
    officer.close_alert(alert.id, "张敏", now=T0 + timedelta(hours=1))
    assert worker.process([], [make_signal("P-heat", count=40, negative=20)], now=T0 + timedelta(hours=2)) == []
    assert worker.store.get(alert.id).alert.status == AlertStatus.CLOSED  # closed by the officer: left as it is
    [again] = worker.process([], [make_signal("P-heat", count=40, negative=20)], now=T0 + timedelta(hours=8))
    assert again.id != alert.id and again.status == AlertStatus.FIRED


def test_a_batch_is_stored_at_once_and_decided_again_when_an_officer_changed_one_of_its_alerts(tmp_path: Path,
                                                                                             open_alert_store):
    worker = make_service(open_alert_store, tmp_path)
    officer = make_service(open_alert_store, tmp_path)
    alert = fire(worker)
    officer.acknowledge(alert.id, "张敏", now=T0 + timedelta(minutes=5))  # unseen by the worker: its write conflicts
    # One batch, findings about the heating policy, then the roads, then the heating policy again.
    signals = [make_signal(subject, count=40, negative=20, window=window)
               for subject, window in (("P-heat", "1h/24h"), ("P-road", "1h/24h"), ("P-heat", "1d/14d"))]
    changed = {a.group_key: a for a in worker.process([], signals, now=T0 + timedelta(minutes=10))}
    heat, road = changed["policy:P-heat"], changed["policy:P-road"]
    assert heat.id == alert.id and heat.status == AlertStatus.ACKNOWLEDGED and heat.updates == 2
    assert worker.store.get(heat.id) == worker.store.get(alert.id) and worker.store.get(heat.id).version == 4
    assert [entry.action for entry in worker.store.history(heat.id)] == ["fired", "acknowledged", "updated"]
    assert [entry.action for entry in worker.store.history(road.id)] == ["fired"]  # once, though decided twice


def test_the_groups_kept_by_the_worker_are_those_with_a_finding_lately(tmp_path: Path, open_alert_store):
    worker = make_service(open_alert_store, tmp_path)
    for day in range(5):  # a new subject every day: the groups kept do not pile up
        fire(worker, at=T0 + timedelta(days=day), subject=f"P-{day}")
        assert set(worker._groups) == {f"policy:P-{day}"}
    worker.process([], [], now=T0 + timedelta(days=5))
    assert worker._groups == {}


def test_effect_compares_the_24_hours_before_and_after_the_response(tmp_path: Path, open_alert_store):
    index = SqliteIndex(tmp_path / "index.sqlite3")
    responded_at = T0 + timedelta(hours=30)
    before = [make_post(f"供暖费涨价不合理{n}", policies=["P-heat"], at=responded_at - timedelta(hours=n % 20 + 1),
                        sentiment="negative" if n % 5 else "neutral") for n in range(40)]
    after = [make_post(f"解读看明白了{n}", policies=["P-heat"], at=responded_at + timedelta(hours=n % 20 + 1),
                       sentiment="negative" if n % 4 == 0 else "positive") for n in range(12)]
    older = [make_post("很久以前", policies=["P-heat"], at=responded_at - timedelta(hours=30), sentiment="negative")]
    other = [make_post("别的政策", policies=["P-bus"], at=responded_at, sentiment="negative")]
    index.upsert(before + after + older + other)
    service = make_service(open_alert_store, tmp_path, index)
    alert = fire(service, at=T0 + timedelta(hours=29))
    service.respond(alert.id, ResponseKind.INTERPRETATION, "李强", now=responded_at)
    effect = service.effect(alert.id, now=responded_at + timedelta(hours=26))
    assert effect is not None and effect.complete
    assert (effect.before.total, effect.before.negative) == (40, 32)
    assert (effect.after.total, effect.after.negative) == (12, 3)
    assert effect.verdict == "回应见效"
    partial = service.effect(alert.id, now=responded_at + timedelta(hours=6))
    assert not partial.complete and partial.after.hours == 6
    assert partial.as_dict()["after"]["posts"] == len([p for p in after if p.when < responded_at + timedelta(hours=6)])


@pytest.mark.parametrize(("before", "after", "verdict"), [
    (WindowFigures(100, 60, 24), WindowFigures(40, 10, 24), "回应见效"),
    (WindowFigures(100, 30, 24), WindowFigures(100, 45, 24), "仍在发酵"),
    (WindowFigures(100, 30, 24), WindowFigures(20, 10, 4), "仍在发酵"),  # 5 per hour against 4: louder
    (WindowFigures(100, 30, 24), WindowFigures(95, 29, 24), "变化不明显"),
    (WindowFigures(0, 0, 24), WindowFigures(0, 0, 24), "暂无数据"),
])
def test_effect_verdicts(before: WindowFigures, after: WindowFigures, verdict: str):
    assert ResponseEffect(T0, before, after).verdict == verdict


def test_no_verdict_until_there_are_hours_after_the_response_to_judge(tmp_path: Path, open_alert_store):
    # A subject that was loud and angry before the response, and nothing indexed since: in the
    # first minutes that is not evidence the response worked (it was declared 回应见效 at 0.0 hours).
    index = SqliteIndex(tmp_path / "index.sqlite3")
    responded_at = T0 + timedelta(hours=30)
    index.upsert([make_post(f"供暖费涨价不合理{n}", policies=["P-heat"], at=responded_at - timedelta(hours=n % 20 + 1),
                            sentiment="negative") for n in range(30)])
    service = make_service(open_alert_store, tmp_path, index)
    alert = fire(service, at=T0 + timedelta(hours=29))
    service.respond(alert.id, ResponseKind.INTERPRETATION, "李强", now=responded_at)
    for hours_after in (0, 1, 2.9):
        effect = service.effect(alert.id, now=responded_at + timedelta(hours=hours_after))
        assert effect is not None and effect.verdict == "尚待观察", hours_after
        assert effect.as_dict()["verdict"] == "尚待观察"
    judged = service.effect(alert.id, now=responded_at + timedelta(hours=3))
    assert judged.verdict == "回应见效"  # three quiet hours after thirty angry posts
    assert judged.as_dict()["judged_at"] == (responded_at + timedelta(hours=3)).isoformat()
